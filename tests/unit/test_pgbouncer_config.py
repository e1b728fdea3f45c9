"""Table-driven tests of the pooler-side model: the settings table, value checks that follow
PgBouncer's parsers, and the renderer that cannot emit a line the inventory did not declare."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import jinja2
import pytest
import yaml
from ansible.plugins.filter.core import comment

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.filter import pgbouncer as pgbouncer_filter
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils import (
    pgbouncer_files,
    pgbouncer_role,
    pgbouncer_settings,
    pooler_processes,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils import pooler_model as model
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import (
    ConfigError,
    url_errors,
)

RELEASE = "1.24.1"
TYPES = {"integer", "boolean", "enum", "time", "size", "string", "list", "path", "mode"}

# A valid pooler-side model; each case changes one thing.
VALID = {
    "pgbouncer_topology": "per_host",
    "pgbouncer_listen_addr": ["127.0.0.1"],
    "pgbouncer_listen_port": 6432,
    "pgbouncer_unix_socket_dir": "/var/run/postgresql",
    "pgbouncer_pool_mode": "transaction",
    "pgbouncer_default_pool_size": 25,
    "pgbouncer_max_client_conn": 2000,
    "pgbouncer_limit_nofile": 16384,
    "pgbouncer_max_prepared_statements": 200,
    "pgbouncer_server_reset_query": "DISCARD ALL",
    "pgbouncer_server_lifetime": 3600,
    "pgbouncer_server_idle_timeout": 600,
    "pgbouncer_ignore_startup_parameters": ["extra_float_digits", "options"],
    "pgbouncer_admin_users": ["pgbouncer_admin"],
    "pgbouncer_stats_users": [],
    "pgbouncer_auth_type": "scram-sha-256",
    "pgbouncer_server_host": "10.0.0.2",
    "pgbouncer_server_port": 5432,
    "pgbouncer_auth_user": 'Pgb Auth "Q"',
    "pgbouncer_auth_database": "pgbouncer_auth",
    "pgbouncer_auth_schema": "pgbouncer",
    "pgbouncer_auth_function": "lookup",
    "pgbouncer_client_group": "pgbouncer_clients",
    "pgbouncer_databases": [
        {"name": "app", "pool_size": 10},
        {
            "name": "reports",
            "dbname": "Quarterly Reports",
            "settings": {"application_name": "it's #1 = ok; ü"},
        },
    ],
    "pgbouncer_roles": [
        {"name": "app", "databases": ["app"]},
        {"name": "celery", "databases": ["app"], "pool": {"pool_size": 3, "pool_mode": "Session"}},
        {"name": "pgbouncer_admin"},
    ],
    "pgbouncer_settings": {"query_wait_timeout": 90, "log_pooler_errors": True},
    "auth_file": "/etc/pgbouncer/userlist.txt",
}


def with_change(**changes):
    inputs = copy.deepcopy(VALID)
    inputs.update(changes)
    return inputs


def errors(inputs, version=RELEASE):
    return model.pooler_config(inputs, version)[0]


# ------------------------------------------------------------------------------------------------
# The settings table


def test_table_is_consistent():
    table = pgbouncer_settings.load_table()
    assert table.versions[0] == "1.22.0" and table.newest == "1.26.1"
    for section, keys in table.sections.items():
        assert keys, section
        for key, setting in keys.items():
            assert setting.type in TYPES, (section, key)
            assert pgbouncer_settings.version_key(setting.since) <= pgbouncer_settings.version_key(
                table.newest
            ), (section, key)
            if setting.type == "enum":
                assert setting.choices_in(table.newest), (section, key)
            if setting.min is not None and setting.max is not None:
                assert setting.min <= setting.max, (section, key)
            assert setting.description, (section, key)


@pytest.mark.parametrize(
    ("version", "key", "present"),
    [
        ("1.22.0", "max_prepared_statements", True),
        ("1.22.0", "max_db_client_connections", False),
        ("1.24.0", "max_db_client_connections", True),
        ("1.24.1", "transaction_timeout", False),
        ("1.25.0", "transaction_timeout", True),
        ("1.25.2", "suspend_timeout", True),
        ("1.26.1", "suspend_timeout", False),  # removed with online restart
        ("1.26.0", "pool_idle_timeout", True),
    ],
)
def test_keys_follow_the_release(version, key, present):
    assert (key in pgbouncer_settings.reloadable_settings(version)) is present


@pytest.mark.parametrize(
    ("key", "reload"),
    [
        ("listen_port", False),
        ("unix_socket_dir", False),
        ("so_reuseport", False),
        ("default_pool_size", True),
    ],
)
def test_reload_flags(key, reload):
    assert pgbouncer_settings.reloadable_settings(RELEASE)[key] is reload


def test_versioned_defaults_and_choices():
    table = pgbouncer_settings.load_table()
    assert table.get("pgbouncer", "track_extra_parameters").default_in("1.24.1") == "IntervalStyle"
    assert table.get("pgbouncer", "track_extra_parameters").default_in("1.26.1") == ""
    assert "ldap" not in table.get("pgbouncer", "auth_type").choices_in("1.24.1")
    assert "ldap" in table.get("pgbouncer", "auth_type").choices_in("1.25.0")


# ------------------------------------------------------------------------------------------------
# Values by type, the way PgBouncer's parsers read them


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("pgbouncer", "default_pool_size", 25, "25"),
        ("pgbouncer", "default_pool_size", "25", "25"),
        ("pgbouncer", "default_pool_size", "010", "10"),  # decimal: never an octal literal for strtol
        ("pgbouncer", "log_pooler_errors", True, "1"),
        ("pgbouncer", "log_pooler_errors", 0, "0"),
        ("pgbouncer", "query_wait_timeout", 90, "90"),
        ("pgbouncer", "query_wait_timeout", 0.5, "0.5"),
        ("pgbouncer", "query_wait_timeout", "2.5", "2.5"),
        ("pgbouncer", "pool_mode", "Transaction", "transaction"),
        ("pgbouncer", "unix_socket_mode", 0o770, "0770"),
        ("pgbouncer", "unix_socket_mode", "0770", "0770"),
        ("pgbouncer", "admin_users", ["a", "b-c"], "a,b-c"),
        ("pgbouncer", "server_reset_query", "SELECT 'x' ; -- # = \"q\" ü", "SELECT 'x' ; -- # = \"q\" ü"),
        ("pgbouncer", "server_reset_query", "", ""),
        ("databases", "server_lifetime", 30, "30"),
    ],
)
def test_values_render_as_pgbouncer_reads_them(section, key, value, expected):
    table = pgbouncer_settings.load_table()
    assert pgbouncer_settings.check_setting(table, section, key, value, RELEASE, "x")[1] == expected


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("pgbouncer", "default_pool_size", -1, "-1 is out of range (0 to"),
        ("pgbouncer", "default_pool_size", 10**12, "1000000000000 is out of range"),
        ("pgbouncer", "default_pool_size", "0x10", "must be an integer"),
        ("pgbouncer", "default_pool_size", "lots", "must be an integer"),
        ("pgbouncer", "default_pool_size", True, "got a boolean"),
        ("pgbouncer", "default_pool_size", 2.5, "must be an integer"),
        ("pgbouncer", "log_pooler_errors", "on", "must be a boolean"),
        ("pgbouncer", "log_pooler_errors", 2, "must be a boolean"),
        ("pgbouncer", "query_wait_timeout", -1, "-1 is out of range (0 to"),
        ("pgbouncer", "query_wait_timeout", "-1", "must be a number of seconds"),
        ("pgbouncer", "query_wait_timeout", "1e9", "must be a number of seconds"),
        ("pgbouncer", "query_wait_timeout", float("inf"), "finite"),
        ("pgbouncer", "pool_mode", "sometimes", "must be one of session, transaction, statement"),
        ("pgbouncer", "unix_socket_mode", "0999", "file mode"),
        ("pgbouncer", "admin_users", ["a b"], "holds whitespace or a comma"),
        ("pgbouncer", "admin_users", ["a,b"], "holds whitespace or a comma"),
        ("pgbouncer", "admin_users", ["Public"], "reserved role name"),
        ("pgbouncer", "ignore_startup_parameters", ["bad-name"], "is not a parameter name"),
        ("pgbouncer", "listen_addr", ["10.0.0.1 #"], "holds whitespace"),
        ("pgbouncer", "auth_hba_file", "relative/hba.conf", "must be an absolute path"),
        ("pgbouncer", "auth_hba_file", "/dev/zero", "points into /dev"),
        ("pgbouncer", "server_reset_query", "DISCARD ALL\nauth_type = trust", "line break"),
        ("pgbouncer", "server_reset_query", "DISCARD ALL\r", "line break"),
        ("pgbouncer", "server_reset_query", " DISCARD ALL", "leading or trailing whitespace"),
        ("pgbouncer", "server_reset_query", "DISCARD\u2028ALL", "line break"),
        ("pgbouncer", "tcp_keepcnt", 128, "out of range"),
        ("pgbouncer", "transaction_timeout", 5, "was added in 1.25.0"),
        ("pgbouncer", "no_such_key", 1, "is not a PgBouncer [pgbouncer] setting"),
        ("databases", "application_name", "", "must not be empty"),
        ("databases", "reserve_pool_size", -1, "out of range"),
        ("databases", "server_lifetime", 1.5, "whole number of seconds"),
        ("users", "pool_mode", "sometimes", "must be one of"),
    ],
)
def test_values_pgbouncer_would_misread_are_refused(section, key, value, message):
    table = pgbouncer_settings.load_table()
    with pytest.raises(
        ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
    ):
        pgbouncer_settings.check_setting(table, section, key, value, RELEASE, "where")


# ------------------------------------------------------------------------------------------------
# The whole model


def test_valid_model_renders_one_line_per_declared_key():
    errs, sections = model.pooler_config(VALID, RELEASE)
    assert errs == []
    text = pgbouncer_files.render_ini(sections, "; header")
    assert sections["databases"] == {
        "pgbouncer_auth": "dbname='pgbouncer_auth' host='10.0.0.2' port=5432 pool_size=2",
        "app": "dbname='app' host='10.0.0.2' port=5432 pool_size=10",
        "reports": "dbname='Quarterly Reports' host='10.0.0.2' port=5432 application_name='it''s #1 = ok; ü'",
    }
    assert sections["users"] == {"celery": "pool_size=3 pool_mode='session'"}
    assert sections["pgbouncer"]["auth_user"] == 'Pgb Auth "Q"'
    assert sections["pgbouncer"]["auth_query"] == 'SELECT username, password FROM "pgbouncer"."lookup"($1)'
    assert sections["pgbouncer"]["auth_dbname"] == "pgbouncer_auth"
    content = [line for line in text.splitlines() if line and not line.startswith(";")]
    assert len(content) == sum(len(entries) + 1 for entries in sections.values())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"pgbouncer_listen_port": 80}, "pgbouncer_listen_port: 80 is not a usable TCP port (1024-65535)"),
        ({"pgbouncer_listen_port": 70000}, "pgbouncer_listen_port: 70000 is not a usable TCP port"),
        ({"pgbouncer_server_port": 0}, "pgbouncer_server_port: 0 is not a usable TCP port"),
        ({"pgbouncer_listen_addr": ["0.0.0.0"]}, "the per_host topology listens on loopback only"),
        ({"pgbouncer_listen_addr": ["::"]}, "the per_host topology listens on loopback only"),
        # A zone id is loopback to ipaddress and would be rendered verbatim (H2).
        (
            {"pgbouncer_listen_addr": ["::1%$(id>PWNED)"]},
            "pgbouncer_listen_addr: '::1%$(id>PWNED)' is not an address, a host name or *",
        ),
        (
            {"pgbouncer_topology": "central", "pgbouncer_listen_addr": ["127.0.0.1", "fd00::21%eth0"]},
            "pgbouncer_listen_addr: 'fd00::21%eth0' is not an address, a host name or *",
        ),
        ({"pgbouncer_server_host": "::1%eth0"}, "pgbouncer_server_host: '::1%eth0' is not a host name"),
        (
            {"pgbouncer_databases": [{"name": "a", "host": "fd00::1%25eth0"}]},
            "pgbouncer_databases[0].host: 'fd00::1%25eth0' is not a host name",
        ),
        ({"pgbouncer_auth_type": "trust"}, "pgbouncer_auth_type: must be one of scram-sha-256, md5, hba"),
        ({"pgbouncer_server_host": "db #1"}, "pgbouncer_server_host: 'db #1' is not a host name"),
        (
            {"pgbouncer_server_host": "db\n[pgbouncer]"},
            "pgbouncer_server_host: 'db\\n[pgbouncer]' holds a line break",
        ),
        ({"pgbouncer_server_host": "10.0.0.1,db-2.example"}, None),
        ({"pgbouncer_server_host": "/var/run/postgresql"}, None),
        (
            {"pgbouncer_auth_user": "Public"},
            "pgbouncer_auth_user: must not be the reserved role name 'Public'",
        ),
        ({"pgbouncer_auth_user": "pg_auth"}, "pgbouncer_auth_user: must not start with 'pg_'"),
        ({"pgbouncer_auth_user": "auth\n"}, "pgbouncer_auth_user: must not contain control characters"),
        (
            {"pgbouncer_auth_database": "pgbouncer"},
            "pgbouncer_auth_database: 'pgbouncer' is PgBouncer's admin console",
        ),
        (
            {"pgbouncer_auth_database": "Auth DB"},
            "pgbouncer_auth_database: 'Auth DB' cannot be an entry name",
        ),
        ({"pgbouncer_auth_schema": "x" * 64}, "pgbouncer_auth_schema: must be at most 63 bytes"),
        (
            {"pgbouncer_admin_users": ["nobody"]},
            "pgbouncer_admin_users: 'nobody' is not declared in pgbouncer_roles",
        ),
        (
            {"pgbouncer_settings": {"user": "root"}},
            "pgbouncer_settings.user: not settable in pgbouncer_settings",
        ),
        ({"pgbouncer_settings": {"auth_file": "/tmp/x"}}, "pgbouncer_settings.auth_file: not settable"),
        ({"pgbouncer_settings": {"listen_port": 1}}, "set it with pgbouncer_listen_port"),
        ({"pgbouncer_settings": {"conffile": "/etc/x"}}, "pgbouncer_settings.conffile: not settable"),
        ({"pgbouncer_settings": {"peer_id": 3}}, "pgbouncer_settings.peer_id: not settable"),
        (
            {"pgbouncer_limit_nofile": 1000},
            "pgbouncer_limit_nofile: 1000 must be between the 2130 file descriptors a process may need",
        ),
        ({"pgbouncer_max_prepared_statements": 0}, "pgbouncer_max_prepared_statements: must be above 0"),
        (
            {"pgbouncer_databases": [{"name": "*"}]},
            "pgbouncer_databases[0].name: '*' would make a catch-all entry",
        ),
        (
            {"pgbouncer_databases": [{"name": "PgBouncer"}]},
            "pgbouncer_databases[0].name: 'pgbouncer' is reserved",
        ),
        (
            {"pgbouncer_databases": [{"name": "pgbouncer_auth"}]},
            "'pgbouncer_auth' is reserved for the auth database",
        ),
        (
            {"pgbouncer_databases": [{"name": "a"}, {"name": "a"}]},
            "pgbouncer_databases[1].name: 'a' is declared twice",
        ),
        (
            {"pgbouncer_databases": [{"name": "my db"}]},
            "pgbouncer_databases[0].name: 'my db' cannot be an entry name",
        ),
        ({"pgbouncer_databases": [{"name": "ü"}]}, "cannot be an entry name for PgBouncer 1.24.1"),
        ({"pgbouncer_databases": [{"name": "a", "dbname": "a\nb"}]}, "pgbouncer_databases[0].dbname:"),
        (
            {"pgbouncer_databases": [{"name": "a", "host": "x y"}]},
            "pgbouncer_databases[0].host: 'x y' is not",
        ),
        (
            {"pgbouncer_databases": [{"name": "a", "port": 0}]},
            "pgbouncer_databases[0].port: 0 is not a usable",
        ),
        (
            {"pgbouncer_databases": [{"name": "a", "host": ""}]},
            "pgbouncer_databases[0].host: must not be empty",
        ),
        (
            {"pgbouncer_databases": [{"name": "a", "pool_size": -1}]},
            "pgbouncer_databases[0].pool_size: -1 is out",
        ),
        (
            {"pgbouncer_databases": [{"name": "a", "settings": {"password": "x"}}]},
            "pgbouncer_databases[0].settings.password: no secret goes into pgbouncer.ini",
        ),
        (
            {"pgbouncer_databases": [{"name": "a", "settings": {"auth_query": "SELECT 1"}}]},
            "pgbouncer_databases[0].settings.auth_query: the lookup is",
        ),
        (
            {"pgbouncer_databases": [{"name": "a", "settings": {"max_db_connections": "lots"}}]},
            "pgbouncer_databases[0].settings.max_db_connections: must be an integer, got 'lots'",
        ),
        (
            {"pgbouncer_roles": [{"name": "a", "databases": ["nope"]}]},
            "pgbouncer_roles[0].databases[0]: 'nope'",
        ),
        (
            {"pgbouncer_roles": [{"name": 'Pgb Auth "Q"'}]},
            "pgbouncer_roles[0].name: 'Pgb Auth \"Q\"' is the auth user",
        ),
        (
            {"pgbouncer_roles": [{"name": "a"}, {"name": "a"}]},
            "pgbouncer_roles[1].name: 'a' is declared twice",
        ),
        (
            {"pgbouncer_roles": [{"name": "App Role", "pool": {"pool_size": 3}}]},
            "pgbouncer_roles[0].name: 'App Role' cannot be an entry name for PgBouncer 1.24.1",
        ),
        (
            {"pgbouncer_roles": [{"name": "a", "pool": {"bogus": 1}}]},
            "pgbouncer_roles[0].pool.bogus: 'bogus' is not",
        ),
    ],
)
def test_model_errors_name_the_variable(changes, message):
    found = errors(with_change(**changes))
    if message is None:
        assert found == []
    else:
        assert any(message in error for error in found), found


def test_quoted_entry_names_are_accepted_from_1_25():
    inputs = with_change(
        pgbouncer_databases=[{"name": "my db #1"}],
        pgbouncer_roles=[{"name": "App Role", "pool": {"pool_size": 3}}, {"name": "pgbouncer_admin"}],
    )
    errs, sections = model.pooler_config(inputs, "1.25.0")
    assert errs == []
    text = pgbouncer_files.render_ini(sections)
    assert "'my db #1' = dbname='my db #1'" in text
    assert "'App Role' = pool_size=3" in text


@pytest.mark.parametrize(
    "hostile",
    [
        "x\nauth_type = trust",
        "x\r\nlisten_addr = 0.0.0.0",
        "x\x00y",
        "x\x85y",
        "x\u2029y",
        "x\x1b[2J",
    ],
)
@pytest.mark.parametrize(
    "place",
    [
        "pgbouncer_server_reset_query",
        "pgbouncer_unix_socket_dir",
        "pgbouncer_server_host",
        "pgbouncer_auth_user",
        "pgbouncer_auth_database",
        "pgbouncer_auth_schema",
        "pgbouncer_auth_function",
        "listen_addr",
        "ignore_startup_parameters",
        "setting",
        "database name",
        "database dbname",
        "database host",
        "database setting",
        "role pool",
    ],
)
def test_no_value_can_add_a_line(place, hostile):
    """Every value that reaches pgbouncer.ini, whatever variable it comes from, is refused by name
    when it holds a line break or another control character: nothing is rendered."""
    inputs = copy.deepcopy(VALID)
    if place.startswith("pgbouncer_"):
        inputs[place] = hostile
    elif place == "listen_addr":
        inputs["pgbouncer_listen_addr"] = [hostile]
    elif place == "ignore_startup_parameters":
        inputs["pgbouncer_ignore_startup_parameters"] = [hostile]
    elif place == "setting":
        inputs["pgbouncer_settings"] = {"server_check_query": hostile}
    elif place == "role pool":
        inputs["pgbouncer_roles"][1]["pool"] = {"pool_mode": hostile}
    else:
        field = place.split()[1]
        entry = {"name": "extra"}
        if field == "setting":
            entry["settings"] = {"connect_query": hostile}
        else:
            entry[field] = hostile
        inputs["pgbouncer_databases"].append(entry)
    found, _ = model.pooler_config(inputs, RELEASE)
    assert found, f"{place} accepted {hostile!r}"


def test_render_refuses_a_value_spanning_lines():
    with pytest.raises(ConfigError, match="spans more than one line"):
        pgbouncer_files.render_ini({"pgbouncer": {"x": "1\ny = 2"}})


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([("dbname", "app", False), ("port", "5432", True)], "dbname='app' port=5432"),
        ([("dbname", "it's", False)], "dbname='it''s'"),
        ([("application_name", "a b=c #d", False)], "application_name='a b=c #d'"),
    ],
)
def test_connection_strings_quote_every_text_value(pairs, expected):
    assert pgbouncer_files.connstr(pairs) == expected


def test_userlist_escapes_quotes_and_refuses_line_breaks():
    assert pgbouncer_files.userlist('Pgb "Q"', 'pa"ss') == '"Pgb ""Q""" "pa""ss"\n'
    with pytest.raises(ConfigError, match="pgbouncer_auth_password: must not contain line breaks"):
        pgbouncer_files.userlist("auth", "pass\nword")
    with pytest.raises(ConfigError, match="longer than 1024 bytes"):
        pgbouncer_files.userlist("auth", "x" * 1025)


