"""SQL text the toolkit writes into PgBouncer's configuration and its checks: identifiers always
double-quoted, the auth_query that calls the lookup function, and the auth contract both sides
share (who runs that lookup, where, and which function it calls)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import (
    check_name,
    collect,
)


def quote_ident(name: str) -> str:
    """A PostgreSQL identifier, always double-quoted (the name has been checked already)."""
    return '"{}"'.format(name.replace('"', '""'))


def auth_query(schema: str, function: str) -> str:
    """The auth_query calling the lookup function, its identifiers quoted."""
    return f"SELECT username, password FROM {quote_ident(schema)}.{quote_ident(function)}($1)"


@dataclass(frozen=True)
class AuthContract:
    """The auth contract, each part checked as a PostgreSQL name (None: refused, error recorded, or
    no contract at all: a managed PostgreSQL has no auth user and no lookup function)."""

    user: str | None  # pgbouncer_auth_user: the role PgBouncer runs auth_query as
    database: str | None  # pgbouncer_auth_database: where it runs it
    schema: str | None  # pgbouncer_auth_schema and pgbouncer_auth_function: what it calls
    function: str | None


def auth_contract(inputs: Mapping[str, Any], errors: list[str]) -> AuthContract:
    """The auth contract of ``inputs`` (role variables by name), its errors added to ``errors``.
    The pooler side and the PostgreSQL side both read it from here."""
    if inputs.get("pgbouncer_managed_postgresql"):
        return AuthContract(None, None, None, None)
    return AuthContract(
        user=collect(
            errors, check_name, inputs.get("pgbouncer_auth_user"), "pgbouncer_auth_user", kind="role"
        ),
        database=collect(
            errors,
            check_name,
            inputs.get("pgbouncer_auth_database"),
            "pgbouncer_auth_database",
            kind="database",
        ),
        schema=collect(errors, check_name, inputs.get("pgbouncer_auth_schema"), "pgbouncer_auth_schema"),
        function=collect(
            errors, check_name, inputs.get("pgbouncer_auth_function"), "pgbouncer_auth_function"
        ),
    )
