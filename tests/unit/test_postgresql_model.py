"""Table-driven tests of the PostgreSQL side's first-play checks and pg_hba.conf block, and the block
read back by a real PostgreSQL (pg_hba_file_rules)."""

from __future__ import annotations

import copy

import psycopg
import pytest

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils import pg_hba, postgresql_model
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import ConfigError

VALID = {
    "pgbouncer_auth_user": "pgbouncer_auth",
    "pgbouncer_auth_password": "auth-password",
    "pgbouncer_auth_database": "pgbouncer_auth",
    "pgbouncer_auth_schema": "pgbouncer",
    "pgbouncer_auth_function": "lookup",
    "pgbouncer_client_group": "pgbouncer_clients",
    "pgbouncer_databases": [
        {"name": "app", "owner": "app"},
        {"name": "app_session", "dbname": "app"},
        {"name": "reports", "dbname": "Quarterly Reports"},
        {"name": "elsewhere", "host": "10.9.9.9"},
    ],
    "pgbouncer_roles": [
        {"name": "app", "password": "p1", "databases": ["app", "app_session"]},
        {
            "name": 'Report Writer "Q"',
            "password": "p2",
            "databases": ["reports"],
            "valid_until": "2030-01-31",
        },
        {"name": "pgbouncer_admin", "password": "p3"},
    ],
    "pgbouncer_postgresql_login_user": "postgres",
    "pgbouncer_postgresql_login_host": "",
    "pgbouncer_postgresql_manage_hba": True,
    "pgbouncer_postgresql_client_addresses": ["10.0.0.5/32", "10.0.0.6"],
    "pgbouncer_postgresql_hba_allow_everywhere": False,
}


def with_change(**changes):
    inputs = copy.deepcopy(VALID)
    inputs.update(changes)
    return inputs


