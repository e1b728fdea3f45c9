"""The central topology's bad inputs stop site.yml in its first play, each naming the host, group
or variable, before any host changes. The inventory is inventory.example/central (two load
balancers, two central PgBouncers, three app hosts on the VIP), played by the controller, with one
thing changed per case."""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.playbooks import ROOT, run_site_on_example

EXAMPLE = ROOT / "inventory.example" / "central"

Hosts = dict[str, Any]


def children(hosts: Hosts) -> dict[str, Any]:
    return hosts["all"]["children"]


def set_host_var(group: str, host: str, name: str, value: object) -> Callable[[Hosts], None]:
    def change(hosts: Hosts) -> None:
        children(hosts)[group]["hosts"][host] = {**(children(hosts)[group]["hosts"][host] or {}), name: value}

    return change


def empty_group(group: str) -> Callable[[Hosts], None]:
    def change(hosts: Hosts) -> None:
        children(hosts)[group] = {"hosts": {}}

    return change


def with_monitoring(*more: Callable[[Hosts], None]) -> Callable[[Hosts], None]:
    """A monitoring host added to the example (then more changes)."""

    def change(hosts: Hosts) -> None:
        children(hosts)["pgbouncer_monitoring"] = {
            "hosts": {"mon1.example.internal": {"pgbouncer_address": "10.0.0.40"}}
        }
        for other in more:
            other(hosts)

    return change


CASES = [
    pytest.param(
        empty_group("pgbouncer_central"),
        "pgbouncer_central: has no host, but pgbouncer_topology is central on web1.example.internal",
        id="central apps without central hosts",
    ),
    pytest.param(
        empty_group("pgbouncer_lb"),
        "pgbouncer_lb: has no host, but pgbouncer_topology is central on web1.example.internal",
        id="central apps without load balancers",
    ),
    pytest.param(
        set_host_var("pgbouncer_app_hosts", "web2.example.internal", "pgbouncer_topology", "centrall"),
        "web2.example.internal: pgbouncer_topology must be one of per_host, central, got 'centrall'",
        id="unknown topology",
    ),
    pytest.param(
        set_host_var("pgbouncer_central", "pgb2.example.internal", "pgbouncer_peer_id_base", 0),
        "pgb2.example.internal: peer ids 1 to 2 (pgbouncer_peer_id_base 0) overlap pgb1.example.internal's",
        id="duplicate peer ids",
    ),
    pytest.param(
        set_host_var("pgbouncer_central", "pgb2.example.internal", "pgbouncer_peer_id_base", 16382),
        "pgb2.example.internal: pgbouncer_peer_id_base 16382 + pgbouncer_processes 2 passes 16383",
        id="peer id out of range",
    ),
    pytest.param(
        set_host_var("pgbouncer_lb", "lb1.example.internal", "pgbouncer_lb_virtual_ip", "10.0.0.300"),
        "pgbouncer_lb_virtual_ip: '10.0.0.300' is not an IP address",
        id="VIP not an address",
    ),
    pytest.param(
        set_host_var("pgbouncer_lb", "lb2.example.internal", "pgbouncer_lb_virtual_ip", "10.0.0.21"),
        "pgbouncer_lb_virtual_ip: 10.0.0.21 is the address of pgb1.example.internal",
        id="VIP is a host's address",
    ),
    pytest.param(
        set_host_var("pgbouncer_lb", "lb1.example.internal", "pgbouncer_lb_virtual_router_id", 256),
        "pgbouncer_lb_virtual_router_id: 256 is out of range",
        id="router id out of range",
    ),
    # IPv6 zone ids: ipaddress keeps them verbatim, so they reached pg_hba.conf, haproxy.cfg,
    # pgbouncer.ini and the app hosts' database.env as given.
    pytest.param(
        set_host_var("pgbouncer_lb", "lb1.example.internal", "pgbouncer_lb_virtual_ip", "::1%$(id>PWNED)"),
        "pgbouncer_lb_virtual_ip: '::1%$(id>PWNED)' is not an IP address",
        id="VIP with a zone id",
    ),
    pytest.param(
        set_host_var(
            "pgbouncer_central", "pgb1.example.internal", "pgbouncer_address", "fd00::21%$(id>PWNED)"
        ),
        "pgb1.example.internal: pgbouncer_address: 'fd00::21%$(id>PWNED)' is not an IP address",
        id="central host address with a zone id",
    ),
    pytest.param(
        set_host_var(
            "pgbouncer_central",
            "pgb1.example.internal",
            "pgbouncer_listen_addr",
            ["10.0.0.21", "fd00::21%$(id>PWNED)"],
        ),
        "pgbouncer_listen_addr: 'fd00::21%$(id>PWNED)' is not an address, a host name or *",
        id="central host listen address with a zone id",
    ),
    pytest.param(
        with_monitoring(),
        "pgbouncer_lb_metrics_scrape_password: required with pgbouncer_lb_metrics (Prometheus scrapes "
        "HAProxy over TLS with basic auth)",
        id="monitoring hosts, load balancers without a scrape password",
    ),
    pytest.param(
        with_monitoring(
            set_host_var(
                "pgbouncer_lb", "lb1.example.internal", "pgbouncer_lb_metrics_scrape_password", "scrape-pw"
            ),
            set_host_var("pgbouncer_lb", "lb2.example.internal", "pgbouncer_lb_metrics", False),
        ),
        "lb2.example.internal: runs HAProxy but no exporter, so mon1.example.internal (pgbouncer_monitoring) "
        "cannot scrape it: set pgbouncer_lb_metrics to true",
        id="monitoring hosts, a load balancer without metrics",
    ),
]


