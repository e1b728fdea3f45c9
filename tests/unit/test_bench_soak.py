"""make soak's bounds (tests/bench/soak.py): what the verdict calls broken, from made-up samples."""

from __future__ import annotations

import pytest

from tests.bench import soak
from tests.bench.soak import Sample

ROUND = {
    "load": "prepared statements",
    "start": 0.0,
    "status": "completed",
    "transactions": 900,
    "failed": 0,
    "message": "",
    "ok": True,
}
CANCELLED = [{"seconds": 0.05, "cancelled": True, "returncode": 1, "error": ""}] * 4
RESTART = {"start": 400.0, "end": 460.0, "rc": 0}


def life(process: int, pid: int, start: float, rss: list[int], fixed: list[int]) -> list[Sample]:
    """One sample every 60 s; clients and servers vary, the fixed part is as given."""
    return [
        Sample(start + 60 * n, process, pid, kib, 30 + (n % 3) + held, 20 + (n % 3), 10)
        for n, (kib, held) in enumerate(zip(rss, fixed, strict=True))
    ]


def steady(process: int, pid: int, start: float, count: int = 6, rss: int = 4000) -> list[Sample]:
    return life(process, pid, start, [rss] * count, [0] * count)


def run(
    samples: list[Sample], rounds=(ROUND,), cancels=({"start": 0.0, "result": CANCELLED},), restart=RESTART
):
    return soak.verdicts(
        sorted(samples, key=lambda s: (s.at, s.process)), list(rounds), list(cancels), restart
    )


def test_a_steady_soak_holds():
    assert run(steady(1, 10, 0.0) + steady(2, 11, 0.0)) == []


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"rounds": [{**ROUND, "failed": 2, "ok": False}]}, "2 failed"),
        (
            {"rounds": [{**ROUND, "status": "error", "ok": False, "message": "Run was aborted"}]},
            "error, 0 failed Run",
        ),
        ({"cancels": [{"start": 0.0, "result": CANCELLED[:3]}]}, "cancels at"),
        ({"cancels": [{"start": 0.0, "result": [{**CANCELLED[0], "seconds": 3.0}] * 4}]}, "cancels at"),
        ({"cancels": [{"start": 0.0, "result": [{**CANCELLED[0], "cancelled": False}] * 4}]}, "cancels at"),
        ({"cancels": [{"start": 0.0, "result": "not json"}]}, "cancels at"),
        ({"restart": {**RESTART, "rc": 2}}, "rolling restart failed"),
    ],
)
def test_a_client_error_breaks_the_soak(change, words):
    arguments = {
        "rounds": (ROUND,),
        "cancels": ({"start": 0.0, "result": CANCELLED},),
        "restart": RESTART,
        **change,
    }
    problems = run(steady(1, 10, 0.0) + steady(2, 11, 0.0), **arguments)
    assert len(problems) == 1 and words in problems[0], problems


def test_memory_growth_after_warm_up_beyond_the_bound_breaks_it():
    # The first two samples are the warm-up (WARMUP is 120 s): growth there is allowed.
    rss = [3000, 3500, 4000, 4000, 4000 + soak.MEMORY_BOUND_KIB + 1, 4000 + soak.MEMORY_BOUND_KIB + 1]
    problems = run(life(1, 10, 0.0, rss, [0] * 6) + steady(2, 11, 0.0))
    assert len(problems) == 1 and "process 1 (pid 10): VmRSS 4000 ->" in problems[0]


def test_memory_growth_inside_the_bound_or_during_warm_up_holds():
    rss = [1000, 3000, 4000, 4000, 4000 + soak.MEMORY_BOUND_KIB, 4000 + soak.MEMORY_BOUND_KIB]
    assert run(life(1, 10, 0.0, rss, [0] * 6) + steady(2, 11, 0.0)) == []


def test_descriptors_besides_connections_that_drift_under_load_break_it():
    fixed = [0, 0, soak.DESCRIPTOR_BOUND + 1, 0, 0, 0]
    problems = run(life(1, 10, 0.0, [4000] * 6, fixed) + steady(2, 11, 0.0))
    assert len(problems) == 1 and "descriptors not held by a connection" in problems[0]


def test_a_descriptor_kept_after_the_load_breaks_it():
    # The process restarted in the middle: its new life ends, idle, with one descriptor more than the
    # old one started with.
    before = life(1, 10, 0.0, [4000] * 3, [0] * 3)
    after = life(1, 12, 180.0, [4000] * 3, [0, 0, 1])
    problems = run(before + after + steady(2, 11, 0.0))
    assert problems == ["process 1: not held by a connection, idle: [0] before, [1] after"]


def test_a_restarted_process_is_judged_on_its_own_life():
    # The new process starts smaller than the old one ended: not growth.
    before = life(1, 10, 0.0, [9000] * 3, [0] * 3)
    after = life(1, 12, 180.0, [3000, 3100, 3200], [0] * 3)
    assert run(before + after + steady(2, 11, 0.0)) == []


SUMMARY = """progress: 1.0 s, 80.0 tps, lat 2.1 ms stddev 0.4, 0 failed
number of transactions actually processed: 2400
number of failed transactions: {failed} (0.000%)
latency average = 2.1 ms
tps = 80.0 (without initial connection time)
"""
ABORTED = """progress: 1.0 s, 80.0 tps, lat 2.1 ms stddev 0.4, 0 failed
pgbench: error: client 2 aborted in command 1 (SQL) of script 0; perhaps the backend died while processing
number of transactions actually processed: 1200
pgbench: error: Run was aborted; the above results are incomplete.
"""


@pytest.mark.parametrize(
    ("returncode", "output", "ok", "status", "transactions", "failed"),
    [
        (0, SUMMARY.format(failed=0), True, "completed", 2400, 0),
        (0, SUMMARY.format(failed=3), False, "completed", 2400, 3),
        # pgbench exits 2 when a client aborted, whatever it counted.
        (2, ABORTED, False, "error", 0, 0),
        (0, "", False, "error", 0, 0),
    ],
)
def test_a_round_is_ok_only_when_pgbench_completed_without_a_failure(
    returncode, output, ok, status, transactions, failed
):
    record = soak.pgbench_round("connect per transaction", returncode, output, 0.0)
    assert (record["ok"], record["status"], record["transactions"], record["failed"]) == (
        ok,
        status,
        transactions,
        failed,
    )
