"""The Prometheus exporter of each PgBouncer process (prometheus-pgbouncer-exporter).

The exporter takes one connection string, so a host runs one per process, each logging in to its
process's console over that process's unix socket (over TCP, so_reuseport would hand each scrape
to any process). It logs in as a stats_users role; the password reaches it in a root-only
environment file that systemd reads before it starts the exporter, never on its command line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# Where each exporter listens: loopback, port + process number - 1.
LISTEN_HOST = "127.0.0.1"
MAX_PASSWORD_BYTES = 1024
# Characters systemd's environment-file parser reads specially inside double quotes.
_SYSTEMD_ESCAPED = '"\\`$'


def _has_control_character(text: str) -> bool:
    return any(ord(character) < 0x20 or ord(character) == 0x7F for character in text)


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(str(value), 10)
    except ValueError:
        return None


def exporter_errors(
    user: object,
    port: object,
    processes: object,
    listen_port: object,
    stats_users: Iterable[object],
    admin_users: Iterable[object],
    roles: Iterable[Mapping[str, Any]],
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
        if not isinstance(password, str) or not password:
            errors.append(f"pgbouncer_exporter_user: the pgbouncer_roles entry of {user!r} has no password")
        elif _has_control_character(password) or len(password.encode()) > MAX_PASSWORD_BYTES:
            errors.append(
                f"pgbouncer_exporter_user: the password of {user!r} must be printable characters, at most "
                f"{MAX_PASSWORD_BYTES} bytes (the exporter reads it from a systemd environment file)"
            )
        elif password.startswith(("SCRAM-SHA-256$", "md5")) and len(password) > 35:
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
    first = _as_int(port)
    count = _as_int(processes) or 1
    pooler_port = _as_int(listen_port)
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


def connection_string(socket_dir: str, port: int, user: str) -> str:
    """A libpq key=value connection string for the console over a unix socket (no password)."""

    def quoted(value: object) -> str:
        return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"

    return f"host={quoted(socket_dir)} port={int(port)} dbname=pgbouncer user={quoted(user)} sslmode=disable"


def systemd_environment_line(name: str, value: str) -> str:
    """NAME="value" as systemd's EnvironmentFile= reads it back to exactly ``value``."""
    if _has_control_character(value):
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


def listen_address(port: object, process: int) -> str:
    """host:port the exporter of process ``process`` serves /metrics on."""
    first = _as_int(port)
    if first is None:
        raise ValueError(f"pgbouncer_exporter_port: {port!r} is not a number")
    return f"{LISTEN_HOST}:{first + process - 1}"
