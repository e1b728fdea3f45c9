"""Who runs what: the poolers, the central hosts' peer ids and [peers], the central endpoint, and
every inventory mistake refused by name."""

from __future__ import annotations

import re

import pytest

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils import topology
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.pooler_processes import (
    process_settings,
)

ADDRESSES = {"pgb1": "10.0.0.21", "pgb2": "10.0.0.22", "lb1": "10.0.0.11", "lb2": "10.0.0.12"}


def inventory(**overrides):
    """The central example's shape: two lb hosts, two central hosts, three app hosts."""
    groups = {
        "pgbouncer_postgresql": ["db1"],
        "pgbouncer_app_hosts": ["web1", "web2", "batch1"],
        "pgbouncer_central": ["pgb1", "pgb2"],
        "pgbouncer_lb": ["lb1", "lb2"],
    }
    hostvars = {
        host: ({"pgbouncer_address": ADDRESSES[host]} if host in ADDRESSES else {})
        for hosts in groups.values()
        for host in hosts
    }
    hostvars["batch1"]["pgbouncer_topology"] = "central"
    hostvars["lb1"]["pgbouncer_lb_virtual_ip"] = "10.0.0.100"
    for name, value in overrides.items():
        if name in groups:
            groups[name] = value
        else:
            host, variable = name.split("__")
            hostvars.setdefault(host, {})[variable] = value
    return groups, hostvars


def test_poolers_are_the_per_host_app_hosts_and_the_central_hosts():
    groups, hostvars = inventory()
    assert topology.pooler_hosts(groups, hostvars) == ["web1", "web2", "pgb1", "pgb2"]
    assert topology.topology_of("pgb1", groups, hostvars) == "central"
    assert topology.topology_of("web1", groups, hostvars) == "per_host"
    assert topology.topology_of("batch1", groups, hostvars) == "central"
    assert topology.topology_errors(groups, hostvars) == []


def test_a_per_host_inventory_has_no_central_part():
    groups, hostvars = inventory(pgbouncer_central=[], pgbouncer_lb=[], batch1__pgbouncer_topology="per_host")
    assert topology.pooler_hosts(groups, hostvars) == ["web1", "web2", "batch1"]
    assert topology.topology_errors(groups, hostvars) == []
    assert topology.central_peering("web1", groups, hostvars) == {
        "pgbouncer_peer_id_base": 0,
        "pgbouncer_remote_peers": [],
    }


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"web1__pgbouncer_topology": "centrall"},
            "web1: pgbouncer_topology must be one of per_host, central, got 'centrall'",
        ),
        (
            {"pgb1__pgbouncer_topology": "per_host"},
            "pgb1: is in pgbouncer_central, so it runs the central PgBouncer",
        ),
        (
            {"pgbouncer_central": []},
            "pgbouncer_central: has no host, but pgbouncer_topology is central on batch1",
        ),
        ({"pgbouncer_lb": []}, "pgbouncer_lb: has no host, but pgbouncer_topology is central on batch1"),
        (
            {"pgbouncer_central": [], "batch1__pgbouncer_topology": "per_host"},
            "pgbouncer_central: has no host, but pgbouncer_lb has lb1, lb2",
        ),
        (
            {"pgb1__pgbouncer_processes": 4, "pgb2__pgbouncer_peer_id_base": 2},
            "pgb2: peer ids 3 to 3 (pgbouncer_peer_id_base 2) overlap pgb1's, 1 to 4",
        ),
        (
            {"pgb2__pgbouncer_peer_id_base": 0},
            "pgb2: peer ids 1 to 1 (pgbouncer_peer_id_base 0) overlap pgb1's",
        ),
        (
            {"pgb2__pgbouncer_peer_id_base": 16382, "pgb2__pgbouncer_processes": 2},
            "pgb2: pgbouncer_peer_id_base 16382 + pgbouncer_processes 2 passes 16383",
        ),
        (
            {"pgb2__pgbouncer_peer_id_base": 20000},
            "pgb2: pgbouncer_peer_id_base: 20000 is out of range (0 to 16382)",
        ),
        (
            {"pgb2__pgbouncer_peer_id_base": -1},
            "pgb2: pgbouncer_peer_id_base: -1 is out of range (0 to 16382)",
        ),
        ({"pgb2__pgbouncer_peer_id_base": "1\n"}, "pgb2: pgbouncer_peer_id_base: must be an integer"),
        ({"pgb1__pgbouncer_processes": 17}, "pgb1: pgbouncer_processes: 17 is out of range (1 to 16)"),
    ],
)
def test_inventory_mistakes_are_refused_by_name(overrides, expected):
    groups, hostvars = inventory(**overrides)
    errors = topology.topology_errors(groups, hostvars)
    assert any(error.startswith(expected) for error in errors), errors


