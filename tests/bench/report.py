"""The benchmark's report: runs summarised per cell (median and spread), the headline ratios against
their goals, and the files (raw CSV, Markdown, PNG plots)."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from statistics import median

from tests.bench.pgbench import WORKLOADS


@dataclass
class Run:
    """One pgbench run, as written to runs.csv."""

    phase: str  # "matrix", "sweep" or "watching"
    workload: str
    target: str
    clients: int
    pool_size: int | None
    repeat: int
    status: str
    tps: float | None
    latency_ms: float | None
    transactions: int | None
    failed: int | None
    # Peak backends PostgreSQL had for the benchmark database while the run went on (sampled every
    # half second from pg_stat_activity), and the peak of those not idle.
    server_connections: int | None
    server_active: int | None
    # CPU in cores (CPU seconds / wall seconds) over the run: the whole machine, the PgBouncer
    # processes the target goes through, the busiest one of them, PostgreSQL's container and the
    # container pgbench ran in (pgbench plus any PgBouncer there).
    machine_cores: float | None
    pgbouncer_cores: float | None
    pgbouncer_busiest_process_cores: float | None
    postgresql_cores: float | None
    client_host_cores: float | None
    seconds: float
    message: str


RUN_FIELDS = [f.name for f in fields(Run)]


def write_runs(path: str, runs: Iterable[Run]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=RUN_FIELDS)
        writer.writeheader()
        for run in runs:
            writer.writerow({k: ("" if v is None else v) for k, v in asdict(run).items()})


def read_runs(path: str) -> list[Run]:
    """runs.csv back into Runs (a report can be rebuilt from the raw numbers alone)."""
    ints = {"clients", "pool_size", "repeat", "transactions", "failed", "server_connections", "server_active"}
    texts = {"phase", "workload", "target", "status", "message"}
    runs = []
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            values: dict[str, object] = {}
            for name in RUN_FIELDS:
                raw = row[name]
                if name in texts:
                    values[name] = raw
                elif raw == "":
                    values[name] = None
                else:
                    values[name] = int(raw) if name in ints else float(raw)
            runs.append(Run(**values))  # type: ignore[arg-type]
    return runs


@dataclass(frozen=True)
class Cell:
    """The runs of one workload, target, client count (and pool size) together."""

    phase: str
    workload: str
    target: str
    clients: int
    pool_size: int | None
    status: str  # completed when every run completed, else the first other status
    runs: int
    tps: float | None  # median
    tps_min: float | None
    tps_max: float | None
    latency_ms: float | None  # median
    server_connections: int | None  # peak over the runs
    pgbouncer_busiest_process_cores: float | None  # median
    machine_cores: float | None  # median
    pgbouncer_cores: float | None  # median
    postgresql_cores: float | None  # median
    client_host_cores: float | None  # median
    message: str
    # Per completed run: PostgreSQL's CPU ms per transaction, and PostgreSQL's plus PgBouncer's.
    postgresql_ms_per_tx: tuple[float, ...] = ()
    server_ms_per_tx: tuple[float, ...] = ()

    def cpu_text(self) -> str:
        """Where the machine's CPU went in this cell (medians, in cores)."""
        if self.machine_cores is None:
            return "no CPU figures"
        parts = [f"machine {self.machine_cores:.2f} cores busy"]
        if self.client_host_cores is not None:
            pgbench = self.client_host_cores
            # On a per-host target, the client host's container holds PgBouncer as well.
            if self.target.startswith("per_host") and self.pgbouncer_cores is not None:
                pgbench -= self.pgbouncer_cores
            parts.append(f"pgbench {pgbench:.2f}")
        if self.pgbouncer_cores is not None:
            parts.append(f"PgBouncer {self.pgbouncer_cores:.2f}")
        if self.postgresql_cores is not None:
            parts.append(f"PostgreSQL {self.postgresql_cores:.2f}")
        return ", ".join(parts)

    @property
    def spread_pct(self) -> float | None:
        """(max - min) / median, in percent."""
        if self.tps is None or self.tps_min is None or self.tps_max is None or self.tps == 0:
            return None
        return 100 * (self.tps_max - self.tps_min) / self.tps


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return median(present) if present else None


