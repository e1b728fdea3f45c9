"""The Prometheus exporter of each PgBouncer process (prometheus-pgbouncer-exporter).

The exporter takes one connection string, so a host runs one per process, each logging in to its
process's console over that process's unix socket (over TCP, so_reuseport would hand each scrape
to any process). It logs in as a stats_users role; the password reaches it in a root-only
environment file that systemd reads before it starts the exporter, never on its command line.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.names import CONTROL_CHARACTERS
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.addresses import (
    AddressError,
    parse_address,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.scrape_auth import (
    scrape_credential_errors,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import (
    ConfigError,
    integer,
    integer_or_none,
    password_errors,
)

BCRYPT_COST = 12
_STANDARD_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_BCRYPT_B64 = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
# Characters systemd's environment-file parser reads specially inside double quotes.
_SYSTEMD_ESCAPED = '"\\`$'


def exporter_errors(
    user: object,
    port: object,
    processes: object,
    listen_port: object,
    stats_users: Iterable[object],
    admin_users: Iterable[object],
    roles: Iterable[Mapping[str, Any]],
    address: object = "127.0.0.1",
    scrape_user: object = "prometheus",
    scrape_password: object = None,
) -> list[str]:
    """Why the exporters cannot be deployed as asked; [] when they can (or are not asked for)."""
    if user in (None, ""):
        return []
    if not isinstance(user, str):
        return [f"pgbouncer_exporter_user: {user!r} is not a role name"]
    errors: list[str] = []
    declared = {str(role.get("name")): role for role in roles if isinstance(role, Mapping)}
    if user not in declared:
        errors.append(
            f"pgbouncer_exporter_user: {user!r} is not declared in pgbouncer_roles (the exporters log in as "
            "a PostgreSQL role looked up through auth_query, with the password declared there)"
        )
    else:
        password = declared[user].get("password")
        # The rules every password of the inventory meets (one line, at most 1024 bytes).
        problems = password_errors(
            password, f"pgbouncer_exporter_user: the password of {user!r} (pgbouncer_roles)"
        )
        errors.extend(problems)
        if not problems and str(password).startswith(("SCRAM-SHA-256$", "md5")) and len(password) > 35:
            errors.append(
                f"pgbouncer_exporter_user: the password of {user!r} is a verifier; the exporter needs the "
                "plaintext password to log in"
            )
    if user not in [str(name) for name in stats_users]:
        errors.append(
            f"pgbouncer_exporter_user: {user!r} must be in pgbouncer_stats_users (the exporter only reads SHOW output)"
        )
    if user in [str(name) for name in admin_users]:
        errors.append(
            f"pgbouncer_exporter_user: {user!r} is in pgbouncer_admin_users; give the exporter a stats-only role"
        )
    errors += endpoint_errors("pgbouncer_exporter", address, scrape_user, scrape_password)
    first = integer_or_none(port)
    count = integer_or_none(processes) or 1
    pooler_port = integer_or_none(listen_port)
    if first is None or not 1024 <= first <= 65535 - (count - 1):
        errors.append(
            f"pgbouncer_exporter_port: {port!r} is not a port from 1024 to {65535 - (count - 1)} "
            f"(process n listens on pgbouncer_exporter_port + n - 1, for {count} process(es))"
        )
    elif pooler_port is not None and first <= pooler_port < first + count:
        errors.append(
            f"pgbouncer_exporter_port: the exporters take ports {first} to {first + count - 1}, which "
            f"includes pgbouncer_listen_port {pooler_port}"
        )
    return errors


def endpoint_errors(prefix: str, address: object, scrape_user: object, scrape_password: object) -> list[str]:
    """Why an exporter's endpoint cannot be served as asked: ``<prefix>_address`` one IP address;
    when it is not loopback, ``<prefix>_scrape_user`` and ``<prefix>_scrape_password`` for basic auth."""
    errors: list[str] = []
    try:
        network_facing = is_network_facing(address)
    except AddressError as exc:
        errors.append(f"{prefix}_address: {address!r} is not one IP address: {exc}")
        network_facing = False
    if network_facing:
        errors += scrape_credential_errors(
            prefix,
            scrape_user,
            scrape_password,
            f"when {prefix}_address is not loopback (Prometheus scrapes over TLS with basic auth)",
        )
    return errors


def connection_string(socket_dir: str, port: int, user: str, dbname: str = "pgbouncer") -> str:
    """A libpq key=value connection string over a unix socket (no password); by default, the console."""

    def quoted(value: object) -> str:
        return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"

    return f"host={quoted(socket_dir)} port={int(port)} dbname={quoted(dbname)} user={quoted(user)} sslmode=disable"


def systemd_environment_line(name: str, value: str) -> str:
    """NAME="value" as systemd's EnvironmentFile= reads it back to exactly ``value``."""
    if CONTROL_CHARACTERS.search(value):
        raise ValueError(f"{name}: a control character cannot go into a systemd environment file")
    escaped = "".join("\\" + character if character in _SYSTEMD_ESCAPED else character for character in value)
    return f'{name}="{escaped}"'


