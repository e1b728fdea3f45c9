"""The pgbouncer_lb checker (plugin_utils/lb_config) and its filters: every bad input refused by
the variable's name, good ones accepted, the derived router id and priorities, and nothing in
the model that could start a new line or directive in haproxy.cfg or keepalived.conf."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.filter import lb as lb_filter
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils import lb_config as lb_config_module
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.lb_config import (
    derived_priority,
    derived_router_id,
    lb_config,
)

ROLE = Path(__file__).resolve().parents[2] / "roles" / "pgbouncer_lb"
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
SPECS = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"][
    "options"
]

# The role's defaults, with what an inventory and Ansible's templating supply.
INPUTS: dict[str, Any] = {
    **DEFAULTS,
    "pgbouncer_lb_virtual_ip": "10.0.0.100",
    "pgbouncer_lb_interface": "eth0",
    "pgbouncer_lb_peer_hosts": ["lb1", "lb2"],
    "pgbouncer_lb_backend_hosts": ["pgb1", "pgb2"],
    "pgbouncer_lb_port": 6432,
    # As with monitoring hosts in the inventory.
    "pgbouncer_lb_metrics": True,
    "pgbouncer_lb_metrics_scrape_password": "lb-metrics-pw",
}
HOSTVARS: dict[str, dict[str, Any]] = {
    "lb1": {"pgbouncer_address": "10.0.0.11"},
    "lb2": {"ansible_facts": {"default_ipv4": {"address": "10.0.0.12", "interface": "eth0"}}},
    "pgb1": {"pgbouncer_address": "10.0.0.21/32"},
    "pgb2": {"ansible_facts": {"default_ipv4": {"address": "10.0.0.22"}}},
    "db1": {"pgbouncer_address": "10.0.0.30"},
}


def check(
    changes: dict[str, Any] | None = None, hostvars: dict[str, dict[str, Any]] | None = None, host="lb1"
):
    inputs = {**copy.deepcopy(INPUTS), **(changes or {})}
    variables = copy.deepcopy(HOSTVARS)
    for name, values in (hostvars or {}).items():
        variables.setdefault(name, {}).update(values)
    return lb_config(inputs, variables, host)


def test_the_defaults_with_a_vip_are_accepted():
    errors, model = check()
    assert errors == []
    assert model == {
        "virtual_ip": "10.0.0.100",
        "interface": "eth0",
        "virtual_router_id": 100,
        "priority": 200,
        "preempt": False,
        "port": 6432,
        "maxconn": 4000,
        "timeouts": {"connect": "5s", "client": "30m", "server": "30m", "tunnel": "30m", "check": "5s"},
        "check": {"interval": "2s", "fall": 3, "rise": 2},
        "servers": [
            {"name": "pgb1", "address": "10.0.0.21", "port": 6432, "endpoint": "10.0.0.21:6432"},
            {"name": "pgb2", "address": "10.0.0.22", "port": 6432, "endpoint": "10.0.0.22:6432"},
        ],
        "src_ip": "10.0.0.11",
        "unicast_peers": ["10.0.0.12"],
        "advert_int": 1,
        "track": {"interval": 1, "fall": 2, "rise": 2},
        "auth_pass": "",
        "script_user": "keepalived_script",
        "metrics": {
            "port": 8405,
            "scrape_user": "prometheus",
            "scrape_password": "lb-metrics-pw",
            "cert_file": "/etc/ssl/pgbouncer-toolkit/host.crt",
            "key_file": "/etc/ssl/pgbouncer-toolkit/private/host.key",
        },
    }


# ------------------------------------------------------------------------------------------------
# Derived values


@pytest.mark.parametrize(
    ("virtual_ip", "router_id"),
    [("10.0.0.100", 100), ("192.168.7.1", 1), ("10.0.0.254", 254), ("10.0.1.255", 255), ("10.0.2.0", 255)],
)
def test_router_id_is_the_vips_last_octet(virtual_ip, router_id):
    assert derived_router_id(virtual_ip) == router_id
    errors, model = check({"pgbouncer_lb_virtual_ip": virtual_ip})
    assert errors == [] and model["virtual_router_id"] == router_id


@pytest.mark.parametrize("router_id", [1, 42, 255, "7"])
def test_a_router_id_set_in_the_inventory_wins(router_id):
    errors, model = check({"pgbouncer_lb_virtual_router_id": router_id})
    assert errors == [] and model["virtual_router_id"] == int(router_id)


@pytest.mark.parametrize(
    ("peers", "host", "priority"),
    [
        (["lb1", "lb2"], "lb1", 200),
        (["lb1", "lb2"], "lb2", 190),
        (["lb2", "lb1"], "lb1", 190),
        (["lb1", "lb2", "pgb1"], "pgb1", 180),  # a co-located host: its index in the lb group
    ],
)
def test_priority_follows_the_position_in_the_lb_group(peers, host, priority):
    errors, model = check({"pgbouncer_lb_peer_hosts": peers}, host=host)
    assert errors == [] and model["priority"] == priority
    assert model["src_ip"] == {"lb1": "10.0.0.11", "lb2": "10.0.0.12", "pgb1": "10.0.0.21"}[host]
    assert model["src_ip"] not in model["unicast_peers"] and len(model["unicast_peers"]) == len(peers) - 1


def test_derived_priorities_run_out_after_twenty_hosts():
    assert [derived_priority(i) for i in (0, 1, 19)] == [200, 190, 10]
    assert derived_priority(20) < 1


def test_a_priority_set_in_the_inventory_wins():
    errors, model = check({"pgbouncer_lb_priority": 254}, host="lb2")
    assert errors == [] and model["priority"] == 254


def test_preempt_removes_nopreempt():
    assert check({"pgbouncer_lb_preempt": True})[1]["preempt"] is True


def test_backend_port_comes_from_the_central_hosts_listen_port():
    errors, model = check(hostvars={"pgb2": {"pgbouncer_listen_port": 6433}})
    assert errors == [] and [s["port"] for s in model["servers"]] == [6432, 6433]


def test_an_ipv6_backend_is_rendered_in_brackets():
    errors, model = check(hostvars={"pgb2": {"pgbouncer_address": "fd00::22"}})
    assert errors == [] and model["servers"][1]["endpoint"] == "[fd00::22]:6432"


@pytest.mark.parametrize(
    "listen",
    [["127.0.0.1", "10.0.0.21"], ["*"], "127.0.0.1,10.0.0.21"],
)
def test_a_central_host_listening_on_its_address_is_accepted(listen):
    assert check(hostvars={"pgb1": {"pgbouncer_listen_addr": listen}})[0] == []


def test_listen_addresses_and_host_addresses_compare_in_canonical_form():
    errors, model = check(
        hostvars={"pgb2": {"pgbouncer_address": "FD00:0::22", "pgbouncer_listen_addr": ["fd00::22"]}}
    )
    assert errors == [] and model["servers"][1]["endpoint"] == "[fd00::22]:6432"
    errors, _ = check(
        hostvars={"pgb2": {"pgbouncer_address": "fd00::22", "pgbouncer_listen_addr": "FD00:0::22"}}
    )
    assert errors == []


def test_a_co_located_host_on_another_port_may_listen_everywhere():
    errors, _ = check(
        {"pgbouncer_lb_peer_hosts": ["pgb1", "pgb2"]},
        hostvars={"pgb1": {"pgbouncer_listen_addr": ["*"], "pgbouncer_listen_port": 6433}},
        host="pgb1",
    )
    assert errors == []


def test_the_auth_pass_is_rendered_when_set():
    assert check({"pgbouncer_lb_auth_pass": "s3.cr-t8"})[1]["auth_pass"] == "s3.cr-t8"


# ------------------------------------------------------------------------------------------------
# Refused by name

BAD: list[Any] = [
    # The VIP
    pytest.param({"pgbouncer_lb_virtual_ip": None}, {}, "pgbouncer_lb_virtual_ip:", id="vip missing"),
    pytest.param(
        {"pgbouncer_lb_virtual_ip": "pgb.example.internal"}, {}, "pgbouncer_lb_virtual_ip:", id="vip name"
    ),
    pytest.param({"pgbouncer_lb_virtual_ip": "10.0.0.300"}, {}, "pgbouncer_lb_virtual_ip:", id="vip not ip"),
    pytest.param(
        {"pgbouncer_lb_virtual_ip": "10.0.0.0/24"}, {}, "pgbouncer_lb_virtual_ip:", id="vip network"
    ),
    pytest.param({"pgbouncer_lb_virtual_ip": "fd00::100"}, {}, "pgbouncer_lb_virtual_ip:", id="vip ipv6"),
    pytest.param({"pgbouncer_lb_virtual_ip": "127.0.0.2"}, {}, "pgbouncer_lb_virtual_ip:", id="vip loopback"),
    pytest.param(
        {"pgbouncer_lb_virtual_ip": "0.0.0.0"}, {}, "pgbouncer_lb_virtual_ip:", id="vip unspecified"
    ),
    pytest.param(
        {"pgbouncer_lb_virtual_ip": "224.0.0.18"}, {}, "pgbouncer_lb_virtual_ip:", id="vip multicast"
    ),
    pytest.param(
        {"pgbouncer_lb_virtual_ip": "10.0.0.11"},
        {},
        "pgbouncer_lb_virtual_ip: 10.0.0.11 is the address of lb1",
        id="vip of lb1",
    ),
    pytest.param(
        {"pgbouncer_lb_virtual_ip": "10.0.0.12"},
        {},
        "pgbouncer_lb_virtual_ip: 10.0.0.12 is the address of lb2",
        id="vip of lb2 (facts)",
    ),
    pytest.param(
        {"pgbouncer_lb_virtual_ip": "10.0.0.21"},
        {},
        "pgbouncer_lb_virtual_ip: 10.0.0.21 is the address of pgb1",
        id="vip of pgb1",
    ),
    pytest.param({"pgbouncer_lb_virtual_ip": 167772260}, {}, "pgbouncer_lb_virtual_ip:", id="vip integer"),
    # The groups
    pytest.param(
        {"pgbouncer_lb_peer_hosts": []}, {}, "pgbouncer_lb_peer_hosts: has 0 host(s)", id="lb group empty"
    ),
    pytest.param(
        {"pgbouncer_lb_peer_hosts": ["lb1"]}, {}, "pgbouncer_lb_peer_hosts: has 1 host(s)", id="lb group one"
    ),
    pytest.param(
        {"pgbouncer_lb_peer_hosts": ["lb2", "pgb1"]},
        {},
        "pgbouncer_lb_peer_hosts: lb1, the host",
        id="not in lb group",
    ),
    pytest.param(
        {"pgbouncer_lb_peer_hosts": ["lb1", "lb1"]},
        {},
        "pgbouncer_lb_peer_hosts: lb1 listed twice",
        id="lb twice",
    ),
    pytest.param(
        {"pgbouncer_lb_peer_hosts": ["lb1", "nowhere"]},
        {},
        "pgbouncer_lb_peer_hosts: 'nowhere'",
        id="lb unknown",
    ),
    pytest.param(
        {"pgbouncer_lb_peer_hosts": "lb1,lb2"}, {}, "pgbouncer_lb_peer_hosts: must be a list", id="lb string"
    ),
    pytest.param(
        {"pgbouncer_lb_backend_hosts": []},
        {},
        "pgbouncer_lb_backend_hosts: has 0 host(s)",
        id="central empty",
    ),
    pytest.param(
        {"pgbouncer_lb_backend_hosts": ["pgb1", "ghost"]},
        {},
        "pgbouncer_lb_backend_hosts: 'ghost'",
        id="central unknown",
    ),
    # Host addresses
    pytest.param({}, {"lb2": {"ansible_facts": {}}}, "lb2: no address", id="lb no address"),
    pytest.param({}, {"pgb2": {"ansible_facts": {}}}, "pgb2: no address", id="central no address"),
    pytest.param(
        {}, {"pgb1": {"pgbouncer_address": "10.0.0.0/24"}}, "pgb1: pgbouncer_address:", id="address network"
    ),
    pytest.param(
        {}, {"pgb1": {"pgbouncer_address": "db.example"}}, "pgb1: pgbouncer_address:", id="address name"
    ),
    pytest.param(
        {},
        {"pgb1": {"pgbouncer_address": "10.0.0.21 check\nserver x 10.6.6.6:22"}},
        "pgb1: pgbouncer_address:",
        id="address line",
    ),
    # ipaddress keeps a zone id verbatim: HAProxy's server line or keepalived would get it as given.
    *[
        pytest.param(
            {}, {"pgb1": {"pgbouncer_address": zone}}, "pgb1: pgbouncer_address:", id=f"address zone {zone!r}"
        )
        for zone in [
            "fd00::21%eth0",
            "fd00::21%eth0/128",
            "fd00::21%x]:6432 check\n    server evil 10.6.6.6",
            "fd00::21%$(id>PWNED)",
            "fd00::21%25eth0",
        ]
    ],
    pytest.param(
        {"pgbouncer_lb_virtual_ip": "fd00::100%eth0"}, {}, "pgbouncer_lb_virtual_ip:", id="vip zone"
    ),
    pytest.param(
        {},
        {"lb2": {"ansible_facts": {"default_ipv4": {"address": "fd00::12%eth0"}}}},
        "lb2: default IPv4 address:",
        id="gathered address zone",
    ),
    pytest.param(
        {}, {"lb2": {"pgbouncer_address": "fd00::12"}}, "lb2: address fd00::12 is not IPv4", id="lb ipv6"
    ),
    pytest.param(
        {},
        {"lb2": {"pgbouncer_address": "10.0.0.11"}},
        "lb2: address 10.0.0.11 is also the address of lb1",
        id="lb same address",
    ),
    pytest.param(
        {},
        {"pgb2": {"pgbouncer_address": "10.0.0.21"}},
        "pgb2: 10.0.0.21:6432 is also another backend's",
        id="same backend",
    ),
    pytest.param(
        {}, {"pgb1": {"pgbouncer_listen_port": 70000}}, "pgb1: pgbouncer_listen_port:", id="backend port"
    ),
    pytest.param(
        {"pgbouncer_lb_backend_hosts": ["pgb1", "pgb 2"]},
        {"pgb 2": {"pgbouncer_address": "10.0.0.23"}},
        "pgb 2: the inventory name 'pgb 2' cannot be an HAProxy server name",
        id="server name space",
    ),
    pytest.param(
        {},
        {"pgb1": {"pgbouncer_listen_addr": ["127.0.0.1"]}},
        "pgb1: pgbouncer_listen_addr ['127.0.0.1'] does not hold 10.0.0.21",
        id="central on loopback only",
    ),
    pytest.param(
        {"pgbouncer_lb_peer_hosts": ["pgb1", "pgb2"]},
        {"pgb1": {"pgbouncer_listen_addr": ["*"]}},
        "pgb1: pgbouncer_listen_addr ['*'] holds * on port 6432",
        id="co-located wildcard",
    ),
    pytest.param(
        {"pgbouncer_lb_peer_hosts": ["pgb1", "pgb2"]},
        {"pgb1": {"pgbouncer_listen_addr": ["10.0.0.21", "10.0.0.100"]}},
        "pgb1: pgbouncer_listen_addr ['10.0.0.21', '10.0.0.100'] holds 10.0.0.100",
        id="co-located vip",
    ),
    # The interface
    pytest.param({"pgbouncer_lb_interface": ""}, {}, "pgbouncer_lb_interface: empty", id="interface empty"),
    pytest.param(
        {"pgbouncer_lb_interface": "a" * 16}, {}, "pgbouncer_lb_interface:", id="interface 16 bytes"
    ),
    pytest.param({"pgbouncer_lb_interface": "eth 0"}, {}, "pgbouncer_lb_interface:", id="interface space"),
    pytest.param({"pgbouncer_lb_interface": 'eth0"'}, {}, "pgbouncer_lb_interface:", id="interface quote"),
    pytest.param({"pgbouncer_lb_interface": "eth0\n"}, {}, "pgbouncer_lb_interface:", id="interface newline"),
    pytest.param({"pgbouncer_lb_interface": "eth0#x"}, {}, "pgbouncer_lb_interface:", id="interface hash"),
    pytest.param({"pgbouncer_lb_interface": "eth0}"}, {}, "pgbouncer_lb_interface:", id="interface brace"),
    pytest.param({"pgbouncer_lb_interface": "ethé"}, {}, "pgbouncer_lb_interface:", id="interface unicode"),
    pytest.param({"pgbouncer_lb_interface": ".."}, {}, "pgbouncer_lb_interface:", id="interface dotdot"),
    # VRRP numbers
    pytest.param(
        {"pgbouncer_lb_virtual_router_id": 256},
        {},
        "pgbouncer_lb_virtual_router_id: 256 is out of range",
        id="vrid 256",
    ),
    pytest.param(
        {"pgbouncer_lb_virtual_router_id": -1}, {}, "pgbouncer_lb_virtual_router_id:", id="vrid negative"
    ),
    pytest.param(
        {"pgbouncer_lb_virtual_router_id": True}, {}, "pgbouncer_lb_virtual_router_id:", id="vrid bool"
    ),
    pytest.param(
        {"pgbouncer_lb_virtual_router_id": "5\n"}, {}, "pgbouncer_lb_virtual_router_id:", id="vrid newline"
    ),
    pytest.param(
        {"pgbouncer_lb_priority": 255}, {}, "pgbouncer_lb_priority: 255 is out of range", id="priority 255"
    ),
    pytest.param({"pgbouncer_lb_priority": "high"}, {}, "pgbouncer_lb_priority:", id="priority text"),
    pytest.param({"pgbouncer_lb_preempt": "yes"}, {}, "pgbouncer_lb_preempt:", id="preempt text"),
    pytest.param(
        {"pgbouncer_lb_advert_int": 0}, {}, "pgbouncer_lb_advert_int: 0 is out of range", id="advert 0"
    ),
    pytest.param({"pgbouncer_lb_advert_int": 256}, {}, "pgbouncer_lb_advert_int:", id="advert 256"),
    # HAProxy numbers and times
    pytest.param({"pgbouncer_lb_port": 0}, {}, "pgbouncer_lb_port: 0 is out of range", id="port 0"),
    pytest.param({"pgbouncer_lb_port": 65536}, {}, "pgbouncer_lb_port:", id="port 65536"),
    pytest.param({"pgbouncer_lb_maxconn": 0}, {}, "pgbouncer_lb_maxconn:", id="maxconn 0"),
    pytest.param(
        {"pgbouncer_lb_timeout_client": "1800"},
        {},
        "pgbouncer_lb_timeout_client: '1800' must be a number with a unit",
        id="time no unit",
    ),
    pytest.param(
        {"pgbouncer_lb_timeout_client": 1800}, {}, "pgbouncer_lb_timeout_client:", id="time integer"
    ),
    pytest.param(
        {"pgbouncer_lb_timeout_client": "30 m"}, {}, "pgbouncer_lb_timeout_client:", id="time space"
    ),
    pytest.param(
        {"pgbouncer_lb_timeout_client": "30min"}, {}, "pgbouncer_lb_timeout_client:", id="time bad unit"
    ),
    pytest.param(
        {"pgbouncer_lb_timeout_client": "500ms"},
        {},
        "pgbouncer_lb_timeout_client: 500ms is out of range",
        id="client too short",
    ),
    pytest.param(
        {"pgbouncer_lb_timeout_tunnel": "25d"},
        {},
        "pgbouncer_lb_timeout_tunnel: 25d is out of range",
        id="tunnel overflow",
    ),
    pytest.param(
        {"pgbouncer_lb_timeout_server": "30m\n"}, {}, "pgbouncer_lb_timeout_server:", id="server newline"
    ),
    pytest.param(
        {"pgbouncer_lb_timeout_connect": "10m"}, {}, "pgbouncer_lb_timeout_connect:", id="connect too long"
    ),
    pytest.param(
        {"pgbouncer_lb_timeout_check": "1ms"}, {}, "pgbouncer_lb_timeout_check:", id="check timeout too short"
    ),
    pytest.param(
        {"pgbouncer_lb_check_interval": "50ms"},
        {},
        "pgbouncer_lb_check_interval: 50ms is out of range",
        id="interval short",
    ),
    pytest.param(
        {"pgbouncer_lb_check_interval": "2h"}, {}, "pgbouncer_lb_check_interval:", id="interval long"
    ),
    pytest.param(
        {"pgbouncer_lb_check_interval": "2s fall 1"},
        {},
        "pgbouncer_lb_check_interval:",
        id="interval with more",
    ),
    pytest.param({"pgbouncer_lb_check_fall": 0}, {}, "pgbouncer_lb_check_fall:", id="fall 0"),
    pytest.param({"pgbouncer_lb_check_rise": 101}, {}, "pgbouncer_lb_check_rise:", id="rise 101"),
    pytest.param(
        {"pgbouncer_lb_track_interval": 0}, {}, "pgbouncer_lb_track_interval:", id="track interval 0"
    ),
    pytest.param({"pgbouncer_lb_track_fall": 1000}, {}, "pgbouncer_lb_track_fall:", id="track fall"),
    pytest.param({"pgbouncer_lb_track_rise": "2.5"}, {}, "pgbouncer_lb_track_rise:", id="track rise float"),
    # keepalived's script user and password
    pytest.param(
        {"pgbouncer_lb_script_user": "root"}, {}, "pgbouncer_lb_script_user: 'root'", id="script user root"
    ),
    pytest.param(
        {"pgbouncer_lb_script_user": "Keepalived"}, {}, "pgbouncer_lb_script_user:", id="script user caps"
    ),
    pytest.param(
        {"pgbouncer_lb_script_user": "ka\nscript_user root"},
        {},
        "pgbouncer_lb_script_user:",
        id="script user newline",
    ),
    pytest.param(
        {"pgbouncer_lb_auth_pass": "123456789"},
        {},
        "pgbouncer_lb_auth_pass: must be empty",
        id="auth 9 chars",
    ),
    pytest.param({"pgbouncer_lb_auth_pass": "a b"}, {}, "pgbouncer_lb_auth_pass:", id="auth space"),
    pytest.param({"pgbouncer_lb_auth_pass": 'a"b'}, {}, "pgbouncer_lb_auth_pass:", id="auth quote"),
    pytest.param({"pgbouncer_lb_auth_pass": "a#b"}, {}, "pgbouncer_lb_auth_pass:", id="auth hash"),
    pytest.param({"pgbouncer_lb_auth_pass": "a\n}"}, {}, "pgbouncer_lb_auth_pass:", id="auth newline"),
    pytest.param({"pgbouncer_lb_auth_pass": 1234}, {}, "pgbouncer_lb_auth_pass:", id="auth integer"),
]


@pytest.mark.parametrize(("changes", "hostvars", "message"), BAD)
def test_bad_inputs_are_refused_by_name(changes, hostvars, message):
    errors, model = check(changes, hostvars)
    assert model is None
    assert any(error.startswith(message) for error in errors), errors


@pytest.mark.parametrize("secret", ["123456789", "a b\n}", 'x"#!$'])
def test_the_auth_pass_never_appears_in_an_error(secret):
    errors, _ = check({"pgbouncer_lb_auth_pass": secret})
    assert errors and all(secret not in error for error in errors)


@pytest.mark.parametrize("line_break", ["\n", "\r", "\r\n", "\u2028", "\x85", "\x00"])
@pytest.mark.parametrize("name", sorted(key for key, value in INPUTS.items() if isinstance(value, str)))
def test_no_text_input_can_carry_a_line_break(name, line_break):
    errors, _ = check({name: f"{INPUTS[name]}{line_break}x"})
    assert any(error.startswith(f"{name}:") for error in errors), errors


def test_every_problem_is_reported_at_once():
    errors, _ = check({"pgbouncer_lb_interface": "", "pgbouncer_lb_check_fall": 0, "pgbouncer_lb_port": 0})
    assert {error.split(":")[0] for error in errors} == {
        "pgbouncer_lb_interface",
        "pgbouncer_lb_check_fall",
        "pgbouncer_lb_port",
    }


# ------------------------------------------------------------------------------------------------
# Nothing in the model can start a line or a directive, or end a quoted string


# Letters, digits and . _ : / - [ ] + = , only (an empty auth_pass is not rendered at all).
SAFE_TOKEN = re.compile(r"[A-Za-z0-9_.:/\[\]+=,-]*")


def leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in leaves(item)]
    return [value]


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"pgbouncer_lb_auth_pass": "Ab1.+=:,/-"[:8], "pgbouncer_lb_preempt": True},
        {"pgbouncer_lb_interface": "bond0.100", "pgbouncer_lb_virtual_router_id": 255},
    ],
)
def test_every_rendered_value_is_one_safe_token(changes):
    errors, model = check(changes)
    assert errors == []
    for leaf in leaves(model):
        assert isinstance(leaf, (bool, int)) or SAFE_TOKEN.fullmatch(leaf), leaf


# ------------------------------------------------------------------------------------------------
# The filters and the role's specs


def test_lb_errors_filter_lists_the_errors():
    inputs = {**INPUTS, "pgbouncer_lb_port": 0}
    assert lb_filter.lb_errors(inputs, HOSTVARS, "lb1") == [
        "pgbouncer_lb_port: 0 is out of range (1 to 65535)"
    ]


def test_lb_model_filter_fails_with_the_errors():
    with pytest.raises(AnsibleFilterError, match="pgbouncer_lb_port: 0 is out of range"):
        lb_filter.lb_model({**INPUTS, "pgbouncer_lb_port": 0}, HOSTVARS, "lb1")
    assert lb_filter.lb_model(INPUTS, HOSTVARS, "lb2")["priority"] == 190


def test_filter_module_exposes_the_filters():
    assert set(lb_filter.FilterModule().filters()) == {"lb_errors", "lb_model", "lb_metrics_endpoints"}


def test_argument_specs_mirror_the_defaults():
    assert set(DEFAULTS) <= set(SPECS), set(DEFAULTS) - set(SPECS)
    # The one required input, and the scrape password (required with metrics).
    assert set(SPECS) - set(DEFAULTS) == {"pgbouncer_lb_virtual_ip", "pgbouncer_lb_metrics_scrape_password"}
    for name, value in DEFAULTS.items():
        assert SPECS[name].get("default") == value, name
    for name, spec in SPECS.items():
        assert name.startswith("pgbouncer_lb_") and spec.get("description") and spec.get("type"), name
    assert SPECS["pgbouncer_lb_virtual_ip"]["required"] is True
    assert SPECS["pgbouncer_lb_auth_pass"]["no_log"] is True
    assert SPECS["pgbouncer_lb_metrics_scrape_password"]["no_log"] is True


def test_every_checked_input_is_a_role_variable():
    """The checker reads exactly the role's variables, as vars/main.yml hands them over."""
    handed = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["__pgbouncer_lb_inputs"]
    assert set(handed) == set(SPECS)