def summarize(runs: Sequence[Run]) -> list[Cell]:
    groups: dict[tuple, list[Run]] = {}
    for run in runs:
        groups.setdefault((run.phase, run.workload, run.target, run.clients, run.pool_size), []).append(run)
    cells = []
    for (phase, workload, target, clients, pool_size), members in groups.items():
        done = [r for r in members if r.status == "completed"]
        other = [r for r in members if r.status != "completed"]
        tps = [r.tps for r in done if r.tps is not None]
        peaks = [r.server_connections for r in members if r.server_connections is not None]
        cells.append(
            Cell(
                phase,
                workload,
                target,
                clients,
                pool_size,
                other[0].status if other else "completed",
                len(members),
                median(tps) if tps else None,
                min(tps) if tps else None,
                max(tps) if tps else None,
                _median([r.latency_ms for r in done]),
                max(peaks) if peaks else None,
                _median([r.pgbouncer_busiest_process_cores for r in members]),
                _median([r.machine_cores for r in members]),
                _median([r.pgbouncer_cores for r in members]),
                _median([r.postgresql_cores for r in members]),
                _median([r.client_host_cores for r in members]),
                other[0].message if other else "",
                tuple(
                    1000 * r.postgresql_cores / r.tps
                    for r in done
                    if r.tps and r.postgresql_cores is not None
                ),
                tuple(
                    1000 * (r.postgresql_cores + (r.pgbouncer_cores or 0)) / r.tps
                    for r in done
                    if r.tps and r.postgresql_cores is not None
                ),
            )
        )
    return cells


def find(
    cells: Sequence[Cell], workload: str, target: str, clients: int, phase: str = "matrix"
) -> Cell | None:
    for cell in cells:
        if (cell.phase, cell.workload, cell.target, cell.clients) == (phase, workload, target, clients):
            return cell
    return None


@dataclass(frozen=True)
class Headline:
    name: str
    value: str
    goal: str
    met: bool | None  # None: not measured in this run
    detail: str


def _ratio(a: Cell | None, b: Cell | None) -> float | None:
    if a is None or b is None or a.tps is None or not b.tps:
        return None
    return a.tps / b.tps


def _added_latency_us(pooled: Cell | None, direct: Cell | None) -> float | None:
    if pooled is None or direct is None or pooled.latency_ms is None or direct.latency_ms is None:
        return None
    return 1000 * (pooled.latency_ms - direct.latency_ms)


def _server_cpu_ms(cell: Cell) -> float | None:
    """PostgreSQL's and PgBouncer's CPU milliseconds per transaction in a cell."""
    if not cell.tps or cell.postgresql_cores is None:
        return None
    return 1000 * (cell.postgresql_cores + (cell.pgbouncer_cores or 0)) / cell.tps


def _completed(cells: Sequence[Cell], workload: str, target: str) -> list[Cell]:
    """The matrix cells of a workload and target that have a throughput."""
    return [
        c
        for c in cells
        if (c.phase, c.workload, c.target) == ("matrix", workload, target) and c.tps is not None
    ]


def _unmeasured(name: str, goal: str, why: str) -> Headline:
    return Headline(name, "not measured", goal, None, why)


def _cpu_ratio(pooled: Sequence[float], direct: Sequence[float]) -> tuple[float, float, float] | None:
    """Each pooled run's CPU per transaction over the direct runs' median: (median, lowest, highest)."""
    base = _median(list(direct))
    if not pooled or not base:
        return None
    ratios = [value / base for value in pooled]
    return median(ratios), min(ratios), max(ratios)


