"""Table-driven tests of the server-connection budget: PgBouncer's pool sizing rules, the caps,
processes and hosts, unbounded pools, the over-budget message and the printed table."""

from __future__ import annotations

import pytest
from ansible._internal._datatag._tags import Origin, TrustedAsTemplate
from ansible.errors import AnsibleFilterError

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.filter.budget import FilterModule
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.filter.pgbouncer import pooler_model
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils import connection_budget as cb

SERVER = {"max_connections": 100, "superuser_reserved_connections": 3, "reserved_connections": 0}
RELEASE = "1.26.1"


def model(databases=(), roles=(), settings=None, auth=False, **variables):
    """Role variables with only what a case sets (no auth pool unless ``auth``)."""
    inputs = {
        "pgbouncer_server_host": "db1.example",
        "pgbouncer_databases": list(databases),
        "pgbouncer_roles": list(roles),
        **variables,
    }
    if settings is not None:
        inputs["pgbouncer_settings"] = settings
    if auth:
        inputs["pgbouncer_auth_user"] = "pgb_auth"
        inputs["pgbouncer_auth_database"] = "pgb_auth_db"
    return inputs


def pooler(host, processes, inputs):
    """What a pooler host records for the budget: its process count and its model's pools."""
    built = pooler_model(inputs, RELEASE)
    return {"host": host, "processes": processes, "pools": built["pools"], "elsewhere": built["elsewhere"]}


def poolers(inputs, *processes):
    """One pooler host per entry of ``processes`` (default: one host, one process)."""
    return [pooler(f"app{n}", count, inputs) for n, count in enumerate(processes or (1,), 1)]


def pools(report):
    """{pool label: (per process, worst case)} for a compact exact comparison."""
    return {row["pool"]: (row["per_process"], row["worst_case"]) for row in report["rows"]}


APP = {"name": "app"}
APP10 = {"name": "app", "pool_size": 10}
REPORTS = {"name": "reports"}

