"""Filters over who runs what (plugin_utils/topology): the poolers, the central hosts' peering,
where central applications connect, the inventory's topology errors; and where a name points
(plugin_utils/addresses)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils import addresses, topology


def _or_filter_error(function, *args: Any) -> Any:
    try:
        return function(*args)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from None


def central_peering(
    host: str, groups: Mapping[str, Sequence[str]], hostvars: Mapping[str, Any]
) -> dict[str, Any]:
    """{pgbouncer_peer_id_base, pgbouncer_remote_peers} for ``host``."""
    return _or_filter_error(topology.central_peering, str(host), groups, hostvars)


def central_endpoint(groups: Mapping[str, Sequence[str]], hostvars: Mapping[str, Any]) -> dict[str, Any]:
    """{host: the virtual IP, port: HAProxy's}."""
    return _or_filter_error(topology.central_endpoint, groups, hostvars)


class FilterModule:
    """Topology filters."""

    def filters(self) -> dict[str, object]:
        return {
            "central_endpoint": central_endpoint,
            "central_peering": central_peering,
            "is_address": addresses.is_address,
            "resolved_addresses": addresses.resolved_addresses,
            "pooler_hosts": topology.pooler_hosts,
            "topology_errors": topology.topology_errors,
            "topology_of": lambda host, groups, hostvars: topology.topology_of(str(host), groups, hostvars),
        }