def test_valid_inputs_have_no_errors():
    assert postgresql_model.postgresql_side(VALID)[0] == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"pgbouncer_auth_user": "Public"}, "pgbouncer_auth_user: must not be the reserved role name"),
        ({"pgbouncer_auth_user": "CURRENT_USER"}, "pgbouncer_auth_user: must not be the reserved role name"),
        ({"pgbouncer_auth_user": "pg_monitor"}, "pgbouncer_auth_user: must not start with 'pg_'"),
        ({"pgbouncer_auth_user": "a\n"}, "pgbouncer_auth_user: must not contain control characters"),
        ({"pgbouncer_client_group": "pgbouncer_auth"}, "must be three different roles"),
        ({"pgbouncer_postgresql_login_user": "pgbouncer_clients"}, "must be three different roles"),
        ({"pgbouncer_auth_password": "x" * 1025}, "pgbouncer_auth_password: longer than 1024 bytes"),
        ({"pgbouncer_auth_password": ""}, "pgbouncer_auth_password: must be a non-empty string"),
        (
            {"pgbouncer_postgresql_login_host": "db #1"},
            "pgbouncer_postgresql_login_host: 'db #1' is not a host",
        ),
        (
            {"pgbouncer_roles": [*VALID["pgbouncer_roles"], {"name": "postgres", "password": "x"}]},
            "pgbouncer_roles[3].name: 'postgres' is the admin login",
        ),
        (
            {"pgbouncer_roles": [*VALID["pgbouncer_roles"], {"name": "pgbouncer_clients", "password": "x"}]},
            "pgbouncer_roles[3].name: 'pgbouncer_clients' is the client group",
        ),
        (
            {"pgbouncer_roles": [*VALID["pgbouncer_roles"], {"name": "app", "password": "x"}]},
            "pgbouncer_roles[3].name: 'app' is declared twice",
        ),
        (
            {"pgbouncer_roles": [{"name": "a", "password": "p\x00"}]},
            "pgbouncer_roles[0].password: must not contain",
        ),
        (
            {"pgbouncer_roles": [{"name": "a", "password": "p", "databases": ["x"]}]},
            "pgbouncer_roles[0].databases[0]",
        ),
        (
            {"pgbouncer_roles": [{"name": "a", "password": "p", "valid_until": "soon"}]},
            "valid_until: 'soon' must be",
        ),
        (
            {"pgbouncer_roles": [{"name": "a", "password": "p", "valid_until": "2030-01-01\n"}]},
            "valid_until:",
        ),
        (
            {"pgbouncer_databases": [{"name": "x", "dbname": "pgbouncer_auth"}]},
            "pgbouncer_databases[0].dbname",
        ),
        (
            {
                "pgbouncer_databases": [
                    {"name": "a", "owner": "o1"},
                    {"name": "b", "dbname": "a", "owner": "o2"},
                ]
            },
            "database 'a' is given two owners",
        ),
        (
            {"pgbouncer_databases": [{"name": "a", "owner": 'x"\nCREATE ROLE evil'}]},
            "pgbouncer_databases[0].owner:",
        ),
        (
            {"pgbouncer_postgresql_client_addresses": ["10.0.0.5/33"]},
            "'10.0.0.5/33' is not an address or a network",
        ),
        ({"pgbouncer_postgresql_client_addresses": ["10.0.0.5/32\n"]}, "holds a line break"),
        ({"pgbouncer_postgresql_client_addresses": ["0.0.0.0/0"]}, "'0.0.0.0/0' admits every address"),
        ({"pgbouncer_postgresql_client_addresses": ["::/0"]}, "'::/0' admits every address"),
        ({"pgbouncer_postgresql_client_addresses": []}, "no PgBouncer host address to admit"),
        # H1: ipaddress keeps a zone id verbatim; rendered, PostgreSQL would read method `trust`.
        (
            {"pgbouncer_postgresql_client_addresses": ["::%1 :: trust #"]},
            "pgbouncer_postgresql_client_addresses[0]: '::%1 :: trust #' is not an address or a network",
        ),
        (
            {"pgbouncer_postgresql_client_addresses": ["fd00::%25eth0/64"]},
            "pgbouncer_postgresql_client_addresses[0]: 'fd00::%25eth0/64' is not an address",
        ),
        # M1: a name starting with '/' is a regular expression in pg_hba.conf (PostgreSQL 16+).
        (
            {"pgbouncer_roles": [*VALID["pgbouncer_roles"], {"name": "/.*", "password": "x"}]},
            "pgbouncer_roles[3].name: must not start with '/'",
        ),
        (
            {"pgbouncer_databases": [{"name": "reports", "dbname": "/^(reports|postgres)$"}]},
            "pgbouncer_databases[0].dbname: must not start with '/'",
        ),
        ({"pgbouncer_auth_user": "/^pgb"}, "pgbouncer_auth_user: must not start with '/'"),
        ({"pgbouncer_auth_database": "/.*"}, "pgbouncer_auth_database: must not start with '/'"),
        ({"pgbouncer_client_group": "/.*"}, "pgbouncer_client_group: must not start with '/'"),
        (
            {"pgbouncer_databases": [{"name": "a", "owner": "/.*"}]},
            "pgbouncer_databases[0].owner: must not start with '/'",
        ),
    ],
)
def test_errors_name_the_variable(changes, message):
    errors = postgresql_model.postgresql_side(with_change(**changes))[0]
    assert any(message in error for error in errors), errors


@pytest.mark.parametrize(
    ("value", "ok"), [("2030-01-31", True), ("2030-01-31 12:00:00+00", True), ("infinity", True)]
)
def test_valid_until_forms(value, ok):
    roles = [{"name": "a", "password": "p", "valid_until": value}]
    assert (postgresql_model.postgresql_side(with_change(pgbouncer_roles=roles))[0] == []) is ok


def test_catch_all_address_needs_the_explicit_variable():
    inputs = with_change(
        pgbouncer_postgresql_client_addresses=["0.0.0.0/0"], pgbouncer_postgresql_hba_allow_everywhere=True
    )
    assert postgresql_model.postgresql_side(inputs)[0] == []