# (inputs, processes per host, {pool: (per process, worst case)}, total)
CASES = {
    "compiled default 20 when pgbouncer_default_pool_size is unset": (
        model([APP], [{"name": "app", "databases": ["app"]}]),
        (1,),
        {"app / app": (20, 20)},
        20,
    ),
    "pgbouncer_default_pool_size": (
        model([APP], [{"name": "app", "databases": ["app"]}], pgbouncer_default_pool_size=25),
        (1,),
        {"app / app": (25, 25)},
        25,
    ),
    "entry pool_size over the default": (
        model(
            [APP10, REPORTS],
            [{"name": "app", "databases": ["app", "reports"]}],
            pgbouncer_default_pool_size=25,
        ),
        (1,),
        {"app / app": (10, 10), "reports / app": (25, 25)},
        35,
    ),
    "[users] pool_size over the entry's, for that role only": (
        model(
            [APP10],
            [
                {"name": "app", "databases": ["app"]},
                {"name": "celery", "databases": ["app"], "pool": {"pool_size": 3}},
            ],
        ),
        (1,),
        {"app / app": (10, 10), "app / celery": (3, 3)},
        13,
    ),
    "only the entries a role lists have its pools; roles without databases have none": (
        model(
            [APP10, REPORTS],
            [{"name": "app", "databases": ["app", "nowhere"]}, {"name": "pgbouncer_admin"}],
        ),
        (1,),
        {"app / app": (10, 10)},
        10,
    ),
    "global reserve_pool_size": (
        model([APP10], [{"name": "app", "databases": ["app"]}], settings={"reserve_pool_size": 2}),
        (1,),
        {"app / app": (12, 12)},
        12,
    ),
    "entry reserve_pool_size over the global one": (
        model(
            [{**APP10, "settings": {"reserve_pool_size": 1}}, REPORTS],
            [{"name": "app", "databases": ["app", "reports"]}],
            settings={"reserve_pool_size": 2},
            pgbouncer_default_pool_size=5,
        ),
        (1,),
        {"app / app": (11, 11), "reports / app": (7, 7)},
        18,
    ),
    "[users] reserve_pool_size over the entry's": (
        model(
            [{**APP10, "settings": {"reserve_pool_size": 1}}],
            [{"name": "app", "databases": ["app"], "pool": {"reserve_pool_size": 5}}],
        ),
        (1,),
        {"app / app": (15, 15)},
        15,
    ),
    "reserve_pool_timeout 0 turns reserves off": (
        model(
            [APP10],
            [{"name": "app", "databases": ["app"]}],
            settings={"reserve_pool_size": 2, "reserve_pool_timeout": 0},
        ),
        (1,),
        {"app / app": (10, 10)},
        10,
    ),
    "entry max_db_connections caps the entry's pools together": (
        model(
            [{**APP10, "settings": {"max_db_connections": 15}}],
            [{"name": "app", "databases": ["app"]}, {"name": "web", "databases": ["app"]}],
        ),
        (1,),
        {"app / app": (10, 8), "app / web": (10, 7)},
        15,
    ),
    "global max_db_connections, entry 0 = use the global": (
        model(
            [{**APP10, "settings": {"max_db_connections": 0}}, {"name": "reports", "pool_size": 4}],
            [{"name": "app", "databases": ["app", "reports"]}, {"name": "web", "databases": ["app"]}],
            settings={"max_db_connections": 12},
        ),
        (1,),
        {"app / app": (10, 6), "app / web": (10, 6), "reports / app": (4, 4)},
        16,
    ),
    "max_db_connections counts the reserve": (
        model(
            [{**APP10, "settings": {"max_db_connections": 11, "reserve_pool_size": 5}}],
            [{"name": "app", "databases": ["app"]}],
        ),
        (1,),
        {"app / app": (15, 11)},
        11,
    ),
    "[users] max_user_connections caps the role over its entries": (
        model(
            [APP10, {"name": "reports", "pool_size": 10}],
            [{"name": "app", "databases": ["app", "reports"], "pool": {"max_user_connections": 5}}],
        ),
        (1,),
        {"app / app": (10, 3), "reports / app": (10, 2)},
        5,
    ),
    "a cap above the pools' sizes changes nothing": (
        model(
            [APP10],
            [{"name": "celery", "databases": ["app"], "pool": {"pool_size": 3, "max_user_connections": 5}}],
        ),
        (1,),
        {"app / celery": (3, 3)},
        3,
    ),
    "global max_user_connections": (
        model(
            [APP10, {"name": "reports", "pool_size": 10}],
            [{"name": "app", "databases": ["app", "reports"]}, {"name": "web", "databases": ["app"]}],
            settings={"max_user_connections": 4},
        ),
        (1,),
        {"app / app": (10, 2), "app / web": (10, 4), "reports / app": (10, 2)},
        8,
    ),
    "both caps: the exact maximum, not the first pool's fill": (
        # app/u1 alone would fill both caps (1 connection); app/u2 + other/u1 hold 2 at once.
        model(
            [{"name": "app", "settings": {"max_db_connections": 1}}, {"name": "other"}],
            [
                {"name": "u1", "databases": ["app", "other"], "pool": {"max_user_connections": 1}},
                {"name": "u2", "databases": ["app"]},
            ],
            pgbouncer_default_pool_size=10,
        ),
        (1,),
        {"app / u1": (10, 0), "app / u2": (10, 1), "other / u1": (10, 1)},
        2,
    ),
    "an unlimited pool under a cap is bounded by the cap": (
        model(
            [{"name": "app", "pool_size": 0, "settings": {"max_db_connections": 7}}],
            [{"name": "app", "databases": ["app"]}],
        ),
        (1,),
        {"app / app": (None, 7)},
        7,
    ),
    "processes multiply": (
        model([APP10], [{"name": "app", "databases": ["app"]}]),
        (3,),
        {"app / app": (10, 30)},
        30,
    ),
    "hosts multiply": (
        model([APP10], [{"name": "app", "databases": ["app"]}]),
        (2, 2),
        {"app / app": (10, 40)},
        40,
    ),
    "hosts with different process counts add up": (
        model([APP10], [{"name": "app", "databases": ["app"]}]),
        (2, 1),
        {"app / app": (10, 30)},
        30,
    ),
    "caps apply per process, then processes multiply": (
        model(
            [{**APP10, "settings": {"max_db_connections": 15}}],
            [{"name": "app", "databases": ["app"]}, {"name": "web", "databases": ["app"]}],
        ),
        (2, 1),
        {"app / app": (10, 24), "app / web": (10, 21)},
        45,
    ),
    "the auth_query pool: pgbouncer_auth_pool_size (2 when unset) and the global reserve": (
        model(
            [APP10],
            [{"name": "app", "databases": ["app"], "pool": {"pool_size": 2, "reserve_pool_size": 0}}],
            settings={"reserve_pool_size": 1},
            auth=True,
            pgbouncer_default_pool_size=6,
        ),
        (2,),
        {"app / app": (2, 4), "pgb_auth_db / pgb_auth (auth_query)": (3, 6)},
        10,
    ),
    "the auth_query pool at pgbouncer_auth_pool_size, not the default": (
        model(
            [APP10],
            [{"name": "app", "databases": ["app"]}],
            auth=True,
            pgbouncer_default_pool_size=6,
            pgbouncer_auth_pool_size=4,
        ),
        (1, 1),
        {"app / app": (10, 20), "pgb_auth_db / pgb_auth (auth_query)": (4, 8)},
        28,
    ),
    "an entry on another server is not counted": (
        model(
            [
                APP10,
                {"name": "remote", "host": "db2.example", "pool_size": 50},
                {"name": "port", "port": 5433},
            ],
            [{"name": "app", "databases": ["app", "remote", "port"]}],
            pgbouncer_server_host="db1.example",
        ),
        (1,),
        {"app / app": (10, 10)},
        10,
    ),
    "an entry naming the server itself is counted": (
        model(
            [{**APP10, "host": "db1.example", "port": "5432"}],
            [{"name": "app", "databases": ["app"]}],
            pgbouncer_server_host="db1.example",
        ),
        (1,),
        {"app / app": (10, 10)},
        10,
    ),
}


