"""The benchmark's pgbench command line and the parsing of what a run printed."""

from __future__ import annotations

import pytest

from tests.bench.pgbench import WORKLOADS, Endpoint, parse_run, pgbench_argv

COMPLETED = """pgbench (17.12 (Debian 17.12-0+deb13u1))
progress: 1.0 s, 10000.0 tps, lat 0.400 ms stddev 0.178, 0 failed
progress: 2.0 s, 18000.0 tps, lat 0.200 ms stddev 0.147, 0 failed
progress: 3.0 s, 20000.0 tps, lat 0.100 ms stddev 0.183, 0 failed
transaction type: <builtin: select only>
number of transactions actually processed: 48000
number of failed transactions: 2 (0.004%)
latency average = 0.215 ms
initial connection time = 11.226 ms
tps = 18502.309904 (without initial connection time)
"""
SUMMARY_ONLY = COMPLETED.replace("progress:", "elapsed:")
REFUSED = """pgbench (17.12 (Debian 17.12-0+deb13u1))
pgbench: error: connection to server at "10.89.0.2", port 5432 failed: FATAL:  remaining connection slots are reserved for roles with the SUPERUSER attribute
pgbench: error: could not create connection for client 597
"""
TOO_MANY = "pgbench: error: connection to server failed: FATAL:  sorry, too many clients already\n"
AUTH = """pgbench: error: connection to server at "127.0.0.1", port 6432 failed: FATAL:  SASL authentication failed
pgbench: error: could not create connection for setup
"""


@pytest.mark.parametrize(
    ("returncode", "output", "warmup", "status", "tps", "latency", "failed"),
    [
        # The first second is the warm-up: 18,000 and 20,000 remain, latency weighted by each second's tps.
        (0, COMPLETED, 1, "completed", 19000.0, (0.2 * 18 + 0.1 * 20) / 38, 2),
        (0, COMPLETED, 0, "completed", 16000.0, (0.4 * 10 + 0.2 * 18 + 0.1 * 20) / 48, 2),
        # Every second inside the warm-up: pgbench's own summary stands in.
        (0, COMPLETED, 5, "completed", 18502.309904, 0.215, 2),
        (0, SUMMARY_ONLY, 1, "completed", 18502.309904, 0.215, 2),
        (1, REFUSED, 1, "refused", None, None, None),
        (1, TOO_MANY, 1, "refused", None, None, None),
        (1, AUTH, 1, "error", None, None, None),
        (124, "", 1, "error", None, None, None),
        # Exit 0 without a summary is not a result.
        (0, "pgbench (17.12)\n", 1, "error", None, None, None),
    ],
    ids=[
        "warmup-cut",
        "no-warmup",
        "all-warmup",
        "summary-only",
        "refused",
        "too-many",
        "auth",
        "killed",
        "empty",
    ],
)
def test_parse_run(returncode, output, warmup, status, tps, latency, failed):
    outcome = parse_run(returncode, output, warmup)
    assert outcome.status == status
    assert outcome.tps == (None if tps is None else pytest.approx(tps))
    assert outcome.latency_ms == (None if latency is None else pytest.approx(latency))
    assert outcome.failed == failed
    if status != "completed":
        assert outcome.message, "a failed run keeps the reason"


def test_refused_message_names_postgresql_error():
    assert "remaining connection slots" in parse_run(1, REFUSED, 1).message


@pytest.mark.parametrize(
    ("workload", "clients", "expected_args", "jobs"),
    [
        ("select", 1, ["-S"], 1),
        ("select_prepared", 40, ["-S", "-M", "prepared"], 2),
        ("tpcb", 1000, [], 2),
        ("connect", 200, ["-S", "-C"], 2),
    ],
)
def test_pgbench_argv(workload, clients, expected_args, jobs):
    argv = pgbench_argv(
        WORKLOADS[workload], Endpoint("/var/run/postgresql", 6432, "bench", "bench"), clients, 4
    )
    assert argv[0] == "pgbench"
    assert argv[-1] == "bench"
    assert "--host=/var/run/postgresql" in argv
    assert f"--client={clients}" in argv
    assert f"--jobs={jobs}" in argv
    assert "--time=4" in argv
    assert "--progress=1" in argv
    assert [a for a in argv[1:-1] if not a.startswith("--")] == expected_args
