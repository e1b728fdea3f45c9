"""Filters for the PostgreSQL side: its model (input checks, databases, grants, the toolkit's
pg_hba.conf block), built once per run, and the poolers' addresses."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils import postgresql_model
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import ConfigError


def postgresql_side(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The PostgreSQL side's model, built once: ``errors`` (each naming its variable) and, when
    there are none, the databases, grants, pg_hba.conf block and undeclared owners
    (plugin_utils/postgresql_model.postgresql_side). Holds no password."""
    errors, model = postgresql_model.postgresql_side(inputs)
    return {"errors": errors, **model}


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
            "host_addresses": host_addresses,
            "postgresql_side": postgresql_side,
        }
