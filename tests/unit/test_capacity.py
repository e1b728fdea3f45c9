"""Table-driven tests of the capacity arithmetic: the declared process types and their slots, the
distribution of transactions per process, central fleets, the verdicts, max_client_conn, the
recommendation applied to the model, and the table."""

from __future__ import annotations

import fnmatch
import math
from dataclasses import asdict
from pathlib import Path

import pytest
import yaml

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.filter.pgbouncer import pooler_model
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils import capacity

ROOT = Path(__file__).resolve().parents[2]
APP_DATABASES = [
    {"alias": "default", "role": "app", "database": "app", "session_database": "app_session"},
    {"alias": "reports", "role": "reporter", "database": "reports"},
]


def declared(*items, host="app1"):
    found, errors = capacity.process_types(list(items), APP_DATABASES, host)
    assert errors == []
    return found


def sources(*items, poolers=1, hosts=("app1",)):
    return {
        "hosts": list(hosts),
        "poolers": poolers,
        "process_types": [asdict(item) for host in hosts for item in declared(*items, host=host)],
        "errors": [],
    }


@pytest.mark.parametrize(
    ("item", "slots", "arithmetic"),
    [
        ({"kind": "gunicorn", "workers": 4}, 4, "4 workers x 1 threads"),
        (
            {"kind": "gunicorn", "workers": 4, "threads": 2, "instances": 3},
            24,
            "3 instances x 4 workers x 2 threads",
        ),
        (
            {"kind": "gunicorn", "workers": 2, "worker_class": "gevent"},
            2000,
            "2 workers x 1000 gevent connections",
        ),
        (
            {"kind": "gunicorn", "workers": 2, "worker_class": "eventlet", "worker_connections": 50},
            100,
            "2 workers x 50 eventlet connections",
        ),
        ({"kind": "celery", "concurrency": 6}, 6, "concurrency 6 (prefork)"),
        (
            {"kind": "celery", "concurrency": 6, "pool": "threads", "instances": 2},
            12,
            "2 instances x concurrency 6 (threads)",
        ),
        ({"kind": "celery", "concurrency": 1, "pool": "solo"}, 1, "solo pool"),
        ({"kind": "worker", "processes": 3, "threads": 5}, 15, "3 processes x 5 threads"),
        ({"kind": "worker"}, 1, "1 processes x 1 threads"),
        ({"kind": "jobs", "count": 2}, 2, "2 at once"),
    ],
)
def test_slots_of_each_kind(item, slots, arithmetic):
    (found,) = declared({"name": "p", **item})
    assert (found.slots, found.arithmetic) == (slots, arithmetic)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"name": "web", "kind": "gunicorn"}, "[0].workers: is required for kind 'gunicorn'"),
        ({"name": "web", "kind": "gunicorn", "workers": 0}, "[0].workers"),
        ({"name": "web", "kind": "gunicorn", "workers": 2000}, "(from 1 to 1024)"),
        ({"name": "web", "kind": "gunicorn", "workers": True}, "[0].workers"),
        (
            {"name": "web", "kind": "gunicorn", "workers": 2, "worker_class": "gevent", "threads": 2},
            "greenlets",
        ),
        (
            {"name": "web", "kind": "gunicorn", "workers": 2, "worker_connections": 9},
            "only gevent and eventlet",
        ),
        ({"name": "web", "kind": "gunicorn", "workers": 2, "worker_class": "tornado"}, "[0].worker_class"),
        ({"name": "c", "kind": "celery"}, "[0].concurrency: is required"),
        ({"name": "c", "kind": "celery", "concurrency": 4, "pool": "solo"}, "solo pool runs one task"),
        (
            {"name": "c", "kind": "celery", "concurrency": 4, "workers": 2},
            "[0].workers: is not a key of kind 'celery'",
        ),
        ({"name": "j", "kind": "jobs"}, "[0].count: is required"),
        ({"name": "j", "kind": "cron", "count": 1}, "[0].kind: must be one of"),
        ({"name": "Web", "kind": "jobs", "count": 1}, "[0].name: 'Web'"),
        ({"name": "a" * 15, "kind": "jobs", "count": 1}, "[0].name"),
        ({"name": "web\nx", "kind": "jobs", "count": 1}, "[0].name"),
        ({"kind": "jobs", "count": 1}, "[0].name: None"),
        (
            {"name": "j", "kind": "jobs", "count": 1, "in_transaction": 0},
            "[0].in_transaction: must be above 0",
        ),
        ({"name": "j", "kind": "jobs", "count": 1, "in_transaction": 1.01}, "[0].in_transaction"),
        ({"name": "j", "kind": "jobs", "count": 1, "in_transaction": "half"}, "[0].in_transaction"),
        ({"name": "j", "kind": "jobs", "count": 1, "in_transaction": True}, "[0].in_transaction"),
        ({"name": "j", "kind": "jobs", "count": 1, "instances": 0}, "[0].instances"),
        ({"name": "j", "kind": "jobs", "count": 1, "aliases": []}, "[0].aliases: must be a list"),
        ({"name": "j", "kind": "jobs", "count": 1, "aliases": "default"}, "[0].aliases: must be a list"),
        (
            {"name": "j", "kind": "jobs", "count": 1, "aliases": ["nope"]},
            "[0].aliases[0]: 'nope' is not an alias",
        ),
        (
            {"name": "j", "kind": "jobs", "count": 1, "aliases": ["default", "default"]},
            "reaches a pool an earlier",
        ),
        ("web", "[0]: must be a mapping"),
    ],
)
def test_bad_declarations_are_refused_by_name(item, message):
    found, errors = capacity.process_types([item], APP_DATABASES)
    assert found == []
    assert any(message in error for error in errors), errors
    assert all(error.startswith(capacity.VARIABLE) for error in errors)


