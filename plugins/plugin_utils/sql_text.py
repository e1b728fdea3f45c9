"""SQL text the toolkit writes into PgBouncer's configuration and its checks: identifiers always
double-quoted, and the auth_query that calls the lookup function."""

from __future__ import annotations


def quote_ident(name: str) -> str:
    """A PostgreSQL identifier, always double-quoted (the name has been checked already)."""
    return '"{}"'.format(name.replace('"', '""'))


def auth_query(schema: str, function: str) -> str:
    """The auth_query calling the lookup function, its identifiers quoted."""
    return f"SELECT username, password FROM {quote_ident(schema)}.{quote_ident(function)}($1)"