def test_databases_grants_and_addresses_derive_from_the_model():
    assert postgresql_model.server_databases(VALID["pgbouncer_databases"]) == [
        {"name": "app", "owner": "app"},
        {"name": "Quarterly Reports", "owner": None},
    ]
    assert postgresql_model.grant_list(VALID["pgbouncer_roles"], VALID["pgbouncer_databases"]) == [
        {"database": "app", "role": "app"},
        {"database": "Quarterly Reports", "role": 'Report Writer "Q"'},
    ]
    hostvars = {
        "a": {"pgbouncer_address": "192.0.2.7"},
        "b": {"ansible_facts": {"default_ipv4": {"address": "10.0.0.6"}}},
        "c": {"ansible_facts": {"default_ipv6": {"address": "fd00::6"}}},
    }
    assert postgresql_model.host_addresses(["a", "b", "c"], hostvars) == [
        "192.0.2.7/32",
        "10.0.0.6/32",
        "fd00::6/128",
    ]
    with pytest.raises(ConfigError, match=r"d: no address for pg_hba\.conf"):
        postgresql_model.host_addresses(["d"], {"d": {}})


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("192.0.2.7", "192.0.2.7/32"),
        ("FD00:0::6", "fd00::6/128"),
        ("10.0.0.5/24", "10.0.0.5/24"),
        # Refused by check_address, by name, in the first play (below): passed on as given.
        ("::%1 :: trust #", "::%1 :: trust #"),
        ("db.example.internal", "db.example.internal"),
    ],
)
def test_host_addresses_are_canonical_host_networks(address, expected):
    assert postgresql_model.host_addresses(["a"], {"a": {"pgbouncer_address": address}}) == [expected]


@pytest.mark.parametrize(
    "variables",
    [
        {"pgbouncer_address": "::%1 :: trust #"},
        {"pgbouncer_address": "fd00::5%eth0/128"},
        {"ansible_facts": {"default_ipv6": {"address": "fe80::1%eth0"}}},
    ],
)
def test_a_hosts_address_with_a_zone_id_is_refused_in_the_first_play(variables):
    addresses = postgresql_model.host_addresses(["a"], {"a": variables})
    errors = postgresql_model.postgresql_side(with_change(pgbouncer_postgresql_client_addresses=addresses))[0]
    assert any(
        error.startswith(f"pgbouncer_postgresql_client_addresses[0]: {addresses[0]!r} is not an address")
        and "zone id" in error
        for error in errors
    ), errors
    with pytest.raises(ConfigError, match="zone id"):
        pg_hba.hba_rules("auth", "auth_db", {"app": ["app"]}, addresses)


# Every special form of a pg_hba.conf database or user field loses its meaning when quoted; the
# block quotes every name, so each stays the literal name it is. ('/' starts a regular expression
# even when quoted, on PostgreSQL 16+: refused instead.)
SPECIAL_FORMS = ["all", "sameuser", "samerole", "samegroup", "replication", "+admins", "@names.txt"]


@pytest.mark.parametrize("name", SPECIAL_FORMS)
def test_hba_block_keeps_special_database_forms_literal(name):
    lines = pg_hba.hba_rules("auth", "auth_db", {"app": [name]}, ["10.0.0.5"])
    assert lines[-1] == f'host "{name}" "app" 10.0.0.5/32 scram-sha-256'


@pytest.mark.parametrize("name", [form for form in SPECIAL_FORMS if form != "all"])
def test_hba_block_keeps_special_user_forms_literal(name):
    lines = pg_hba.hba_rules(name, "auth_db", {name + "_2": ["app"]}, ["10.0.0.5"])
    assert lines[0] == f'host "auth_db" "{name}" 10.0.0.5/32 scram-sha-256'
    assert lines[1] == f'host all "{name}" all reject'
    assert lines[2] == f'host "app" "{name}_2" 10.0.0.5/32 scram-sha-256'


@pytest.mark.parametrize(
    ("auth_user", "auth_database", "grants"),
    [
        ("/.*", "auth_db", {"app": ["app"]}),
        ("auth", "/.*", {"app": ["app"]}),
        ("auth", "auth_db", {"/.*": ["app"]}),
        ("auth", "auth_db", {"app": ["/^(reports|postgres)$"]}),
    ],
)
def test_hba_block_refuses_names_postgresql_reads_as_regular_expressions(auth_user, auth_database, grants):
    with pytest.raises(ConfigError, match="regular expression"):
        pg_hba.hba_rules(auth_user, auth_database, grants, ["10.0.0.5"])