def cpu_headlines(cells: Sequence[Cell], pooled: str = "per_host_tcp") -> list[Headline]:
    """What the pool saves the server: CPU per transaction pooled over CPU per transaction in the
    best direct run (select), and per new connection (connect), with the spread over the runs.
    Unlike the tps ratios these do not depend on where the load generator runs."""
    out: list[Headline] = []
    direct_select = _completed(cells, "select", "direct")
    many = max((c.clients for c in cells if c.phase == "matrix"), default=0)
    pooled_many = find(cells, "select", pooled, many)
    best = max(direct_select, key=lambda c: c.tps or 0) if direct_select else None
    for name, goal, limit, values in (
        (
            f"PostgreSQL CPU per select transaction, {pooled} at {many} clients vs the best direct run",
            "<= 0.5x",
            0.5,
            pooled_many.postgresql_ms_per_tx if pooled_many else (),
        ),
        (
            f"PostgreSQL and PgBouncer CPU per select transaction, {pooled} at {many} clients vs the best direct run",
            "<= 0.6x",
            0.6,
            pooled_many.server_ms_per_tx if pooled_many else (),
        ),
    ):
        ratio = _cpu_ratio(values, best.postgresql_ms_per_tx) if best else None
        if ratio is None or best is None:
            out.append(
                _unmeasured(name, goal, "the select workload lacks CPU figures for a direct or a pooled run")
            )
            continue
        out.append(
            Headline(
                name,
                f"{ratio[0]:.2f}x (runs {ratio[1]:.2f}x to {ratio[2]:.2f}x)",
                goal,
                ratio[0] <= limit,
                f"direct at {best.clients} clients: PostgreSQL {_median(list(best.postgresql_ms_per_tx)):.3f} ms "
                f"per transaction",
            )
        )
    connect = [c.clients for c in _completed(cells, "connect", "direct")]
    at = 40 if 40 in connect else max(connect, default=0)
    pooled_connect, direct_connect = find(cells, "connect", pooled, at), find(cells, "connect", "direct", at)
    name, goal = f"PostgreSQL and PgBouncer CPU per new connection, {pooled} vs direct", "<= 0.6x"
    ratio = (
        _cpu_ratio(pooled_connect.server_ms_per_tx, direct_connect.postgresql_ms_per_tx)
        if pooled_connect and direct_connect
        else None
    )
    if ratio is None or direct_connect is None:
        out.append(
            _unmeasured(name, goal, "the connect workload lacks CPU figures for a direct or a pooled run")
        )
    else:
        out.append(
            Headline(
                f"{name} ({at} clients)",
                f"{ratio[0]:.2f}x (runs {ratio[1]:.2f}x to {ratio[2]:.2f}x)",
                goal,
                ratio[0] <= 0.6,
                f"direct: PostgreSQL {_median(list(direct_connect.postgresql_ms_per_tx)):.3f} ms per connection "
                "and transaction",
            )
        )
    return out