@pytest.mark.parametrize(
    ("processes", "process", "expected"),
    [
        pytest.param(
            1,
            1,
            {
                "unix_socket_dir": "/var/run/postgresql",
                "pidfile": "/run/pgbouncer-1/pgbouncer.pid",
                "so_reuseport": "1",
                "peer_id": "1",
                "peers": {1: {"host": "/var/run/postgresql", "port": 6432}},
            },
            id="one process keeps the socket where clients look for it",
        ),
        pytest.param(
            3,
            2,
            {
                "unix_socket_dir": "/run/pgbouncer-2",
                "pidfile": "/run/pgbouncer-2/pgbouncer.pid",
                "so_reuseport": "1",
                "peer_id": "2",
                "peers": {
                    1: {"host": "/var/run/postgresql", "port": 6432},
                    2: {"host": "/run/pgbouncer-2", "port": 6432},
                    3: {"host": "/run/pgbouncer-3", "port": 6432},
                },
            },
            id="each further process has its own socket, pidfile and peer id; peers are shared",
        ),
    ],
)
def test_process_settings(processes, process, expected):
    assert pooler_processes.process_settings(processes, "/var/run/postgresql", 6432, process) == expected


@pytest.mark.parametrize(
    ("processes", "message"),
    [
        (0, "pgbouncer_processes: 0 is not between 1 and 16"),
        (17, "pgbouncer_processes: 17 is not between 1 and 16"),
        ("two", "pgbouncer_processes: must be an integer"),
    ],
)
def test_process_count_is_bounded(processes, message):
    errors, _ = model.pooler_config({**VALID, "pgbouncer_processes": processes}, RELEASE)
    assert any(message in error for error in errors), errors


