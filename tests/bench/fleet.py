"""Deploy time at fleet size: site.yml timed cold, re-run (idempotent) and in check mode on 1 to 20
per_host pooler hosts, each size from fresh containers, and how the re-run time grows per host.

The hosts are small containers made here (podman, the base image), not molecule's: a database host
prepared as the lab's (molecule/resources/prepare.yml: PostgreSQL 17 and the test repository) and N
application hosts with nothing on them, deployed with the lab's settings (tests/lab/inventory's
group_vars); the first application host also runs the monitoring. Every pooler's exporter listens on
its own address, as the lab's second host does, so Prometheus scrapes each over the network.

The connection budget is set to accept the risk: 20 hosts of the lab's pools hold more server
connections than the lab's PostgreSQL allows, and what is timed here is the deploy, not the sizing.

Bounded: at most MAX_POOLERS + 1 containers, each run under a time limit; the containers are removed
at the end (and before each size).
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Sequence

from tests.bench.harness import log, timed

PREFIX = "pgbt-fleet"
NETWORK = PREFIX
IMAGE = "localhost/pgbouncer-toolkit-trixie:latest"
SIZES = (1, 5, 10, 20)
MAX_POOLERS = 20
LAB_GROUP_VARS = os.path.abspath("tests/lab/inventory/group_vars")


def configured_forks(path: str = "ansible.cfg") -> int:
    """The repository's ``forks`` (ansible.cfg [defaults]; Ansible's 5 when unset)."""
    parser = configparser.ConfigParser()
    parser.read(path)
    return parser.getint("defaults", "forks", fallback=5)


def _podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check, timeout=600)


def remove_containers() -> None:
    """Every container and the network this harness made."""
    names = _podman("ps", "-a", "--format", "{{.Names}}", check=False).stdout.split()
    ours = [name for name in names if name.startswith(f"{PREFIX}-")]
    if ours:
        _podman("rm", "--force", "--time", "5", *ours, check=False)
    _podman("network", "rm", "--force", NETWORK, check=False)


def _hosts(poolers: int) -> list[str]:
    return [f"{PREFIX}-db", *(f"{PREFIX}-app{n}" for n in range(1, poolers + 1))]


def create_containers(poolers: int) -> None:
    """The database host and ``poolers`` application hosts, systemd running in each."""
    _podman("network", "create", NETWORK)
    for name in _hosts(poolers):
        pooler = ["--sysctl", "net.ipv4.tcp_migrate_req=1"] if name != f"{PREFIX}-db" else []
        _podman(
            "run", "--detach", "--name", name, "--hostname", name, "--network", NETWORK,
            "--systemd", "always", "--label", f"owner={PREFIX}", *pooler, IMAGE, "/sbin/init",
        )  # fmt: skip


def write_inventory(directory: str, poolers: int) -> str:
    """An inventory directory in ``directory``: these hosts, the lab's group_vars. (The toolkit
    keeps its CA in pgbouncer-pki/ beside it: ``directory`` is temporary.)"""
    inventory = os.path.join(directory, f"inventory-{poolers}")
    os.makedirs(inventory, exist_ok=True)
    apps = _hosts(poolers)[1:]
    hosts = {
        "all": {
            "vars": {
                "ansible_connection": "podman_pipelined",
                "ansible_python_interpreter": "/usr/bin/python3",
            },
            "children": {
                "pgbouncer_postgresql": {
                    "hosts": {f"{PREFIX}-db": {"pgbouncer_postgresql_budget_accept_risk": True}}
                },
                "pgbouncer_app_hosts": {
                    "hosts": {
                        name: {
                            "pgbouncer_exporter_address": "{{ ansible_facts.default_ipv4.address }}",
                            "pgbouncer_exporter_scrape_password": "{{ lab_scrape_password }}",
                        }
                        for name in apps
                    }
                },
                "pgbouncer_monitoring": {"hosts": {apps[0]: {}}},
            },
        }
    }
    with open(os.path.join(inventory, "hosts.yml"), "w", encoding="utf-8") as handle:
        json.dump(hosts, handle, indent=1)  # JSON is YAML
    link = os.path.join(inventory, "group_vars")
    if not os.path.islink(link):
        os.symlink(LAB_GROUP_VARS, link)
    return inventory


def fleet_timings(directory: str, sizes: Sequence[int] = SIZES) -> list[dict[str, object]]:
    """Per size: the containers, the database host's preparation, then site.yml cold, re-run and
    --check, each timed; one row per size."""
    rows: list[dict[str, object]] = []
    scratch = tempfile.mkdtemp(prefix=f"{PREFIX}-")
    try:
        for poolers in sizes:
            if not 1 <= poolers <= MAX_POOLERS:
                raise SystemExit(f"fleet sizes run from 1 to {MAX_POOLERS} poolers, got {poolers}")
            log(f"== {poolers} pooler host(s): fresh containers")
            remove_containers()
            create_containers(poolers)
            inventory = write_inventory(scratch, poolers)
            prefix = f"{directory}/fleet-{poolers}"
            timed(
                "prepare the database host",
                [
                    "ansible-playbook",
                    "-i",
                    inventory,
                    "molecule/resources/prepare.yml",
                    "--limit",
                    f"{PREFIX}-db",
                ],
                f"{prefix}-prepare.log",
            )
            playbook = ["ansible-playbook", "-i", inventory, "site.yml"]
            cold = timed("site.yml, cold", playbook, f"{prefix}-cold.log")
            rerun = timed("site.yml, re-run", playbook, f"{prefix}-rerun.log")
            check = timed("site.yml --check", [*playbook, "--check"], f"{prefix}-check.log")
            # More hosts than forks: each task reaches the hosts in turns. The same re-run with a
            # fork per host shows what that costs.
            hosts = poolers + 1
            every_host = (
                timed(f"site.yml, re-run, --forks {hosts}", [*playbook, "--forks", str(hosts)],
                      f"{prefix}-rerun-forks.log")
                if hosts > configured_forks() else None
            )  # fmt: skip
            for step in (rerun, every_host):
                if step is not None and step["changed"] not in (0, ""):
                    raise SystemExit(f"a re-run changed {step['changed']} tasks; see {prefix}-rerun*.log")
            row = {
                "poolers": poolers,
                "hosts": rerun["hosts"],
                "cold": cold["seconds"],
                "rerun": rerun["seconds"],
                "check": check["seconds"],
                "cold_changed": cold["changed"],
                "rerun_fork_per_host": every_host["seconds"] if every_host else None,
            }
            log(f"   {row}")
            rows.append(row)
            with open(os.path.join(directory, "fleet.json"), "w", encoding="utf-8") as handle:
                json.dump(rows, handle, indent=1)
    finally:
        remove_containers()
        shutil.rmtree(scratch, ignore_errors=True)
    return rows


def growth(rows: Sequence[dict[str, object]], step: str) -> tuple[float, float]:
    """(seconds per added pooler, seconds at none): the least-squares line through ``step``."""
    xs = [float(str(row["poolers"])) for row in rows]
    ys = [float(str(row[step])) for row in rows]
    if len(set(xs)) < 2:  # one size: no line, only its mean
        return 0.0, statistics.fmean(ys)
    line = statistics.linear_regression(xs, ys)
    return line.slope, line.intercept


def fleet_report(rows: Sequence[dict[str, object]], directory: str, machine: str) -> list[str]:
    """report.md (the table and the growth per host) and fleet.png; the files written."""
    lines = [
        f"# Deploy time at fleet size, {os.path.basename(directory)}",
        "",
        f"- machine: {machine}",
        "- hosts: one database host and N per_host pooler hosts (containers), the lab's settings; the first",
        "  pooler also runs Prometheus and Alertmanager; fresh containers for each N",
        "",
        f"- forks: {configured_forks()} (ansible.cfg); where a size has more hosts, the re-run once more",
        "  with a fork per host (`--forks`)",
        "",
        "| pooler hosts | cold (s) | re-run, idempotent (s) | --check (s) | changed, cold | re-run, a fork per host (s) |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {row['poolers']} | {row['cold']} | {row['rerun']} | {row['check']} | {row['cold_changed']} "
        f"| {row.get('rerun_fork_per_host') or '-'} |"
        for row in rows
    ]
    if len(rows) > 1:
        lines.append("")
        for step, label in (("cold", "cold"), ("rerun", "re-run"), ("check", "--check")):
            slope, intercept = growth(rows, step)
            lines.append(
                f"- {label}: {slope:.1f} s per added pooler host (least squares; {intercept:.1f} s at none)"
            )
    report_path = os.path.join(directory, "report.md")
    with open(report_path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    written = [report_path]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for step, label in (("cold", "cold"), ("rerun", "re-run (idempotent)"), ("check", "--check")):
        ax.plot([row["poolers"] for row in rows], [row[step] for row in rows], marker="o", label=label)
    forked = [row for row in rows if row.get("rerun_fork_per_host")]
    if forked:
        ax.plot(
            [row["poolers"] for row in forked], [row["rerun_fork_per_host"] for row in forked],
            marker="x", linestyle="none", markersize=9, label="re-run, a fork per host",
        )  # fmt: skip
    ax.set_xlabel("pooler hosts")
    ax.set_ylabel("site.yml wall clock (s)")
    ax.set_title("Deploy time at fleet size")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    plot_path = os.path.join(directory, "fleet.png")
    fig.savefig(plot_path, dpi=100)
    plt.close(fig)
    written.append(plot_path)
    return written
