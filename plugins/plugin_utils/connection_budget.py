"""The server-connection budget: how many PostgreSQL connections the poolers can hold at worst.

Every PgBouncer process keeps its own pools and opens server connections for a pool up to the
pool's limits. The pooler's model (pooler_model, pool_sizes) lists each host's pools with their
size, reserve and caps, and the variable each comes from; this module counts from that list the
most connections all processes on all pooler hosts can hold at once, and compares that with what
the PostgreSQL server has for them. It reads no inventory value itself.

Counting rules, each PgBouncer's own:

- A pool size of 0 means unlimited (PgBouncer 1.24+; before that such a pool opened almost
  nothing, so unlimited is the safe reading): only a cap bounds it.
- Caps, per process: all pools of one entry together hold at most max_db_connections, all pools
  of one role together at most max_user_connections. The caps count the reserve too (PgBouncer
  checks them after granting a reserve connection). An entry, not a PostgreSQL database, is what
  max_db_connections counts: two entries with the same dbname have a cap each.
- With caps, the worst case is the largest set of connections every limit allows at once: a
  maximum flow from the entries (capacity max_db_connections) through the pools (capacity pool
  size + reserve) to the roles (capacity max_user_connections). It is exact, not a sum of minima.
- Per host: that per-process worst case times the host's processes; hosts add up.
- Not counted: connections PgBouncer opens only to send a cancel request (the server treats them
  before they take a max_connections slot), and the pools of entries that point at another
  server (the model's ``elsewhere``, each listed in ``notes``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.pool_sizes import (
    Pool,
    pool_of,
    worst_per_process,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import (
    ConfigError,
    as_list,
    integer,
)

HEADROOM_VARIABLE = "pgbouncer_postgresql_budget_headroom"
ACCEPT_RISK_VARIABLE = "pgbouncer_postgresql_budget_accept_risk"
PROCESSES_VARIABLE = "pgbouncer_processes"
# How many pools an over-budget message names, largest first.
LARGEST_NAMED = 5


class Row(TypedDict):
    """One pool as it exists on one or more pooler hosts with the same sizes."""

    pool: str  # "entry / role", "(auth_query)" added for the lookup pool
    database: str  # the pgbouncer_databases entry (or pgbouncer_auth_database)
    role: str
    auth_query: bool
    pool_size: int  # 0 = unlimited
    reserve: int  # 0 when reserve_pool_timeout is 0
    per_process: int | None  # pool_size + reserve; None = unlimited
    per_process_worst: int | None  # what the pool holds per process at worst, after the caps
    capped: bool  # a cap holds this pool's entry or role below what its pools could open
    host_names: list[str]
    hosts: int
    processes: list[int]  # per host, in host_names order
    worst_case: int | None  # per_process_worst x sum(processes); None = unbounded
    share: float | None  # % of the available connections; None when there are none
    size_variable: str  # the variable its pool size comes from
    reserve_variable: str | None  # the variable its reserve comes from (None: no reserve)
    cap_variables: list[str]  # the caps that hold it


class Cap(TypedDict):
    """A max_db_connections or max_user_connections that holds pools below their sizes."""

    variable: str
    scope: str  # "entry 'app'" or "role 'celery'"
    limit: int
    demand: int | None  # what its pools could open per process without it; None = unlimited
    host_names: list[str]


class Report(TypedDict):
    rows: list[Row]
    total: int | None  # None when a pool is unbounded
    available: int | None  # None when the server or headroom values cannot be read
    headroom: int | None  # as read; None when it cannot be read
    caps: list[Cap]
    unbounded: list[str]  # one error per unbounded pool, naming the variable
    notes: list[str]  # poolers that are not mappings, entries that point at another server


# --------------------------------------------------------------------------------------------
# Reading the model


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _binding_caps(pools: Sequence[Pool]) -> list[tuple[str, str, int, int | None]]:
    """The caps below what their pools could open: (variable, scope, limit, demand or None)."""
    caps: list[tuple[str, str, int, int | None]] = []
    for attribute, kind in (("database", "entry"), ("role", "role")):
        groups: dict[str, list[Pool]] = {}
        for p in pools:
            groups.setdefault(getattr(p, attribute), []).append(p)
        for name, members in groups.items():
            limit = members[0].db_cap if kind == "entry" else members[0].user_cap
            variable = members[0].db_cap_variable if kind == "entry" else members[0].user_cap_variable
            if not limit or variable is None:
                continue
            bounds = [p.bound for p in members]
            demand = None if None in bounds else sum(b or 0 for b in bounds)
            if demand is None or demand > limit:
                caps.append((variable, f"{kind} {name!r}", limit, demand))
    return caps


# --------------------------------------------------------------------------------------------
# The budget


def available_connections(server: Mapping[str, Any], headroom: object) -> tuple[int | None, str, list[str]]:
    """(available, the arithmetic as text, problems): max_connections - superuser_reserved_connections
    - reserved_connections - headroom; None when a value cannot be read."""
    problems: list[str] = []
    values: dict[str, int] = {}
    server = _mapping(server)
    for key, required in (
        ("max_connections", True),
        ("superuser_reserved_connections", True),
        ("reserved_connections", False),
    ):
        value = server.get(key)
        if value is None and not required:
            values[key] = 0  # PostgreSQL before 16 has no reserved_connections
            continue
        try:
            values[key] = integer(value, f"server {key}")
        except ConfigError as exc:
            problems.append(str(exc))
    try:
        values["headroom"] = integer(headroom, HEADROOM_VARIABLE)
        if values["headroom"] < 0:
            problems.append(f"{HEADROOM_VARIABLE}: {values['headroom']} must be 0 or more")
    except ConfigError as exc:
        problems.append(str(exc))
    if problems:
        return None, "cannot be computed: " + "; ".join(problems), problems
    available = (
        values["max_connections"]
        - values["superuser_reserved_connections"]
        - values["reserved_connections"]
        - values["headroom"]
    )
    text = (
        f"max_connections {values['max_connections']} - superuser_reserved_connections "
        f"{values['superuser_reserved_connections']} - reserved_connections {values['reserved_connections']} "
        f"- headroom {values['headroom']} = {available}"
    )
    return available, text, []


def _headroom(headroom: object) -> int | None:
    """The headroom as read; None when it is not a count."""
    try:
        number = integer(headroom, HEADROOM_VARIABLE)
    except ConfigError:
        return None
    return number if number >= 0 else None


def _share(connections: int | None, available: int | None) -> float | None:
    if connections is None or available is None or available <= 0:
        return None
    return round(100 * connections / available, 1)


def worst_case(
    poolers: Sequence[Mapping[str, Any]], server: Mapping[str, Any], headroom: object = 0
) -> Report:
    """The most server connections the poolers can hold at once, pool by pool.

    ``poolers``: one mapping per pooler host, {"host": name, "processes": how many PgBouncer
    processes it runs, "pools" and "elsewhere": from its model (pooler_model)}. ``server``:
    {"max_connections", "superuser_reserved_connections", "reserved_connections"} (postgresql_facts);
    with ``headroom`` it gives ``available`` and each row's ``share`` of it.

    The auth_query pool (pgbouncer_auth_user on pgbouncer_auth_database) is counted like any other
    pool because it is one: PgBouncer runs every lookup on server connections of that pool, sized
    by pgbouncer_auth_pool_size. During a login storm (clients reconnecting after a restart or
    failover) each process opens up to that many lookup connections, and they stay open until
    server_idle_timeout.

    Rows are ordered by entry, then role, in declaration order, the auth_query pool last; hosts
    whose pool has the same sizes share a row. See the module docstring for the counting rules.
    """
    notes: list[str] = []
    rows: dict[tuple[Any, ...], Row] = {}
    order: dict[tuple[Any, ...], tuple[int, int, int]] = {}
    database_order: dict[str, int] = {}
    pair_order: dict[tuple[str, str], int] = {}
    caps: dict[tuple[str, str, int, int | None], list[str]] = {}
    unbounded: dict[str, list[str]] = {}
    available, _arithmetic, _problems = available_connections(server, headroom)

    for index, pooler in enumerate(as_list(poolers)):
        if not isinstance(pooler, Mapping):
            notes.append(f"pooler {index}: not a mapping; not counted")
            continue
        host = str(pooler.get("host") or f"pooler {index}")
        processes = int(pooler.get("processes", 1))
        pools = [pool_of(pool) for pool in as_list(pooler.get("pools")) if not pool.get("elsewhere")]
        notes.extend(f"{host}: {note}" for note in as_list(pooler.get("elsewhere")))
        worst = worst_per_process(pools)
        host_caps = _binding_caps(pools)
        for cap in host_caps:
            caps.setdefault(cap, []).append(host)
        for p, per_process_worst in zip(pools, worst, strict=True):
            database_order.setdefault(p.database, len(database_order))
            pair_order.setdefault((p.database, p.role), len(pair_order))
            cap_variables = [
                variable
                for variable, scope, _limit, _demand in host_caps
                if scope in (f"entry {p.database!r}", f"role {p.role!r}")
            ]
            if per_process_worst is None:
                message = (
                    f"{p.label}: {p.size_variable} makes its pool size 0, which PgBouncer 1.24+ reads as "
                    f"unlimited, and no max_db_connections (pgbouncer_settings or the entry's settings) or "
                    f"max_user_connections (pgbouncer_settings or the role's pool) caps it: its server "
                    f"connections are unbounded. Set a positive pool size or one of those caps"
                )
                unbounded.setdefault(message, []).append(host)
            key = (
                p.database,
                p.role,
                p.auth_query,
                p.pool_size,
                p.reserve,
                per_process_worst,
                *cap_variables,
            )
            row = rows.get(key)
            if row is None:
                row = rows[key] = Row(
                    pool=p.label,
                    database=p.database,
                    role=p.role,
                    auth_query=p.auth_query,
                    pool_size=p.pool_size,
                    reserve=p.reserve,
                    per_process=p.bound,
                    per_process_worst=per_process_worst,
                    capped=bool(cap_variables),
                    host_names=[],
                    hosts=0,
                    processes=[],
                    worst_case=None if per_process_worst is None else 0,
                    share=None,
                    size_variable=p.size_variable,
                    reserve_variable=p.reserve_variable,
                    cap_variables=cap_variables,
                )
                order[key] = (int(p.auth_query), database_order[p.database], pair_order[p.database, p.role])
            row["host_names"].append(host)
            row["hosts"] += 1
            row["processes"].append(processes)
            if per_process_worst is not None and row["worst_case"] is not None:
                row["worst_case"] += per_process_worst * processes

    ordered = [rows[key] for key in sorted(rows, key=order.__getitem__)]
    for row in ordered:
        row["share"] = _share(row["worst_case"], available)
    total = None if unbounded else sum(row["worst_case"] or 0 for row in ordered)
    return Report(
        rows=ordered,
        total=total,
        available=available,
        headroom=_headroom(headroom),
        caps=[
            Cap(variable=variable, scope=scope, limit=limit, demand=demand, host_names=hosts)
            for (variable, scope, limit, demand), hosts in caps.items()
        ],
        unbounded=[f"{message} (on {', '.join(hosts)})" for message, hosts in unbounded.items()],
        notes=notes,
    )


def _processes_text(processes: Sequence[int]) -> str:
    return str(processes[0]) if len(set(processes)) == 1 else "+".join(str(n) for n in processes)


def _row_arithmetic(row: Row) -> str:
    per_process = "unlimited" if row["per_process"] is None else str(row["per_process"])
    text = f"{per_process} per process"
    if row["capped"]:
        text += f", {row['per_process_worst']} after the caps"
    processes = sum(row["processes"])
    text += f" x {processes} process{'es' if processes != 1 else ''} on {row['hosts']} host"
    return text + ("s" if row["hosts"] != 1 else "")


def budget_errors(
    report: Report, server: Mapping[str, Any], headroom: object, accept_risk: bool
) -> list[str]:
    """[] or what stops the run: unreadable server values or headroom, unbounded pools (always),
    and a worst case above the available connections (unless ``accept_risk``), naming the largest
    pools and the variables that shrink them."""
    available, arithmetic, problems = available_connections(server, headroom)
    errors = [f"connection budget: {problem}" for problem in problems]
    errors.extend(f"connection budget: {message}" for message in report["unbounded"])
    total = report["total"]
    if accept_risk or available is None or total is None or total <= available:
        return errors
    largest = sorted(
        (row for row in report["rows"] if row["worst_case"]), key=lambda row: -(row["worst_case"] or 0)
    )[:LARGEST_NAMED]
    variables: list[str] = []
    described = []
    for row in largest:
        levers = [row["size_variable"]]
        if row["reserve_variable"]:
            levers.append(row["reserve_variable"])
        levers.extend(row["cap_variables"])
        variables.extend(lever for lever in levers if lever not in variables)
        described.append(f"{row['pool']} {row['worst_case']} ({_row_arithmetic(row)}; {', '.join(levers)})")
    if any(n > 1 for row in report["rows"] for n in row["processes"]):
        variables.append(PROCESSES_VARIABLE)
    errors.append(
        f"connection budget: in the worst case the poolers hold {total} server connections, "
        f"{total - available} more than the {available} PostgreSQL has for them ({arithmetic}). "
        f"Largest pools: {'; '.join(described)}. Shrink {', '.join(variables)}; or raise max_connections "
        f"on the server; or lower {HEADROOM_VARIABLE}; or set {ACCEPT_RISK_VARIABLE} to accept the risk"
    )
    return errors


def budget_table(report: Report, server: Mapping[str, Any], headroom: object) -> str:
    """The report as fixed-width text for a debug message: one line per pool, then the total,
    the available connections with their arithmetic, and the caps, unbounded pools and notes."""
    available, arithmetic, _problems = available_connections(server, headroom)
    all_hosts = {host for row in report["rows"] for host in row["host_names"]}
    lines = [("pool", "per process", "hosts", "processes", "worst case", "share")]
    for row in report["rows"]:
        label = row["pool"]
        if len(all_hosts) > 1 and set(row["host_names"]) != all_hosts:
            label += f" [{', '.join(row['host_names'])}]"
        if row["per_process"] is None:
            per_process = "unlimited"
        elif row["reserve"]:
            per_process = f"{row['per_process']} ({row['pool_size']}+{row['reserve']})"
        else:
            per_process = str(row["per_process"])
        if row["worst_case"] is None:
            worst = "unbounded"
        else:
            worst = f"{row['worst_case']}{'*' if row['capped'] else ''}"
        share = _share(row["worst_case"], available)
        lines.append(
            (
                label,
                per_process,
                str(row["hosts"]),
                _processes_text(row["processes"]),
                worst,
                "-" if share is None else f"{share}%",
            )
        )
    total = report["total"]
    total_share = _share(total, available)
    lines.append(
        (
            "total",
            "",
            "",
            "",
            "unbounded" if total is None else str(total),
            "-" if total_share is None else f"{total_share}%",
        )
    )
    widths = [max(len(line[column]) for line in lines) for column in range(6)]

    def render(line: tuple[str, ...]) -> str:
        cells = [line[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True)
        ]
        return "  ".join(cells).rstrip()

    text = [render(lines[0]), "  ".join("-" * width for width in widths)]
    text.extend(render(line) for line in lines[1:-1])
    text.append("  ".join("-" * width for width in widths))
    text.append(render(lines[-1]))
    text.append(f"available: {arithmetic}")
    if total is not None and available is not None:
        text.append(
            f"over budget by {total - available}"
            if total > available
            else f"within budget: {available - total} to spare"
        )
    for cap in report["caps"]:
        could = "unlimited" if cap["demand"] is None else str(cap["demand"])
        text.append(
            f"* {cap['variable']} = {cap['limit']} holds the pools of {cap['scope']} to {cap['limit']} per "
            f"process (they could open {could}) on {', '.join(cap['host_names'])}"
        )
    text.extend(f"unbounded: {message}" for message in report["unbounded"])
    text.extend(f"note: {note}" for note in report["notes"])
    return "\n".join(text)
