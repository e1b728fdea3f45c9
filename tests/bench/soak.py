"""make soak: a bounded soak of a per_host pooler with two processes (the bench's app2).

For MINUTES minutes (15 by default) a mixed load runs through app2's PgBouncer on 127.0.0.1:6432,
every part of it from app2 itself and in rounds of ROUND seconds (an application's connections are
recycled; a client of a stopping process leaves at the end of its round, well inside
pgbouncer_stop_timeout):
- connect per transaction: pgbench -C -S, 4 clients, at most 80 transactions a second;
- prepared statements: pgbench -M prepared -S, 6 clients (one thread each), at most 300 a second;
- long transactions: 3 clients, each BEGIN, pg_sleep(3), a read, COMMIT;
- cancels: every 30 s, 4 pg_sleep(10) sessions cancelled the way psql does
  (molecule/resources/files/cancel_through_port.py); each must come back cancelled;
- in the middle, playbooks/rolling_restart.yml on app2 (both processes, one after the other).
Every 10 s each process's resident memory (VmRSS) and open descriptors are sampled, with its clients
and server connections (SHOW LISTS), and once more after the load has stopped.

The bounds, checked at the end (the run exits non-zero when one fails):
- no client error: every pgbench round reports 0 failed transactions and no aborted client, and
  every cancel came back cancelled ("canceling statement due to user request") within 2 s;
- memory: each process's VmRSS grows by at most MEMORY_BOUND_KIB from its first sample after
  WARMUP seconds of its life to its last;
- descriptors: what each process holds besides its clients and server connections (open descriptors
  - clients - servers, SHOW LISTS) is the same, idle, after the load as before it, and varies by at
  most DESCRIPTOR_BOUND under load (clients connect and leave between the two reads).
Bounded: every load has its own time limit, the soak stops by itself after MINUTES; the containers are
the bench's (make bench), deployed here unless --reuse, removed at the end unless --keep.

python -m tests.bench --soak [--minutes 15] [--reuse] [--keep]
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from tests.bench.harness import APP2, Place, _secrets, log, machine
from tests.bench.pgbench import Endpoint, Workload, parse_run, pgbench_argv

PROCESSES = 2
ROUND = 30
SAMPLE_EVERY = 10
CANCEL_EVERY = 30
WARMUP = 120
MEMORY_BOUND_KIB = 2048
DESCRIPTOR_BOUND = 12
LONG_SCRIPT = "/tmp/soak-long.sql"
CANCEL_SCRIPT = "/usr/local/bin/soak-cancel"
ENDPOINT = Endpoint("127.0.0.1", 6432, "bench", "bench")
# Each load with its clients (one pgbench thread each).
LOADS = {
    "connect per transaction": (
        Workload("soak_connect", "connect per transaction", ("-C", "-S", "-R", "80")),
        4,
    ),
    "prepared statements": (
        Workload("soak_prepared", "prepared statements", ("-S", "-M", "prepared", "-R", "300")),
        6,
    ),
    "long transactions": (Workload("soak_long", "long transactions", ("-f", LONG_SCRIPT)), 3),
}


@dataclass
class Sample:
    at: float
    process: int
    pid: int
    rss_kib: int
    descriptors: int
    clients: int
    servers: int

    @property
    def fixed(self) -> int:
        """Descriptors not held by a client or a server connection."""
        return self.descriptors - self.clients - self.servers


def _run(
    place: Place, argv: Sequence[str], timeout: float, env: dict[str, str] | None = None
) -> tuple[int, str]:
    """(exit status, stdout and stderr together)."""
    done = subprocess.run(
        place.argv(argv, env_names=list(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def sample(place: Place, stats_password: str) -> list[Sample]:
    """Each process's memory and descriptors, with its clients and servers, in one exec."""
    script = r"""
set -u
for n in $(seq 1 "$1"); do
  pid=$(systemctl show --property MainPID --value pgbouncer@$n)
  dir=/var/run/postgresql; [ "$n" -gt 1 ] && dir=/run/pgbouncer-$n
  lists=$(psql -XAt -F' ' -h "$dir" -p 6432 -U bench_stats -d pgbouncer -c 'SHOW LISTS' 2>/dev/null)
  rss=$(awk '/^VmRSS:/ {print $2}' /proc/$pid/status 2>/dev/null)
  fds=$(ls /proc/$pid/fd 2>/dev/null | wc -l)
  # A console that did not answer (a process starting or stopping) leaves "-": the line is dropped.
  clients=$(echo "$lists" | awk '$1 == "used_clients" {print $2}')
  servers=$(echo "$lists" | awk '$1 == "used_servers" {print $2}')
  echo "$n $pid ${rss:-0} $fds ${clients:--} ${servers:--}"
done
"""
    at = time.time()
    _, output = _run(
        place, ["bash", "-c", script, "sample", str(PROCESSES)], 30, {"PGPASSWORD": stats_password}
    )
    samples = []
    for line in output.splitlines():
        fields = line.split()
        if len(fields) == 6 and all(field.isdigit() for field in fields):
            samples.append(Sample(at, *(int(field) for field in fields)))
    return samples