@pytest.mark.parametrize(("inputs", "processes", "expected", "total"), CASES.values(), ids=CASES.keys())
def test_worst_case(inputs, processes, expected, total):
    report = cb.worst_case(poolers(inputs, *processes), SERVER)
    assert pools(report) == expected
    assert report["total"] == total
    assert report["unbounded"] == []


def test_rows_carry_hosts_processes_variables_and_caps():
    inputs = model(
        [{**APP10, "settings": {"max_db_connections": 15}}],
        [
            {"name": "app", "databases": ["app"]},
            {"name": "web", "databases": ["app"], "pool": {"pool_size": 9}},
        ],
    )
    report = cb.worst_case(poolers(inputs, 2, 1), SERVER, 30)
    assert report["available"] == 67
    assert report["headroom"] == 30
    first = report["rows"][0]
    assert first == {
        "pool": "app / app",
        "database": "app",
        "role": "app",
        "auth_query": False,
        "pool_size": 10,
        "reserve": 0,
        "per_process": 10,
        "per_process_worst": 8,
        "capped": True,
        "host_names": ["app1", "app2"],
        "hosts": 2,
        "processes": [2, 1],
        "worst_case": 24,
        "share": 35.8,
        "size_variable": "pgbouncer_databases[0].pool_size",
        "reserve_variable": None,
        "cap_variables": ["pgbouncer_databases[0].settings.max_db_connections"],
    }
    assert report["rows"][1]["size_variable"] == "pgbouncer_roles[1].pool.pool_size"
    assert report["caps"] == [
        {
            "variable": "pgbouncer_databases[0].settings.max_db_connections",
            "scope": "entry 'app'",
            "limit": 15,
            "demand": 19,
            "host_names": ["app1", "app2"],
        }
    ]


def test_hosts_with_different_sizes_get_their_own_rows():
    small = model([APP10], [{"name": "app", "databases": ["app"]}])
    large = model([{"name": "app", "pool_size": 20}], [{"name": "app", "databases": ["app"]}])
    report = cb.worst_case(
        [pooler("a", 1, small), pooler("b", 2, large)],
        SERVER,
    )
    assert [(row["pool"], row["host_names"], row["worst_case"]) for row in report["rows"]] == [
        ("app / app", ["a"], 10),
        ("app / app", ["b"], 40),
    ]
    assert report["total"] == 50
    assert "app / app [b]" in cb.budget_table(report, SERVER, 0)