def headlines(cells: Sequence[Cell], pooled: str = "per_host_tcp") -> list[Headline]:
    """The issue's ratios, each against its goal, from the summarised cells."""
    out: list[Headline] = []
    direct_select = _completed(cells, "select", "direct")
    many = max((c.clients for c in cells if c.phase == "matrix"), default=0)
    pooled_many = find(cells, "select", pooled, many)
    name = f"{pooled} at {many} clients vs the best direct run (select)"
    goal = ">= 0.9x with <= 40 server connections"
    if direct_select and pooled_many is not None and pooled_many.tps is not None:
        best = max(direct_select, key=lambda c: c.tps or 0)
        ratio = pooled_many.tps / (best.tps or 1)
        servers = pooled_many.server_connections
        direct_many = find(cells, "select", "direct", many)
        direct_note = (
            f"; direct at {many} clients: {direct_many.status}"
            if direct_many and direct_many.tps is None
            else ""
        )
        out.append(
            Headline(
                name,
                f"{ratio:.2f}x, {servers} server connections",
                goal,
                ratio >= 0.9 and servers is not None and servers <= 40,
                f"{pooled_many.tps:.0f} tps vs direct at {best.clients} clients {best.tps:.0f} tps{direct_note}; "
                f"CPU at {many} clients: {pooled_many.cpu_text()}",
            )
        )
    else:
        out.append(_unmeasured(name, goal, "the select workload lacks a direct or a pooled run"))

    connect = [c.clients for c in _completed(cells, "connect", "direct")]
    name, goal = "connect per transaction, pooled vs direct", ">= 3x"
    at = 40 if 40 in connect else max(connect, default=0)
    pooled_connect, direct_connect = find(cells, "connect", pooled, at), find(cells, "connect", "direct", at)
    ratio = _ratio(pooled_connect, direct_connect)
    if ratio is not None and pooled_connect is not None and direct_connect is not None:
        detail = f"CPU, direct: {direct_connect.cpu_text()}; pooled: {pooled_connect.cpu_text()}"
        server_ms = _server_cpu_ms(direct_connect), _server_cpu_ms(pooled_connect)
        if None not in server_ms:
            detail += (
                f"; server-side CPU per new connection: {server_ms[0]:.2f} ms direct (PostgreSQL), "
                f"{server_ms[1]:.2f} ms pooled (PgBouncer + PostgreSQL)"
            )
        out.append(Headline(f"{name} ({pooled}, {at} clients)", f"{ratio:.2f}x", goal, ratio >= 3, detail))
    else:
        out.append(_unmeasured(name, goal, "the connect workload lacks a direct or a pooled run"))

    direct_one = find(cells, "select", "direct", 1)
    for target, label in (("per_host_tcp", "TCP"), ("per_host_socket", "unix socket")):
        name, goal = f"per-host hop over {label}, added latency at 1 client (select)", "<= 50 µs"
        added = _added_latency_us(find(cells, "select", target, 1), direct_one)
        if added is None:
            out.append(_unmeasured(name, goal, f"no {target} or direct run at 1 client"))
        else:
            out.append(Headline(name, f"{added:.0f} µs", goal, added <= 50, ""))

    name, goal = "2 processes vs 1 (select)", ">= 1.7x where PgBouncer is the bottleneck"
    tops = [c.clients for c in _completed(cells, "select", "per_host_2proc")]
    if tops:
        # Where the single process worked hardest: the likeliest place for it to be the bottleneck.
        at = max(
            tops,
            key=lambda n: (
                (c.pgbouncer_busiest_process_cores or 0) if (c := find(cells, "select", pooled, n)) else 0
            ),
        )
        one, two = find(cells, "select", pooled, at), find(cells, "select", "per_host_2proc", at)
        ratio = _ratio(two, one)
        busiest = one.pgbouncer_busiest_process_cores if one else None
        machine = one.machine_cores if one else None
        bottleneck = busiest is not None and busiest >= 0.9
        detail = (
            f"at {at} clients the single PgBouncer process used {busiest:.2f} of a core while the whole "
            f"machine was {machine:.2f} cores busy ({one.cpu_text() if one else ''})"
            if busiest is not None and machine is not None
            else "no CPU figures"
        )
        if ratio is None:
            out.append(_unmeasured(name, goal, "no 1-process run at the same client count"))
        elif bottleneck:
            out.append(Headline(name, f"{ratio:.2f}x", goal, ratio >= 1.7, detail))
        else:
            out.append(
                Headline(
                    name,
                    f"{ratio:.2f}x",
                    goal,
                    None,
                    detail + ": PgBouncer was not the bottleneck here, so the goal does not apply",
                )
            )
    else:
        out.append(_unmeasured(name, goal, "no per_host_2proc runs"))

    name, goal = "central hop through the VIP, added latency at 1 client (select)", "<= 0.3 ms"
    added = _added_latency_us(find(cells, "select", "central", 1), direct_one)
    if added is None:
        out.append(_unmeasured(name, goal, "no central or direct run at 1 client"))
    else:
        out.append(Headline(name, f"{added / 1000:.3f} ms", goal, added <= 300, ""))
    return out + cpu_headlines(cells, pooled)


def _fmt(value: float | None, spec: str = ".0f") -> str:
    return "-" if value is None else format(value, spec)