def test_every_process_file_has_the_same_peers_and_its_own_identity():
    inputs = {**VALID, "pgbouncer_processes": 2}
    files = [model.pooler_config(inputs, RELEASE, process) for process in (1, 2)]
    assert [errors for errors, _ in files] == [[], []]
    first, second = (sections for _, sections in files)
    assert (
        first["peers"]
        == second["peers"]
        == {
            "1": "host='/var/run/postgresql' port=6432",
            "2": "host='/run/pgbouncer-2' port=6432",
        }
    )
    assert (first["pgbouncer"]["peer_id"], second["pgbouncer"]["peer_id"]) == ("1", "2")
    assert first["pgbouncer"]["unix_socket_dir"] == "/var/run/postgresql"
    assert second["pgbouncer"]["unix_socket_dir"] == "/run/pgbouncer-2"
    assert first["databases"] == second["databases"]


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://apt.postgresql.org/pub/repos/apt", True),
        ("http://10.0.0.5:8080/apt", True),
        ("https://example.org/apt\nTrusted: yes", False),
        ("https://example.org/a pt", False),
        ("file:///etc", False),
        ("https://user:pw@example.org/", False),
        ("ftp://example.org", False),
        ("http://[::1]:8080/apt", True),
        ("http://[::1%25eth0]/apt", False),
        ("http://[fe80::1%25eth0%20trust]/apt", False),
        ("http://[v1.x]/apt", False),
        ("http://[zz]/apt", False),
        ("http://example.org:99999/apt", False),
        ("http://127.1/apt", False),
    ],
)
def test_url_errors(url, ok):
    assert (url_errors(url, "v") == []) is ok