@pytest.mark.parametrize(
    ("declarations", "message"),
    [
        ("web", "must be a list of process types"),
        ([{"name": "a", "kind": "jobs", "count": 1}] * 2, "[1].name: 'a' is declared twice"),
        (
            [{"name": "a", "kind": "jobs", "count": 1}],
            "[0].aliases[0]: 'default' is not an alias of pgbouncer_app_files_databases (not given",
        ),
    ],
)
def test_bad_lists_are_refused(declarations, message):
    databases = APP_DATABASES if "twice" in message or "list of" in message else APP_DATABASES[1:]
    assert any(message in error for error in capacity.process_types(declarations, databases)[1])


@pytest.mark.parametrize(
    ("share", "accepted"),
    [(1, True), (1.0, True), ("0.25", True), (1e-9, True), (0, False), (-0.5, False), (1.0000001, False)],
)
def test_the_share_is_above_0_and_at_most_1(share, accepted):
    found, errors = capacity.process_types(
        [{"name": "j", "kind": "jobs", "count": 1, "in_transaction": share}], APP_DATABASES
    )
    assert bool(found) is accepted and bool(errors) is not accepted


@pytest.mark.parametrize(
    ("name", "aliases", "pools"),
    [
        ("web", ["default"], [["app", "app"]]),
        ("migration", ["default"], [["app_session", "app"]]),  # django_databases.py switches it
        ("web", ["default", "reports"], [["app", "app"], ["reports", "reporter"]]),
        ("migration", ["reports"], [["reports", "reporter"]]),  # no session entry: stays
    ],
)
def test_each_alias_reaches_one_pool(name, aliases, pools):
    (found,) = declared({"name": name, "kind": "jobs", "count": 1, "aliases": aliases})
    assert found.pools == pools


@pytest.mark.parametrize(
    ("trials", "q", "expected"),
    [
        ([(36, 0.5)], 0.99, 25),  # the 36 slots, half in a transaction: 25, not the mean's 18
        ([(1, 0.5)], 0.99, 1),
        ([(10, 1.0)], 0.99, 10),  # in_transaction 1: every slot
        ([(0, 0.5)], 0.99, 0),
        ([(20, 0.5), (10, 0.0)], 0.99, 15),
        ([(8, 0.5), (8, 0.5)], 0.99, 13),  # the same as 16 at once
        ([(16, 0.5)], 0.99, 13),
    ],
)
def test_quantile_of_the_transactions_at_once(trials, q, expected):
    assert capacity.quantile(trials, q) == expected


def test_exceed_probability_is_the_binomial_tail():
    # P(Binomial(36, 0.5) > 20), computed directly.
    direct = sum(math.comb(36, k) for k in range(21, 37)) / 2**36
    assert capacity.exceed_probability([(36, 0.5)], 20) == pytest.approx(direct)
    assert capacity.exceed_probability([(36, 0.5)], 36) == 0.0


def test_large_fleets_use_the_normal_approximation_close_to_the_exact_figure():
    exact = capacity.quantile([(2000, 0.25)], 0.99)
    approximate = capacity.quantile([(1000, 0.25), (1001, 0.25)], 0.99)
    assert abs(approximate - exact) <= 2
    assert capacity.quantile([(100000, 0.25)], 0.99) == pytest.approx(25000 + 2.326 * math.sqrt(18750), abs=2)


