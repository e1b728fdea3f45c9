"""Values for the application-side files: a libpq URL, shell values and Python literals, rendered
by escaping.

Nothing from the inventory is pasted into a file as code: a Python literal is ``repr()`` of the
value (always a literal that evaluates to that exact string), a URL part is percent-encoded with
nothing considered safe, so a quote, a brace, a slash or an ``@`` stays data, the URL's host is a
plain address in canonical form, a host name or an encoded socket directory, and every value of
the environment file is single-quoted for the shell that sources it.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.names import CONTROL_CHARACTERS
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import (
    ConfigError,
    check_host,
    check_name,
    check_text,
    integer,
    integer_or_none,
)

ALIAS = re.compile(r"[a-z][a-z0-9_]{0,39}")
# PostgreSQL keeps application_name to 63 printable ASCII bytes; the snippet appends "-<process>".
APPLICATION_NAME = re.compile(r"[\x20-\x7e]{1,48}")


def env_variable(prefix: str, alias: str) -> str:
    """The environment variable of ``alias``: ``prefix`` for the default alias, ``prefix_<ALIAS>``
    for the others (DATABASE_URL_REPORTS, DATABASE_PASSWORD_REPORTS)."""
    if not ALIAS.fullmatch(alias):
        raise ConfigError(f"{alias!r} is not a Django alias (lower-case letters, digits and '_')")
    return prefix if alias == "default" else f"{prefix}_{alias.upper()}"


def python_literal(value: object) -> str:
    """A Python literal for a str, int or bool (``repr`` of a plain copy)."""
    if isinstance(value, bool):
        return repr(bool(value))
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, str):
        return repr(str(value))
    raise ConfigError(f"cannot render a {type(value).__name__} as a Python literal")


def shell_value(value: object, where: str) -> str:
    """``value`` single-quoted for a POSIX shell: every character literal, a ``'`` written ``'\\''``.

    A control character is refused: a line break would end the assignment and start a command.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ConfigError(f"{where}: must be text, got {type(value).__name__}")
    text = str(value)
    if CONTROL_CHARACTERS.search(text):
        raise ConfigError(
            f"{where}: {text!r} holds a line break or another control character (allowed: one line "
            "of printable text)"
        )
    return "'{}'".format(text.replace("'", "'\\''"))


SSLMODES = ("", "disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def database_url(
    user: str, host: str, port: object, database: str, sslmode: str = "", sslrootcert: str = ""
) -> str:
    """``postgresql://user@host:port/database[?sslmode=...&sslrootcert=...]`` with user, database,
    a socket path and the query values encoded; the host checked as check_endpoint checks it, an
    address in canonical form."""
    netloc_host = check_endpoint(host, port, "pgbouncer_app_files")
    if netloc_host.startswith("/"):
        netloc_host = urllib.parse.quote(netloc_host, safe="")
    elif ":" in netloc_host:
        netloc_host = f"[{netloc_host}]"
    url = "postgresql://{}@{}:{}/{}".format(
        urllib.parse.quote(user, safe=""),
        netloc_host,
        integer(port, "pgbouncer_app_files_port"),
        urllib.parse.quote(database, safe=""),
    )
    if sslmode not in SSLMODES:
        raise ConfigError(
            f"pgbouncer_app_files_sslmode: must be one of {', '.join(SSLMODES[1:])} or empty, got {sslmode!r}"
        )
    query = {key: value for key, value in (("sslmode", sslmode), ("sslrootcert", sslrootcert)) if value}
    return url + ("?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote, safe="") if query else "")


def app_database_errors(
    entries: object, roles: object, databases: object, variable: str = "pgbouncer_app_files_databases"
) -> list[str]:
    """Every problem with the app-side list, each naming its item; references must be declared."""
    errors: list[str] = []
    role_names = {role.get("name") for role in roles or [] if isinstance(role, Mapping)}
    role_databases = {
        role.get("name"): set(role.get("databases") or [])
        for role in roles or []
        if isinstance(role, Mapping)
    }
    entry_names = {entry.get("name") for entry in databases or [] if isinstance(entry, Mapping)}
    aliases: set[str] = set()
    if not isinstance(entries, list):
        return [f"{variable}: must be a list"]
    for index, item in enumerate(entries):
        where = f"{variable}[{index}]"
        if not isinstance(item, Mapping):
            errors.append(f"{where}: must be a mapping with alias, role and database")
            continue
        alias = item.get("alias")
        if not isinstance(alias, str) or not ALIAS.fullmatch(alias):
            errors.append(
                f"{where}.alias: {alias!r} must be lower-case letters, digits and '_' (a Django alias)"
            )
        elif alias in aliases:
            errors.append(f"{where}.alias: {alias!r} is declared twice")
        else:
            aliases.add(alias)
        role = item.get("role")
        try:
            check_name(role, f"{where}.role", kind="role")
        except ConfigError as exc:
            errors.append(str(exc))
        else:
            if role not in role_names:
                errors.append(f"{where}.role: {role!r} is not declared in pgbouncer_roles")
        for key in ("database", "session_database"):
            if key == "session_database" and item.get(key) is None:
                continue
            name = item.get(key)
            if name not in entry_names:
                errors.append(f"{where}.{key}: {name!r} is not declared in pgbouncer_databases")
            elif role in role_databases and name not in role_databases[role]:
                errors.append(
                    f"{where}.{key}: role {role!r} has no access to {name!r} (pgbouncer_roles[].databases)"
                )
        name = item.get("application_name", alias)
        if not isinstance(name, str) or not APPLICATION_NAME.fullmatch(name):
            errors.append(
                f"{where}.application_name: {name!r} must be 1 to 48 printable ASCII characters "
                "(PostgreSQL keeps 63, and the snippet appends the process type)"
            )
    return errors


def app_logins(entries: list[Mapping[str, Any]], roles: list[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Each (role, database) the files name, once, with the role's password: what must log in
    through the endpoint before the files may name it. ``entries`` are checked already."""
    passwords = {role["name"]: role["password"] for role in roles}
    logins: dict[tuple[str, str], dict[str, str]] = {}
    for item in entries:
        for key in ("database", "session_database"):
            if item.get(key) is not None:
                pair = (item["role"], item[key])
                logins[pair] = {"user": pair[0], "database": pair[1], "password": passwords[pair[0]]}
    return list(logins.values())


def previous_logins(roles: list[Mapping[str, Any]], named: list[list[Mapping[str, Any]]]) -> list[str]:
    """The logins no client should use any more: of each pair of logins that alternate
    (pgbouncer_roles[].acts_as) of which the application files name one, the one no host's files
    (``named``, one pgbouncer_app_files_databases list per application host) name. After a
    credential rotation, the login the files moved away from."""
    in_use = {entry.get("role") for entries in named for entry in entries or []}
    previous: set[str] = set()
    for role in roles:
        target = role.get("acts_as")
        if target is None:
            continue
        pair = {role.get("name"), target}
        if pair & in_use:
            previous |= pair - in_use
    return sorted(name for name in previous if isinstance(name, str))


def check_endpoint(host: Any, port: Any, where: str) -> str:
    """The endpoint the files point at (``where``_host and ``where``_port): a host name, a plain
    address or a socket directory, and a port; the host as it is rendered (check_host)."""
    if "," in str(host):
        raise ConfigError(f"{where}_host: one host, not a list, got {host!r}")
    rendered = check_host(host, f"{where}_host")
    check_text(port, f"{where}_port")
    if integer_or_none(port, 1, 65535) is None:
        raise ConfigError(f"{where}_port: must be a TCP port, got {port!r}")
    return rendered