CENTRAL_PAIR = [{"host": "10.0.0.12", "port": 6432, "peer_id_base": 16, "processes": 2}]


def test_peers_across_hosts_reach_every_process_of_the_other_host_at_its_address():
    settings = pooler_processes.process_settings(2, "/var/run/postgresql", 6432, 2, 0, CENTRAL_PAIR)
    assert settings["peer_id"] == "2"
    assert settings["peers"] == {
        1: {"host": "/var/run/postgresql", "port": 6432},
        2: {"host": "/run/pgbouncer-2", "port": 6432},
        17: {"host": "10.0.0.12", "port": 6432},
        18: {"host": "10.0.0.12", "port": 6432},
    }
    errors, sections = model.pooler_config(
        {
            **VALID,
            "pgbouncer_processes": 2,
            "pgbouncer_peer_id_base": 0,
            "pgbouncer_remote_peers": CENTRAL_PAIR,
        },
        RELEASE,
        2,
    )
    assert errors == []
    assert sections["peers"]["17"] == "host='10.0.0.12' port=6432"


@pytest.mark.parametrize(
    ("base", "remote", "message"),
    [
        pytest.param(
            0,
            [{"host": "10.0.0.12", "peer_id_base": 0, "processes": 2}],
            "pgbouncer_remote_peers[0] (10.0.0.12): peer_id 1 is also pgbouncer_peer_id_base's",
            id="overlapping ranges",
        ),
        pytest.param(
            16383,
            [],
            "pgbouncer_peer_id_base: peer_id 16384 is not between 1 and 16383",
            id="beyond the bound",
        ),
        pytest.param(
            -1, [], "pgbouncer_peer_id_base: peer_id 0 is not between 1 and 16383", id="0 turns peering off"
        ),
        pytest.param(
            0,
            [{"host": "10.0.0.12\n[pgbouncer]", "peer_id_base": 16}],
            "[peers] 17.host: '10.0.0.12\\n[pgbouncer]' holds a line break",
            id="a remote host cannot add a line",
        ),
    ],
)
def test_peer_ids_are_unique_and_in_range(base, remote, message):
    errors, _ = model.pooler_config(
        {**VALID, "pgbouncer_peer_id_base": base, "pgbouncer_remote_peers": remote}, RELEASE
    )
    assert any(message in error for error in errors), errors