WEB = {"name": "web", "kind": "gunicorn", "workers": 4, "threads": 2, "instances": 3}
CELERY = {"name": "celery", "kind": "celery", "concurrency": 6, "instances": 2}
MIGRATION = {"name": "migration", "kind": "jobs", "count": 1}


@pytest.mark.parametrize(
    ("items", "poolers", "hosts", "processes", "expected"),
    [
        # The fleet on one per_host pooler: 24 + 12 slots, 18 at once on average.
        ((WEB, CELERY), 1, ("app1",), 1, [("app", "app", 36, 18.0, 25)]),
        # Two processes: each sees every slot with half the chance.
        ((WEB, CELERY), 1, ("app1",), 2, [("app", "app", 36, 18.0, 15)]),
        # The migration counts in full on the session entry.
        (
            (WEB, MIGRATION),
            1,
            ("app1",),
            1,
            [("app", "app", 24, 12.0, 18), ("app_session", "app", 1, 1.0, 1)],
        ),
        # Central: three application hosts spread over two poolers.
        ((WEB,), 2, ("app1", "app2", "app3"), 1, [("app", "app", 36, 18.0, 25)]),
    ],
)
def test_pool_demand(items, poolers, hosts, processes, expected):
    demand = capacity.pool_demand(sources(*items, poolers=poolers, hosts=hosts), ["app_session"], processes)
    assert [
        (d["database"], d["role"], d["slots"], d["expected"], d["recommended"]) for d in demand
    ] == expected


@pytest.mark.parametrize(
    ("items", "poolers", "hosts", "processes", "slots", "needed"),
    [
        ((WEB,), 1, ("app1",), 1, 24, 24),
        ((WEB,), 1, ("app1",), 2, 24, 24),  # the other process restarting: every slot on this one
        ((WEB,), 1, ("app1",), 4, 24, 15),  # three others share them; the 99.9th percentile
        ((WEB, MIGRATION), 1, ("app1",), 1, 25, 25),
        (({**WEB, "aliases": ["default", "reports"]},), 1, ("app1",), 1, 48, 48),  # a connection per alias
        ((WEB,), 2, ("app1", "app2"), 1, 48, 48),  # the other central pooler down
        ((WEB,), 3, ("app1", "app2", "app3"), 1, 36, 36),
    ],
)
def test_client_connections_per_process(items, poolers, hosts, processes, slots, needed):
    assert capacity.clients_per_process(sources(*items, poolers=poolers, hosts=hosts), processes) == {
        "slots": slots,
        "needed": needed,
    }


@pytest.mark.parametrize(
    ("configured", "processes", "verdict"),
    [
        (None, 1, "unlimited"),
        (10, 1, "small"),  # below the 18 at once on average
        (20, 1, "tight"),  # the pencil figure: waits about a fifth of the time
        (25, 1, "ok"),
        (52, 1, "ok"),
        (53, 1, "large"),
        (14, 2, "tight"),
        (15, 2, "ok"),
        (8, 2, "small"),
    ],
)
def test_verdicts(configured, processes, verdict):
    (pool,) = capacity.pool_demand(sources(WEB, CELERY), [], processes)
    result = capacity.verdict(pool, configured, processes)
    assert result["verdict"] == verdict
    if verdict == "tight" and processes == 1:
        assert result["wait"] == pytest.approx(0.2025, abs=0.001)
        assert "the toolkit would choose 25" in result["why"]


def test_max_client_conn_below_the_slots_is_refused_by_name():
    found = sources(WEB, CELERY, poolers=2, hosts=("app1", "app2"))
    demand = capacity.pool_demand(found, [], 2)
    report, errors = capacity.pooler_capacity(found, demand, {("app", "app"): (20, 20, "v")}, 2, 71)
    assert errors == [
        "pgbouncer_max_client_conn: 71 per process is below the 72 client connections one process may have "
        "to hold: 72 can reach this pooler with the other central pooler down (the "
        "pgbouncer_app_files_processes of app1, app2), and a process must hold them while one of its 2 "
        "restarts. Raise it to 72 or more, or declare fewer slots"
    ]
    assert capacity.pooler_capacity(found, demand, {}, 2, 72)[1] == []
    assert report["clients"] == {"slots": 72, "needed": 72, "max_client_conn": 71}


