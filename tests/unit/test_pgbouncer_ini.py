"""Table-driven tests of the pgbouncer.ini filters."""

from __future__ import annotations

import pytest

from plugins.filter.pgbouncer_ini import (
    FilterModule,
    config_errors,
    db_connstr,
    ini_changed_keys,
    ini_value,
    parse_ini,
)

KNOWN = ["default_pool_size", "listen_backlog", "query_wait_timeout", "server_tls_sslmode", "pool_mode"]
MANAGED = {"pool_mode": "pgbouncer_pool_mode", "auth_file": "(managed by the role)"}
DB_KEYS = ["reserve_pool_size", "connect_query", "application_name"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "1"),
        (False, "0"),
        (["extra_float_digits", "options"], "extra_float_digits,options"),
        (6432, "6432"),
        (None, ""),
        ("DISCARD ALL", "DISCARD ALL"),
    ],
)
def test_ini_value(value, expected):
    assert ini_value(value) == expected


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"host": "db", "dbname": "app", "port": 5432}, "dbname=app host=db port=5432"),
        (
            {"dbname": "app", "pool_mode": "session", "pool_size": 4},
            "dbname=app pool_mode=session pool_size=4",
        ),
        ({"dbname": "app", "connect_query": "SELECT 1"}, "connect_query='SELECT 1' dbname=app"),
        ({"dbname": "app", "application_name": ""}, "application_name='' dbname=app"),
    ],
)
def test_db_connstr(entry, expected):
    assert db_connstr(entry) == expected


INI_OLD = """\
; comment
[databases]
app = host=db dbname=app

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = 6432
default_pool_size = 20
# another comment
pool_mode = transaction
"""


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        (INI_OLD, []),
        (INI_OLD.replace("default_pool_size = 20", "default_pool_size = 30"), ["default_pool_size"]),
        (INI_OLD.replace("listen_port = 6432", "listen_port = 6433"), ["listen_port"]),
        (INI_OLD.replace("pool_mode = transaction\n", ""), ["pool_mode"]),
        (INI_OLD + "listen_backlog = 256\n", ["listen_backlog"]),
        # [databases] changes are not [pgbouncer] keys
        (INI_OLD.replace("dbname=app", "dbname=app2"), []),
        (INI_OLD.replace("default_pool_size = 20", "DEFAULT_POOL_SIZE=20"), []),
    ],
)
def test_ini_changed_keys(new, expected):
    assert ini_changed_keys(INI_OLD, new) == expected


def test_ini_changed_keys_from_nothing_lists_every_key():
    assert ini_changed_keys(None, INI_OLD) == ["default_pool_size", "listen_addr", "listen_port", "pool_mode"]


def test_parse_ini_last_value_wins():
    assert parse_ini("[pgbouncer]\na = 1\na = 2\n") == {"pgbouncer": {"a": "2"}}


def test_valid_config_has_no_errors():
    databases = [
        {"name": "app", "pool_size": 10, "settings": {"reserve_pool_size": 2}},
        {"name": "app_session", "dbname": "app", "pool_mode": "session", "pool_size": "4"},
    ]
    assert config_errors({"query_wait_timeout": 60}, databases, KNOWN, MANAGED, DB_KEYS) == []


@pytest.mark.parametrize(
    ("settings", "databases", "message"),
    [
        ({"max_client_connz": 5}, [], "pgbouncer_settings.max_client_connz: unknown PgBouncer setting"),
        (
            {"pool_mode": "session"},
            [],
            "pgbouncer_settings.pool_mode: set it with the variable pgbouncer_pool_mode",
        ),
        (
            {"auth_file": "/tmp/x"},
            [],
            "pgbouncer_settings.auth_file: set it with the variable (managed by the role)",
        ),
        (
            {"query_wait_timeout": "60\nadmin_users = evil"},
            [],
            "pgbouncer_settings.query_wait_timeout: keys and values must be single-line",
        ),
        (
            {},
            [{"name": "app\nevil"}],
            "pgbouncer_databases[0].name: 'app\\nevil' is not a usable database name",
        ),
        ({}, [{"name": "a b"}], "pgbouncer_databases[0].name: 'a b' is not a usable"),
        ({}, [{"name": ""}], "pgbouncer_databases[0].name: '' is not a usable"),
        ({}, [{"name": "pgbouncer"}], "pgbouncer_databases[0].name: 'pgbouncer' is reserved"),
        ({}, [{"name": "app"}, {"name": "app"}], "pgbouncer_databases[1].name: 'app' is declared twice"),
        (
            {},
            [{"name": "app", "pool_size": -1}],
            "pgbouncer_databases[0].pool_size: must be a non-negative integer, got -1",
        ),
        (
            {},
            [{"name": "app", "pool_size": "ten"}],
            "pgbouncer_databases[0].pool_size: must be a non-negative integer, got 'ten'",
        ),
        (
            {},
            [{"name": "app", "pool_size": True}],
            "pgbouncer_databases[0].pool_size: must be a non-negative integer",
        ),
        ({}, [{"name": "app", "port": -5432}], "pgbouncer_databases[0].port: must be a non-negative integer"),
        (
            {},
            [{"name": "app", "dbname": "app\nx"}],
            "pgbouncer_databases[0].dbname: must be single-line text",
        ),
        ({}, [{"name": "app", "host": "db\r"}], "pgbouncer_databases[0].host: must be single-line text"),
        (
            {},
            [{"name": "app", "settings": {"password": "x"}}],
            "pgbouncer_databases[0].settings.password: not a [databases] parameter",
        ),
        (
            {},
            [{"name": "app", "settings": {"bogus": 1}}],
            "pgbouncer_databases[0].settings.bogus: not a [databases] parameter",
        ),
        (
            {},
            [{"name": "app", "settings": {"connect_query": "SELECT 'x'"}}],
            "settings.connect_query: values must not contain quotes",
        ),
        (
            {},
            [{"name": "app", "settings": {"application_name": "a\nb"}}],
            "settings.application_name: must be single-line text",
        ),
    ],
)
def test_config_errors_name_the_variable(settings, databases, message):
    errors = config_errors(settings, databases, KNOWN, MANAGED, DB_KEYS)
    assert any(message in error for error in errors), errors


def test_filter_module_exposes_filters():
    assert set(FilterModule().filters()) == {
        "pgbouncer_ini_value",
        "pgbouncer_db_connstr",
        "pgbouncer_ini_changed_keys",
        "pgbouncer_config_errors",
    }