def test_hba_block_quotes_every_name():
    lines = pg_hba.hba_rules(
        'Pgb Auth "Q"',
        "PgB-Auth.DB",
        {'Report Writer "Q"': ["Quarterly Reports"], "+group": ["all"]},
        ["10.0.0.5"],
    )
    # A quoted "all" or "+group" is a name, not a keyword or a group match.
    assert lines == [
        'host "PgB-Auth.DB" "Pgb Auth ""Q""" 10.0.0.5/32 scram-sha-256',
        'host all "Pgb Auth ""Q""" all reject',
        'host "all" "+group" 10.0.0.5/32 scram-sha-256',
        'host "Quarterly Reports" "Report Writer ""Q""" 10.0.0.5/32 scram-sha-256',
    ]


@pytest.mark.parametrize("role", ["all", "Public", "pg_monitor", "a\nb"])
def test_hba_block_refuses_role_names_it_cannot_keep_literal(role):
    with pytest.raises(ConfigError):
        pg_hba.hba_rules("auth", "auth_db", {role: ["app"]}, ["10.0.0.5"])


def test_hba_block_read_back_by_postgresql(postgresql_server):
    """PostgreSQL's own tokenizer reads each rendered line as exactly the declared names."""
    lines = pg_hba.hba_rules(
        'Pgb Auth "Q"',
        "PgB-Auth.DB",
        {'Report Writer "Q"': ["Quarterly Reports", "app"], "user,with,commas": ["all"]},
        ["10.0.0.5/32", "fd00::/64"],
    )
    with psycopg.connect(
        host=postgresql_server["socket_dir"],
        port=postgresql_server["port"],
        user="postgres",
        dbname="postgres",
    ) as conn:
        hba_file = conn.execute("SHOW hba_file").fetchone()[0]
        with open(hba_file, encoding="utf-8") as handle:
            original = handle.read()
        try:
            with open(hba_file, "a", encoding="utf-8") as handle:
                handle.write("\n".join(lines) + "\n")
            first = len(original.splitlines()) + 1
            rows = conn.execute(
                "SELECT database, user_name, address, netmask, auth_method, error FROM pg_hba_file_rules"
                " WHERE line_number >= %s ORDER BY line_number",
                (first,),
            ).fetchall()
        finally:
            with open(hba_file, "w", encoding="utf-8") as handle:
                handle.write(original)
    assert [row[5] for row in rows] == [None] * len(lines)
    assert rows[0][:5] == (["PgB-Auth.DB"], ['Pgb Auth "Q"'], "10.0.0.5", "255.255.255.255", "scram-sha-256")
    assert rows[2][:5] == (["all"], ['Pgb Auth "Q"'], "all", None, "reject")
    report_rows = [row for row in rows if row[1] == ['Report Writer "Q"']]
    assert {tuple(row[0]) for row in report_rows} == {("Quarterly Reports", "app")}
    assert {row[2] for row in report_rows} == {"10.0.0.5", "fd00::"}
    comma_rows = [row for row in rows if row[1] == ["user,with,commas"]]
    assert comma_rows and all(row[0] == ["all"] for row in comma_rows)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("10.0.0.5", "10.0.0.5/32"),
        ("10.0.0.0/24", "10.0.0.0/24"),
        ("10.0.0.5/24", "10.0.0.0/24"),
        ("fd00::1", "fd00::1/128"),
        ("FD00:0::1", "fd00::1/128"),
    ],
)
def test_addresses_are_parsed_not_matched(address, expected):
    assert pg_hba.check_address(address, "x") == expected


@pytest.mark.parametrize(("tls", "kind"), [(False, "host"), (True, "hostssl")])
def test_hba_block_admits_the_poolers_over_tls_only_when_the_server_serves_it(tls, kind):
    lines = pg_hba.hba_rules("auth", "auth_db", {"app": ["app"]}, ["10.0.0.5", "10.0.0.6"], tls=tls)
    admitting = [line for line in lines if not line.endswith(" reject")]
    assert len(admitting) == 4
    assert all(line.split()[0] == kind for line in admitting), lines
    # The auth user's reject line keeps it out of everything else, over TLS or not.
    assert 'host all "auth" all reject' in lines


