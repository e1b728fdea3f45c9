"""The monitoring hosts' configuration (plugin_utils/monitoring): which poolers they can scrape,
the Prometheus and Alertmanager files built as data, and the checks of their inputs. The files are
also loaded by the real promtool and amtool in molecule (the role validates each before it goes
live); here, promtool checks a built prometheus.yml too."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils import monitoring
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.pgbouncer_exporter import (
    scrape_targets,
)

LOOPBACK = {"tls": False, "scrape_user": "prometheus", "targets": scrape_targets("127.0.0.1", 9127, [1, 2])}
FACING = {"tls": True, "scrape_user": "prometheus", "targets": scrape_targets("10.0.0.2", 9127, [1])}


def hostvars(**hosts: dict[str, object]) -> dict[str, dict[str, object]]:
    return {host: variables for host, variables in hosts.items()}


def assert_only_error(errors: list[str], message: str | None) -> None:
    """No error when ``message`` is None, else exactly one, starting with ``message``."""
    if message is None:
        assert errors == []
    else:
        assert len(errors) == 1 and errors[0].startswith(message), errors


@pytest.mark.parametrize(
    ("address", "port", "processes", "expected"),
    [
        ("127.0.0.1", 9127, [1], [{"process": "1", "target": "127.0.0.1:9127"}]),
        (
            "10.0.0.2",
            9200,
            [1, 2, 3],
            [
                {"process": "1", "target": "10.0.0.2:9200"},
                {"process": "2", "target": "10.0.0.2:9201"},
                {"process": "3", "target": "10.0.0.2:9202"},
            ],
        ),
        ("fd00::2", "9127", ["1"], [{"process": "1", "target": "[fd00::2]:9127"}]),
    ],
)
def test_scrape_targets(
    address: str, port: object, processes: list[object], expected: list[dict[str, str]]
) -> None:
    assert scrape_targets(address, port, processes) == expected


@pytest.mark.parametrize(
    ("host", "poolers", "variables", "messages"),
    [
        # The monitoring host scrapes its own loopback exporters and another host's over TLS.
        (
            "app1",
            ["app1", "app2"],
            {
                "app1": {"pgbouncer_exporter_endpoints": LOOPBACK},
                "app2": {"pgbouncer_exporter_endpoints": FACING},
            },
            [],
        ),
        ("mon", [], {}, ["pgbouncer_monitoring: mon has no pooler to scrape"]),
        (
            "mon",
            ["app1"],
            {"app1": {}},
            ["app1: runs PgBouncer but no exporter", "set pgbouncer_exporter_user"],
        ),
        (
            "mon",
            ["app1"],
            {"app1": {"pgbouncer_exporter_endpoints": LOOPBACK}},
            ["app1: its pgbouncer exporter listens on loopback, which mon", "set pgbouncer_exporter_address"],
        ),
        ("mon", ["app2"], {"app2": {"pgbouncer_exporter_endpoints": FACING}}, []),
    ],
)
def test_scrape_errors(host: str, poolers: list[str], variables: dict, messages: list[str]) -> None:
    errors = monitoring.scrape_errors(host, poolers, variables)
    assert all(any(message in error for error in errors) for message in messages), errors
    assert bool(errors) == bool(messages), errors


def test_scrape_configs_label_every_process_and_keep_passwords_out() -> None:
    variables = hostvars(
        app1={"pgbouncer_exporter_endpoints": LOOPBACK},
        app2={"pgbouncer_exporter_endpoints": FACING, "pgbouncer_exporter_scrape_password": "s3cret pw"},
    )
    configs = monitoring.scrape_configs(["app1", "app2"], variables, "/etc/prometheus/pt", "/etc/ssl/ca.crt")
    assert [config["job_name"] for config in configs] == ["pgbouncer app1", "pgbouncer app2"]
    assert configs[0]["static_configs"] == [
        {"targets": ["127.0.0.1:9127"], "labels": {"host": "app1", "process": "1"}},
        {"targets": ["127.0.0.1:9128"], "labels": {"host": "app1", "process": "2"}},
    ]
    assert "scheme" not in configs[0] and "basic_auth" not in configs[0]
    assert configs[1]["scheme"] == "https"
    assert configs[1]["tls_config"]["ca_file"] == "/etc/ssl/ca.crt"
    assert configs[1]["basic_auth"] == {
        "username": "prometheus",
        "password_file": monitoring.password_file("/etc/prometheus/pt", "app2"),
    }
    assert all(
        config["relabel_configs"] == [{"target_label": "job", "replacement": "pgbouncer"}]
        for config in configs
    )
    assert "s3cret" not in yaml.safe_dump(configs)
    passwords = monitoring.scrape_passwords(["app1", "app2"], variables, "/etc/prometheus/pt")
    assert passwords == [
        {"path": monitoring.password_file("/etc/prometheus/pt", "app2"), "content": "s3cret pw"}
    ]


@pytest.mark.parametrize("pooler", ["app2", "../../etc/passwd", "a b\nc", "host;rm"])
def test_password_files_are_named_by_digest(pooler: str) -> None:
    path = monitoring.password_file("/etc/prometheus/pt", pooler)
    assert path.startswith("/etc/prometheus/pt/") and path.endswith(".password")
    assert Path(path).name[: -len(".password")].isalnum()


def test_prometheus_config_loads_in_promtool(tmp_path: Path) -> None:
    """A built prometheus.yml, with its rules, CA and password file present, passes promtool."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: tests/bootstrap.sh installs it into .venv/bin"
    (tmp_path / "ca.crt").write_text("")
    (tmp_path / "rules.yml").write_text("groups: []\n")
    variables = hostvars(
        app1={"pgbouncer_exporter_endpoints": LOOPBACK},
        app2={"pgbouncer_exporter_endpoints": FACING, "pgbouncer_exporter_scrape_password": "pw"},
    )
    configs = monitoring.scrape_configs(["app1", "app2"], variables, str(tmp_path), str(tmp_path / "ca.crt"))
    for item in monitoring.scrape_passwords(["app1", "app2"], variables, str(tmp_path)):
        Path(item["path"]).write_text(item["content"])
    config = monitoring.prometheus_config(
        "15s", "127.0.0.1:9090", "127.0.0.1:9093", [str(tmp_path / "rules.yml")], configs
    )
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [promtool, "check", "config", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:9093"]
    assert config["global"] == {"scrape_interval": "15s", "evaluation_interval": "15s"}


@pytest.mark.parametrize(
    ("receiver", "webhook", "email"),
    [
        ({}, None, None),
        ({"webhook_url": "http://127.0.0.1:9095/alerts"}, "http://127.0.0.1:9095/alerts", None),
        (
            {
                "email_to": "dba@example.org",
                "email_from": "am@example.org",
                "smarthost": "mail.example.org:587",
                "smtp_username": "am",
            },
            None,
            {
                "to": "dba@example.org",
                "from": "am@example.org",
                "smarthost": "mail.example.org:587",
                "send_resolved": True,
                "auth_username": "am",
                "auth_password_file": "/secrets/smtp.password",
            },
        ),
    ],
)
def test_alertmanager_config(receiver: dict, webhook: str | None, email: dict | None) -> None:
    timing = {"group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h"}
    config = monitoring.alertmanager_config(receiver, timing, "/secrets/smtp.password")
    assert config["route"]["receiver"] == "pgbouncer-toolkit"
    assert config["route"]["group_interval"] == "5m"
    notify = config["receivers"][0]
    if webhook is None:
        assert "webhook_configs" not in notify
    else:
        assert notify["webhook_configs"] == [{"url": webhook, "send_resolved": True}]
    assert notify.get("email_configs") == (None if email is None else [email])


@pytest.mark.parametrize(
    ("receiver", "message"),
    [
        ({"webhook_url": "https://hooks.example.org/x?y=1"}, None),
        ({"webhook_url": "ftp://example.org/"}, "pgbouncer_monitoring_webhook_url"),
        ({"webhook_url": "http://example.org/a\n  - url: http://evil/"}, "pgbouncer_monitoring_webhook_url"),
        ({"webhook_url": "http://user:pw@example.org/"}, "pgbouncer_monitoring_webhook_url"),
        ({"email_to": "dba@example.org", "email_from": "am@example.org", "smarthost": "mail:25"}, None),
        (
            {"email_to": "dba@example.org, x@y.z", "email_from": "am@example.org", "smarthost": "mail:25"},
            "pgbouncer_monitoring_email_to",
        ),
        (
            {"email_to": "dba@example.org", "email_from": "", "smarthost": "mail:25"},
            "pgbouncer_monitoring_email_from",
        ),
        (
            {"email_to": "dba@example.org", "email_from": "a@b.c", "smarthost": "mail"},
            "pgbouncer_monitoring_smtp_smarthost",
        ),
        (
            {"email_to": "dba@example.org", "email_from": "a@b.c", "smarthost": "m:25", "smtp_username": "u"},
            "pgbouncer_monitoring_smtp_password",
        ),
        (
            {
                "email_to": "dba@example.org",
                "email_from": "a@b.c",
                "smarthost": "m:25",
                "smtp_username": "u\nv",
                "smtp_password": "p",
            },
            "pgbouncer_monitoring_smtp_username",
        ),
    ],
)
def test_receiver_errors(receiver: dict, message: str | None) -> None:
    assert_only_error(monitoring.receiver_errors(receiver), message)


@pytest.mark.parametrize(
    ("address", "ports", "taken", "message"),
    [
        ("127.0.0.1", {"p": 9090, "a": 9093}, {}, None),
        ("::1", {"p": 9090, "a": 9093}, {"pgbouncer_listen_port": 6432}, None),
        ("127.0.0.1", {"p": 9090, "a": 9090}, {}, "a: port 9090 is already p's"),
        (
            "127.0.0.1",
            {"p": 6432, "a": 9093},
            {"pgbouncer_listen_port": 6432},
            "p: port 6432 is already pgbouncer_listen_port's",
        ),
        (
            "127.0.0.1",
            {"p": 9128, "a": 9093},
            {"the exporter of PgBouncer process 2": "9128"},
            "p: port 9128 is already the exporter",
        ),
        (
            "127.0.0.1",
            {"p": "9090 --web.enable-admin-api", "a": 9093},
            {},
            "p: '9090 --web.enable-admin-api' is not a port",
        ),
        ("127.0.0.1", {"p": 0, "a": 9093}, {}, "p: 0 is not a port"),
        ("127.0.0.1 --x", {"p": 9090, "a": 9093}, {}, "addr: '127.0.0.1 --x' is not one IP address"),
        ("fe80::1%eth0 x", {"p": 9090, "a": 9093}, {}, "addr: 'fe80::1%eth0 x' is not one IP address"),
    ],
)
def test_listen_errors(address: str, ports: dict, taken: dict, message: str | None) -> None:
    assert_only_error(monitoring.listen_errors({"addr": address}, ports, taken), message)


@pytest.mark.parametrize(
    ("host", "variables", "pooler_port", "expected"),
    [
        ("mon", {}, None, {}),
        (
            "app1",
            {"app1": {"pgbouncer_exporter_endpoints": LOOPBACK}},
            6432,
            {
                "pgbouncer_listen_port": 6432,
                "the exporter of PgBouncer process 1": "9127",
                "the exporter of PgBouncer process 2": "9128",
            },
        ),
    ],
)
def test_ports_taken(host: str, variables: dict, pooler_port: object, expected: dict) -> None:
    assert monitoring.ports_taken(host, variables, pooler_port) == expected


@pytest.mark.parametrize(
    ("address", "port", "expected"),
    [
        ("127.0.0.1", 9090, "127.0.0.1:9090"),
        ("::1", "9093", "[::1]:9093"),
        ("10.0.0.5", 9090, "10.0.0.5:9090"),
    ],
)
def test_host_port(address: str, port: object, expected: str) -> None:
    assert monitoring.host_port(address, port) == expected


@pytest.mark.parametrize(
    ("value", "ok"),
    [("15s", True), ("4h", True), ("15d", True), ("0s", False), ("15s --x", False), (15, False), ("", False)],
)
def test_duration_errors(value: object, ok: bool) -> None:
    assert (monitoring.duration_errors({"pgbouncer_monitoring_scrape_interval": value}) == []) == ok


PG_FACING = {"tls": True, "scrape_user": "prometheus", "targets": scrape_targets("10.0.0.9", 9187, [1])}
PG_LOOPBACK = {"tls": False, "scrape_user": "prometheus", "targets": scrape_targets("127.0.0.1", 9187, [1])}


def test_the_postgresql_exporter_is_scraped_as_job_postgresql_with_its_own_password() -> None:
    variables = hostvars(
        app1={"pgbouncer_exporter_endpoints": LOOPBACK},
        db={
            "pgbouncer_postgresql_exporter_endpoints": PG_FACING,
            "pgbouncer_postgresql_exporter_scrape_password": "pg pw",
        },
    )
    configs = monitoring.scrape_configs(["app1"], variables, "/d", "/ca.crt", ["db"])
    assert [config["job_name"] for config in configs] == ["pgbouncer app1", "postgresql db"]
    assert configs[1]["static_configs"] == [{"targets": ["10.0.0.9:9187"], "labels": {"host": "db"}}]
    assert configs[1]["relabel_configs"] == [{"target_label": "job", "replacement": "postgresql"}]
    assert configs[1]["basic_auth"]["password_file"] == monitoring.password_file(
        "/d", "db", monitoring.DATABASES
    )
    # A host that is both a pooler and a database host keeps two password files.
    assert monitoring.password_file("/d", "db", monitoring.DATABASES) != monitoring.password_file("/d", "db")
    assert monitoring.scrape_passwords(["app1"], variables, "/d", ["db"]) == [
        {"path": monitoring.password_file("/d", "db", monitoring.DATABASES), "content": "pg pw"}
    ]


@pytest.mark.parametrize(
    ("endpoints", "message"),
    [
        (None, None),  # a database host without the exporter: nothing to scrape there, no error
        (PG_FACING, None),
        (PG_LOOPBACK, "db: its postgresql exporter listens on loopback, which app1"),
    ],
)
def test_scrape_errors_for_the_postgresql_exporter(endpoints: dict | None, message: str | None) -> None:
    variables = hostvars(app1={"pgbouncer_exporter_endpoints": LOOPBACK}, db={})
    if endpoints is not None:
        variables["db"]["pgbouncer_postgresql_exporter_endpoints"] = endpoints
    assert_only_error(monitoring.scrape_errors("app1", ["app1"], variables, ["db"]), message)


def test_ports_taken_include_the_postgresql_exporter() -> None:
    variables = hostvars(db={"pgbouncer_postgresql_exporter_endpoints": PG_LOOPBACK})
    assert monitoring.ports_taken("db", variables, None) == {"pgbouncer_postgresql_exporter_port": "9187"}


def test_hosts_outside_the_run_are_not_judged() -> None:
    """Under --limit a pooler outside the run recorded nothing: not a missing exporter."""
    variables = hostvars(app1={"pgbouncer_exporter_endpoints": LOOPBACK}, app2={})
    assert monitoring.scrape_errors("app1", ["app1", "app2"], variables) != []
    assert monitoring.scrape_errors("app1", ["app1", "app2"], variables, [], ["app2"]) == []


def lb_endpoints(address: str, vip: str = "10.0.0.100") -> dict[str, object]:
    """What the pgbouncer_lb role records (plugin_utils/lb_config.metrics_endpoints)."""
    return {
        "tls": True,
        "scrape_user": "prometheus",
        "targets": [{"process": "", "target": f"{address}:8405"}],
        "vip_target": f"{vip}:8405",
        "names": [address, vip],
    }


def test_load_balancers_are_scraped_as_job_haproxy_and_their_vip_once() -> None:
    variables = hostvars(
        pgb1={"pgbouncer_exporter_endpoints": FACING, "pgbouncer_exporter_scrape_password": "pooler pw"},
        lb1={
            "pgbouncer_lb_metrics_endpoints": lb_endpoints("10.0.0.11"),
            "pgbouncer_lb_metrics_scrape_password": "lb1 pw",
        },
        lb2={
            "pgbouncer_lb_metrics_endpoints": lb_endpoints("10.0.0.12"),
            "pgbouncer_lb_metrics_scrape_password": "lb2 pw",
        },
    )
    configs = monitoring.scrape_configs(["pgb1"], variables, "/d", "/ca.crt", [], ["lb1", "lb2"])
    assert [config["job_name"] for config in configs] == [
        "pgbouncer pgb1",
        "haproxy lb1",
        "haproxy lb2",
        "pgbouncer_vip",
    ]
    lb1 = configs[1]
    assert lb1["static_configs"] == [{"targets": ["10.0.0.11:8405"], "labels": {"host": "lb1"}}]
    assert lb1["relabel_configs"] == [{"target_label": "job", "replacement": "haproxy"}]
    assert lb1["scheme"] == "https" and lb1["tls_config"]["ca_file"] == "/ca.crt"
    assert lb1["basic_auth"]["password_file"] == monitoring.password_file("/d", "lb1", monitoring.BALANCERS)
    # Both load balancers share the VIP: one target, scraped without a login, over TLS.
    vip = configs[3]
    assert vip["static_configs"] == [{"targets": ["10.0.0.100:8405"], "labels": {"vip": "10.0.0.100"}}]
    assert vip["metrics_path"] == "/vip" and vip["scheme"] == "https" and "basic_auth" not in vip
    passwords = monitoring.scrape_passwords(["pgb1"], variables, "/d", [], ["lb1", "lb2"])
    assert [(item["path"], item["content"]) for item in passwords] == [
        (monitoring.password_file("/d", "pgb1"), "pooler pw"),
        (monitoring.password_file("/d", "lb1", monitoring.BALANCERS), "lb1 pw"),
        (monitoring.password_file("/d", "lb2", monitoring.BALANCERS), "lb2 pw"),
    ]
    assert "lb1 pw" not in yaml.safe_dump(configs)


def test_a_load_balancer_without_metrics_is_refused_by_name() -> None:
    variables = hostvars(
        pgb1={"pgbouncer_exporter_endpoints": FACING},
        lb1={"pgbouncer_lb_metrics_endpoints": lb_endpoints("10.0.0.11")},
        lb2={"pgbouncer_lb_metrics_endpoints": {}},
    )
    assert_only_error(
        monitoring.scrape_errors("mon", ["pgb1"], variables, [], [], ["lb1", "lb2"]),
        "lb2: runs HAProxy but no exporter, so mon (pgbouncer_monitoring) cannot scrape it: set pgbouncer_lb_metrics",
    )
    assert monitoring.scrape_errors("mon", ["pgb1"], variables, [], ["lb2"], ["lb1", "lb2"]) == []


def test_ports_taken_include_haproxy_metrics() -> None:
    variables = hostvars(lb1={"pgbouncer_lb_metrics_endpoints": lb_endpoints("10.0.0.11")})
    assert monitoring.ports_taken("lb1", variables, None) == {"pgbouncer_lb_metrics_port": "8405"}