def run_first_play(
    tmp_path: Path, change: Callable[[Hosts], None], *args: str
) -> subprocess.CompletedProcess[str]:
    hosts = copy.deepcopy(yaml.safe_load((EXAMPLE / "hosts.yml").read_text()))
    change(hosts)
    return run_site_on_example(tmp_path, "central", hosts, *args)


@pytest.mark.parametrize(("change", "message"), CASES)
def test_bad_central_input_fails_in_the_first_play(tmp_path: Path, change, message: str) -> None:
    result = run_first_play(tmp_path, change)
    output = result.stdout + result.stderr
    flat = " ".join(output.split())
    assert result.returncode != 0, output
    assert " ".join(message.split()) in flat, output
    # No play after the checks began: no host was changed.
    assert "PLAY [Build the PostgreSQL side" not in output, output


def test_a_vip_with_a_zone_id_is_refused_on_an_app_host_under_limit(tmp_path: Path) -> None:
    """Under --limit the lb hosts (and their checks) are left out, but the app hosts still read the
    VIP for database.env: they refuse it by name in the first play, and nothing is rendered."""
    change = set_host_var(
        "pgbouncer_lb", "lb1.example.internal", "pgbouncer_lb_virtual_ip", "::1%$(id>PWNED)"
    )
    result = run_first_play(tmp_path, change, "--limit", "web1.example.internal")
    output = result.stdout + result.stderr
    flat = " ".join(output.split())
    assert result.returncode != 0, output
    assert "lb1.example.internal: pgbouncer_lb_virtual_ip: '::1%$(id>PWNED)' is not an IP address" in flat, (
        output
    )
    assert "PLAY [Render the application-side files]" not in output, output
    assert "changed=0" in output, output


def test_the_unchanged_example_passes(tmp_path: Path) -> None:
    """The cases above fail for their change alone: the same run without it passes every input check
    (a tag nothing has leaves out the server's read, which the stand-in hosts cannot answer)."""
    result = run_first_play(tmp_path, lambda hosts: None, "--tags", "first-play-only")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # The last input checks ran (not skipped by the tag).
    assert "pgbouncer_tls : Check the names this host's certificate will carry" in output, output
    assert "failed=0" in output, output
