"""The monitoring role's controller code: its thresholds (each goes into PromQL, so each must be
exactly a number or a duration, never text that could add to an expression), and the Prometheus
and Alertmanager configurations of the monitoring hosts, built as data and rendered as YAML."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.names import CONTROL_CHARACTERS
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.addresses import (
    AddressError,
    parse_address,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import (
    integer,
    integer_or_none,
    url_errors,
)

_DURATION = re.compile(r"[1-9][0-9]{0,5}(ms|s|m|h|d)")
# Count and seconds thresholds go into the rules as written; 9 digits is more than any needs.
WHOLE_NUMBER_MAX = 999_999_999


def duration_errors(durations: Mapping[str, object]) -> list[str]:
    """[] or one message per variable of ``durations`` (name: value) that is not a Prometheus duration."""
    return [
        f"{name}: {value!r} is not a Prometheus duration such as 30s, 1m or 5m"
        for name, value in durations.items()
        if not isinstance(value, str) or not _DURATION.fullmatch(value)
    ]


def threshold_errors(thresholds: Mapping[str, object]) -> list[str]:
    """[] or one message per variable of ``thresholds`` (name: value) that cannot be used.

    Names ending in _for are durations, _ratio shares above 0 and at most 1, the others counts
    or seconds (whole numbers, 0 or more).
    """
    errors: list[str] = []
    for name, value in thresholds.items():
        text = str(value)
        if name.endswith("_for"):
            errors += duration_errors({name: value})
        elif name.endswith("_ratio"):
            try:
                share = float(text) if not isinstance(value, bool) else -1.0
            except ValueError:
                share = -1.0
            if not 0 < share <= 1:
                errors.append(f"{name}: {value!r} is not a share above 0 and at most 1 (0.8 is 80 %)")
        elif integer_or_none(value, 0, WHOLE_NUMBER_MAX) is None:
            errors.append(f"{name}: {value!r} is not a whole number of 0 or more")
    return errors


_EMAIL = re.compile(r"[^@\s\"'<>,;]{1,64}@[A-Za-z0-9.-]{1,253}")
_HOST_PORT = re.compile(r"[A-Za-z0-9.-]{1,253}:[0-9]{1,5}")


# What the roles record in the first play, on each host whose exporters the monitoring hosts scrape:
# {"tls": bool, "scrape_user": str, "targets": [{"process": "1", "target": "host:port"}]}
# (a pooler's targets are labelled with their process). Per kind: the fact, the job the rules read,
# the prefix of the host's variables, how to turn the exporter on, and what it watches.
@dataclass(frozen=True)
class Kind:
    fact: str
    job: str
    prefix: str
    hint: str
    service: str


POOLERS = Kind(
    "pgbouncer_exporter_endpoints",
    "pgbouncer",
    "pgbouncer_exporter",
    "set pgbouncer_exporter_user to a stats-only role of pgbouncer_roles",
    "PgBouncer",
)
DATABASES = Kind(
    "pgbouncer_postgresql_exporter_endpoints",
    "postgresql",
    "pgbouncer_postgresql_exporter",
    "set pgbouncer_postgresql_exporter to true",
    "PostgreSQL",
)
# HAProxy's own exporter on each load balancer; its fact also names the VIP's /vip target.
BALANCERS = Kind(
    "pgbouncer_lb_metrics_endpoints",
    "haproxy",
    "pgbouncer_lb_metrics",
    "set pgbouncer_lb_metrics to true and pgbouncer_lb_metrics_scrape_password",
    "HAProxy",
)
# /vip on each VIP, scraped without a login: up only while a load balancer holds the VIP.
VIP_JOB = "pgbouncer_vip"


def _endpoints(host: str, hostvars: Mapping[str, Any], kind: Kind = POOLERS) -> Mapping[str, Any] | None:
    variables = hostvars.get(host) or {}
    endpoints = variables.get(kind.fact) if hasattr(variables, "get") else None
    return endpoints if isinstance(endpoints, Mapping) and endpoints.get("targets") else None


def password_file(directory: str, host: str, kind: Kind = POOLERS) -> str:
    """The file holding the scrape password of ``host``'s exporters of ``kind`` on a monitoring
    host, named by a digest: an inventory name is not necessarily a safe file name."""
    digest = hashlib.sha256(f"{kind.job}\0{host}".encode()).hexdigest()[:16]
    return f"{directory}/{digest}.password"


def scrape_errors(
    host: str,
    poolers: Sequence[str],
    hostvars: Mapping[str, Any],
    databases: Sequence[str] = (),
    unseen: Sequence[str] = (),
    balancers: Sequence[str] = (),
) -> list[str]:
    """Why monitoring host ``host`` cannot scrape every PgBouncer process of ``poolers``, the
    PostgreSQL exporter of each of ``databases`` that runs one and HAProxy on each of
    ``balancers``; [] if it can. Hosts of ``unseen`` (outside this run, --limit) recorded nothing
    and are not judged."""
    if not poolers:
        return [f"pgbouncer_monitoring: {host} has no pooler to scrape (no host runs PgBouncer)"]
    errors: list[str] = []
    for kind, hosts, required in (
        (POOLERS, poolers, True),
        (DATABASES, databases, False),
        (BALANCERS, balancers, True),
    ):
        for other in [item for item in hosts if item not in unseen]:
            endpoints = _endpoints(other, hostvars, kind)
            if endpoints is None:
                if required:
                    errors.append(
                        f"{other}: runs {kind.service} but no exporter, so {host} "
                        f"(pgbouncer_monitoring) cannot scrape it: {kind.hint}"
                    )
            elif other != host and not endpoints.get("tls"):
                errors.append(
                    f"{other}: its {kind.job} exporter listens on loopback, which {host} (pgbouncer_monitoring) "
                    f"cannot reach: set {kind.prefix}_address to an address of the host (served over TLS "
                    "with basic auth then)"
                )
    return errors


def _scrape_hosts(
    poolers: Sequence[str], databases: Sequence[str], balancers: Sequence[str]
) -> list[tuple[Kind, str]]:
    return (
        [(POOLERS, host) for host in poolers]
        + [(DATABASES, host) for host in databases]
        + [(BALANCERS, host) for host in balancers]
    )


def scrape_configs(
    poolers: Sequence[str],
    hostvars: Mapping[str, Any],
    password_dir: str,
    ca_file: str,
    databases: Sequence[str] = (),
    balancers: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """One scrape config per host and kind (each host has its own credentials), every target
    labelled with the job the rules read (pgbouncer, postgresql, haproxy), host and, for a pooler,
    process; then one for the VIPs of the load balancers (job pgbouncer_vip, label vip)."""
    configs: list[dict[str, Any]] = []
    for kind, host in _scrape_hosts(poolers, databases, balancers):
        endpoints = _endpoints(host, hostvars, kind)
        if endpoints is None:
            continue
        static_configs = []
        for item in endpoints["targets"]:
            labels = {"host": host}
            if kind is POOLERS:
                labels["process"] = str(item["process"])
            static_configs.append({"targets": [str(item["target"])], "labels": labels})
        config: dict[str, Any] = {
            "job_name": f"{kind.job} {host}",
            "static_configs": static_configs,
            "relabel_configs": [{"target_label": "job", "replacement": kind.job}],
        }
        if endpoints.get("tls"):
            config["scheme"] = "https"
            config["tls_config"] = {"ca_file": ca_file, "min_version": "TLS12"}
            config["basic_auth"] = {
                "username": str(endpoints.get("scrape_user")),
                "password_file": password_file(password_dir, host, kind),
            }
        configs.append(config)
    vips = sorted(
        {
            str(endpoints["vip_target"])
            for host in balancers
            if (endpoints := _endpoints(host, hostvars, BALANCERS)) is not None
        }
    )
    if vips:
        configs.append(
            {
                "job_name": VIP_JOB,
                "scheme": "https",
                "metrics_path": "/vip",
                "tls_config": {"ca_file": ca_file, "min_version": "TLS12"},
                "static_configs": [
                    {"targets": [target], "labels": {"vip": target.rsplit(":", 1)[0].strip("[]")}}
                    for target in vips
                ],
            }
        )
    return configs


def scrape_passwords(
    poolers: Sequence[str],
    hostvars: Mapping[str, Any],
    password_dir: str,
    databases: Sequence[str] = (),
    balancers: Sequence[str] = (),
) -> list[dict[str, str]]:
    """[{"path", "content"}]: the password file of each exporter scraped over TLS, its content the
    password (handle under no_log)."""
    files = []
    for kind, host in _scrape_hosts(poolers, databases, balancers):
        endpoints = _endpoints(host, hostvars, kind)
        if endpoints is not None and endpoints.get("tls"):
            password = str((hostvars.get(host) or {}).get(f"{kind.prefix}_scrape_password"))
            files.append({"path": password_file(password_dir, host, kind), "content": password})
    return files


def prometheus_config(
    scrape_interval: str,
    prometheus_listen: str,
    alertmanager_listen: str,
    rule_files: Sequence[str],
    pooler_configs: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """prometheus.yml as data (rendered with to_nice_yaml, so every value is a YAML string)."""
    return {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager_listen]}]}]},
        "rule_files": list(rule_files),
        "scrape_configs": [
            {"job_name": "prometheus", "static_configs": [{"targets": [prometheus_listen]}]},
            *pooler_configs,
        ],
    }


def alertmanager_config(
    receiver: Mapping[str, Any], timing: Mapping[str, str], password_file: str
) -> dict[str, Any]:
    """alertmanager.yml as data: one route to the inventory's receiver (webhook, e-mail, or none:
    the alerts then stay in Alertmanager's API)."""
    notify: dict[str, Any] = {"name": "pgbouncer-toolkit"}
    if receiver.get("webhook_url"):
        notify["webhook_configs"] = [{"url": str(receiver["webhook_url"]), "send_resolved": True}]
    if receiver.get("email_to"):
        email: dict[str, Any] = {
            "to": str(receiver["email_to"]),
            "from": str(receiver["email_from"]),
            "smarthost": str(receiver["smarthost"]),
            "send_resolved": True,
        }
        if receiver.get("smtp_username"):
            email["auth_username"] = str(receiver["smtp_username"])
            email["auth_password_file"] = password_file
        notify["email_configs"] = [email]
    return {
        "route": {
            "receiver": "pgbouncer-toolkit",
            "group_by": ["alertname", "host", "process"],
            "group_wait": timing["group_wait"],
            "group_interval": timing["group_interval"],
            "repeat_interval": timing["repeat_interval"],
        },
        "receivers": [notify],
    }


