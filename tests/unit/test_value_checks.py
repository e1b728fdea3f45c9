"""The one integer parser (plugin_utils/value_checks.integer) and every check that reads a number
through it: Python ints (not bools) and ASCII decimal strings, nothing that int() or str.isdigit()
would also take ("1_000", " 5", "+5", "²", "٣")."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.filter.scram import scram_sha256_verifier
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils import (
    app_files,
    monitoring,
    pgbouncer_exporter,
    pooler_model,
    postgres_exporter,
    topology,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import (
    ConfigError,
    integer,
    integer_or_none,
    tcp_port,
)
from tests.unit.test_lb_config import check as check_lb
from tests.unit.test_pgbouncer_config import VALID

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
# What int() or str.isdigit() take and the parser must not: separators, whitespace, a sign,
# digits that are not ASCII, other bases and notations.
NOT_DECIMAL = ["1_000", " 5", "5 ", "5\n", "+5", "²", "٣", "\uff15", "0x10", "0o7", "1e3", "5.0", "", "-"]


class TaggedInt(int):
    """What Ansible's data tagging hands a filter for an int."""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        (5, 5),
        (-5, -5),
        ("5", 5),
        ("0010", 10),
        ("-5", -5),
        ("2147483648", 2147483648),
        (TaggedInt(7), 7),
    ],
)
def test_integers_are_read(value, expected):
    number = integer(value, "v")
    assert number == expected and type(number) is int


@pytest.mark.parametrize(
    ("value", "message"),
    [
        *[(text, f"v: must be an integer, got {text!r}") for text in NOT_DECIMAL],
        (True, "v: must be an integer, got a boolean"),
        (False, "v: must be an integer, got a boolean"),
        (3.0, "v: must be an integer, got 3.0"),
        (None, "v: must be an integer, got None"),
        ([5], "v: must be an integer, got [5]"),
        ("9" * 5000, "v: must be an integer, got 5000 digits"),
    ],
)
def test_anything_else_is_refused_by_name(value, message):
    with pytest.raises(ConfigError) as raised:
        integer(value, "v")
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("value", "low", "high", "message"),
    [
        (5, 1, 10, None),
        (1, 1, 10, None),
        (10, 1, 10, None),
        (0, 1, 10, "v: 0 is out of range (1 to 10)"),
        ("11", 1, 10, "v: 11 is out of range (1 to 10)"),
        (-1, 0, None, "v: -1 must be 0 or more"),
        (11, None, 10, "v: 11 must be 10 or less"),
        ("-3", -5, 5, None),
        ("-3", None, 5, None),
        # A sign is read only where the bounds allow a negative number.
        ("-3", 0, 5, "v: must be an integer, got '-3'"),
        ("-0", 0, 5, "v: must be an integer, got '-0'"),
    ],
)
def test_bounds(value, low, high, message):
    if message is None:
        assert low is None or integer(value, "v", low, high) >= low
    else:
        with pytest.raises(ConfigError) as raised:
            integer(value, "v", low, high)
        assert str(raised.value) == message


@pytest.mark.parametrize(("value", "expected"), [(5, 5), ("5", 5), ("²", None), (True, None), (0, None)])
def test_integer_or_none_answers_none_where_integer_refuses(value, expected):
    assert integer_or_none(value, 1) == expected


@pytest.mark.parametrize(
    ("value", "minimum", "message"),
    [
        (6432, 1024, None),
        ("6432", 1, None),
        (80, 1024, "p: 80 is not a usable TCP port (1024-65535)"),
        (70000, 1, "p: 70000 is not a usable TCP port (1-65535)"),
        ("6_432", 1, "p: must be an integer, got '6_432'"),
    ],
)
def test_tcp_port(value, minimum, message):
    if message is None:
        assert tcp_port(value, "p", minimum) == 6432
    else:
        with pytest.raises(ConfigError) as raised:
            tcp_port(value, "p", minimum)
        assert str(raised.value) == message


# Each check that reads a number, and what it says about one that is not a decimal number.
@pytest.mark.parametrize("text", ["1_000", " 6432", "+6432", "6432²", "²", "٣"])
def test_every_number_of_the_inventory_is_read_by_the_one_parser(text):
    errors, _ = pooler_model.pooler_config({**VALID, "pgbouncer_server_port": text}, "1.24.1")
    assert f"pgbouncer_server_port: must be an integer, got {text!r}" in errors

    lb_errors, _ = check_lb({"pgbouncer_lb_port": text})
    assert f"pgbouncer_lb_port: must be an integer, got {text!r}" in lb_errors

    peering = topology.topology_errors(
        {"pgbouncer_central": ["pgb1"]}, {"pgb1": {"pgbouncer_processes": text}}
    )
    assert f"pgb1: pgbouncer_processes: must be an integer, got {text!r}" in peering

    exporter = pgbouncer_exporter.exporter_errors(
        "stats", text, 1, 6432, ["stats"], [], [{"name": "stats", "password": "pw"}]
    )
    assert [error for error in exporter if "is not a port" in error], exporter

    postgres = postgres_exporter.exporter_errors(True, "127.0.0.1", text, "prometheus", None, True, 5432, [])
    assert postgres == [f"pgbouncer_postgresql_exporter_port: {text!r} is not a port from 1024 to 65535"]

    listen = monitoring.listen_errors({}, {"pgbouncer_monitoring_prometheus_port": text}, {})
    assert listen == [f"pgbouncer_monitoring_prometheus_port: {text!r} is not a port from 1 to 65535"]

    thresholds = monitoring.threshold_errors({"pgbouncer_monitoring_clients_waiting": text})
    assert thresholds == [
        f"pgbouncer_monitoring_clients_waiting: {text!r} is not a whole number of 0 or more"
    ]

    with pytest.raises(ConfigError, match=r"^pgbouncer_app_files_port: "):
        app_files.check_endpoint("127.0.0.1", text, "pgbouncer_app_files")

    with pytest.raises(AnsibleFilterError, match="SCRAM iterations must be an integer"):
        scram_sha256_verifier("secret", iterations=text)


def test_no_other_integer_parser_in_the_controller_code():
    """str.isdigit() and int(str(...)) take "²", "1_000", " 5" or "+5": the controller reads numbers
    from the inventory through value_checks.integer only."""
    found = [
        f"{path.relative_to(PLUGINS)}: {pattern}"
        for folder in ("plugin_utils", "filter")
        for path in sorted((PLUGINS / folder).glob("*.py"))
        if path.name != "value_checks.py"
        for pattern in (".isdigit(", ".isdecimal(", ".isnumeric(", "int(str(")
        if pattern in path.read_text()
    ]
    assert found == []
