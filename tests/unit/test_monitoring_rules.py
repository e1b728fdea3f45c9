"""The alert and recording rules of the pgbouncer_monitoring role, checked and unit-tested by promtool.

Every alert has at least one case that must fire it and one that must not; the cases are a table,
turned into promtool's rule-test file. promtool comes from tests/bootstrap.sh (Debian's package).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

ROLE = Path(__file__).resolve().parents[2] / "roles" / "pgbouncer_monitoring"
TEMPLATE = ROLE.parents[1] / "templates" / "monitoring" / "pgbouncer-rules.yml.j2"
DEFAULTS = ROLE / "defaults" / "main.yml"

# One PgBouncer process's exporter, as the toolkit's scrape configuration labels it.
P1 = 'job="pgbouncer", instance="app1:9127", host="app1", process="1"'
P2 = 'job="pgbouncer", instance="app1:9128", host="app1", process="2"'
POOL = 'database="app", user="app"'
PG = 'job="postgresql", instance="db:9187"'
LB1 = 'job="haproxy", instance="10.0.0.11:8405", host="lb1"'
VIP = 'job="pgbouncer_vip", instance="10.0.0.100:8405", vip="10.0.0.100"'


def server_status(server: str, states: dict[str, str]) -> dict[str, str]:
    """HAProxy's haproxy_server_status for ``server`` of backend pgbouncer on lb1: one series per
    state, 1 for the state it is in (promtool notation per state)."""
    return {
        f'haproxy_server_status{{{LB1}, proxy="pgbouncer", server="{server}", state="{state}"}}': values
        for state, values in states.items()
    }


# SHOW DATABASES' own "host" column arrives as exported_host: the target's host label wins.
def pool(waiting: str, active: str, idle: str, login: str, used: str = "0x20") -> dict[str, str]:
    """SHOW POOLS of pool app/app on process 1 (promtool expanding notation per column)."""
    return {
        f"pgbouncer_pools_client_waiting_connections{{{P1}, {POOL}}}": waiting,
        f"pgbouncer_pools_server_active_connections{{{P1}, {POOL}}}": active,
        f"pgbouncer_pools_server_idle_connections{{{P1}, {POOL}}}": idle,
        f"pgbouncer_pools_server_login_connections{{{P1}, {POOL}}}": login,
        f"pgbouncer_pools_server_used_connections{{{P1}, {POOL}}}": used,
        f"pgbouncer_pools_server_testing_connections{{{P1}, {POOL}}}": "0x20",
        f'pgbouncer_databases_pool_size{{{P1}, name="app", database="app_db", exported_host="db", port="5432"}}': "20x20",
        # max_user_connections = 0 (no limit, the default) must not confuse any rule.
        f'pgbouncer_databases_max_connections{{{P1}, name="app", database="app_db", exported_host="db", port="5432"}}': "0x20",
    }


PROCESS_1_LABELS = {"job": "pgbouncer", "instance": "app1:9127", "host": "app1", "process": "1"}
POOL_LABELS = {**PROCESS_1_LABELS, "database": "app", "user": "app"}

# (case, input series, alert, evaluation time, labels of each alert that must fire; [] = none)
CASES: list[tuple[str, dict[str, str], str, str, list[dict[str, str]]]] = [
    (
        "process 2's exporter cannot be scraped: down names process 2, not process 1",
        {f"up{{{P1}}}": "1x20", f"pgbouncer_up{{{P1}}}": "1x20", f"up{{{P2}}}": "0x20"},
        "PgBouncerDown",
        "2m",
        [
            {
                "severity": "critical",
                "job": "pgbouncer",
                "instance": "app1:9128",
                "host": "app1",
                "process": "2",
            }
        ],
    ),
    (
        "the exporter runs but cannot log in to its PgBouncer",
        {f"up{{{P1}}}": "1x20", f"pgbouncer_up{{{P1}}}": "0x20"},
        "PgBouncerDown",
        "2m",
        [{"severity": "critical", **PROCESS_1_LABELS}],
    ),
    (
        "down for less than the for: duration",
        {f"up{{{P1}}}": "1x4 0x20", f"pgbouncer_up{{{P1}}}": "1x20"},
        "PgBouncerDown",
        "1m30s",
        [],
    ),
    (
        "a healthy process",
        {f"up{{{P1}}}": "1x20", f"pgbouncer_up{{{P1}}}": "1x20"},
        "PgBouncerDown",
        "3m",
        [],
    ),
    (
        "six clients waiting for two minutes",
        pool("6x20", "20x20", "0x20", "0x20"),
        "PgBouncerClientsWaiting",
        "2m",
        [{"severity": "warning", **POOL_LABELS}],
    ),
    (
        "five clients waiting is not above the threshold",
        pool("5x20", "20x20", "0x20", "0x20"),
        "PgBouncerClientsWaiting",
        "3m",
        [],
    ),
    (
        "clients waiting, every server connection of the pool in use",
        pool("3x20", "20x20", "0x20", "0x20"),
        "PgBouncerPoolFull",
        "2m",
        [{"severity": "warning", **POOL_LABELS}],
    ),
    (
        "clients waiting, a [users] pool_size below the database's: in use, none idle, none logging in",
        pool("3x20", "5x20", "0x20", "0x20"),
        "PgBouncerPoolFull",
        "2m",
        [{"severity": "warning", **POOL_LABELS}],
    ),
    (
        "clients waiting while the pool grows (logins in progress, below its size) is not full",
        pool("2x20", "5x20", "0x20", "1x20"),
        "PgBouncerPoolFull",
        "3m",
        [],
    ),
    (
        "a server that refuses logins is not a full pool",
        pool("4x20", "0x20", "0x20", "1 0 1 0 1 0 1 0 1 0 1 0 1 0 1 0 1 0 1 0"),
        "PgBouncerPoolFull",
        "3m",
        [],
    ),
    (
        "a server that refuses logins: clients waiting, no server connection",
        pool("4x20", "0x20", "0x20", "1 0 1 0 1 0 1 0 1 0 1 0 1 0 1 0 1 0 1 0"),
        "PgBouncerBackendUnavailable",
        "2m",
        [{"severity": "critical", **POOL_LABELS}],
    ),
    (
        "a server that does not answer: every slot of the pool logging in, none established",
        pool("3x20", "0x20", "0x20", "20x20"),
        "PgBouncerBackendUnavailable",
        "2m",
        [{"severity": "critical", **POOL_LABELS}],
    ),
    (
        "every slot of the pool stuck logging in is a backend outage, not a full pool",
        pool("3x20", "0x20", "0x20", "20x20"),
        "PgBouncerPoolFull",
        "3m",
        [],
    ),
    (
        "a full pool is not a backend outage",
        pool("3x20", "20x20", "0x20", "0x20"),
        "PgBouncerBackendUnavailable",
        "3m",
        [],
    ),
    (
        "a quiet pool (no one waiting, no server connection yet) raises nothing",
        pool("0x20", "0x20", "0x20", "0x20"),
        "PgBouncerBackendUnavailable",
        "3m",
        [],
    ),
    (
        "a client waiting six seconds",
        {f"pgbouncer_pools_client_maxwait_seconds{{{P1}, {POOL}}}": "6x20"},
        "PgBouncerClientWaitLong",
        "2m",
        [{"severity": "warning", **POOL_LABELS}],
    ),
    (
        "a client waiting five seconds",
        {f"pgbouncer_pools_client_maxwait_seconds{{{P1}, {POOL}}}": "5x20"},
        "PgBouncerClientWaitLong",
        "3m",
        [],
    ),
    (
        "1,700 of 2,000 client connections for six minutes",
        {
            f"pgbouncer_used_clients{{{P1}}}": "1700x40",
            f"pgbouncer_config_max_client_connections{{{P1}}}": "2000x40",
        },
        "PgBouncerClientConnectionsHigh",
        "6m",
        [{"severity": "warning", **PROCESS_1_LABELS}],
    ),
    (
        "1,500 of 2,000 client connections",
        {
            f"pgbouncer_used_clients{{{P1}}}": "1500x40",
            f"pgbouncer_config_max_client_connections{{{P1}}}": "2000x40",
        },
        "PgBouncerClientConnectionsHigh",
        "6m",
        [],
    ),
    (
        "PostgreSQL 17: 90 of the 97 connections max_connections 100 leaves (3 reserved)",
        {
            f'pg_stat_activity_count{{{PG}, datname="app", state="active"}}': "60x40",
            f'pg_stat_activity_count{{{PG}, datname="app", state="idle"}}': "30x40",
            f"pg_settings_max_connections{{{PG}}}": "100x40",
            f"pg_settings_superuser_reserved_connections{{{PG}}}": "3x40",
            f"pg_settings_reserved_connections{{{PG}}}": "0x40",
        },
        "PostgreSQLConnectionsNearBudget",
        "6m",
        [{"severity": "warning", "job": "postgresql", "instance": "db:9187"}],
    ),
    (
        "PostgreSQL 15 (no reserved_connections): 80 of 97",
        {
            f'pg_stat_activity_count{{{PG}, datname="app", state="idle"}}': "80x40",
            f"pg_settings_max_connections{{{PG}}}": "100x40",
            f"pg_settings_superuser_reserved_connections{{{PG}}}": "3x40",
        },
        "PostgreSQLConnectionsNearBudget",
        "6m",
        [],
    ),
    (
        "PostgreSQL 16: reserved_connections counts against the budget (85 of 87)",
        {
            f'pg_stat_activity_count{{{PG}, datname="app", state="idle"}}': "85x40",
            f"pg_settings_max_connections{{{PG}}}": "100x40",
            f"pg_settings_superuser_reserved_connections{{{PG}}}": "3x40",
            f"pg_settings_reserved_connections{{{PG}}}": "10x40",
        },
        "PostgreSQLConnectionsNearBudget",
        "6m",
        [{"severity": "warning", "job": "postgresql", "instance": "db:9187"}],
    ),
    (
        "HAProxy on lb1 has marked pgb2 down for two minutes",
        {
            **server_status("pgb1", {"UP": "1x20", "DOWN": "0x20"}),
            **server_status("pgb2", {"UP": "0x20", "DOWN": "1x20"}),
        },
        "PgBouncerDownBehindLoadBalancer",
        "2m",
        [
            {
                "severity": "critical",
                "job": "haproxy",
                "instance": "10.0.0.11:8405",
                "host": "lb1",
                "server": "pgb2",
            }
        ],
    ),
    (
        "a server drained for a rolling restart, then up again, is not down",
        server_status("pgb1", {"UP": "1x4 0x4 1x12", "DRAIN": "0x4 1x4 0x12", "DOWN": "0x20"}),
        "PgBouncerDownBehindLoadBalancer",
        "3m",
        [],
    ),
    (
        "HAProxy on lb1 cannot be scraped",
        {f"up{{{LB1}}}": "0x20"},
        "PgBouncerLoadBalancerDown",
        "2m",
        [{"severity": "critical", "job": "haproxy", "instance": "10.0.0.11:8405", "host": "lb1"}],
    ),
    (
        "HAProxy on lb1 scraped",
        {f"up{{{LB1}}}": "1x20"},
        "PgBouncerLoadBalancerDown",
        "3m",
        [],
    ),
    (
        "nothing answers on the VIP",
        {f"up{{{VIP}}}": "1x4 0x20"},
        "PgBouncerVIPUnheld",
        "3m",
        [
            {
                "severity": "critical",
                "job": "pgbouncer_vip",
                "instance": "10.0.0.100:8405",
                "vip": "10.0.0.100",
            }
        ],
    ),
    (
        "the VIP moves: one missed scrape is not an outage",
        {f"up{{{VIP}}}": "1x8 0 1x11"},
        "PgBouncerVIPUnheld",
        "3m",
        [],
    ),
]

# (case, input series, expression, evaluation time, expected samples)
RECORDING_CASES: list[tuple[str, dict[str, str], str, str, list[dict[str, Any]]]] = [
    (
        "exporter 0.10 (pgbouncer_stats_*): 10 transactions a second",
        {f'pgbouncer_stats_sql_transactions_pooled_total{{{P1}, database="app"}}': "0+150x20"},
        "pgbouncer:transactions:rate1m",
        "2m",
        [{"labels": f'pgbouncer:transactions:rate1m{{{P1}, database="app"}}', "value": 10}],
    ),
    (
        "exporter 0.11+ (pgbouncer_stats_totals_*): 10 transactions a second",
        {f'pgbouncer_stats_totals_sql_transactions_pooled_total{{{P1}, database="app"}}': "0+150x20"},
        "pgbouncer:transactions:rate1m",
        "2m",
        [{"labels": f'pgbouncer:transactions:rate1m{{{P1}, database="app"}}', "value": 10}],
    ),
    (
        "exporter 0.11+: client wait time",
        {f'pgbouncer_stats_totals_client_wait_seconds_total{{{P1}, database="app"}}': "0+30x20"},
        "pgbouncer:client_wait_seconds:rate1m",
        "2m",
        [{"labels": f'pgbouncer:client_wait_seconds:rate1m{{{P1}, database="app"}}', "value": 2}],
    ),
]


def render_rules(overrides: dict[str, Any] | None = None) -> str:
    variables = {**yaml.safe_load(DEFAULTS.read_text()), **(overrides or {})}
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    # ansible_managed is Ansible's; outside Ansible the template falls back to its own line.
    return environment.from_string(TEMPLATE.read_text()).render(variables)


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is missing: tests/bootstrap.sh installs it into .venv/bin"
    return path


@pytest.fixture(scope="module")
def rules_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rules") / "pgbouncer-rules.yml"
    path.write_text(render_rules())
    return path


@pytest.fixture(scope="module")
def rules_without_annotations(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same rules without annotations: promtool compares them whole, and the table compares
    labels (test_down_alert_names_host_and_process checks the text once)."""
    rules = yaml.safe_load(render_rules())
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    path = tmp_path_factory.mktemp("rules") / "pgbouncer-rules-labels-only.yml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    return path


