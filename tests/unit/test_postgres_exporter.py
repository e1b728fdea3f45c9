"""The PostgreSQL exporter's inputs and environment file (plugin_utils/postgres_exporter)."""

from __future__ import annotations

import pytest

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils import postgres_exporter
from tests.unit.test_monitoring_hosts import assert_only_error

ROLES = [{"name": "app", "password": "x"}]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({}, None),
        ({"enabled": False, "port": "nonsense"}, None),
        ({"enabled": "yes"}, "pgbouncer_postgresql_exporter: 'yes' is not true or false"),
        ({"peer": False}, "pgbouncer_postgresql_exporter: runs on the database host"),
        (
            {"roles": [*ROLES, {"name": "prometheus"}]},
            "pgbouncer_postgresql_exporter: the exporter logs in as",
        ),
        ({"port": 5432}, "pgbouncer_postgresql_exporter_port: 5432 is PostgreSQL's port"),
        (
            {"port": "9187 --web.config.file="},
            "pgbouncer_postgresql_exporter_port: '9187 --web.config.file=' is not a port",
        ),
        ({"port": 80}, "pgbouncer_postgresql_exporter_port: 80 is not a port"),
        ({"address": "10.0.0.9"}, "pgbouncer_postgresql_exporter_scrape_password: required"),
        ({"address": "10.0.0.9", "scrape_password": "pw"}, None),
        (
            {"address": "10.0.0.9", "scrape_password": "pw", "scrape_user": "a b"},
            "pgbouncer_postgresql_exporter_scrape_user",
        ),
        (
            {"address": "fe80::1%eth0 x"},
            "pgbouncer_postgresql_exporter_address: 'fe80::1%eth0 x' is not one IP address",
        ),
    ],
)
def test_exporter_errors(changes: dict, message: str | None) -> None:
    inputs = {
        "enabled": True,
        "address": "127.0.0.1",
        "port": 9187,
        "scrape_user": "prometheus",
        "scrape_password": None,
        "peer": True,
        "postgresql_port": 5432,
        "roles": ROLES,
        **changes,
    }
    assert_only_error(postgres_exporter.exporter_errors(**inputs), message)


@pytest.mark.parametrize(
    ("address", "web_config", "args"),
    [
        ("127.0.0.1", "", "--web.listen-address=127.0.0.1:9187 --collector.stat_statements"),
        (
            "10.0.0.9",
            "/etc/pg-exp/web.yml",
            "--web.listen-address=10.0.0.9:9187 --collector.stat_statements --web.config.file=/etc/pg-exp/web.yml",
        ),
        ("::1", "", "--web.listen-address=[::1]:9187 --collector.stat_statements"),
    ],
)
def test_environment_file(address: str, web_config: str, args: str) -> None:
    text = postgres_exporter.environment_file("/var/run/postgresql", 5432, address, 9187, web_config)
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines == [
        "DATA_SOURCE_NAME=\"host='/var/run/postgresql' port=5432 dbname='postgres' user='prometheus' sslmode=disable\"",
        f'ARGS="{args}"',
    ]


def test_a_socket_directory_is_quoted_for_libpq_and_systemd() -> None:
    text = postgres_exporter.environment_file("/run/it's $HOME", 5432, "127.0.0.1", 9187)
    assert "host='/run/it\\\\'s \\$HOME'" in text