def environment_file(socket_dir: str, port: int, user: str, password: str, listen: str) -> str:
    """The exporter's environment file for one process: where it listens, where it logs in, and
    the password."""
    return (
        "# Read by systemd for pgbouncer-exporter@.service; holds a password: root only.\n"
        + systemd_environment_line("PGBOUNCER_EXPORTER_LISTEN_ADDRESS", listen)
        + "\n"
        + systemd_environment_line(
            "PGBOUNCER_EXPORTER_CONNECTION_STRING", connection_string(socket_dir, port, user)
        )
        + "\n"
        + systemd_environment_line("PGPASSWORD", password)
        + "\n"
    )


def is_network_facing(address: object) -> bool:
    """Whether exporters on ``address`` are reached from other hosts (anything but loopback)."""
    return not parse_address(address).is_loopback


def listen_address(address: object, port: object, process: int) -> str:
    """host:port the exporter of process ``process`` serves /metrics on (IPv6 in brackets)."""
    first = integer_or_none(port)
    if first is None:
        raise ConfigError(f"pgbouncer_exporter_port: {port!r} is not a number")
    parsed = parse_address(address)
    host = f"[{parsed}]" if parsed.version == 6 else str(parsed)
    return f"{host}:{first + process - 1}"


def bcrypt_hash(password: str, salt_source: str, cost: int = BCRYPT_COST) -> str:
    """The bcrypt hash of ``password`` for a basic-auth check, with a salt made from ``salt_source``
    (the host and the user), so a run that changes nothing writes the same file. The salt comes
    from public data only: it must not shorten a search for the password."""
    import bcrypt  # the controller's; only this function needs it

    raw = hashlib.sha256(("pgbouncer-toolkit exporter salt\0" + salt_source).encode()).digest()[:16]
    encoded = base64.b64encode(raw).decode()[:22].translate(str.maketrans(_STANDARD_B64, _BCRYPT_B64))
    salt = f"$2b${cost:02d}${encoded}".encode()
    return bcrypt.hashpw(password.encode(), salt).decode()


def web_config(scrape_user: str, password_hash: str, cert_file: str, key_file: str) -> str:
    """The exporters' web config (exporter-toolkit): TLS with the host's certificate, basic auth.
    Every value is a JSON string, which YAML reads back exactly."""
    return (
        "# Read by every pgbouncer-exporter@ on each request: TLS and basic auth for /metrics.\n"
        "tls_server_config:\n"
        f"  cert_file: {json.dumps(cert_file)}\n"
        f"  key_file: {json.dumps(key_file)}\n"
        "  min_version: TLS12\n"
        "basic_auth_users:\n"
        f"  {json.dumps(scrape_user)}: {json.dumps(password_hash)}\n"
    )


def scrape_targets(address: object, port: object, processes: Iterable[object]) -> list[dict[str, str]]:
    """Where Prometheus scrapes each process's exporter: [{"process": "1", "target": "host:port"}]."""
    return [
        {"process": str(process), "target": listen_address(address, port, integer(process, "process number"))}
        for process in processes
    ]