# ------------------------------------------------------------------------------------------------
# HAProxy's metrics


def test_metrics_off_render_no_frontend_and_record_no_endpoint():
    errors, model = check({"pgbouncer_lb_metrics": False, "pgbouncer_lb_metrics_scrape_password": None})
    assert errors == [] and model["metrics"] is None
    assert lb_config_module.metrics_endpoints(model) == {}


def test_metrics_endpoints_name_the_host_and_the_vip():
    assert lb_filter.lb_metrics_endpoints(INPUTS, HOSTVARS, "lb2") == {
        "tls": True,
        "scrape_user": "prometheus",
        "targets": [{"process": "", "target": "10.0.0.12:8405"}],
        "vip_target": "10.0.0.100:8405",
        "names": ["10.0.0.12", "10.0.0.100"],
    }


def test_the_rendered_model_holds_a_cheap_bcrypt_hash_never_the_password():
    model = lb_filter.lb_model(INPUTS, HOSTVARS, "lb1")
    metrics = model["metrics"]
    assert "scrape_password" not in metrics
    assert re.fullmatch(r"\$2b\$05\$[./A-Za-z0-9]{53}", metrics["password_hash"])
    assert bcrypt.checkpw(b"lb-metrics-pw", metrics["password_hash"].encode())
    assert lb_filter.lb_model(INPUTS, HOSTVARS, "lb1")["metrics"] == metrics  # stable: idempotent
    assert "lb-metrics-pw" not in repr(model)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"pgbouncer_lb_metrics_scrape_password": None}, "pgbouncer_lb_metrics_scrape_password: required"),
        (
            {"pgbouncer_lb_metrics_scrape_password": "x" * 73},
            "pgbouncer_lb_metrics_scrape_password: printable",
        ),
        (
            {"pgbouncer_lb_metrics_scrape_user": "prom etheus"},
            "pgbouncer_lb_metrics_scrape_user: 'prom etheus'",
        ),
        ({"pgbouncer_lb_metrics_port": 6432}, "pgbouncer_lb_metrics_port: 6432 is pgbouncer_lb_port too"),
        ({"pgbouncer_lb_metrics_port": 70000}, "pgbouncer_lb_metrics_port: 70000 is out of range"),
        ({"pgbouncer_lb_metrics": "yes"}, "pgbouncer_lb_metrics: must be true or false"),
    ],
)
def test_bad_metrics_inputs_are_refused_by_name(changes, message):
    errors, model = check(changes)
    assert model is None and len(errors) == 1 and errors[0].startswith(message), errors