@pytest.mark.parametrize("tls", [False, True])
def test_the_model_built_once_holds_what_the_deploy_tasks_send(tls):
    """postgresql_side checks once and gives the databases, grants and pg_hba.conf block the
    deploy tasks read, and no password."""
    inputs = with_change(pgbouncer_postgresql_tls=tls)
    errors, model = postgresql_model.postgresql_side(inputs)
    assert errors == []
    assert model["databases"] == postgresql_model.server_databases(VALID["pgbouncer_databases"])
    assert model["grants"] == postgresql_model.grant_list(
        VALID["pgbouncer_roles"], VALID["pgbouncer_databases"]
    )
    expected = pg_hba.hba_rules(
        "pgbouncer_auth",
        "pgbouncer_auth",
        postgresql_model.grants_by_role(VALID["pgbouncer_roles"], VALID["pgbouncer_databases"]),
        VALID["pgbouncer_postgresql_client_addresses"],
        tls=tls,
    )
    assert model["hba_block"] == "\n".join(expected)
    assert model["hba_block"].startswith("hostssl" if tls else "host ")
    assert model["undeclared_owners"] == []
    text = repr(model)
    assert not any(secret in text for secret in ("auth-password", "'p1'", "'p2'", "'p3'"))


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"pgbouncer_databases": [{"name": "app", "owner": "dba"}]}, ["dba"]),
        ({"pgbouncer_databases": [{"name": "app", "owner": "postgres"}]}, []),
        ({"pgbouncer_databases": [{"name": "app", "owner": "app"}]}, []),
        ({"pgbouncer_databases": [{"name": "app", "owner": "dba", "host": "10.9.9.9"}]}, []),
    ],
)
def test_the_model_names_the_owners_that_must_exist_already(changes, expected):
    inputs = with_change(**changes, pgbouncer_roles=[{"name": "app", "password": "p1", "databases": ["app"]}])
    errors, model = postgresql_model.postgresql_side(inputs)
    assert errors == []
    assert model["undeclared_owners"] == expected


def test_the_model_is_empty_when_the_inputs_have_errors():
    errors, model = postgresql_model.postgresql_side(with_change(pgbouncer_auth_user=""))
    assert errors and model == {}


def test_the_hba_block_is_empty_when_pg_hba_is_not_managed():
    errors, model = postgresql_model.postgresql_side(with_change(pgbouncer_postgresql_manage_hba=False))
    assert errors == [] and model["hba_block"] == ""


# A managed PostgreSQL: no auth contract, no pg_hba.conf, TCP with a verifying TLS mode.
MANAGED = {
    **{key: value for key, value in VALID.items() if not key.startswith("pgbouncer_auth_")},
    "pgbouncer_managed_postgresql": True,
    "pgbouncer_postgresql_login_user": "cloudadmin",
    "pgbouncer_postgresql_login_host": "writer.db.example.com",
    "pgbouncer_postgresql_login_sslmode": "verify-full",
    "pgbouncer_postgresql_manage_hba": False,
    "pgbouncer_postgresql_tls": False,
    "pgbouncer_postgresql_stat_statements": False,
    "pgbouncer_postgresql_exporter": False,
}