# ------------------------------------------------------------------------------------------------
# Paths: normalised first, then checked, and rendered normalised

PATH_KEYS = sorted(
    key
    for key, setting in pgbouncer_settings.load_table().sections["pgbouncer"].items()
    if setting.type == "path" and setting.exists_in(RELEASE)
)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("//dev/zero", "'//dev/zero' points into /dev, /proc or /sys"),
        ("/./dev/zero", "points into /dev, /proc or /sys"),
        ("///proc/self/environ", "points into /dev, /proc or /sys"),
        ("//sys//kernel/notes", "points into /dev, /proc or /sys"),
        ("/dev/", "points into /dev, /proc or /sys"),
        # '..' is refused, not resolved: behind a symlink such as /var/run -> /run it goes elsewhere.
        ("/var/../dev/zero", "'/var/../dev/zero' has a '..' component"),
        ("/var/run/../dev/zero", "has a '..' component"),
        ("/etc/pgbouncer/..", "has a '..' component"),
        ("etc/pgbouncer/hba.conf", "must be an absolute path"),
    ],
)
@pytest.mark.parametrize("key", PATH_KEYS)
def test_every_path_setting_is_checked_after_normalising(key, path, message):
    table = pgbouncer_settings.load_table()
    with pytest.raises(
        ConfigError, match=re.escape(f"pgbouncer_settings.{key}: ") + ".*" + re.escape(message)
    ):
        pgbouncer_settings.check_setting(table, "pgbouncer", key, path, RELEASE, f"pgbouncer_settings.{key}")