def receiver_errors(receiver: Mapping[str, Any]) -> list[str]:
    """Why the Alertmanager receiver variables cannot be used; each names its variable."""
    errors: list[str] = []
    url = receiver.get("webhook_url") or ""
    if url:
        errors += url_errors(url, "pgbouncer_monitoring_webhook_url")
    to = receiver.get("email_to") or ""
    if not isinstance(to, str) or (to and not _EMAIL.fullmatch(to)):
        errors.append(f"pgbouncer_monitoring_email_to: {to!r} is not one e-mail address")
    if to:
        sender = receiver.get("email_from")
        if not isinstance(sender, str) or not _EMAIL.fullmatch(sender):
            errors.append(f"pgbouncer_monitoring_email_from: {sender!r} is not one e-mail address")
        smarthost = receiver.get("smarthost")
        if not isinstance(smarthost, str) or not _HOST_PORT.fullmatch(smarthost):
            errors.append(f"pgbouncer_monitoring_smtp_smarthost: {smarthost!r} is not host:port")
        user = receiver.get("smtp_username") or ""
        if not isinstance(user, str) or CONTROL_CHARACTERS.search(user) or len(user) > 256:
            errors.append("pgbouncer_monitoring_smtp_username: not one line of text")
        elif user and not receiver.get("smtp_password"):
            errors.append(
                "pgbouncer_monitoring_smtp_password: required with pgbouncer_monitoring_smtp_username"
            )
    return errors


