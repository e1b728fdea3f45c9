"""What the benchmark watches while pgbench runs: PostgreSQL's server connections (one psql session
asked every half second) and CPU time (from /proc and the containers' cgroups, read on this machine,
so the measuring costs the measured hosts nothing but that one session)."""

from __future__ import annotations

import glob
import os
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

SAMPLE_INTERVAL = 0.5


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _count_query(database: str, application_name: str) -> str:
    return (
        "SELECT count(*), count(*) FILTER (WHERE state IS DISTINCT FROM 'idle') FROM pg_stat_activity "
        f"WHERE backend_type = 'client backend' AND datname = {_literal(database)} "
        f"AND application_name = {_literal(application_name)};\n"
    )


class ServerConnections(threading.Thread):
    """Peak backends of `database` serving `application_name` (and the peak of those not idle),
    sampled until stop()."""

    def __init__(self, psql_argv: Sequence[str], database: str, application_name: str) -> None:
        super().__init__(daemon=True)
        self._argv = list(psql_argv)
        self._query = _count_query(database, application_name)
        self._stop_event = threading.Event()
        self.peak_total: int | None = None
        self.peak_active: int | None = None
        self.samples = 0

    def run(self) -> None:
        with subprocess.Popen(
            [*self._argv, "-XAtq", "-F", " ", "-d", "postgres"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        ) as psql:
            assert psql.stdin is not None and psql.stdout is not None
            try:
                while not self._stop_event.is_set():
                    psql.stdin.write(self._query)
                    psql.stdin.flush()
                    line = psql.stdout.readline()
                    if not line:
                        break
                    total, active = (int(v) for v in line.split())
                    self.peak_total = max(self.peak_total or 0, total)
                    self.peak_active = max(self.peak_active or 0, active)
                    self.samples += 1
                    self._stop_event.wait(SAMPLE_INTERVAL)
            except (BrokenPipeError, ValueError):
                pass
            finally:
                psql.stdin.close()
                try:
                    psql.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    psql.kill()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=15)


_TICKS = os.sysconf("SC_CLK_TCK")


def _machine_busy_seconds() -> float:
    with open("/proc/stat", encoding="ascii") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / _TICKS


def _cgroup_seconds(cgroup_path: str) -> float | None:
    """CPU seconds of a container's cgroup (v1 cpuacct or v2 cpu.stat), None when unreadable."""
    try:
        with open(f"/sys/fs/cgroup/cpuacct{cgroup_path}/cpuacct.usage", encoding="ascii") as handle:
            return int(handle.read()) / 1e9
    except OSError:
        pass
    try:
        with open(f"/sys/fs/cgroup{cgroup_path}/cpu.stat", encoding="ascii") as handle:
            for line in handle:
                key, value = line.split()
                if key == "usage_usec":
                    return int(value) / 1e6
    except OSError:
        pass
    return None


def _process_seconds(container_ids: dict[str, str], command: str) -> dict[tuple[str, int], float]:
    """CPU seconds of each live process named `command`, keyed by (container, pid)."""
    found: dict[tuple[str, int], float] = {}
    for stat_path in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat_path, encoding="ascii", errors="replace") as handle:
                stat = handle.read()
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            if name != command:
                continue
            pid = int(stat_path.split("/")[2])
            with open(f"/proc/{pid}/cgroup", encoding="ascii", errors="replace") as handle:
                cgroup = handle.read()
        except (OSError, ValueError):
            continue
        for container, container_id in container_ids.items():
            if container_id in cgroup:
                fields_after = stat[stat.rindex(")") + 2 :].split()
                found[(container, pid)] = (int(fields_after[11]) + int(fields_after[12])) / _TICKS
                break
    return found


@dataclass
class CpuSnapshot:
    at: float
    machine: float
    containers: dict[str, float | None]
    pgbouncer: dict[tuple[str, int], float] = field(default_factory=dict)


class CpuMeter:
    """CPU used between two snapshots, in cores: the machine, each container, each PgBouncer."""

    def __init__(self, containers: dict[str, tuple[str, str]]) -> None:
        # container name -> (id, cgroup path), from podman inspect.
        self._containers = containers
        self._ids = {name: ident for name, (ident, _) in containers.items()}

    def snapshot(self) -> CpuSnapshot:
        return CpuSnapshot(
            time.monotonic(),
            _machine_busy_seconds(),
            {name: _cgroup_seconds(path) for name, (_, path) in self._containers.items()},
            _process_seconds(self._ids, "pgbouncer") if self._ids else {},
        )

    @staticmethod
    def cores(
        before: CpuSnapshot, after: CpuSnapshot, poolers: Sequence[str]
    ) -> tuple[float, dict[str, float | None], float | None, float | None]:
        """(machine cores, cores per container, PgBouncer cores on `poolers`, busiest PgBouncer)."""
        wall = max(after.at - before.at, 1e-6)
        per_container: dict[str, float | None] = {}
        for name, end in after.containers.items():
            start = before.containers.get(name)
            per_container[name] = None if start is None or end is None else (end - start) / wall
        per_process = [
            (seconds - before.pgbouncer[key]) / wall
            for key, seconds in after.pgbouncer.items()
            if key[0] in poolers and key in before.pgbouncer
        ]
        return (
            (after.machine - before.machine) / wall,
            per_container,
            sum(per_process) if per_process else None,
            max(per_process) if per_process else None,
        )