@pytest.mark.parametrize(
    ("path", "rendered"),
    [
        ("//etc/pgbouncer/hba.conf", "/etc/pgbouncer/hba.conf"),
        ("/var//log/./pgbouncer/", "/var/log/pgbouncer"),
        ("/etc/pgbouncer/hba.conf", "/etc/pgbouncer/hba.conf"),
        ("/devices/hba.conf", "/devices/hba.conf"),
        ("/etc/pgbouncer/..hidden", "/etc/pgbouncer/..hidden"),
    ],
)
@pytest.mark.parametrize("key", PATH_KEYS)
def test_every_path_setting_renders_the_normalised_path(key, path, rendered):
    table = pgbouncer_settings.load_table()
    assert pgbouncer_settings.check_setting(table, "pgbouncer", key, path, RELEASE, "x")[1] == rendered


def test_the_rendered_file_holds_normalised_paths():
    inputs = with_change(
        pgbouncer_unix_socket_dir="/var/run//postgresql/",
        pgbouncer_settings={"logfile": "//var/log/pgbouncer/./pgbouncer.log"},
    )
    errs, sections = model.pooler_config(inputs, RELEASE)
    assert errs == []
    assert sections["pgbouncer"]["unix_socket_dir"] == "/var/run/postgresql"
    assert sections["pgbouncer"]["logfile"] == "/var/log/pgbouncer/pgbouncer.log"


@pytest.mark.parametrize(
    "socket_dir",
    [
        "/tmp",
        "/tmp/",
        "//tmp",
        "/./tmp",
        "/tmp/pgbouncer",
        "/var/tmp",
        "/var/tmp/pgbouncer",
        "/run/lock",
        "/var/lock",
        "/var/run/lock",
        "/run/shm",
        "/var/crash",
    ],
)
@pytest.mark.parametrize(
    ("variable", "inputs"),
    [
        ("pgbouncer_unix_socket_dir", lambda value: {"pgbouncer_unix_socket_dir": value}),
        ("pgbouncer_server_host", lambda value: {"pgbouncer_server_host": value}),
        (
            "pgbouncer_databases[0].host",
            lambda value: {"pgbouncer_databases": [{"name": "a", "host": value}]},
        ),
    ],
)
def test_world_writable_socket_directories_are_refused(socket_dir, variable, inputs):
    found = errors(with_change(**inputs(socket_dir)))
    assert any(
        error.startswith(f"{variable}: {socket_dir!r} is in a directory every local user can write")
        for error in found
    ), found


@pytest.mark.parametrize("socket_dir", ["/var/tmp/../tmp", "/dev/shm"])
def test_socket_directories_behind_dots_or_in_dev_are_refused(socket_dir):
    found = errors(with_change(pgbouncer_unix_socket_dir=socket_dir))
    assert any(error.startswith(f"pgbouncer_unix_socket_dir: {socket_dir!r}") for error in found), found


@pytest.mark.parametrize("socket_dir", ["/var/run/postgresql", "/run/postgresql", "/tmpfiles/pgbouncer"])
def test_socket_directories_only_the_service_can_write_are_accepted(socket_dir):
    assert errors(with_change(pgbouncer_unix_socket_dir=socket_dir)) == []


TEMPLATE = Path(__file__).resolve().parents[2] / "roles" / "pgbouncer" / "templates" / "pgbouncer.ini.j2"


@pytest.mark.parametrize("processes", [1, 3])
def test_the_role_template_writes_exactly_what_the_model_renders(processes):
    """pgbouncer.ini.j2 shows the file's shape; its text is render_ini's, line for line."""
    inputs = {**VALID, "pgbouncer_processes": processes}
    errs, sections = model.pooler_config(inputs, RELEASE, processes)
    assert errs == []
    # As the template module renders: trim_blocks on, lstrip_blocks off.
    environment = jinja2.Environment(trim_blocks=True, undefined=jinja2.StrictUndefined)
    environment.filters["comment"] = comment
    text = environment.from_string(TEMPLATE.read_text()).render(
        ansible_managed="Ansible managed",
        __pgbouncer_model=pgbouncer_filter.pooler_model(inputs, RELEASE),
        __pgbouncer_version=RELEASE,
        __pgbouncer_process=processes,
    )
    body = "\n".join(line for line in text.splitlines() if not line.startswith(";")) + "\n"
    assert body == pgbouncer_files.render_ini(sections)
    assert re.findall(r"^\[(\w+)\]$", body, re.MULTILINE) == list(sections)
    assert {"databases", "users", "peers", "pgbouncer"} <= set(sections)