def test_processes_that_fit_side_by_side_are_accepted():
    # pgb1 runs 16 processes (ids 1-16), pgb2 starts right after.
    groups, hostvars = inventory(pgb1__pgbouncer_processes=16, pgb2__pgbouncer_processes=16)
    assert topology.topology_errors(groups, hostvars) == []
    groups, hostvars = inventory(pgb1__pgbouncer_processes=4, pgb2__pgbouncer_peer_id_base=4)
    assert topology.topology_errors(groups, hostvars) == []


def test_central_hosts_peer_every_process_of_the_pair():
    groups, hostvars = inventory(pgb1__pgbouncer_processes=2, pgb2__pgbouncer_processes=3)
    mine = topology.central_peering("pgb2", groups, hostvars)
    assert mine == {
        "pgbouncer_peer_id_base": 16,
        "pgbouncer_remote_peers": [{"host": "10.0.0.21", "port": 6432, "peer_id_base": 0, "processes": 2}],
    }
    settings = process_settings(3, "/var/run/postgresql", 6432, 2, 16, mine["pgbouncer_remote_peers"])
    assert settings["peer_id"] == "18"
    assert settings["peers"] == {
        1: {"host": "10.0.0.21", "port": 6432},
        2: {"host": "10.0.0.21", "port": 6432},
        17: {"host": "/var/run/postgresql", "port": 6432},
        18: {"host": "/run/pgbouncer-2", "port": 6432},
        19: {"host": "/run/pgbouncer-3", "port": 6432},
    }
    # The same [peers] on both hosts, seen from each one's own processes.
    theirs = topology.central_peering("pgb1", groups, hostvars)
    other = process_settings(2, "/var/run/postgresql", 6432, 1, 0, theirs["pgbouncer_remote_peers"])
    assert sorted(other["peers"]) == sorted(settings["peers"])


def test_central_peering_refuses_overlaps_and_missing_addresses():
    groups, hostvars = inventory(pgb2__pgbouncer_peer_id_base=0)
    with pytest.raises(ValueError, match="overlap pgb1's"):
        topology.central_peering("pgb1", groups, hostvars)
    groups, hostvars = inventory()
    del hostvars["pgb2"]["pgbouncer_address"]
    with pytest.raises(ValueError, match="pgb2: no address"):
        topology.central_peering("pgb1", groups, hostvars)


@pytest.mark.parametrize(
    ("lb_vars", "expected"),
    [
        ({"pgbouncer_lb_virtual_ip": "10.0.0.100"}, {"host": "10.0.0.100", "port": 6432}),
        (
            {"pgbouncer_lb_virtual_ip": "10.0.0.100", "pgbouncer_listen_port": 6500},
            {"host": "10.0.0.100", "port": 6500},
        ),
        (
            {"pgbouncer_lb_virtual_ip": "10.0.0.100", "pgbouncer_lb_port": 7000},
            {"host": "10.0.0.100", "port": 7000},
        ),
    ],
)
def test_central_applications_connect_to_the_virtual_ip(lb_vars, expected):
    groups, hostvars = inventory()
    hostvars["lb1"] = lb_vars
    assert topology.central_endpoint(groups, hostvars) == expected


def test_no_endpoint_without_load_balancers_or_a_virtual_ip():
    groups, hostvars = inventory(pgbouncer_lb=[])
    with pytest.raises(ValueError, match="pgbouncer_lb: has no host"):
        topology.central_endpoint(groups, hostvars)
    groups, hostvars = inventory()
    del hostvars["lb1"]["pgbouncer_lb_virtual_ip"]
    with pytest.raises(ValueError, match="lb1: pgbouncer_lb_virtual_ip is not set"):
        topology.central_endpoint(groups, hostvars)


@pytest.mark.parametrize(
    "virtual_ip", ["::1%$(id>PWNED)", "10.0.0.100%eth0", "fd00::100%eth0", "10.0.0.100 #", "vip.example"]
)
def test_the_endpoint_is_a_plain_virtual_ip(virtual_ip):
    """App hosts read the VIP even when a --limit leaves the lb hosts (and their checks) out."""
    groups, hostvars = inventory(lb1__pgbouncer_lb_virtual_ip=virtual_ip)
    with pytest.raises(ValueError, match=re.escape(f"lb1: pgbouncer_lb_virtual_ip: {virtual_ip!r} is not")):
        topology.central_endpoint(groups, hostvars)


def test_the_peers_of_a_central_host_are_at_plain_addresses():
    groups, hostvars = inventory(pgb2__pgbouncer_address="fd00::22%eth0")
    with pytest.raises(
        ValueError, match=re.escape("pgb2: pgbouncer_address: 'fd00::22%eth0' is not an IP address")
    ):
        topology.central_peering("pgb1", groups, hostvars)