UNBOUNDED = {
    "pgbouncer_default_pool_size 0": (
        model([APP], [{"name": "app", "databases": ["app"]}], pgbouncer_default_pool_size=0),
        "app / app: pgbouncer_default_pool_size makes its pool size 0",
    ),
    "entry pool_size 0": (
        model([{"name": "app", "pool_size": 0}], [{"name": "app", "databases": ["app"]}]),
        "app / app: pgbouncer_databases[0].pool_size makes its pool size 0",
    ),
    "[users] pool_size 0 over a sized entry": (
        model([APP10], [{"name": "app", "databases": ["app"], "pool": {"pool_size": "0"}}]),
        "app / app: pgbouncer_roles[0].pool.pool_size makes its pool size 0",
    ),
    "the auth_query pool under pgbouncer_auth_pool_size 0": (
        model([APP10], [{"name": "app", "databases": ["app"]}], auth=True, pgbouncer_auth_pool_size=0),
        "pgb_auth_db / pgb_auth (auth_query): pgbouncer_auth_pool_size makes its pool size 0",
    ),
}


@pytest.mark.parametrize(("inputs", "start"), UNBOUNDED.values(), ids=UNBOUNDED.keys())
def test_unlimited_pool_is_refused_even_with_accept_risk(inputs, start):
    report = cb.worst_case(poolers(inputs, 2), SERVER)
    assert report["total"] is None
    assert len(report["unbounded"]) == 1
    assert report["unbounded"][0].startswith(start)
    assert report["unbounded"][0].endswith("Set a positive pool size or one of those caps (on app1)")
    unbounded_rows = [row for row in report["rows"] if row["worst_case"] is None]
    assert [row["per_process"] for row in unbounded_rows] == [None]
    for accept_risk in (False, True):
        errors = cb.budget_errors(report, SERVER, 30, accept_risk)
        assert errors == [f"connection budget: {report['unbounded'][0]}"]
    table = cb.budget_table(report, SERVER, 30)
    assert "unlimited" in table and "unbounded" in table


OVER = model(
    [APP10, {"name": "reports", "pool_size": 3, "settings": {"reserve_pool_size": 2}}],
    [
        {"name": "app", "databases": ["app"]},
        {"name": "celery", "databases": ["app"], "pool": {"pool_size": 3}},
        {"name": "report", "databases": ["reports"]},
    ],
    auth=True,
    pgbouncer_default_pool_size=30,
    pgbouncer_auth_pool_size=30,
)


def test_over_budget_names_the_largest_pools_and_what_to_shrink():
    report = cb.worst_case(poolers(OVER, 2, 1), SERVER, 30)
    assert report["total"] == 3 * (10 + 3 + 5 + 30) == 144
    assert cb.budget_errors(report, SERVER, 30, False) == [
        "connection budget: in the worst case the poolers hold 144 server connections, 77 more than the "
        "67 PostgreSQL has for them (max_connections 100 - superuser_reserved_connections 3 - "
        "reserved_connections 0 - headroom 30 = 67). Largest pools: "
        "pgb_auth_db / pgb_auth (auth_query) 90 (30 per process x 3 processes on 2 hosts; "
        "pgbouncer_auth_pool_size); "
        "app / app 30 (10 per process x 3 processes on 2 hosts; pgbouncer_databases[0].pool_size); "
        "reports / report 15 (5 per process x 3 processes on 2 hosts; pgbouncer_databases[1].pool_size, "
        "pgbouncer_databases[1].settings.reserve_pool_size); "
        "app / celery 9 (3 per process x 3 processes on 2 hosts; pgbouncer_roles[1].pool.pool_size). "
        "Shrink pgbouncer_auth_pool_size, pgbouncer_databases[0].pool_size, "
        "pgbouncer_databases[1].pool_size, pgbouncer_databases[1].settings.reserve_pool_size, "
        "pgbouncer_roles[1].pool.pool_size, pgbouncer_processes; or raise max_connections on the server; "
        "or lower pgbouncer_postgresql_budget_headroom; or set pgbouncer_postgresql_budget_accept_risk to accept the risk"
    ]