def pgbench_round(name: str, returncode: int, output: str, started: float) -> dict:
    """One round's record. pgbench exits non-zero when a client aborted; parse_run calls that an error."""
    outcome = parse_run(returncode, output, 0)
    transactions, failed = outcome.transactions or 0, outcome.failed or 0
    return {
        "load": name,
        "start": round(started, 1),
        "end": round(time.time(), 1),
        "status": outcome.status,
        "transactions": transactions,
        "failed": failed,
        "message": outcome.message,
        "ok": outcome.status == "completed" and transactions > 0 and failed == 0,
    }


def _pgbench_rounds(
    place: Place, name: str, workload: Workload, clients: int, deadline: float, password: str, out: list
) -> None:
    while time.time() + 5 < deadline:
        seconds = int(min(ROUND, deadline - time.time()))
        argv = pgbench_argv(workload, ENDPOINT, clients, seconds, threads=clients)
        started = time.time()
        returncode, output = _run(place, argv, seconds + 120, {"PGPASSWORD": password})
        out.append(pgbench_round(name, returncode, output, started))


def _cancels(place: Place, deadline: float, password: str, out: list) -> None:
    while time.time() + 25 < deadline:
        started = time.time()
        _, text = _run(
            place,
            [
                CANCEL_SCRIPT,
                "127.0.0.1",
                "6432",
                "bench",
                "bench",
                "--sessions",
                "4",
                "--sleep",
                "10",
                "--bound",
                "20",
            ],
            60,
            {"PGPASSWORD": password},
        )
        try:
            result: object = json.loads(text.strip().splitlines()[-1])
        except (ValueError, IndexError):
            result = text[-300:]
        out.append({"start": round(started, 1), "result": result})
        time.sleep(max(0.0, CANCEL_EVERY - (time.time() - started)))


def cancels_ok(entry: dict) -> bool:
    """All 4 came back cancelled within 2 s of their cancel (cancel_through_port.py's list)."""
    sessions = entry["result"] if isinstance(entry["result"], list) else []
    return len(sessions) == 4 and all(s["cancelled"] and (s["seconds"] or 99) <= 2 for s in sessions)


def prepare_host(place: Place) -> None:
    script = "\\set aid random(1, 100000)\nBEGIN;\nSELECT pg_sleep(3);\nSELECT abalance FROM pgbench_accounts WHERE aid = :aid;\nCOMMIT;\n"
    subprocess.run(
        place.argv(["tee", LONG_SCRIPT], stdin=True), input=script, text=True, capture_output=True, check=True
    )
    with open("molecule/resources/files/cancel_through_port.py", encoding="utf-8") as handle:
        source = handle.read()
    subprocess.run(
        place.argv(["tee", CANCEL_SCRIPT], stdin=True),
        input=source,
        text=True,
        capture_output=True,
        check=True,
    )
    subprocess.run(place.argv(["chmod", "0755", CANCEL_SCRIPT]), check=True)


