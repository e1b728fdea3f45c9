"""The benchmark report: cells from runs, the headline ratios against their goals, the files."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.bench.report import Run, headlines, markdown, read_runs, summarize, watching_cost_pct, write_runs


def run(target, clients, tps, *, workload="select", latency=1.0, status="completed", servers=20, busiest=0.5):
    return Run(
        phase="matrix",
        workload=workload,
        target=target,
        clients=clients,
        pool_size=None,
        repeat=1,
        status=status,
        tps=tps if status == "completed" else None,
        latency_ms=latency if status == "completed" else None,
        transactions=100 if status == "completed" else None,
        failed=0 if status == "completed" else None,
        server_connections=servers,
        server_active=1,
        machine_cores=1.9,
        pgbouncer_cores=busiest,
        pgbouncer_busiest_process_cores=busiest,
        postgresql_cores=1.0,
        client_host_cores=0.5,
        seconds=4.0,
        message="" if status == "completed" else "FATAL:  remaining connection slots are reserved",
    )


def good_runs(pooled_1000=9500.0, connect_pooled=900.0, tcp_latency=1.04, busiest=0.5, two=12000.0):
    return [
        run("direct", 1, 8000, latency=1.0, servers=1),
        run("direct", 40, 10000, servers=40),
        run("direct", 1000, None, status="refused", servers=597),
        run("per_host_tcp", 1, 7900, latency=tcp_latency),
        run("per_host_socket", 1, 7950, latency=1.02),
        run("central", 1, 7000, latency=1.2),
        run("per_host_tcp", 1000, pooled_1000, busiest=busiest),
        run("per_host_2proc", 1000, two, servers=40, busiest=busiest / 2),
        run("direct", 40, 200, workload="connect", servers=40),
        run("per_host_tcp", 40, connect_pooled, workload="connect"),
    ]


def verdicts(runs):
    return {h.name.split(" (")[0]: h.met for h in headlines(summarize(runs))}


def test_median_and_spread_of_repeats():
    runs = [run("direct", 40, tps) for tps in (900, 1000, 1300)]
    (cell,) = summarize(runs)
    assert cell.tps == 1000
    assert cell.spread_pct == pytest.approx(40.0)
    assert cell.runs == 3


def test_a_refused_cell_keeps_its_status_and_message():
    (cell,) = summarize([run("direct", 1000, None, status="refused")])
    assert cell.status == "refused"
    assert cell.tps is None
    assert "remaining connection slots" in cell.message


@pytest.mark.parametrize(
    ("runs", "name", "met"),
    [
        (good_runs(), "per_host_tcp at 1000 clients vs the best direct run", True),
        (good_runs(pooled_1000=8000), "per_host_tcp at 1000 clients vs the best direct run", False),
        (good_runs(), "connect per transaction, pooled vs direct", True),
        (good_runs(connect_pooled=500), "connect per transaction, pooled vs direct", False),
        (good_runs(), "per-host hop over TCP, added latency at 1 client", True),
        (good_runs(tcp_latency=1.06), "per-host hop over TCP, added latency at 1 client", False),
        (good_runs(), "per-host hop over unix socket, added latency at 1 client", True),
        (good_runs(), "central hop through the VIP, added latency at 1 client", True),
        # PgBouncer's one process far from a full core: the 2-process goal does not apply.
        (good_runs(), "2 processes vs 1", None),
        (good_runs(busiest=0.97, two=17000), "2 processes vs 1", True),
        (good_runs(busiest=0.97, two=12000), "2 processes vs 1", False),
    ],
)
def test_headline_verdicts(runs, name, met):
    assert verdicts(runs)[name] is met


def test_headlines_say_what_was_not_measured():
    heads = headlines(summarize([run("direct", 1, 8000)]))
    assert {h.met for h in heads} == {None}
    assert all(h.value == "not measured" for h in heads if h.name.startswith(("connect", "central")))


def test_too_many_server_connections_miss_the_pooled_goal():
    runs = [
        r if r.target != "per_host_tcp" or r.clients != 1000 else run("per_host_tcp", 1000, 9900, servers=41)
        for r in good_runs()
    ]
    assert verdicts(runs)["per_host_tcp at 1000 clients vs the best direct run"] is False


def test_csv_round_trip_and_markdown(tmp_path):
    path = tmp_path / "runs.csv"
    write_runs(str(path), good_runs())
    back = read_runs(str(path))
    assert back == good_runs()
    cells = summarize(back)
    text = markdown(
        cells,
        headlines(cells),
        {"date": "2026-11-25", "machine": "test"},
        [{"step": "site.yml, re-run (idempotent)", "seconds": 12.5, "hosts": 3, "changed": 0}],
    )
    assert "## Headline ratios" in text
    assert "| 1000 | refused | 9500 (±0%) |" in text
    assert "| site.yml, re-run (idempotent) | 12.5 | 3 | 0 |" in text


def watching(state, tps_values):
    return [
        replace(run(f"per_host_tcp, {state}", 40, tps), phase="watching", repeat=n)
        for n, tps in enumerate(tps_values, 1)
    ]


@pytest.mark.parametrize(
    ("stopped", "scraped", "change", "noise", "verdict"),
    [
        ((1000, 1010, 990), (995, 1005, 985), -0.5, 2.0, "within"),
        ((1000, 1010, 990), (900, 905, 895), -10.0, 2.0, "outside"),
    ],
)
def test_cost_of_watching(stopped, scraped, change, noise, verdict):
    cells = summarize(watching("exporter stopped", stopped) + watching("scraped every 15 s", scraped))
    assert watching_cost_pct(cells) == (pytest.approx(change), pytest.approx(noise, abs=0.05))
    text = markdown(cells, [], {"date": "d"}, [])
    assert "## Cost of watching (select, 40 clients)" in text
    assert f"{change:+.1f}% median tps, {verdict} the runs' own spread" in text


def test_no_cost_of_watching_without_both_states():
    assert watching_cost_pct(summarize(watching("exporter stopped", (1000,)))) is None


FLEET_GROWTH = {
    # rows (poolers, seconds) -> (seconds per added pooler, seconds at none)
    "a straight line": ([(1, 12.0), (5, 20.0), (10, 30.0), (20, 50.0)], (2.0, 10.0)),
    "flat": ([(1, 40.0), (5, 40.0), (10, 40.0)], (0.0, 40.0)),
    "one size: no slope": ([(5, 33.0)], (0.0, 33.0)),
    "the least-squares line through scattered points": ([(1, 10.0), (2, 14.0), (3, 12.0)], (1.0, 10.0)),
}


@pytest.mark.parametrize(("points", "expected"), FLEET_GROWTH.values(), ids=FLEET_GROWTH.keys())
def test_fleet_growth_per_host(points, expected):
    from tests.bench.fleet import growth

    rows = [{"poolers": poolers, "rerun": seconds} for poolers, seconds in points]
    assert growth(rows, "rerun") == pytest.approx(expected)


@pytest.mark.parametrize(
    ("config", "forks"),
    [("[defaults]\nforks = 25\n", 25), ("[defaults]\ninventory = x\n", 5), ("", 5)],
    ids=["set", "unset: Ansible's default", "no file"],
)
def test_fleet_reads_the_configured_forks(tmp_path, config, forks):
    from tests.bench.fleet import configured_forks

    path = tmp_path / "ansible.cfg"
    if config:
        path.write_text(config)
    assert configured_forks(str(path)) == forks


def cpu_runs(pooled_pg=0.4, pooled_pgb=0.1, connect_pg=0.1):
    """Direct select: PostgreSQL 1.0 core at 10000 tps (0.1 ms a transaction); pooled at 1000 clients,
    two runs at 9500 tps; connect: direct 1.0 core at 200 tps, pooled two runs at 900 tps."""
    base = [
        run("direct", 40, 10000, servers=40),
        run("direct", 40, 200, workload="connect", servers=40),
    ]
    pooled = [
        replace(
            run("per_host_tcp", 1000, 9500),
            repeat=n,
            postgresql_cores=pooled_pg * factor,
            pgbouncer_cores=pooled_pgb,
        )
        for n, factor in ((1, 1.0), (2, 1.2))
    ]
    connect = [
        replace(
            run("per_host_tcp", 40, 900, workload="connect"),
            repeat=n,
            postgresql_cores=connect_pg,
            pgbouncer_cores=0.2,
        )
        for n in (1, 2)
    ]
    return base + pooled + connect


def cpu_heads(runs):
    return {h.name.split(",")[0]: h for h in headlines(summarize(runs)) if "CPU" in h.name}


def test_cpu_headlines_with_their_spread():
    heads = cpu_heads(cpu_runs())
    postgresql = heads["PostgreSQL CPU per select transaction"]
    # Pooled: 0.4 and 0.48 cores at 9500 tps, over direct 0.1 ms: 0.42x and 0.51x.
    assert postgresql.value == "0.46x (runs 0.42x to 0.51x)"
    assert postgresql.met is True
    assert heads["PostgreSQL and PgBouncer CPU per select transaction"].value == "0.57x (runs 0.53x to 0.61x)"
    assert heads["PostgreSQL and PgBouncer CPU per select transaction"].met is True
    # Connect: (0.1 + 0.2) / 900 tps over 1.0 / 200 tps.
    assert heads["PostgreSQL and PgBouncer CPU per new connection"].value == "0.07x (runs 0.07x to 0.07x)"


@pytest.mark.parametrize(
    ("runs", "name", "met"),
    [
        (cpu_runs(pooled_pg=0.5), "PostgreSQL CPU per select transaction", False),
        (cpu_runs(pooled_pgb=0.25), "PostgreSQL and PgBouncer CPU per select transaction", False),
        (cpu_runs(connect_pg=3.0), "PostgreSQL and PgBouncer CPU per new connection", False),
        ([run("direct", 1, 8000)], "PostgreSQL CPU per select transaction", None),
    ],
)
def test_cpu_headline_verdicts(runs, name, met):
    assert cpu_heads(runs)[name].met is met