def test_over_budget_names_a_binding_cap_as_a_lever():
    inputs = model(
        [{**APP10, "settings": {"max_db_connections": 15}}],
        [{"name": "app", "databases": ["app"]}, {"name": "web", "databases": ["app"]}],
    )
    report = cb.worst_case(poolers(inputs, 1), SERVER)
    (error,) = cb.budget_errors(report, SERVER, 90, False)
    assert "than the 7 PostgreSQL has" in error
    assert (
        "app / app 8 (10 per process, 8 after the caps x 1 process on 1 host; "
        "pgbouncer_databases[0].pool_size, pgbouncer_databases[0].settings.max_db_connections)" in error
    )
    assert "pgbouncer_processes" not in error


BUDGET = {
    # (server, headroom, accept_risk, total pools fit?) -> errors
    "within budget": (SERVER, 30, False, 47, []),
    "exactly the available connections": (SERVER, 30, False, 67, []),
    "one over": (SERVER, 30, False, 68, ["68 server connections, 1 more than the 67"]),
    "accept_risk": (SERVER, 30, True, 500, []),
    "accept_risk as set in an inventory": (SERVER, 30, "yes", 500, []),
    "reserved_connections (PostgreSQL 16+) and headroom count": (
        {**SERVER, "reserved_connections": 5},
        40,
        False,
        53,
        [
            "53 server connections, 1 more than the 52 PostgreSQL has for them (max_connections 100 - "
            "superuser_reserved_connections 3 - reserved_connections 5 - headroom 40 = 52)"
        ],
    ),
    "reserved_connections absent before PostgreSQL 16": (
        {"max_connections": "100", "superuser_reserved_connections": "3"},
        "30",
        False,
        68,
        ["reserved_connections 0 - headroom 30 = 67"],
    ),
    "unreadable max_connections": (
        {**SERVER, "max_connections": "lots"},
        30,
        True,
        10,
        ["connection budget: server max_connections: must be an integer, got 'lots'"],
    ),
    "negative headroom": (
        SERVER,
        -1,
        True,
        10,
        ["connection budget: pgbouncer_postgresql_budget_headroom: -1 must be 0 or more"],
    ),
}


@pytest.mark.parametrize(
    ("server", "headroom", "accept_risk", "total", "expected"), BUDGET.values(), ids=BUDGET.keys()
)
def test_budget_errors(server, headroom, accept_risk, total, expected):
    inputs = model([{"name": "app", "pool_size": total}], [{"name": "app", "databases": ["app"]}])
    errors = FilterModule().filters()["connection_budget"](poolers(inputs), server, headroom, accept_risk)[
        "errors"
    ]
    assert len(errors) == len(expected)
    for error, part in zip(errors, expected, strict=True):
        assert part in error


def test_accept_risk_must_be_a_boolean():
    with pytest.raises(
        AnsibleFilterError,
        match="pgbouncer_postgresql_budget_accept_risk: The value 'maybe' is not a valid boolean",
    ):
        FilterModule().filters()["connection_budget"](poolers(model()), SERVER, 30, "maybe")


def _tagged(value):
    return Origin(path="/inventory/group_vars/all.yml", line_num=3).tag(value)


def test_tagged_and_text_values_count_as_numbers():
    inputs = model(
        [{"name": "app", "pool_size": _tagged(10), "settings": {"reserve_pool_size": "2"}}],
        [
            {"name": _tagged("app"), "databases": [_tagged("app")]},
            {"name": "web", "databases": ["app"], "pool": {"pool_size": TrustedAsTemplate().tag("4")}},
        ],
        settings={"max_db_connections": _tagged("15")},
        pgbouncer_default_pool_size=_tagged(30),
    )
    server = {key: _tagged(str(value)) for key, value in SERVER.items()}
    report = cb.worst_case([pooler(_tagged("app1"), 2, inputs)], server, _tagged(30))
    assert pools(report) == {"app / app": (12, 18), "app / web": (6, 12)}
    assert report["total"] == 30 and report["available"] == 67 and report["notes"] == []
    assert all(type(row[key]) is str for row in report["rows"] for key in ("pool", "database", "role"))
    assert type(report["rows"][0]["host_names"][0]) is str