def test_celery_sharing_the_web_pool_is_pointed_out_with_its_own_cap():
    found = sources(WEB, CELERY)
    demand = capacity.pool_demand(found, [], 1)
    report, _errors = capacity.pooler_capacity(found, demand, {}, 1, 2000)
    (note,) = report["notes"]
    assert "pool app / app serves web and Celery alike" in note
    assert note.endswith("pool.max_user_connections: 10")  # Binomial(12, 0.5)'s 99th percentile
    alone = sources(WEB)
    assert capacity.pooler_capacity(alone, capacity.pool_demand(alone, [], 1), {}, 1, 2000)[0]["notes"] == []


def test_applied_roles_take_the_largest_recommendation_of_their_pools():
    roles = [{"name": "app", "databases": ["app"], "pool": {"max_user_connections": 40}}, {"name": "other"}]
    demand = [{"role": "app", "recommended": 7}, {"role": "app", "recommended": 25}]
    assert capacity.applied_roles(roles, demand) == [
        {"name": "app", "databases": ["app"], "pool": {"max_user_connections": 40, "pool_size": 25}},
        {"name": "other"},
    ]


def _inputs(**changes):
    return {
        "pgbouncer_server_host": "db1.example",
        "pgbouncer_auth_user": "pgb_auth",
        "pgbouncer_auth_database": "pgb_auth_db",
        "pgbouncer_auth_schema": "pgbouncer",
        "pgbouncer_auth_function": "user_lookup",
        "pgbouncer_databases": [
            {"name": "app", "pool_size": 20},
            {"name": "app_session", "dbname": "app", "pool_mode": "session", "pool_size": 4},
        ],
        "pgbouncer_roles": [{"name": "app", "databases": ["app", "app_session"]}],
        "capacity_sources": sources(WEB, CELERY, MIGRATION),
        **changes,
    }


@pytest.mark.parametrize(
    ("changes", "users", "verdict"),
    [
        ({}, None, "tight"),  # the entry's 20, reported
        ({"pgbouncer_capacity_apply": True}, "pool_size=25", "ok"),  # the recommendation, configured
        ({"pgbouncer_capacity_apply": True, "pgbouncer_processes": 2}, "pool_size=15", "ok"),
    ],
)
def test_the_model_reports_and_applies_the_recommendation(changes, users, verdict):
    built = pooler_model(_inputs(**changes), "1.26.1")
    assert built["errors"] == []
    assert built["processes"][0]["sections"].get("users", {}).get("app") == users
    rows = {row["pool"]: row for row in built["capacity"]["rows"]}
    assert rows["app / app"]["verdict"] == verdict
    assert rows["app_session / app"]["expected"] == 1.0


def test_the_model_refuses_max_client_conn_below_the_slots():
    built = pooler_model(_inputs(pgbouncer_max_client_conn=30), "1.26.1")
    assert any(
        error.startswith("pgbouncer_max_client_conn: 30 per process is below the 37")
        for error in built["errors"]
    )


def test_the_model_reports_other_hosts_declaration_errors():
    built = pooler_model(
        _inputs(
            capacity_sources={**sources(WEB), "errors": ["app2: pgbouncer_app_files_processes[0].kind: bad"]}
        ),
        "1.26.1",
    )
    assert "app2: pgbouncer_app_files_processes[0].kind: bad" in built["errors"]


def test_sources_of_a_per_host_and_a_central_pooler():
    groups = {
        "pgbouncer_app_hosts": ["app1", "app2", "app3"],
        "pgbouncer_central": ["pool1", "pool2"],
    }
    hostvars = {
        "app1": {"pgbouncer_app_files_processes": [WEB], "pgbouncer_app_files_databases": APP_DATABASES},
        "app2": {
            "pgbouncer_topology": "central",
            "pgbouncer_app_files_processes": [CELERY],
            "pgbouncer_app_files_databases": APP_DATABASES,
        },
        "app3": {
            "pgbouncer_topology": "central",
            "pgbouncer_app_files_processes": [{"name": "x", "kind": "cron"}],
            "pgbouncer_app_files_databases": APP_DATABASES,
        },
    }
    own = capacity.sources("app1", groups, hostvars)
    assert (own["hosts"], own["poolers"], [p["name"] for p in own["process_types"]]) == (["app1"], 1, ["web"])
    central = capacity.sources("pool1", groups, hostvars)
    assert (central["hosts"], central["poolers"]) == (["app2", "app3"], 2)
    assert [p["name"] for p in central["process_types"]] == ["celery"]
    assert central["errors"] == [
        "app3: pgbouncer_app_files_processes[0].kind: must be one of gunicorn, celery, worker, jobs, got 'cron'"
    ]
    # A host's own errors are its own check's to report.
    hostvars["app1"]["pgbouncer_app_files_processes"] = [{"name": "x", "kind": "cron"}]
    assert capacity.sources("app1", groups, hostvars)["errors"] == []


