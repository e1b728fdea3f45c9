"""What a PostgreSQL name can be in this toolkit, for the modules and the filters alike.

Names are always quoted where they are used (SQL through format('%I'), pg_hba.conf, userlist.txt),
so capitals, spaces, quotes and unicode are fine. What is refused cannot round-trip: control
characters (they hide in logs and split lines), surrounding whitespace, more than 63 bytes (the
server truncates), a leading '/' (a regular expression in pg_hba.conf), and role or schema names
PostgreSQL or PgBouncer give a meaning of their own.

pg_hba.conf's other special forms lose their meaning when quoted, and pg_hba.py quotes every name:
``+name`` (members of a role), ``@file`` (names read from a file) and the keywords ``all``,
``sameuser``, ``samerole``, ``samegroup`` and ``replication``. A leading '/' does not: PostgreSQL
16 and later read ``"/..."`` as a regular expression all the same, so a role named ``/.*`` would
match every role. The rule is kept for every name (schema and function names never reach
pg_hba.conf, but one rule for all names refuses nothing anyone needs).
Each function returns what is wrong, or None; callers raise their own error type with it.
"""

from __future__ import annotations

import re

# NAMEDATALEN - 1: PostgreSQL silently truncates longer names, so two long names could collide.
MAX_NAME_BYTES = 63
# Role names PostgreSQL or PgBouncer give a meaning of their own (GRANT ... TO public, pg_hba's
# `all`, PgBouncer's admin console user), refused whatever their case.
RESERVED_ROLE_NAMES = frozenset(
    {"public", "none", "current_user", "session_user", "current_role", "all", "pgbouncer"}
)
# Schemas that already mean something; the lookup function takes its schema over entirely.
RESERVED_SCHEMA_NAMES = frozenset({"public", "information_schema"})
# C0 controls, DEL, and the Unicode line and paragraph separators.
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")


def name_problem(value: object) -> str | None:
    """Why ``value`` cannot be a PostgreSQL object name, or None."""
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    if not value:
        return "must not be empty"
    if CONTROL_CHARACTERS.search(value):
        return f"must not contain control characters (NUL, tab, newline...), got {value!r}"
    if value != value.strip():
        return f"must not start or end with whitespace, got {value!r}"
    if value.startswith("/"):
        return (
            f"must not start with '/', which pg_hba.conf reads as a regular expression on PostgreSQL 16 "
            f"and later, even quoted (it would match other names), got {value!r}"
        )
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return f"must be valid Unicode text, got {value!r}"
    if size > MAX_NAME_BYTES:
        return f"must be at most {MAX_NAME_BYTES} bytes in UTF-8, got {size}: {value!r}"
    return None


def role_name_problem(value: object) -> str | None:
    """Like name_problem, and refuse role names with a meaning of their own."""
    problem = name_problem(value)
    if problem is None and str(value).casefold() in RESERVED_ROLE_NAMES:
        return f"must not be the reserved role name {value!r}"
    if problem is None and str(value).casefold().startswith("pg_"):
        return f"must not start with 'pg_' (reserved for system roles), got {value!r}"
    return problem


def schema_name_problem(value: object) -> str | None:
    """Like name_problem, and refuse schemas PostgreSQL reserves or that hold other objects."""
    problem = name_problem(value)
    if problem is None and (
        str(value).casefold() in RESERVED_SCHEMA_NAMES or str(value).casefold().startswith("pg_")
    ):
        return f"must name a schema of its own, not {value!r}"
    return problem


# A setting as pg_settings spells it (lowercase), or a custom one (prefix.name).
_SETTING_NAME = re.compile(r"[a-z_][a-z0-9_$]*(\.[a-z_][a-z0-9_$]*)*")


def setting_name_problem(value: object) -> str | None:
    """What is wrong with ``value`` as a role setting's name, or None."""
    if not isinstance(value, str) or not _SETTING_NAME.fullmatch(value):
        return (
            "must be a setting's name as pg_settings spells it (lowercase letters, digits, _ and $; "
            f"a custom one as prefix.name), got {value!r}"
        )
    return None


def setting_text(value: object) -> tuple[str | None, str | None]:
    """(the text ALTER ROLE ... SET gives PostgreSQL for ``value``, problem): a boolean is on or
    off, a number its decimal form, a string itself; None is (None, None): RESET."""
    if value is None:
        return None, None
    if isinstance(value, bool):
        return ("on" if value else "off"), None
    if isinstance(value, (int, float)):
        return str(value), None
    if not isinstance(value, str):
        return None, f"must be a string, a number or a boolean, got {type(value).__name__}"
    if CONTROL_CHARACTERS.search(value):
        return None, "must not contain control characters"
    return str(value), None