def soak(minutes: float, directory: str) -> tuple[list[Sample], list[dict], list[dict], dict[str, float]]:
    place = Place(APP2)
    secrets = _secrets()
    password, stats_password = secrets["bench_password"], secrets["bench_stats_password"]
    prepare_host(place)
    samples = sample(place, stats_password)
    started = time.time()
    deadline = started + minutes * 60
    rounds: list[dict] = []
    cancels: list[dict] = []
    threads = [
        threading.Thread(
            target=_pgbench_rounds, args=(place, name, workload, clients, deadline, password, rounds)
        )
        for name, (workload, clients) in LOADS.items()
    ] + [threading.Thread(target=_cancels, args=(place, deadline, password, cancels))]
    for thread in threads:
        thread.start()
    restart: dict[str, float] = {}
    middle = started + minutes * 30
    while time.time() < deadline:
        tick = time.time()
        samples += sample(place, stats_password)
        if not restart and time.time() >= middle:
            restart["start"] = time.time()
            log(f"rolling restart of {APP2} ({(restart['start'] - started) / 60:.1f} min in)")
            done = subprocess.run(
                [
                    "ansible-playbook",
                    "-i",
                    "tests/bench/inventory",
                    "--limit",
                    APP2,
                    "playbooks/rolling_restart.yml",
                ],
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            restart["end"] = time.time()
            restart["rc"] = done.returncode
            with open(os.path.join(directory, "soak-rolling-restart.log"), "w", encoding="utf-8") as handle:
                handle.write(done.stdout + done.stderr)
        time.sleep(max(0.0, min(SAMPLE_EVERY - (time.time() - tick), deadline - time.time())))
    for thread in threads:
        thread.join()
    time.sleep(5)
    samples += sample(place, stats_password)
    return samples, rounds, cancels, restart


def read_samples(path: str) -> list[Sample]:
    """soak-samples.csv back into samples (to draw the plot again)."""
    with open(path, encoding="utf-8") as handle:
        return [
            Sample(
                float(row["at"]),
                *(
                    int(row[key])
                    for key in ("process", "pid", "rss_kib", "descriptors", "clients", "servers")
                ),
            )
            for row in csv.DictReader(handle)
        ]


def settled(life: Sequence[Sample]) -> list[Sample]:
    """A process life's samples from WARMUP seconds into it."""
    return [s for s in life if s.at - life[0].at >= WARMUP]


def by_process(samples: Sequence[Sample]) -> dict[tuple[int, int], list[Sample]]:
    lives: dict[tuple[int, int], list[Sample]] = {}
    for item in samples:
        if item.pid:
            lives.setdefault((item.process, item.pid), []).append(item)
    return lives


def verdicts(
    samples: Sequence[Sample], rounds: Sequence[dict], cancels: Sequence[dict], restart: dict
) -> list[str]:
    """What broke a bound, in words; empty when the soak held."""
    problems = [
        f"{r['load']} round at {r['start']}: {r['status']}, {r['failed']} failed {r['message']}"
        for r in rounds
        if not r["ok"]
    ]
    problems += [f"cancels at {c['start']}: {c['result']}" for c in cancels if not cancels_ok(c)]
    if restart.get("rc") != 0:
        problems.append(f"the rolling restart failed (rc {restart.get('rc')})")
    for (process, pid), life in by_process(samples).items():
        warm = settled(life)
        if len(warm) >= 2 and warm[-1].rss_kib - warm[0].rss_kib > MEMORY_BOUND_KIB:
            problems.append(
                f"process {process} (pid {pid}): VmRSS {warm[0].rss_kib} -> {warm[-1].rss_kib} KiB"
            )
        fixed = [s.fixed for s in life]
        if max(fixed) - min(fixed) > DESCRIPTOR_BOUND:
            problems.append(
                f"process {process} (pid {pid}): descriptors not held by a connection {min(fixed)}..{max(fixed)}"
            )
    # Idle before and after the load: the same configuration holds the same descriptors besides its
    # connections, whichever process runs it.
    first, last = samples[0].at, samples[-1].at
    for process in range(1, PROCESSES + 1):
        before = [s.fixed for s in samples if s.at == first and s.process == process]
        after = [s.fixed for s in samples if s.at == last and s.process == process]
        if before != after:
            problems.append(
                f"process {process}: not held by a connection, idle: {before} before, {after} after"
            )
    return problems


def write(
    directory: str,
    samples: Sequence[Sample],
    rounds: Sequence[dict],
    cancels: Sequence[dict],
    restart: dict,
    minutes: float,
) -> list[str]:
    samples_csv = os.path.join(directory, "soak-samples.csv")
    with open(samples_csv, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*asdict(samples[0]).keys(), "fixed"])
        writer.writeheader()
        for item in samples:
            writer.writerow({**asdict(item), "fixed": item.fixed})
    loads_json = os.path.join(directory, "soak-loads.json")
    with open(loads_json, "w", encoding="utf-8") as handle:
        json.dump({"rounds": list(rounds), "cancels": list(cancels), "restart": restart}, handle, indent=1)
    problems = verdicts(samples, rounds, cancels, restart)
    summary = os.path.join(directory, "soak.md")
    with open(summary, "w", encoding="utf-8") as handle:
        handle.write(markdown(samples, rounds, cancels, restart, minutes, problems))
    return [samples_csv, loads_json, summary, plot(samples, restart, directory)]


