"""Filters over the capacity from the application side (plugin_utils/capacity): the declared
process types, what reaches each pooler, and the capacity table shown before deploy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils import capacity


def capacity_sources(
    pooler: object, groups: Mapping[str, Sequence[str]], hostvars: Mapping[str, Any]
) -> dict[str, Any]:
    """What reaches ``pooler``: the application hosts, how many poolers share them, and their
    checked process types (capacity.sources)."""
    try:
        return capacity.sources(str(pooler), groups, hostvars)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"{capacity.VARIABLE}: {exc}") from None


def process_type_errors(declared: object, app_databases: object) -> list[str]:
    """[] or every problem of this host's pgbouncer_app_files_processes."""
    return capacity.process_types(declared, app_databases)[1]


def process_types(declared: object, app_databases: object) -> list[dict[str, Any]]:
    """This host's checked process types, as dicts (name, kind, slots, arithmetic, settings, ...),
    each with the file name of its fragment (None for kinds that have none)."""
    found, errors = capacity.process_types(declared, app_databases)
    if errors:
        raise AnsibleFilterError("; ".join(errors))
    return [{**asdict(item), "fragment": capacity.fragment_name(item.kind, item.name)} for item in found]


def capacity_table(poolers: Sequence[Mapping[str, Any]], available: object = None) -> str:
    """The capacity table of every pooler (the ``capacity`` of each pgbouncer_budget_pooler)."""
    return capacity.capacity_table(poolers, available)


class FilterModule:
    """Capacity filters."""

    def filters(self) -> dict[str, object]:
        return {
            "capacity_sources": capacity_sources,
            "capacity_table": capacity_table,
            "process_type_errors": process_type_errors,
            "process_types": process_types,
        }
