"""The fault tests' figures (molecule/resources/files/fault_load.py): what the managed scenario's
fault files assert on is computed here, so a wrong figure could hide a failure."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "molecule" / "resources" / "files" / "fault_load.py"
_spec = importlib.util.spec_from_file_location("fault_load", SCRIPT)
assert _spec and _spec.loader
fault_load = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fault_load)


def tx(
    start: float,
    end: float,
    ok: bool = True,
    mode: str = "per_transaction",
    client: int = 0,
    session: int = 0,
    error: str = "",
) -> dict:
    return {
        "mode": mode,
        "client": client,
        "session": session,
        "start": start,
        "end": end,
        "ok": ok,
        "error": error,
    }


# The fault from 10 to 20.
START, END = 10.0, 20.0


def test_a_clean_run_has_no_failure_and_reconnects_at_once():
    records = [tx(t, t + 0.1) for t in range(0, 30)]
    figures = fault_load.summary(records, START, END)
    assert figures["failed"] == 0
    assert figures["failed_before_fault"] == 0
    assert figures["failed_window"] == 0.0
    assert figures["new_connection_gap"] == pytest.approx(0.1)
    assert figures["ok_after_end"] == 9  # started after 20: 21 .. 29


@pytest.mark.parametrize(
    ("records", "key", "expected"),
    [
        # A failure that ended before the fault is a failure of the baseline.
        ([tx(5, 5.1, ok=False), tx(12, 12.1)], "failed_before_fault", 1),
        # One in flight when the fault began fails with it: not the baseline's.
        ([tx(9.9, 10.2, ok=False), tx(12, 12.1)], "failed_before_fault", 0),
        ([tx(9.9, 10.2, ok=False), tx(12, 12.1)], "first_failed_after_start", -0.1),
        # From the first failure's start to the last one's end.
        ([tx(11, 11.5, ok=False), tx(14, 16, ok=False), tx(17, 17.1)], "failed_window", 5.0),
        # How long after the end the last failure ended.
        ([tx(11, 11.5, ok=False), tx(21, 23.5, ok=False), tx(24, 24.1)], "failing_after_end", 3.5),
        ([tx(11, 11.5, ok=False), tx(21, 23.5, ok=False), tx(24, 24.1)], "failed_after_end", 1),
        # The first new connection that worked after the fault began, however long failures lasted.
        ([tx(10.5, 10.6, ok=False), tx(12, 12.4, ok=False), tx(13, 13.2)], "new_connection_gap", 3.2),
        # A session's success is not a new connection.
        ([tx(10.5, 10.6, mode="session", session=1), tx(13, 13.2)], "new_connection_gap", 3.2),
        ([tx(10.5, 10.6, ok=False)], "new_connection_gap", None),
        ([tx(1, 61, ok=False, error="hung"), tx(3, 3.1, ok=False)], "hung", 1),
        ([tx(1, 2), tx(3, 33.5)], "longest", 30.5),
    ],
)
def test_figures(records, key, expected):
    figures = fault_load.summary(records, START, END)
    assert figures[key] == (pytest.approx(expected) if isinstance(expected, float) else expected)


def test_sessions_kept_counts_clients_that_never_reopened_and_never_failed():
    records = [
        tx(1, 1.1, mode="session", client=0, session=1),
        tx(11, 11.1, mode="session", client=0, session=1),
        # Client 1 lost its session and opened a second one.
        tx(1, 1.1, mode="session", client=1, session=1),
        tx(11, 11.1, ok=False, mode="session", client=1, session=1),
        tx(12, 12.1, mode="session", client=1, session=2),
        # Client 2 kept its session but a transaction failed on it.
        tx(11, 11.1, ok=False, mode="session", client=2, session=1),
    ]
    figures = fault_load.summary(records, START, END)
    assert (figures["sessions_kept"], figures["sessions"]) == (1, 3)
    assert figures["by_mode"]["session"] == {"transactions": 6, "failed": 2}


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        (
            'psql: error: connection to server at "127.0.0.1", port 6432 failed: FATAL:  query_wait_timeout\n',
            "FATAL: query_wait_timeout",
        ),
        (
            "ERROR:  canceling statement due to user request\n",
            "ERROR: canceling statement due to user request",
        ),
        (
            "server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally\n",
            "This probably means the server terminated abnormally",
        ),
        ("", ""),
    ],
)
def test_the_error_kept_is_the_pooler_or_servers_own_words(stderr, expected):
    assert fault_load.error_line(stderr) == expected