def markdown(
    samples: Sequence[Sample],
    rounds: Sequence[dict],
    cancels: Sequence[dict],
    restart: dict,
    minutes: float,
    problems: Sequence[str],
) -> str:
    start = samples[0].at
    lines = [
        "# Soak",
        "",
        f"{minutes:g} minutes on {machine()}, through {APP2}'s PgBouncer ({PROCESSES} processes); "
        f"the rolling restart from {(restart.get('start', start) - start) / 60:.1f} to "
        f"{(restart.get('end', start) - start) / 60:.1f} min (rc {restart.get('rc')}).",
        "",
        "| load | rounds | transactions | failed | rounds not completed (a client aborted) |",
        "|---|---|---|---|---|",
    ]
    for name in LOADS:
        mine = [r for r in rounds if r["load"] == name]
        lines.append(
            f"| {name} | {len(mine)} | {sum(r['transactions'] for r in mine):,} | "
            f"{sum(r['failed'] for r in mine)} | {sum(1 for r in mine if r['status'] != 'completed')} |"
        )
    lines.append(
        f"| cancels | {len(cancels)} | {4 * len(cancels)} queries | {sum(1 for c in cancels if not cancels_ok(c))} rounds not all cancelled within 2 s | |"
    )
    lines += [
        "",
        "| process | pid | samples | VmRSS KiB: first, after warm-up, last, most | descriptors: least, most | not held by a connection: least, most |",
        "|---|---|---|---|---|---|",
    ]
    for (process, pid), life in by_process(samples).items():
        warm = settled(life) or life
        lines.append(
            f"| {process} | {pid} | {len(life)} | {life[0].rss_kib}, {warm[0].rss_kib}, {life[-1].rss_kib}, "
            f"{max(s.rss_kib for s in life)} | {min(s.descriptors for s in life)}, {max(s.descriptors for s in life)} | "
            f"{min(s.fixed for s in life)}, {max(s.fixed for s in life)} |"
        )
    lines += [
        "",
        f"Bounds: no failed transaction or aborted client, every cancel back within 2 s; VmRSS growth at most "
        f"{MEMORY_BOUND_KIB} KiB after {WARMUP} s of a process's life; descriptors not held by a connection "
        f"within {DESCRIPTOR_BOUND} of each other over a process's life.",
        "",
        "**Held.**" if not problems else "**Broken:**\n\n" + "\n".join(f"- {p}" for p in problems),
        "",
    ]
    return "\n".join(lines)


def plot(samples: Sequence[Sample], restart: dict, directory: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    start = samples[0].at
    fig, (memory, descriptors) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    for index, ((process, pid), life) in enumerate(by_process(samples).items()):
        color = f"C{index}"
        minutes = [(s.at - start) / 60 for s in life]
        memory.plot(
            minutes,
            [s.rss_kib / 1024 for s in life],
            marker=".",
            color=color,
            label=f"process {process}, pid {pid}",
        )
        descriptors.plot(
            minutes,
            [s.descriptors for s in life],
            marker=".",
            color=color,
            label=f"open, process {process} pid {pid}",
        )
        descriptors.plot(
            minutes,
            [s.fixed for s in life],
            linestyle="--",
            color=color,
            label=f"not a connection, process {process} pid {pid}",
        )
    for axis in (memory, descriptors):
        if restart.get("start"):
            axis.axvspan(
                (restart["start"] - start) / 60,
                (restart["end"] - start) / 60,
                color="0.9",
                label="rolling restart",
            )
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=7)
    memory.set_ylabel("VmRSS (MiB)")
    descriptors.set_ylabel("descriptors")
    descriptors.set_xlabel("minutes")
    memory.set_title("PgBouncer under a mixed load, two processes on one host")
    path = os.path.join(directory, "soak.png")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
