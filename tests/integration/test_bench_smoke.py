"""A smoke run of the benchmark harness (make bench) against a throwaway PostgreSQL: one target,
two client counts, a second each. The harness runs real pgbench, samples pg_stat_activity and CPU,
and writes its report; the files must exist and parse, and the figures must be the run's own."""

from __future__ import annotations

import csv
import subprocess

import pytest

from tests.bench import harness, report
from tests.bench.pgbench import Endpoint


@pytest.fixture(scope="module")
def smoke_setup(postgresql_server):
    options = ["-h", postgresql_server["socket_dir"], "-p", str(postgresql_server["port"]), "-U", "postgres"]
    subprocess.run(
        ["psql", *options, "-XAtq", "-d", "postgres", "-c", "CREATE DATABASE bench_smoke"], check=True
    )
    setup = harness.Setup(
        database="bench_smoke",
        targets=[
            harness.Target(
                "direct",
                harness.Place(),
                Endpoint(
                    str(postgresql_server["socket_dir"]),
                    int(postgresql_server["port"]),
                    "bench_smoke",
                    "postgres",
                ),
                None,
                description="this machine's throwaway PostgreSQL over its unix socket",
            )
        ],
        db_place=harness.Place(),
        admin_prefix=[],
        admin_options=options,
    )
    harness.prepare_data(setup, 1, ["postgres"])
    return setup


def test_smoke_run_writes_a_report_that_parses(smoke_setup, tmp_path):
    plan = harness.Plan(workloads={"select": (("direct",), (1, 4))}, repeats=1, warmup=1, seconds=1)
    lines: list[str] = []
    runs = harness.run_plan(smoke_setup, plan, progress=lines.append)
    directory = harness.results_directory(str(tmp_path))
    written = harness.write_report(directory, runs, harness.machine_context(smoke_setup, plan), [])

    assert len(lines) == 2 and lines[-1].startswith("[2/2 ")
    back = report.read_runs(f"{directory}/runs.csv")
    assert [(r.target, r.clients, r.status) for r in back] == [
        ("direct", 1, "completed"),
        ("direct", 4, "completed"),
    ]
    for r in back:
        assert r.tps and r.tps > 0 and r.latency_ms and r.latency_ms > 0
        # Direct: one backend per client, counted by the run's own application_name.
        assert r.server_connections == r.clients
        assert r.machine_cores is not None and r.machine_cores > 0
    with open(f"{directory}/runs.csv", newline="", encoding="utf-8") as handle:
        assert csv.DictReader(handle).fieldnames == report.RUN_FIELDS

    with open(f"{directory}/report.md", encoding="utf-8") as handle:
        text = handle.read()
    assert "## Headline ratios" in text
    assert "| 4 | " in text and "PostgreSQL" in text
    # The report is rebuilt from the raw numbers alone, to the same text.
    harness.rebuild_report(directory)
    with open(f"{directory}/report.md", encoding="utf-8") as handle:
        assert handle.read() == text
    pngs = [p for p in written if p.endswith(".png")]
    assert len(pngs) == 3
    for png in pngs:
        with open(png, "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