def listen_errors(
    addresses: Mapping[str, object], ports: Mapping[str, object], taken: Mapping[str, object]
) -> list[str]:
    """Ports and addresses of Prometheus and Alertmanager: each a port of its own on this host,
    clashing with neither the other nor ``taken`` (what PgBouncer and its exporters use here)."""
    errors: list[str] = []
    for name, address in addresses.items():
        try:
            parse_address(address)
        except AddressError as exc:
            errors.append(f"{name}: {address!r} is not one IP address: {exc}")
    seen: dict[int, str] = {}
    for name, port in {**taken, **ports}.items():
        number = integer_or_none(port)
        if name in ports and (number is None or not 1 <= number <= 65535):
            errors.append(f"{name}: {port!r} is not a port from 1 to 65535")
            continue
        if number is None:
            continue
        if number in seen and name in ports:
            errors.append(f"{name}: port {number} is already {seen[number]}'s on this host")
        seen.setdefault(number, name)
    return errors


def host_port(address: object, port: object) -> str:
    """address:port as Prometheus and Alertmanager flags and targets take it (IPv6 in brackets)."""
    parsed = parse_address(address)
    host = f"[{parsed}]" if parsed.version == 6 else str(parsed)
    return f"{host}:{integer(port, 'port')}"


def ports_taken(host: str, hostvars: Mapping[str, Any], pooler_port: object) -> dict[str, object]:
    """The ports PgBouncer and the exporters use on ``host`` when it is a pooler or a database
    host too (``pooler_port``: its pgbouncer_listen_port, None when it runs no PgBouncer)."""
    taken: dict[str, object] = {} if pooler_port is None else {"pgbouncer_listen_port": pooler_port}
    for kind in (POOLERS, DATABASES, BALANCERS):
        endpoints = _endpoints(host, hostvars, kind) or {"targets": []}
        for item in endpoints["targets"]:
            owner = (
                f"the exporter of PgBouncer process {item['process']}"
                if kind is POOLERS
                else f"{kind.prefix}_port"
            )
            taken[owner] = str(item["target"]).rsplit(":", 1)[1]
    return taken