def test_managed_inputs_need_no_auth_contract_and_write_no_pg_hba():
    errors, model = postgresql_model.postgresql_side(MANAGED)
    assert errors == []
    assert model["hba_block"] == ""
    assert {"name": "app", "owner": "app"} in model["databases"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"pgbouncer_postgresql_manage_hba": True}, "pgbouncer_postgresql_manage_hba: must be false with"),
        ({"pgbouncer_postgresql_tls": True}, "pgbouncer_postgresql_tls: must be false with"),
        (
            {"pgbouncer_postgresql_stat_statements": True},
            "pgbouncer_postgresql_stat_statements: must be false",
        ),
        ({"pgbouncer_postgresql_exporter": True}, "pgbouncer_postgresql_exporter: must be false with"),
        ({"pgbouncer_postgresql_login_host": ""}, "pgbouncer_postgresql_login_host: required with"),
        (
            {"pgbouncer_postgresql_login_sslmode": ""},
            "pgbouncer_postgresql_login_sslmode: must be verify-full",
        ),
        ({"pgbouncer_postgresql_login_sslmode": "require"}, "got 'require'"),
        ({"pgbouncer_client_group": "cloudadmin"}, "must be two different roles"),
    ],
)
def test_managed_refusals_name_the_variable(changes, message):
    errors = postgresql_model.postgresql_side({**MANAGED, **changes})[0]
    assert any(message in error for error in errors), errors


@pytest.mark.parametrize("sslmode", ["verify-full", "verify-ca"])
def test_managed_login_takes_the_verifying_sslmodes(sslmode):
    assert (
        postgresql_model.postgresql_side({**MANAGED, "pgbouncer_postgresql_login_sslmode": sslmode})[0] == []
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"Statement_Timeout": "1s"},
            "pgbouncer_roles[0].settings.Statement_Timeout: must be a setting's name",
        ),
        (
            {"statement timeout": "1s"},
            "pgbouncer_roles[0].settings.statement timeout: must be a setting's name",
        ),
        ({"statement_timeout": ["1s"]}, "must be a string, a number or a boolean, got list"),
        (
            {"statement_timeout": "1s\nSUPERUSER"},
            "pgbouncer_roles[0].settings.statement_timeout: must not contain control",
        ),
        ("statement_timeout=1s", "pgbouncer_roles[0].settings: must be a mapping"),
    ],
)
def test_role_settings_refused_by_name(settings, message):
    roles = copy.deepcopy(VALID["pgbouncer_roles"])
    roles[0]["settings"] = settings
    errors = postgresql_model.postgresql_side(with_change(pgbouncer_roles=roles))[0]
    assert any(message in error for error in errors), errors


def test_role_settings_of_every_kind_pass():
    roles = copy.deepcopy(VALID["pgbouncer_roles"])
    roles[0]["settings"] = {
        "statement_timeout": "30s",
        "lock_timeout": 5000,
        "jit": False,
        "app.tenant": "x",
        "work_mem": None,
    }
    assert postgresql_model.postgresql_side(with_change(pgbouncer_roles=roles))[0] == []


TWIN = {"name": "app_next", "password": "p4", "databases": ["app_session", "app"], "acts_as": "app"}


def test_a_login_acting_as_another_with_its_databases_passes():
    roles = [*VALID["pgbouncer_roles"], TWIN]
    assert postgresql_model.postgresql_side(with_change(pgbouncer_roles=roles))[0] == []


@pytest.mark.parametrize(
    ("twin", "message"),
    [
        ({"acts_as": "nobody"}, "pgbouncer_roles[3].acts_as: 'nobody' is not declared in pgbouncer_roles"),
        ({"acts_as": "app_next"}, "pgbouncer_roles[3].acts_as: 'app_next' is the role itself"),
        ({"acts_as": ["app"]}, "pgbouncer_roles[3].acts_as: ['app'] is not declared"),
        (
            {"databases": ["app"]},
            "pgbouncer_roles[3].acts_as: its databases ['app'] must be those of 'app', ['app', 'app_session']",
        ),
    ],
)
def test_acts_as_refused_by_name(twin, message):
    roles = [*VALID["pgbouncer_roles"], {**TWIN, **twin}]
    errors = postgresql_model.postgresql_side(with_change(pgbouncer_roles=roles))[0]
    assert any(message in error for error in errors), errors


def test_acts_as_is_not_chained():
    roles = [*VALID["pgbouncer_roles"], TWIN, {**TWIN, "name": "app_third", "acts_as": "app_next"}]
    errors = postgresql_model.postgresql_side(with_change(pgbouncer_roles=roles))[0]
    assert errors == [
        "pgbouncer_roles[4].acts_as: 'app_next' acts as 'app' itself; name the role both logins act as"
    ]
