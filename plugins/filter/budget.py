"""Filters over the server-connection budget (plugin_utils/connection_budget): how many PostgreSQL
connections all PgBouncer processes on all pooler hosts can hold at worst, against what the
server has for them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils import connection_budget as budget


def connection_budget(
    poolers: Sequence[Mapping[str, Any]],
    server: Mapping[str, Any],
    headroom: object = 0,
    accept_risk: object = False,
) -> dict[str, Any]:
    """{"rows": [...], "total": int or None (unbounded), "available": int or None, "table": str,
    "errors": [...]}: the errors are why the budget fails (unbounded pools, unreadable server
    values, or, unless ``accept_risk``, a worst case above the available connections, naming the
    pools to shrink).

    ``poolers``: one {"host", "processes", "inputs"} per pooler host; ``server``: the server's
    max_connections, superuser_reserved_connections and reserved_connections (postgresql_facts).
    """
    try:
        accept = boolean(accept_risk, strict=True)
    except TypeError as exc:
        raise AnsibleFilterError(f"{budget.ACCEPT_RISK_VARIABLE}: {exc}") from None
    report = budget.worst_case(poolers, server, headroom)
    return {
        "rows": report["rows"],
        "total": report["total"],
        "available": report["available"],
        "table": budget.budget_table(report, server, headroom),
        "errors": budget.budget_errors(report, server, headroom, accept),
    }


class FilterModule:
    """Server-connection budget filters."""

    def filters(self) -> dict[str, object]:
        return {
            "connection_budget": connection_budget,
        }
