"""One address parser (plugin_utils/addresses) behind every place an address enters the toolkit:
an IPv6 zone id is refused everywhere (``ipaddress`` keeps it verbatim, spaces, ``#`` and ``$()``
included), what is rendered is the canonical text, never the input, and host names cannot carry
anything but letters, digits, '-' and '.'."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils import (
    addresses,
    app_files,
    lb_config,
    pg_hba,
    pgbouncer_settings,
    postgresql_model,
    topology,
    value_checks,
)

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"

# Each would change a file's meaning if it were rendered as given: a pg_hba method, a shell
# command, a quote, a comment, a new line, or an encoded form of the same.
ZONE_IDS = [
    "::%1 :: trust #",
    "::1%$(id>PWNED)",
    "fe80::1%eth0",
    "fd00::1%eth0",
    "::1%eth0 x",
    "::1%`id`",
    "::1%'q'",
    '::1%"q"',
    "::1%#",
    "::1%a\nhost all all 0.0.0.0/0 trust",
    "::1%eth0\n",
    "::1%ü",
    "::1%25eth0",
    "::1%2520trust",
    "fd00::1%eth0/128",
    "fd00::%1/64",
]


def _listen_addr(value: str) -> str:
    table = pgbouncer_settings.load_table()
    return pgbouncer_settings.check_setting(
        table, "pgbouncer", "listen_addr", [value], "1.24.1", "pgbouncer_listen_addr"
    )[1]


# Every place an address from the inventory (or from facts) enters: each returns what would be
# rendered, or raises a ConfigError naming the variable.
ENTRY_POINTS: dict[str, Callable[[str], object]] = {
    "pg_hba source (pgbouncer_postgresql_client_addresses)": lambda value: pg_hba.check_address(
        value, "pgbouncer_postgresql_client_addresses[0]"
    ),
    # host_addresses computes pgbouncer_postgresql_client_addresses' default; check_address judges it.
    "pg_hba source (a pooler's pgbouncer_address)": lambda value: pg_hba.check_address(
        postgresql_model.host_addresses(["pgb1"], {"pgb1": {"pgbouncer_address": value}})[0],
        "pgbouncer_postgresql_client_addresses[0]",
    ),
    "pg_hba source (a pooler's gathered address)": lambda value: pg_hba.check_address(
        postgresql_model.host_addresses(
            ["pgb1"], {"pgb1": {"ansible_facts": {"default_ipv6": {"address": value}}}}
        )[0],
        "pgbouncer_postgresql_client_addresses[0]",
    ),
    "PgBouncer host (pgbouncer_server_host)": lambda value: value_checks.check_host(
        value, "pgbouncer_server_host"
    ),
    "PgBouncer listen_addr (pgbouncer_listen_addr)": _listen_addr,
    "libpq URL (pgbouncer_app_files_host)": lambda value: app_files.database_url("app", value, 6432, "app"),
    "app files endpoint (pgbouncer_app_files_host)": lambda value: app_files.check_endpoint(
        value, 6432, "pgbouncer_app_files"
    ),
    "HAProxy server, VRRP peer, [peers] host (pgbouncer_address)": lambda value: lb_config.host_address(
        "pgb1", {"pgbouncer_address": value}
    ),
    "virtual IP (pgbouncer_lb_virtual_ip)": lambda value: lb_config.as_address(
        value, "pgbouncer_lb_virtual_ip", ipv4_only=True
    ),
    "central endpoint (pgbouncer_lb_virtual_ip, read by app hosts under --limit)": lambda value: (
        topology.central_endpoint({"pgbouncer_lb": ["lb1"]}, {"lb1": {"pgbouncer_lb_virtual_ip": value}})
    ),
}


# ------------------------------------------------------------------------------------------------
# The parser


@pytest.mark.parametrize("payload", ZONE_IDS)
@pytest.mark.parametrize(
    "parse", [addresses.parse_address, addresses.parse_network, addresses.parse_interface]
)
def test_the_parser_refuses_a_zone_id(parse, payload):
    with pytest.raises(addresses.AddressError, match="zone id"):
        parse(payload)
    assert not addresses.is_address(payload)


@pytest.mark.parametrize("value", [167772165, b"\n\x00\x00\x05", None, ["10.0.0.5"], 10.5])
def test_the_parser_takes_text_only(value):
    # ipaddress itself would read an integer or packed bytes as an address.
    with pytest.raises(addresses.AddressError, match="must be text"):
        addresses.parse_address(value)


@pytest.mark.parametrize(
    ("text", "address", "network", "interface"),
    [
        ("10.0.0.5", "10.0.0.5", "10.0.0.5/32", "10.0.0.5/32"),
        ("10.0.0.5/24", None, "10.0.0.0/24", "10.0.0.5/24"),
        ("::1", "::1", "::1/128", "::1/128"),
        ("0:0:0:0:0:0:0:1", "::1", "::1/128", "::1/128"),
        ("FD00:0:0::1", "fd00::1", "fd00::1/128", "fd00::1/128"),
        ("fd00::1/64", None, "fd00::/64", "fd00::1/64"),
    ],
)
def test_the_parser_gives_the_canonical_text(text, address, network, interface):
    if address is None:
        with pytest.raises(addresses.AddressError):
            addresses.parse_address(text)
    else:
        assert str(addresses.parse_address(text)) == address
    assert addresses.parse_network(text).with_prefixlen == network
    assert addresses.parse_interface(text).with_prefixlen == interface


@pytest.mark.parametrize(
    "text", ["10.0.0.300", "010.0.0.1", "::g", " 10.0.0.5", "10.0.0.5 ", "\u0661.2.3.4", ""]
)
def test_the_parser_refuses_what_ipaddress_refuses(text):
    with pytest.raises(addresses.AddressError):
        addresses.parse_address(text)


def test_no_plugin_calls_ipaddress_itself():
    """The parser is the one home: any other use of ipaddress would bring the zone id back."""
    users = [
        path.relative_to(PLUGINS).as_posix()
        for path in PLUGINS.rglob("*.py")
        if path.name != "addresses.py" and re.search(r"\bipaddress\b", path.read_text(encoding="utf-8"))
    ]
    assert users == []


# ------------------------------------------------------------------------------------------------
# Every entry point


@pytest.mark.parametrize("payload", ZONE_IDS)
@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_every_entry_point_refuses_a_zone_id(entry, payload):
    with pytest.raises(ValueError) as refused:
        ENTRY_POINTS[entry](payload)
    # The refusal names where the value came from (a variable, or a host and its variable).
    assert re.search(r"pgbouncer_|pgb1|lb1", str(refused.value)), refused.value


@pytest.mark.parametrize(
    ("entry", "value", "rendered"),
    [
        ("pg_hba source (pgbouncer_postgresql_client_addresses)", "FD00:0::5", "fd00::5/128"),
        ("pg_hba source (a pooler's pgbouncer_address)", "FD00:0::5", "fd00::5/128"),
        ("pg_hba source (a pooler's pgbouncer_address)", "10.0.0.5/24", "10.0.0.0/24"),
        ("pg_hba source (a pooler's gathered address)", "FD00:0::5", "fd00::5/128"),
        ("PgBouncer host (pgbouncer_server_host)", "FD00:0::5", "fd00::5"),
        ("PgBouncer host (pgbouncer_server_host)", "0:0::1,db-2.example", "::1,db-2.example"),
        ("PgBouncer listen_addr (pgbouncer_listen_addr)", "0:0:0:0:0:0:0:1", "::1"),
        ("libpq URL (pgbouncer_app_files_host)", "0:0:0:0:0:0:0:1", "postgresql://app@[::1]:6432/app"),
        ("HAProxy server, VRRP peer, [peers] host (pgbouncer_address)", "FD00:0::5/128", "fd00::5"),
        (
            "central endpoint (pgbouncer_lb_virtual_ip, read by app hosts under --limit)",
            "10.0.0.100",
            {"host": "10.0.0.100", "port": 6432},
        ),
    ],
)
def test_every_entry_point_renders_the_canonical_text(entry, value, rendered):
    assert ENTRY_POINTS[entry](value) == rendered


# ------------------------------------------------------------------------------------------------
# Host names


@pytest.mark.parametrize(
    "text",
    [
        "db #1",
        "db 1",
        "db'1",
        'db"1',
        "db\n",
        "db\nlisten_addr",
        "db%1",
        "db%25",
        "db$(id)",
        "db`id`",
        "db;id",
        "dü.example",
        "db..",
        "a..b",
        ".db",
        "-db",
        "db-",
        "",
        "a" * 64,
        "a." * 126 + "ab",
        # Read by getaddrinfo (inet_aton) as IPv4 in another notation, not as the name it looks like.
        "010.0.0.1",
        "127.1",
        "2130706433",
        "0x7f.1",
        "0x7f000001",
        "10.0.0.300",
    ],
)
def test_host_names_carry_nothing_but_labels(text):
    assert not value_checks.is_host_or_address(text)
    with pytest.raises(value_checks.ConfigError, match="pgbouncer_server_host: "):
        value_checks.check_host(text, "pgbouncer_server_host")


@pytest.mark.parametrize(
    "text",
    [
        "db.example.internal",
        "db.example.internal.",
        "localhost",
        "db-1",
        "1db.example",
        "db1.a1",
        "10.0.0.5",
        "::1",
        "fd00::1",
    ],
)
def test_host_names_and_addresses_are_accepted(text):
    assert value_checks.is_host_or_address(text)


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("10.89.0.5      STREAM pg-writer\n10.89.0.5      DGRAM  \n10.89.0.5      RAW    \n", ["10.89.0.5"]),
        ("fd00::7 STREAM w\n10.0.0.2 STREAM\n10.0.0.1 STREAM\n", ["10.0.0.1", "10.0.0.2", "fd00::7"]),
        ("", []),
        ("\n  \n", []),
    ],
)
def test_resolved_addresses_read_getent_ahosts(output, expected):
    assert addresses.resolved_addresses(output) == expected
