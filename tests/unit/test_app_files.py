"""The application-side values (plugin_utils/app_files) and their filters: a value for a file a
shell sources is single-quoted (and refused with a control character), a libpq URL takes a plain
address in its canonical form, a host name, or an encoded socket directory, and nothing else."""

from __future__ import annotations

import re

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.filter import app_files as app_filter
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils import app_files
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import ConfigError

# What a URL may hold after encoding: no quote, space, '$', '`', '\\', '#' or '%' other than an escape.
URL_TEXT = re.compile(
    r"postgresql://[A-Za-z0-9._~%-]+@(\[[0-9a-f:]+\]|[A-Za-z0-9._~%-]+):[0-9]+/[A-Za-z0-9._~%-]+"
)


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("postgresql://app@127.0.0.1:6432/app", "'postgresql://app@127.0.0.1:6432/app'"),
        ("", "''"),
        ("it's", "'it'\\''s'"),
        ("''", "''\\'''\\'''"),
        ('$(id) `id` ${HOME} \\ "q" # ; | & *', "'$(id) `id` ${HOME} \\ \"q\" # ; | & *'"),
        ("ü €", "'ü €'"),
        (6432, "'6432'"),
    ],
)
def test_shell_values_are_single_quoted(value, quoted):
    assert app_files.shell_value(value, "DATABASE_URL") == quoted
    assert app_filter.shell_value(value, "DATABASE_URL") == quoted


@pytest.mark.parametrize(
    "value", ["a\nb", "a\n", "\nFOO=bar", "a\rb", "a\x00b", "\x1b[2J", "a\x7fb", "a\x85b", "a\u2028b"]
)
def test_shell_values_with_a_control_character_are_refused_by_name(value):
    with pytest.raises(ConfigError, match=r"^DATABASE_URL_REPORTS: .* control character"):
        app_files.shell_value(value, "DATABASE_URL_REPORTS")
    with pytest.raises(AnsibleFilterError, match=r"^DATABASE_URL_REPORTS: "):
        app_filter.shell_value(value, "DATABASE_URL_REPORTS")


@pytest.mark.parametrize("value", [None, True, ["a"], {"a": 1}])
def test_shell_values_are_text(value):
    with pytest.raises(ConfigError, match="DATABASE_URL: must be text"):
        app_files.shell_value(value, "DATABASE_URL")


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "postgresql://app@127.0.0.1:6432/app"),
        ("0:0:0:0:0:0:0:1", "postgresql://app@[::1]:6432/app"),
        ("FD00::1", "postgresql://app@[fd00::1]:6432/app"),
        ("db-1.example.internal", "postgresql://app@db-1.example.internal:6432/app"),
        ("/var/run//postgresql/", "postgresql://app@%2Fvar%2Frun%2Fpostgresql:6432/app"),
    ],
)
def test_urls_hold_the_canonical_host(host, url):
    assert app_files.database_url("app", host, 6432, "app") == url


@pytest.mark.parametrize(
    "host",
    ["::1%$(id>PWNED)", "::1%25eth0", "db #1", "db$(id)", "a,b", "/tmp", "/var/../tmp", "//dev/shm", "127.1"],
)
def test_urls_refuse_a_host_the_endpoint_check_refuses(host):
    with pytest.raises(ConfigError, match=re.escape("pgbouncer_app_files_host: ")):
        app_files.database_url("app", host, 6432, "app")
    with pytest.raises(AnsibleFilterError, match=re.escape("pgbouncer_app_files_host: ")):
        app_filter.database_url("app", host, 6432, "app")
    assert app_filter.endpoint_errors(host, 6432)[0].startswith("pgbouncer_app_files_host: ")


@pytest.mark.parametrize(
    ("user", "database"),
    [('O\'B "Q" $(id) `id`', "it's $HOME; `id` #x"), ("ü €", "a/b@c:d?e#f%g"), ("app", "\\")],
)
def test_url_parts_hold_nothing_a_shell_or_libpq_would_read(user, database):
    assert URL_TEXT.fullmatch(app_files.database_url(user, "127.0.0.1", 6432, database))


@pytest.mark.parametrize(
    ("alias", "prefix", "variable"),
    [
        ("default", "DATABASE_PASSWORD", "DATABASE_PASSWORD"),
        ("default", "DATABASE_URL", "DATABASE_URL"),
        ("reports", "DATABASE_PASSWORD", "DATABASE_PASSWORD_REPORTS"),
        ("read_replica2", "DATABASE_URL", "DATABASE_URL_READ_REPLICA2"),
    ],
)
def test_each_alias_has_its_own_variable(alias, prefix, variable):
    assert app_filter.env_variable(alias, prefix) == variable


@pytest.mark.parametrize("alias", ["Reports", "reports\n", "", "2nd", "a-b", "x" * 41])
def test_a_variable_is_never_made_from_a_bad_alias(alias):
    with pytest.raises(AnsibleFilterError, match="not a Django alias"):
        app_filter.env_variable(alias, "DATABASE_PASSWORD")


ROLES = [
    {"name": "app", "password": "p-app", "databases": ["app", "app_session"]},
    {"name": "app_next", "password": "p-next", "databases": ["app", "app_session"], "acts_as": "app"},
    {"name": "reports", "password": "p-rep", "databases": ["reports"]},
    {"name": "etl", "password": "p-etl", "databases": ["app"]},
    {"name": "etl_b", "password": "p-etlb", "databases": ["app"], "acts_as": "etl"},
]


def test_each_login_the_files_name_is_probed_once_with_its_password():
    entries = [
        {"alias": "default", "role": "app", "database": "app", "session_database": "app_session"},
        {"alias": "again", "role": "app", "database": "app"},
        {"alias": "reports", "role": "reports", "database": "reports"},
    ]
    assert app_files.app_logins(entries, ROLES) == [
        {"user": "app", "database": "app", "password": "p-app"},
        {"user": "app", "database": "app_session", "password": "p-app"},
        {"user": "reports", "database": "reports", "password": "p-rep"},
    ]


@pytest.mark.parametrize(
    ("named", "previous"),
    [
        # Every host on app: app_next is the login not in use.
        ([["app"], ["app", "reports"]], ["app_next"]),
        # Every host moved to app_next: app is the previous login.
        ([["app_next"], ["app_next", "reports"]], ["app"]),
        # Half-way (some hosts moved): both logins are in use.
        ([["app_next"], ["app"]], []),
        # A pair no files name is none of the files' business (another application may use it).
        ([["reports"]], []),
        # Two pairs.
        ([["app"], ["etl_b"]], ["app_next", "etl"]),
        ([["app_next", "etl_b"]], ["app", "etl"]),
        # A host without files.
        ([[], ["app_next"]], ["app"]),
    ],
)
def test_the_previous_login_is_the_one_of_a_pair_no_files_name_any_more(named, previous):
    lists = [
        [{"alias": f"a{index}", "role": role, "database": "app"} for index, role in enumerate(roles)]
        for roles in named
    ]
    assert app_files.previous_logins(ROLES, lists) == previous