def alert_names(text: str) -> set[str]:
    return {
        rule["alert"]
        for group in yaml.safe_load(text)["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


def test_promtool_checks_the_rules(promtool: str, rules_file: Path) -> None:
    result = subprocess.run([promtool, "check", "rules", str(rules_file)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_case_that_fires_it_and_one_that_does_not() -> None:
    firing = {alert for _, _, alert, _, expected in CASES if expected}
    quiet = {alert for _, _, alert, _, expected in CASES if not expected}
    names = alert_names(render_rules())
    assert names == firing, f"alerts without a firing case: {names - firing}"
    assert names == quiet, f"alerts without a case that must stay quiet: {names - quiet}"


@pytest.mark.parametrize(
    ("case", "series", "alert", "at", "expected"), CASES, ids=[case[0] for case in CASES]
)
def test_alert(
    promtool: str,
    rules_without_annotations: Path,
    tmp_path: Path,
    case: str,
    series: dict[str, str],
    alert: str,
    at: str,
    expected: list[dict[str, str]],
) -> None:
    run_promtool_test(
        promtool,
        tmp_path,
        rules_without_annotations,
        series,
        case,
        alert_rule_test=[
            {
                "eval_time": at,
                "alertname": alert,
                "exp_alerts": [{"exp_labels": labels} for labels in expected],
            }
        ],
    )


@pytest.mark.parametrize(
    ("case", "series", "expression", "at", "expected"),
    RECORDING_CASES,
    ids=[case[0] for case in RECORDING_CASES],
)
def test_recording_rule_reads_either_exporter_version(
    promtool: str,
    rules_file: Path,
    tmp_path: Path,
    case: str,
    series: dict[str, str],
    expression: str,
    at: str,
    expected: list[dict[str, Any]],
) -> None:
    run_promtool_test(
        promtool,
        tmp_path,
        rules_file,
        series,
        case,
        promql_expr_test=[{"expr": expression, "eval_time": at, "exp_samples": expected}],
    )


def test_down_alert_names_host_and_process(promtool: str, rules_file: Path, tmp_path: Path) -> None:
    labels = {
        "severity": "critical",
        "job": "pgbouncer",
        "instance": "app1:9128",
        "host": "app1",
        "process": "2",
    }
    run_promtool_test(
        promtool,
        tmp_path,
        rules_file,
        {f"up{{{P2}}}": "0x20"},
        "process 2 down: the annotations name it",
        alert_rule_test=[
            {
                "eval_time": "2m",
                "alertname": "PgBouncerDown",
                "exp_alerts": [
                    {
                        "exp_labels": labels,
                        "exp_annotations": {
                            "summary": "PgBouncer process 2 on app1 is down or not scraped",
                            "description": "The exporter of PgBouncer process 2 on app1 (app1:9128) cannot "
                            "be scraped or cannot log in to the process's console.",
                        },
                    }
                ],
            }
        ],
    )


@pytest.mark.parametrize(
    ("variable", "value", "expected_text"),
    [
        ("pgbouncer_monitoring_clients_waiting", 20, "pgbouncer_pools_client_waiting_connections > 20"),
        ("pgbouncer_monitoring_max_wait_seconds", 15, "pgbouncer_pools_client_maxwait_seconds > 15"),
        ("pgbouncer_monitoring_pool_full_for", "3m", "for: 3m"),
    ],
)
def test_thresholds_come_from_the_variables(variable: str, value: object, expected_text: str) -> None:
    assert expected_text not in render_rules()
    assert expected_text in render_rules({variable: value})


def run_promtool_test(
    promtool: str,
    tmp_path: Path,
    rules: Path,
    series: dict[str, str],
    case: str,
    **checks: list[dict[str, Any]],
) -> None:
    """promtool test rules for ``rules`` over the input ``series`` (name: promtool values), with
    ``checks`` (alert_rule_test, promql_expr_test) as promtool's test file spells them."""
    test = {
        "rule_files": [str(rules)],
        "evaluation_interval": "15s",
        "tests": [
            {
                "name": case,
                "interval": "15s",
                "input_series": [{"series": name, "values": values} for name, values in series.items()],
                **checks,
            }
        ],
    }
    path = tmp_path / "test.yml"
    path.write_text(yaml.safe_dump(test, sort_keys=False))
    result = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