def test_values_the_model_refuses_are_errors_not_counts():
    """The model names every value it cannot use; the budget reads only what it checked."""
    inputs = model(
        [{"name": "app", "pool_size": "ten"}, "not an entry", {"name": "reports", "pool_size": 4}],
        [
            {"name": "app", "databases": ["app", "reports"], "pool": {"pool_size": True}},
            {"databases": ["reports"]},
            {"name": "report", "databases": ["reports"], "pool": {"reserve_pool_size": -1}},
        ],
        settings={"reserve_pool_timeout": "soon"},
        pgbouncer_default_pool_size=7,
    )
    errors = pooler_model(inputs, RELEASE)["errors"]
    for variable in (
        "pgbouncer_databases[0].pool_size:",
        "pgbouncer_databases[1]:",
        "pgbouncer_roles[0].pool.pool_size:",
        "pgbouncer_roles[1].name:",
        "pgbouncer_roles[2].pool.reserve_pool_size:",
        "pgbouncer_settings.reserve_pool_timeout:",
    ):
        assert [error for error in errors if error.startswith(variable)], variable
    report = cb.worst_case([pooler("app1", 1, inputs), "not a pooler"], SERVER, headroom="x")
    assert pools(report) == {}
    assert report["available"] is None and report["headroom"] is None
    assert report["notes"] == ["pooler 1: not a mapping; not counted"]


def test_table_lists_every_pool_then_the_total_and_the_arithmetic():
    report = cb.worst_case(poolers(OVER, 2, 1), SERVER, 30)
    table = FilterModule().filters()["connection_budget"](poolers(OVER, 2, 1), SERVER, 30)["table"]
    assert table == cb.budget_table(report, SERVER, 30)
    assert table.splitlines() == [
        "pool                                 per process  hosts  processes  worst case   share",
        "-----------------------------------  -----------  -----  ---------  ----------  ------",
        "app / app                                     10      2        2+1          30   44.8%",
        "app / celery                                   3      2        2+1           9   13.4%",
        "reports / report                         5 (3+2)      2        2+1          15   22.4%",
        "pgb_auth_db / pgb_auth (auth_query)           30      2        2+1          90  134.3%",
        "-----------------------------------  -----------  -----  ---------  ----------  ------",
        "total                                                                      144  214.9%",
        "available: max_connections 100 - superuser_reserved_connections 3 - reserved_connections 0 - "
        "headroom 30 = 67",
        "over budget by 77",
    ]


def test_table_marks_capped_pools_and_explains_the_cap():
    inputs = model(
        [{**APP10, "settings": {"max_db_connections": 15}}],
        [{"name": "app", "databases": ["app"]}, {"name": "web", "databases": ["app"]}],
    )
    table = cb.budget_table(cb.worst_case(poolers(inputs, 1), SERVER), SERVER, 30)
    lines = table.splitlines()
    assert lines[2] == "app / app           10      1          1          8*  11.9%"
    assert lines[3] == "app / web           10      1          1          7*  10.4%"
    assert lines[-2:] == [
        "within budget: 52 to spare",
        "* pgbouncer_databases[0].settings.max_db_connections = 15 holds the pools of entry 'app' to 15 per "
        "process (they could open 20) on app1",
    ]


def test_filter_returns_rows_total_available_and_table():
    inputs = model([APP10], [{"name": "app", "databases": ["app"]}])
    result = FilterModule().filters()["connection_budget"](poolers(inputs, 2), SERVER, 30)
    assert set(result) == {"rows", "total", "available", "table", "errors"}
    assert result["errors"] == []
    assert (result["total"], result["available"]) == (20, 67)
    assert [row["pool"] for row in result["rows"]] == ["app / app"]
    assert "app / app" in result["table"]


def test_entries_on_another_server_are_noted_not_counted():
    inputs = model(
        [APP10, {"name": "remote", "host": "db2.example", "pool_size": 50}, {"name": "port", "port": 5433}],
        [{"name": "app", "databases": ["app", "remote", "port"]}],
    )
    report = cb.worst_case(poolers(inputs), SERVER)
    assert report["notes"] == [
        f"app1: pgbouncer_databases[{index}] ({name}): its host or port is not pgbouncer_server_host/port; "
        "its pools use another server's budget and are not counted here"
        for index, name in ((1, "remote"), (2, "port"))
    ]