@pytest.mark.parametrize(
    ("variable", "expected"),
    [
        ("pgbouncer_max_client_conn", 2000),
        ("pgbouncer_limit_nofile", None),
        ("pgbouncer_listen_port", 6432),
        ("pgbouncer_unix_socket_dir", "/var/run/postgresql"),
        ("pgbouncer_dns_max_ttl", 5),
        ("pgbouncer_dns_nxdomain_ttl", 5),
        ("pgbouncer_server_login_retry", 2),
        ("pgbouncer_tcp_user_timeout", 10000),
    ],
)
def test_a_value_the_inputs_leave_out_is_the_role_default(variable, expected):
    """One home for defaults: the role's defaults/main.yml, read, not copied."""
    assert pgbouncer_role.role_default(variable) == expected


def test_max_client_conn_left_out_is_checked_at_the_role_default():
    inputs = {key: value for key, value in VALID.items() if key != "pgbouncer_max_client_conn"}
    errs, _ = model.pooler_config({**inputs, "pgbouncer_limit_nofile": 1500}, RELEASE)
    assert any("pgbouncer_max_client_conn 2000 + 2 x 15 server connections" in error for error in errs), errs


def test_a_templated_default_is_no_value():
    with pytest.raises(ConfigError, match="pgbouncer_topology's default is a template"):
        pgbouncer_role.role_default("pgbouncer_topology")


@pytest.mark.parametrize("processes", [1, 2, 4])
def test_the_model_built_once_holds_what_each_process_would_be_built_alone(processes):
    """pooler_model checks the inputs once; each process's sections equal pooler_config's."""
    inputs = {**VALID, "pgbouncer_processes": processes}
    errs, per_process, _pools = model.pooler_model(inputs, RELEASE)
    assert errs == []
    assert per_process == [
        model.pooler_config(inputs, RELEASE, number)[1] for number in range(1, processes + 1)
    ]
    assert len({sections["pgbouncer"]["peer_id"] for sections in per_process}) == processes


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"pgbouncer_processes": 17}, "pgbouncer_processes: 17 is not between 1 and 16"),
        ({"pgbouncer_processes": 2, "pgbouncer_default_pool_size": -5}, "pgbouncer_default_pool_size"),
        (
            {"pgbouncer_processes": 3, "pgbouncer_peer_id_base": 16382},
            "peer_id 16384 is not between 1 and 16383",
        ),
    ],
)
def test_the_model_reports_each_problem_once(change, expected):
    errs, per_process, _pools = model.pooler_model(with_change(**change), RELEASE)
    matching = [error for error in errs if expected in error]
    assert len(matching) == 1, errs
    assert per_process


def test_the_model_filter_gives_show_config_values_and_refuses_nothing_valid():
    built = pgbouncer_filter.pooler_model({**VALID, "pgbouncer_processes": 2}, RELEASE)
    assert built["errors"] == []
    first, second = built["processes"]
    assert first["sections"]["pgbouncer"]["unix_socket_dir"] == "/var/run/postgresql"
    assert second["sections"]["pgbouncer"]["unix_socket_dir"] == "/run/pgbouncer-2"
    assert first["show_config"].keys() == first["sections"]["pgbouncer"].keys()
    assert first["show_config"]["peer_id"] != second["show_config"]["peer_id"]


def test_the_model_filter_reports_errors_instead_of_raising():
    built = pgbouncer_filter.pooler_model(with_change(pgbouncer_default_pool_size=-5), RELEASE)
    assert any("pgbouncer_default_pool_size" in error for error in built["errors"])


def test_a_new_pgbouncer_variable_needs_only_its_spec_entry(tmp_path, monkeypatch):
    """An option pgbouncer_<key> of the role's argument spec sets [pgbouncer] <key>: nothing else
    in the controller code names it."""
    spec = yaml.safe_load(pgbouncer_role.ROLE_SPEC_FILE.read_text())
    spec["argument_specs"]["main"]["options"]["pgbouncer_client_idle_timeout"] = {"type": "int", "default": 0}
    spec_file = tmp_path / "argument_specs.yml"
    spec_file.write_text(yaml.safe_dump(spec))
    monkeypatch.setattr(pgbouncer_role, "ROLE_SPEC_FILE", spec_file)
    pgbouncer_role.role_variables.cache_clear()
    pgbouncer_role.managed_keys.cache_clear()
    try:
        errs, sections = model.pooler_config({**VALID, "pgbouncer_client_idle_timeout": 45}, RELEASE)
        assert errs == []
        assert sections["pgbouncer"]["client_idle_timeout"] == "45"
        refused = errors(with_change(pgbouncer_settings={"client_idle_timeout": 10}))
        assert any("set it with pgbouncer_client_idle_timeout" in error for error in refused), refused
    finally:
        pgbouncer_role.role_variables.cache_clear()
        pgbouncer_role.managed_keys.cache_clear()


def test_the_role_variables_are_the_spec_options_named_after_a_key():
    table = pgbouncer_settings.load_table()
    variables = pgbouncer_role.role_variables()
    assert "pgbouncer_pool_mode" in variables and "pgbouncer_client_tls_sslmode" in variables
    # The auth contract's user is set with the rest of the contract; others are not settings.
    assert "pgbouncer_auth_user" not in variables
    assert "pgbouncer_processes" not in variables
    assert all(table.get("pgbouncer", key) is not None for key in variables.values())