def test_the_table_groups_hosts_and_names_each_verdict():
    rows = []
    for host in ("app1", "app2"):
        built = pooler_model(_inputs(), "1.26.1")
        rows.append({"host": host, "capacity": built["capacity"]})
    text = capacity.capacity_table(rows, 100)
    lines = text.splitlines()
    assert lines[0].split() == [
        "pooler",
        "pool",
        "slots",
        "in",
        "tx",
        "per",
        "process",
        "recommended",
        "waits",
        "verdict",
    ]
    assert " ".join(lines[2].split()) == "app1, app2 app / app 36 18 20 x 1 25 x 1 20.2% tight"
    assert "clients on app1, app2: 37 can arrive at worst, 37 at one process; max_client_conn 2000" in text
    assert "the toolkit would choose 25 (pgbouncer_databases[0].pool_size) [app1, app2]" in text
    assert "note: pool app / app serves web and Celery alike" in text
    assert text.endswith(
        "the recommended pools hold 52 server connections at most, within the 100 PostgreSQL has for the poolers"
    )
    assert capacity.capacity_table([{"host": "x", "capacity": {}}]).startswith("no process types declared")


def test_every_fragment_name_matches_the_pattern_the_role_cleans_up_with():
    variables = yaml.safe_load((ROOT / "roles/pgbouncer_app_files/vars/main.yml").read_text())
    patterns = variables["__pgbouncer_app_files_fragment_patterns"]
    for kind in capacity.KIND_KEYS:
        name = capacity.fragment_name(kind, "a_b1")
        assert (name is None) is (kind in ("worker", "jobs"))
        if name:
            assert [p for p in patterns if fnmatch.fnmatch(name, p)], name
            assert not fnmatch.fnmatch("django_databases.py", patterns[1]) and not fnmatch.fnmatch(
                "database.env", patterns[0]
            )


def test_a_cap_below_the_pool_is_what_the_verdict_names():
    built = pooler_model(
        _inputs(
            pgbouncer_capacity_apply=True,
            pgbouncer_processes=2,
            pgbouncer_settings={"max_user_connections": 2},
        ),
        "1.26.1",
    )
    row = next(row for row in built["capacity"]["rows"] if row["pool"] == "app / app")
    assert (row["configured"], row["verdict"], row["size_variable"]) == (
        1,  # app's two pools share the cap of 2 at worst
        "small",
        "pgbouncer_settings.max_user_connections",
    )


@pytest.mark.parametrize(
    ("pool_size", "available", "over"),
    [
        (60, 100, True),  # 2 hosts x 60 = 120, more than the 100 the server has
        (60, 200, False),  # within its share (all of it: the only declared pool)
        (18, 30, False),  # 36 is above the share of 30 but not above what its slots need (36)
    ],
)
def test_a_pool_above_its_share_of_the_budget_is_reported(pool_size, available, over):
    inputs = _inputs(capacity_sources=sources(WEB))
    inputs["pgbouncer_databases"][0]["pool_size"] = pool_size
    report = pooler_model(inputs, "1.26.1")["capacity"]
    text = capacity.capacity_table(
        [{"host": "app1", "capacity": report}, {"host": "app2", "capacity": report}], available
    )
    assert ("app / app: can hold" in text) is over, text


@pytest.mark.parametrize(
    ("value", "applied"),
    [(True, True), ("true", True), ("yes", True), (False, False), ("false", False), ("0", False)],
)
def test_the_apply_switch_reads_booleans_as_extra_vars_deliver_them(value, applied):
    built = pooler_model(_inputs(pgbouncer_capacity_apply=value), "1.26.1")
    assert built["errors"] == []
    assert (built["processes"][0]["sections"].get("users", {}).get("app") == "pool_size=25") is applied


def test_an_apply_switch_that_is_no_boolean_is_refused_by_name():
    built = pooler_model(_inputs(pgbouncer_capacity_apply="maybe"), "1.26.1")
    assert "pgbouncer_capacity_apply: must be true or false, got 'maybe'" in built["errors"]
