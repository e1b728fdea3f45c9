"""The text of PgBouncer's files: ``pgbouncer.ini`` (entry names as ini keys, connection strings,
the sections) and ``userlist.txt``.

A renderer that cannot emit a line the inventory did not declare: every value reaching it has
been checked to be one line (value_checks, pgbouncer_settings), and is rendered in the only form
PgBouncer reads back byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.names import CONTROL_CHARACTERS
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.scram import VERIFIER
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.pgbouncer_settings import (
    version_key,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import (
    ConfigError,
    check_name,
    check_password,
)

# The characters libusual's ini parser takes in an unquoted key (ASCII isalnum and "_.-*"; a bare
# "*" is the fallback database, so it is left out). Quoted keys ('...') came with 1.25.0.
_UNQUOTED_KEY = re.compile(r"[A-Za-z0-9_.-]+")
QUOTED_KEYS_SINCE = "1.25.0"


def check_section_name(value: object, where: str, *, kind: str, version: str) -> str:
    """A name that becomes an ini key (a [databases] or [users] entry).

    Up to 1.24 PgBouncer reads only ASCII letters, digits, '_', '.' and '-' there; from 1.25 a
    key may be single-quoted, so anything but a single quote.
    """
    text = check_name(value, where, kind=kind)
    if _UNQUOTED_KEY.fullmatch(text):
        return text
    if version_key(version) < version_key(QUOTED_KEYS_SINCE):
        raise ConfigError(
            f"{where}: {text!r} cannot be an entry name for PgBouncer {version}, which reads only ASCII "
            f"letters, digits, '_', '.' and '-' there (quoted names need {QUOTED_KEYS_SINCE})"
            + (": name the entry so and set its dbname to the PostgreSQL name" if kind == "database" else "")
        )
    if "'" in text:
        raise ConfigError(
            f"{where}: {text!r} contains a single quote, which PgBouncer cannot read in an entry name"
        )
    return text


def ini_key(name: str) -> str:
    """An entry name as an ini key: bare when PgBouncer reads it bare, else single-quoted (the
    name has passed check_section_name for the target version)."""
    return name if _UNQUOTED_KEY.fullmatch(name) else f"'{name}'"


def connstr(pairs: Iterable[tuple[str, str, bool]]) -> str:
    """``key=value`` pairs for a [databases]/[users]/[peers] entry; (key, text, is_number).

    PgBouncer splits on spaces and reads ``'...'`` with ``''`` for a quote: every text value is
    quoted, so nothing in it can start another pair.
    """
    rendered = []
    for key, text, is_number in pairs:
        rendered.append(f"{key}={text}" if is_number else "{}='{}'".format(key, text.replace("'", "''")))
    return " ".join(rendered)


def one_line_each(sections: Mapping[str, Mapping[str, str]]) -> Mapping[str, Mapping[str, str]]:
    """``sections`` unchanged when every key and value is one line: the invariant every check
    of a value exists for (a rendered entry is one ``key = value`` line, nothing more)."""
    for entries in sections.values():
        for key, value in entries.items():
            if len(f"{key} = {value}".splitlines()) != 1 or CONTROL_CHARACTERS.search(f"{key}{value}"):
                raise ConfigError("internal error: a rendered value spans more than one line")
    return sections


def render_ini(sections: Mapping[str, Mapping[str, str]], header: str = "") -> str:
    """The file: ``header`` (comment lines), then each section with its already-checked lines.
    The role's pgbouncer.ini.j2 writes the same text from the same sections."""
    lines = [line for line in header.splitlines() if line.startswith((";", "#")) or not line]
    for section, entries in one_line_each(sections).items():
        if lines:
            lines.append("")
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {value}" for key, value in entries.items())
    return "\n".join(lines) + "\n"


def _entry(user: str, secret: str) -> str:
    """One userlist.txt line, ``"user" "secret"``, quotes doubled (PgBouncer's format)."""
    return '"{}" "{}"\n'.format(user.replace('"', '""'), secret.replace('"', '""'))


def userlist(user: str, password: str) -> str:
    """userlist.txt with the auth user's entry only (its plaintext password)."""
    check_name(user, "pgbouncer_auth_user", kind="role")
    check_password(password, "pgbouncer_auth_password")
    return _entry(user, password)


def userlist_verifiers(verifiers: Mapping[str, object]) -> str:
    """userlist.txt with one SCRAM verifier per role, in name order (a managed PostgreSQL): no
    password, and nothing but a well-formed verifier in the second field."""
    lines = []
    for user in sorted(verifiers):
        check_name(user, "pgbouncer_roles[].name", kind="role")
        verifier = verifiers[user]
        if not isinstance(verifier, str) or not VERIFIER.fullmatch(verifier):
            raise ConfigError(f"userlist.txt: the verifier of role {user!r} is not a SCRAM-SHA-256 verifier")
        lines.append(_entry(user, verifier))
    return "".join(lines)
