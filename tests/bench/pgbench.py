"""pgbench as the benchmark drives it: the workloads, the command line, and what a run printed.

Pure functions over text, so the parsing is unit-tested without a server."""

from __future__ import annotations

import re
from dataclasses import dataclass
from statistics import fmean


@dataclass(frozen=True)
class Workload:
    name: str
    label: str
    args: tuple[str, ...]


# What each workload stands for in an application fleet.
WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload("select", "select-only, simple protocol (-S)", ("-S",)),
        Workload(
            "select_prepared", "select-only, prepared statements (-S -M prepared)", ("-S", "-M", "prepared")
        ),
        Workload("tpcb", "TPC-B-like read-write (pgbench default)", ()),
        # Django with CONN_MAX_AGE = 0: a new connection for every request.
        Workload("connect", "connect per transaction (-S -C)", ("-S", "-C")),
    )
}


@dataclass(frozen=True)
class Endpoint:
    """Where pgbench connects: a host name, an address or a unix socket directory."""

    host: str
    port: int
    dbname: str
    user: str


def pgbench_argv(
    workload: Workload, endpoint: Endpoint, clients: int, seconds: int, threads: int = 2
) -> list[str]:
    """pgbench for `seconds` with a progress line every second (the warm-up is cut from those)."""
    return [
        "pgbench",
        "--no-vacuum",
        f"--host={endpoint.host}",
        f"--port={endpoint.port}",
        f"--username={endpoint.user}",
        *workload.args,
        f"--client={clients}",
        f"--jobs={max(1, min(clients, threads))}",
        f"--time={seconds}",
        "--progress=1",
        endpoint.dbname,
    ]


@dataclass(frozen=True)
class Progress:
    at: float
    tps: float
    latency_ms: float
    failed: int


@dataclass(frozen=True)
class Outcome:
    """One pgbench run: `completed`, `refused` (PostgreSQL out of connection slots) or `error`."""

    status: str
    tps: float | None = None
    latency_ms: float | None = None
    transactions: int | None = None
    failed: int | None = None
    message: str = ""


_PROGRESS = re.compile(
    r"^progress: (?P<at>[\d.]+) s, (?P<tps>[\d.]+) tps, lat (?P<lat>[\d.]+) ms stddev (?:[\d.]+|NaN)"
    r"(?:, (?P<failed>\d+) failed)?",
    re.MULTILINE,
)
_PROCESSED = re.compile(r"^number of transactions actually processed: (\d+)", re.MULTILINE)
_FAILED = re.compile(r"^number of failed transactions: (\d+)", re.MULTILINE)
_LATENCY = re.compile(r"^latency average = ([\d.]+) ms", re.MULTILINE)
_TPS = re.compile(r"^tps = ([\d.]+) \(without initial connection time\)", re.MULTILINE)
# PostgreSQL's two refusals when max_connections is reached (the first within the reserved slots).
_OUT_OF_SLOTS = re.compile(r"remaining connection slots are reserved|too many clients already")
_ERROR_LINE = re.compile(r"^.*(?:error|FATAL):.*$", re.MULTILINE)


def progress_lines(output: str) -> list[Progress]:
    return [
        Progress(float(m["at"]), float(m["tps"]), float(m["lat"]), int(m["failed"] or 0))
        for m in _PROGRESS.finditer(output)
    ]


def parse_run(returncode: int, output: str, warmup: float) -> Outcome:
    """The outcome of one run from its exit status and its stdout and stderr together.

    Throughput and latency are taken from the progress lines after `warmup` seconds (so the
    connection ramp and cold caches are discarded), weighting each second's latency by its
    transactions; pgbench's own summary stands in when no second falls after the warm-up."""
    first_error = next(iter(_ERROR_LINE.findall(output)), "").strip()
    if returncode != 0 or _PROCESSED.search(output) is None:
        refused = _OUT_OF_SLOTS.search(output)
        status = "refused" if refused else "error"
        message = first_error or f"pgbench exited with status {returncode}"
        return Outcome(status, message=message[:300])
    transactions = int(_PROCESSED.search(output)[1])
    failed_match = _FAILED.search(output)
    failed = int(failed_match[1]) if failed_match else 0
    measured = [p for p in progress_lines(output) if p.at > warmup and p.tps > 0]
    if measured:
        tps = fmean(p.tps for p in measured)
        latency = sum(p.latency_ms * p.tps for p in measured) / sum(p.tps for p in measured)
    else:
        tps_match, latency_match = _TPS.search(output), _LATENCY.search(output)
        if tps_match is None or latency_match is None:
            return Outcome("error", message="pgbench printed no throughput")
        tps, latency = float(tps_match[1]), float(latency_match[1])
    return Outcome("completed", tps, latency, transactions, failed, first_error[:300])