def _cell_text(cell: Cell | None) -> str:
    if cell is None:
        return ""
    if cell.tps is None:
        return cell.status
    spread = cell.spread_pct
    return f"{cell.tps:.0f} (±{spread / 2:.0f}%)" if spread is not None else f"{cell.tps:.0f}"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def markdown(
    cells: Sequence[Cell],
    heads: Sequence[Headline],
    context: dict[str, object],
    deploy: Sequence[dict[str, object]],
) -> str:
    """The report: context, headline ratios, throughput and server-connection tables, the sweep."""
    matrix = [c for c in cells if c.phase == "matrix"]
    lines = [f"# PgBouncer toolkit benchmark, {context.get('date', '')}", ""]
    lines += [f"- {key}: {value}" for key, value in context.items() if key != "date"]
    if matrix:
        lines += _runs_sections(cells, heads, matrix)
    if deploy:
        lines += ["", "## Deploy speed", ""]
        lines += _table(
            ["step", "seconds", "hosts", "changed"],
            [
                [str(d["step"]), f"{float(d['seconds']):.1f}", str(d["hosts"]), str(d["changed"])]
                for d in deploy
            ],
        )
    lines += _watching_section(cells)
    failed = [c for c in cells if c.status not in ("completed", "refused")]
    if failed:
        lines += ["", "## Runs that failed", ""]
        lines += [f"- {c.workload} {c.target} {c.clients} clients: {c.message}" for c in failed]
    return "\n".join(lines) + "\n"


def _runs_sections(cells: Sequence[Cell], heads: Sequence[Headline], matrix: Sequence[Cell]) -> list[str]:
    targets = list(dict.fromkeys(c.target for c in matrix))
    clients = sorted({c.clients for c in matrix})
    lines = ["", "## Headline ratios", ""]
    verdict = {True: "met", False: "missed", None: "n/a"}
    lines += _table(
        ["ratio", "measured", "goal", "verdict", "detail"],
        [[h.name, h.value, h.goal, verdict[h.met], h.detail] for h in heads],
    )
    for workload in dict.fromkeys(c.workload for c in matrix):
        lines += ["", f"## {WORKLOADS[workload].label}: median tps (± half the spread)", ""]
        rows = []
        for n in clients:
            row = [str(n)] + [_cell_text(find(cells, workload, t, n)) for t in targets]
            if any(row[1:]):
                rows.append(row)
        lines += _table(["clients", *targets], rows)
        latency = [find(cells, workload, t, 1) for t in targets]
        if any(c is not None and c.latency_ms is not None for c in latency):
            lines += [
                "",
                "Latency at 1 client (median ms): "
                + ", ".join(
                    f"{t} {_fmt(c.latency_ms, '.3f')}" for t, c in zip(targets, latency, strict=True) if c
                ),
            ]
    lines += ["", "## Peak server connections (select-only)", ""]
    lines += _table(
        ["clients", *targets],
        [
            [str(n)]
            + [_fmt(c.server_connections, "d") if (c := find(cells, "select", t, n)) else "" for t in targets]
            for n in clients
        ],
    )
    sweep = sorted((c for c in cells if c.phase == "sweep"), key=lambda c: (c.workload, c.pool_size or 0))
    if sweep:
        lines += ["", f"## Pool-size sweep at {sweep[0].clients} clients ({sweep[0].target})", ""]
        lines += _table(
            ["workload", "pool_size", "median tps", "spread", "peak server connections", "median latency ms"],
            [
                [
                    c.workload,
                    str(c.pool_size),
                    _cell_text(c),
                    f"{_fmt(c.spread_pct)}%",
                    _fmt(c.server_connections, "d"),
                    _fmt(c.latency_ms, ".1f"),
                ]
                for c in sweep
            ],
        )
    return lines


