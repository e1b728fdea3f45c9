"""Filters for the PostgreSQL side: input checks, grants and the toolkit's pg_hba.conf block."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils import pg_hba, postgresql_model
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import ConfigError


def hba_block(
    auth_user: str,
    auth_database: str,
    grants: Mapping[str, Iterable[str]],
    addresses: Iterable[object],
    allow_everywhere: bool = False,
    tls: bool = False,
) -> str:
    """The toolkit's pg_hba.conf block, one rule per line (hostssl for the poolers with ``tls``)."""
    try:
        lines = pg_hba.hba_rules(
            auth_user, auth_database, grants, addresses, allow_everywhere=allow_everywhere, tls=bool(tls)
        )
    except ConfigError as exc:
        raise AnsibleFilterError(str(exc)) from None
    return "\n".join(lines)


def postgresql_errors(inputs: Mapping[str, Any]) -> list[str]:
    """Every problem with the PostgreSQL side's inputs, each naming its variable."""
    return postgresql_model.postgresql_side_errors(inputs)


def host_addresses(hosts: Iterable[str], hostvars: Mapping[str, Any]) -> list[str]:
    """The pg_hba.conf source address of each PgBouncer host."""
    try:
        return postgresql_model.host_addresses(hosts, hostvars)
    except ConfigError as exc:
        raise AnsibleFilterError(str(exc)) from None


class FilterModule:
    """PostgreSQL-side filters."""

    def filters(self) -> dict[str, object]:
        return {
            "grant_list": postgresql_model.grant_list,
            "grants_by_role": postgresql_model.grants_by_role,
            "host_addresses": host_addresses,
            "server_databases": postgresql_model.server_databases,
            "hba_block": hba_block,
            "postgresql_errors": postgresql_errors,
        }
