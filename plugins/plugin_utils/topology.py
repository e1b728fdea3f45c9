"""Which host runs what, from the inventory's groups and each application host's
``pgbouncer_topology``.

- ``pgbouncer_app_hosts`` run the applications. ``pgbouncer_topology: per_host`` (the default)
  gives each its own PgBouncer on loopback; ``central`` points it at the load balancers'
  virtual IP and installs no PgBouncer on it.
- ``pgbouncer_central`` run PgBouncer for the network, peered with each other so a cancel request
  that reaches the other pooler is forwarded to the one holding the query.
- ``pgbouncer_lb`` run HAProxy and keepalived and hold the virtual IP (a host may also be central).

The poolers (per_host application hosts and central hosts) are the hosts PostgreSQL admits and
the connection budget counts. Each central host's processes take the peer ids
``peer_id_base + 1 .. peer_id_base + pgbouncer_processes``; the base is its position in the
central group times 16 (the most processes a host runs) unless the host sets
``pgbouncer_peer_id_base``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.lb_config import (
    as_address,
    host_address,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.pgbouncer_role import role_default
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.pooler_processes import (
    MAX_PEER_ID,
    MAX_PROCESSES,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import (
    ConfigError,
    integer,
)

APP_GROUP = "pgbouncer_app_hosts"
CENTRAL_GROUP = "pgbouncer_central"
LB_GROUP = "pgbouncer_lb"
PER_HOST, CENTRAL = "per_host", "central"
TOPOLOGIES = (PER_HOST, CENTRAL)


def group(groups: Mapping[str, Sequence[str]], name: str) -> list[str]:
    return list(groups.get(name) or [])


def topology_of(host: str, groups: Mapping[str, Sequence[str]], hostvars: Mapping[str, Any]) -> object:
    """The host's ``pgbouncer_topology``; unset, central for a host of pgbouncer_central and
    per_host for any other (not checked: see topology_errors)."""
    value = (hostvars.get(host) or {}).get("pgbouncer_topology")
    if value is None or value == "":
        return CENTRAL if host in group(groups, CENTRAL_GROUP) else PER_HOST
    return value


def pooler_hosts(groups: Mapping[str, Sequence[str]], hostvars: Mapping[str, Any]) -> list[str]:
    """The hosts that run PgBouncer: the per_host application hosts, then the central hosts."""
    central = group(groups, CENTRAL_GROUP)
    per_host = [
        host
        for host in group(groups, APP_GROUP)
        if host not in central and topology_of(host, groups, hostvars) == PER_HOST
    ]
    return per_host + central


def _peer_ranges(
    groups: Mapping[str, Sequence[str]], hostvars: Mapping[str, Any]
) -> tuple[list[str], dict[str, tuple[int, int]]]:
    """(errors, {central host: (peer_id_base, processes)})."""
    errors: list[str] = []
    ranges: dict[str, tuple[int, int]] = {}
    for index, host in enumerate(group(groups, CENTRAL_GROUP)):
        variables = hostvars.get(host) or {}
        try:
            processes = integer(
                variables.get("pgbouncer_processes", 1), f"{host}: pgbouncer_processes", 1, MAX_PROCESSES
            )
            base = integer(
                variables.get("pgbouncer_peer_id_base", index * MAX_PROCESSES),
                f"{host}: pgbouncer_peer_id_base",
                0,
                MAX_PEER_ID - 1,
            )
        except ConfigError as exc:
            errors.append(str(exc))
            continue
        if base + processes > MAX_PEER_ID:
            errors.append(
                f"{host}: pgbouncer_peer_id_base {base} + pgbouncer_processes {processes} passes "
                f"{MAX_PEER_ID}, the highest peer_id"
            )
            continue
        for other, (other_base, other_processes) in ranges.items():
            if base < other_base + other_processes and other_base < base + processes:
                errors.append(
                    f"{host}: peer ids {base + 1} to {base + processes} (pgbouncer_peer_id_base {base}) "
                    f"overlap {other}'s, {other_base + 1} to {other_base + other_processes}: every "
                    "process of the central group needs its own"
                )
        ranges[host] = (base, processes)
    return errors, ranges


def topology_errors(groups: Mapping[str, Sequence[str]], hostvars: Mapping[str, Any]) -> list[str]:
    """Every problem with who runs what, each naming the host, group or variable."""
    errors: list[str] = []
    central = group(groups, CENTRAL_GROUP)
    lb = group(groups, LB_GROUP)
    app_hosts = group(groups, APP_GROUP)
    for host in dict.fromkeys(app_hosts + central):
        value = topology_of(host, groups, hostvars)
        if value not in TOPOLOGIES:
            errors.append(f"{host}: pgbouncer_topology must be one of {', '.join(TOPOLOGIES)}, got {value!r}")
        elif host in central and value == PER_HOST:
            errors.append(
                f"{host}: is in {CENTRAL_GROUP}, so it runs the central PgBouncer; pgbouncer_topology "
                f"per_host would give it a second, loopback-only one (set central, or leave it unset)"
            )
    on_central = [host for host in app_hosts if topology_of(host, groups, hostvars) == CENTRAL]
    if on_central and not central:
        errors.append(
            f"{CENTRAL_GROUP}: has no host, but pgbouncer_topology is central on {', '.join(on_central)} "
            "(add the hosts that run the central PgBouncers to the group)"
        )
    if on_central and not lb:
        errors.append(
            f"{LB_GROUP}: has no host, but pgbouncer_topology is central on {', '.join(on_central)}, "
            "whose applications connect to the load balancers' virtual IP (add the HAProxy and "
            "keepalived hosts to the group)"
        )
    if lb and not central:
        errors.append(
            f"{CENTRAL_GROUP}: has no host, but {LB_GROUP} has {', '.join(lb)}, whose HAProxy needs the "
            "central PgBouncers as its servers"
        )
    errors += _peer_ranges(groups, hostvars)[0]
    return errors


def central_peering(
    host: str, groups: Mapping[str, Sequence[str]], hostvars: Mapping[str, Any]
) -> dict[str, Any]:
    """What the pgbouncer role adds to ``host``'s [peers]: its own peer_id_base and the other
    central hosts' processes at their addresses. A per_host pooler peers its own processes only."""
    if host not in group(groups, CENTRAL_GROUP):
        return {"pgbouncer_peer_id_base": 0, "pgbouncer_remote_peers": []}
    errors, ranges = _peer_ranges(groups, hostvars)
    if errors:
        raise ValueError("; ".join(errors))
    remote = []
    for other, (base, processes) in ranges.items():
        if other == host:
            continue
        try:
            address = host_address(other, hostvars[other])
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        port = (hostvars.get(other) or {}).get("pgbouncer_listen_port", role_default("pgbouncer_listen_port"))
        remote.append({"host": address, "port": port, "peer_id_base": base, "processes": processes})
    return {"pgbouncer_peer_id_base": ranges[host][0], "pgbouncer_remote_peers": remote}


def central_endpoint(groups: Mapping[str, Sequence[str]], hostvars: Mapping[str, Any]) -> dict[str, Any]:
    """Where the applications of the central topology connect: the virtual IP (checked as the lb
    role checks it, and in canonical form: under --limit the lb hosts' own checks may not run)
    and HAProxy's port, as the first host of pgbouncer_lb has them."""
    lb = group(groups, LB_GROUP)
    if not lb:
        raise ValueError(f"{LB_GROUP}: has no host, so there is no virtual IP to connect to")
    variables = hostvars.get(lb[0]) or {}
    virtual_ip = variables.get("pgbouncer_lb_virtual_ip")
    if not virtual_ip:
        raise ValueError(f"{lb[0]}: pgbouncer_lb_virtual_ip is not set")
    try:
        host = as_address(virtual_ip, f"{lb[0]}: pgbouncer_lb_virtual_ip", ipv4_only=True)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    port = (
        variables.get("pgbouncer_lb_port")
        or variables.get("pgbouncer_listen_port")
        or role_default("pgbouncer_listen_port")
    )
    return {"host": host, "port": port}