def plots(cells: Sequence[Cell], directory: str) -> list[str]:
    """PNG plots: tps against clients per target, latency at 1 client, server connections, the sweep."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[str] = []
    matrix = [c for c in cells if c.phase == "matrix"]
    if not matrix:
        return written
    targets = list(dict.fromkeys(c.target for c in matrix))
    workloads = list(dict.fromkeys(c.workload for c in matrix))
    # One colour per target in every plot, whichever targets a workload ran.
    colour = {target: f"C{i}" for i, target in enumerate(targets)}

    def line_per_target(ax: object, workload: str, value: Callable[[Cell], float | None]) -> None:
        for target in targets:
            points = sorted(
                (c.clients, v)
                for c in matrix
                if (c.workload, c.target) == (workload, target) and c.tps and (v := value(c)) is not None
            )
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", label=target, color=colour[target])  # type: ignore[attr-defined]

    fig, axes = plt.subplots(1, len(workloads), figsize=(4.5 * len(workloads), 4), squeeze=False)
    for ax, workload in zip(axes[0], workloads, strict=True):
        line_per_target(ax, workload, lambda c: c.tps)
        ax.set_title(WORKLOADS[workload].label, fontsize=9)
        _log_axes(ax, "clients", "tps (median)", legend_size=7)
    fig.tight_layout()
    written.append(_save(fig, directory, "tps_by_clients.png"))

    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / max(1, len(workloads))
    for i, workload in enumerate(workloads):
        values = [
            (c.latency_ms if (c := find(cells, workload, t, 1)) and c.latency_ms is not None else 0)
            for t in targets
        ]
        ax.bar([x + i * width for x in range(len(targets))], values, width, label=workload)
    ax.set_xticks([x + width * (len(workloads) - 1) / 2 for x in range(len(targets))], targets, fontsize=8)
    ax.set_ylabel("latency at 1 client, ms (median)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    written.append(_save(fig, directory, "latency_one_client.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    line_per_target(ax, "select", lambda c: c.server_connections)
    _log_axes(ax, "clients", "peak server connections (select-only)")
    fig.tight_layout()
    written.append(_save(fig, directory, "server_connections.png"))

    sweep = [c for c in cells if c.phase == "sweep" and c.tps]
    if sweep:
        fig, ax = plt.subplots(figsize=(6, 4))
        for workload in dict.fromkeys(c.workload for c in sweep):
            points = sorted((c.pool_size, c.tps) for c in sweep if c.workload == workload)
            ax.plot(*zip(*points, strict=True), marker="o", label=workload)
        _log_axes(ax, f"pool_size ({sweep[0].clients} clients)", "tps (median)")
        fig.tight_layout()
        written.append(_save(fig, directory, "pool_size_sweep.png"))
    plt.close("all")
    return written


def _log_axes(ax: object, xlabel: str, ylabel: str, legend_size: int = 8) -> None:
    """A logarithmic x axis, both labels, a light grid and the legend."""
    ax.set_xscale("log")  # type: ignore[attr-defined]
    ax.set_xlabel(xlabel)  # type: ignore[attr-defined]
    ax.set_ylabel(ylabel)  # type: ignore[attr-defined]
    ax.grid(True, alpha=0.3)  # type: ignore[attr-defined]
    ax.legend(fontsize=legend_size)  # type: ignore[attr-defined]


def _save(fig: object, directory: str, name: str) -> str:
    path = os.path.join(directory, name)
    fig.savefig(path, dpi=100)  # type: ignore[attr-defined]
    return path


def watching_cost_pct(cells: Sequence[Cell]) -> tuple[float, float] | None:
    """(change of the median tps with the exporter scraped against stopped, in percent; the larger
    spread of the two, in percent, the noise it is judged against), or None without both."""
    watching = [c for c in cells if c.phase == "watching" and c.status == "completed" and c.tps]
    if len(watching) != 2:
        return None
    stopped, scraped = sorted(watching, key=lambda c: "scraped" in c.target)
    change = 100 * (scraped.tps - stopped.tps) / stopped.tps  # type: ignore[operator]
    noise = max(stopped.spread_pct or 0.0, scraped.spread_pct or 0.0)
    return change, noise


def _watching_section(cells: Sequence[Cell]) -> list[str]:
    watching = [c for c in cells if c.phase == "watching"]
    if not watching:
        return []
    lines = ["", f"## Cost of watching ({watching[0].workload}, {watching[0].clients} clients)", ""]
    lines += _table(
        ["state", "runs", "median tps", "spread", "median latency ms"],
        [
            [c.target, str(c.runs), _cell_text(c), f"{_fmt(c.spread_pct)}%", _fmt(c.latency_ms, ".3f")]
            for c in watching
        ],
    )
    cost = watching_cost_pct(cells)
    if cost is not None:
        change, noise = cost
        within = "within" if abs(change) <= noise else "outside"
        lines += [
            "",
            f"Scraped against stopped: {change:+.1f}% median tps, {within} the runs' own spread "
            f"({noise:.1f}%).",
        ]
    return lines