# VALID's pools per process: app / app 10, app / celery 3, the auth_query pool 2 = 15 server
# connections; 2000 clients + 2 x 15 + 100 = 2130 descriptors.
REMOTE = {"name": "remote", "host": "10.0.0.9", "pool_size": 4}
DESCRIPTOR_CASES = {
    "unset: derived from the clients and the pools": ({"pgbouncer_limit_nofile": None}, 2130, None),
    "set above the need: kept": ({}, 16384, None),
    "set to exactly the need": ({"pgbouncer_limit_nofile": 2130}, 2130, None),
    "set one below the need": (
        {"pgbouncer_limit_nofile": 2129},
        None,
        "pgbouncer_limit_nofile: 2129 must be between the 2130 file descriptors a process may need "
        "(pgbouncer_max_client_conn 2000 + 2 x 15 server connections (the pools' worst case per process) "
        "+ 100) and 1048576; or leave it unset to use 2130",
    ),
    "above what Linux gives a process": ({"pgbouncer_limit_nofile": 1048577}, None, "and 1048576"),
    "a cap holds the pools": (
        {
            "pgbouncer_limit_nofile": None,
            "pgbouncer_databases": [{"name": "app", "pool_size": 10, "settings": {"max_db_connections": 5}}],
        },
        2000 + 2 * (5 + 2) + 100,
        None,
    ),
    "an unbounded pool counts as max_client_conn": (
        {"pgbouncer_limit_nofile": None, "pgbouncer_databases": [{"name": "app", "pool_size": 0}]},
        2000 + 2 * (2000 + 3 + 2) + 100,
        None,
    ),
    "an entry on another server still takes descriptors": (
        {
            "pgbouncer_limit_nofile": None,
            "pgbouncer_databases": [{"name": "app", "pool_size": 10}, REMOTE],
            "pgbouncer_roles": [{"name": "app", "databases": ["app", "remote"]}, {"name": "pgbouncer_admin"}],
        },
        2000 + 2 * (10 + 4 + 2) + 100,
        None,
    ),
    "clients Linux cannot give descriptors to": (
        {"pgbouncer_limit_nofile": None, "pgbouncer_max_client_conn": 1048500},
        None,
        "pgbouncer_max_client_conn: a process may need 1048630 file descriptors",
    ),
}


@pytest.mark.parametrize(("change", "limit", "error"), DESCRIPTOR_CASES.values(), ids=DESCRIPTOR_CASES.keys())
def test_each_process_gets_the_file_descriptors_it_may_need(change, limit, error):
    built = pgbouncer_filter.pooler_model(with_change(**change), RELEASE)
    assert built["limit_nofile"] == limit
    if error is None:
        assert built["errors"] == []
    else:
        assert [e for e in built["errors"] if error in e], built["errors"]


# ------------------------------------------------------------------------------------------------
# A managed PostgreSQL (pgbouncer_managed_postgresql): no auth contract, verifiers in userlist.txt

MANAGED = {
    **{key: value for key, value in VALID.items() if not key.startswith("pgbouncer_auth_")},
    "pgbouncer_auth_type": "scram-sha-256",
    "pgbouncer_managed_postgresql": True,
    "pgbouncer_server_tls_sslmode": "verify-full",
    "pgbouncer_server_tls_ca_bundle": "/controller/provider-ca.pem",
}


def test_managed_model_has_no_auth_query_and_verifies_with_the_providers_ca():
    found, processes, limits = model.pooler_model(MANAGED, RELEASE)
    assert found == []
    sections = processes[0]
    pgbouncer = sections["pgbouncer"]
    assert not {"auth_user", "auth_query", "auth_dbname"} & set(pgbouncer)
    assert pgbouncer["server_tls_ca_file"] == "/etc/ssl/pgbouncer-toolkit/postgresql-ca.crt"
    assert set(sections["databases"]) == {entry["name"] for entry in MANAGED["pgbouncer_databases"]}
    assert len(limits["pools"]) == len(model.pooler_model(VALID, RELEASE)[2]["pools"]) - 1


def test_the_toolkits_ca_verifies_its_own_postgresql():
    sections = model.pooler_config(with_change(pgbouncer_server_tls_sslmode="verify-full"), RELEASE)[1]
    assert sections["pgbouncer"]["server_tls_ca_file"] == "/etc/ssl/pgbouncer-toolkit/ca.crt"


@pytest.mark.parametrize("sslmode", ["verify-full", "verify-ca"])
def test_managed_verifying_mode_needs_the_providers_ca(sslmode):
    inputs = {**MANAGED, "pgbouncer_server_tls_sslmode": sslmode, "pgbouncer_server_tls_ca_bundle": ""}
    assert any(error.startswith("pgbouncer_server_tls_ca_bundle: required with") for error in errors(inputs))


VERIFIER = "SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0$" + "A" * 43 + "=:" + "B" * 43 + "="


@pytest.mark.parametrize(
    ("verifiers", "expected"),
    [
        ({}, ""),
        ({"app": VERIFIER}, f'"app" "{VERIFIER}"\n'),
        # Name order (code points), quotes doubled.
        ({"b": VERIFIER, 'Q "x"': VERIFIER}, f'"Q ""x""" "{VERIFIER}"\n"b" "{VERIFIER}"\n'),
    ],
)
def test_userlist_of_verifiers(verifiers, expected):
    assert pgbouncer_files.userlist_verifiers(verifiers) == expected


@pytest.mark.parametrize(
    ("verifiers", "message"),
    [
        ({"app": "plaintext password"}, "the verifier of role 'app' is not a SCRAM-SHA-256 verifier"),
        ({"app": VERIFIER + '\n"x" "y"'}, "is not a SCRAM-SHA-256 verifier"),
        ({"app": None}, "is not a SCRAM-SHA-256 verifier"),
        ({"a\nb": VERIFIER}, "must not contain control characters"),
    ],
)
def test_userlist_of_verifiers_refuses_anything_else(verifiers, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        pgbouncer_files.userlist_verifiers(verifiers)


def test_the_providers_ca_bundle_unset_is_the_default():
    assert errors(with_change(pgbouncer_server_tls_ca_bundle="")) == []
    assert "pgbouncer_server_tls_ca_bundle" not in pgbouncer_role.role_variables()
