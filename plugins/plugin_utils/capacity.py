"""Capacity from the application side: the process types each application host declares, the
client slots they bring to each pooler, and the pool each PgBouncer process needs for them.

A *slot* is one thing that may hold a database connection at once: a Gunicorn thread (or
greenlet), a Celery child, a consumer's thread, a management command. Each slot opens one client
connection per alias it uses (``aliases``). ``in_transaction`` is the share of the time a slot is
inside a transaction; in transaction pooling only then does it hold a server connection. A slot on
a session-mode entry holds one for its whole session, so there it counts in full.

The arithmetic, per pooler host and per pool (entry, role):

- Slots that arrive: per_host, the host's own; central, every central application host's slots
  spread evenly over the central poolers (HAProxy balances by least connections).
- Concurrent transactions per PgBouncer process: each slot lands on one of the host's processes
  (so_reuseport hashes connections, it does not balance them) and is inside a transaction with
  its share, so a process sees a sum of independent Bernoulli(share / processes). The pool the
  toolkit recommends per process is that sum's 99th percentile: with it, a client waits for a
  server connection less than 1% of the time, if slots work independently. The mean alone (the
  pencil figure) leaves clients waiting a good part of the time.
- Client connections per process (``max_client_conn``): every slot of the host when one process
  is restarting (its clients reconnect to the others) and, on a central pooler, when the other
  central pooler is down (the VIP sends every client to the survivor): the 99.9th percentile of
  the slots that land on one process then. Fewer than that is refused: clients past it get an
  error, not a wait.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.topology import (
    APP_GROUP,
    CENTRAL,
    CENTRAL_GROUP,
    group,
    topology_of,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import (
    ConfigError,
    integer,
)

VARIABLE = "pgbouncer_app_files_processes"
APPLY_VARIABLE = "pgbouncer_capacity_apply"
# Gunicorn's and Celery's own names; a type's slots come from the keys of its kind.
KIND_KEYS: dict[str, dict[str, tuple[int, int]]] = {
    "gunicorn": {"workers": (1, 1024), "threads": (1, 1024), "worker_connections": (1, 100000)},
    "celery": {"concurrency": (1, 10000)},
    "worker": {"processes": (1, 10000), "threads": (1, 10000)},
    "jobs": {"count": (1, 10000)},
}
REQUIRED_KEYS = {"gunicorn": "workers", "celery": "concurrency", "jobs": "count"}
CHOICE_KEYS: dict[str, dict[str, tuple[str, ...]]] = {
    "gunicorn": {"worker_class": ("sync", "gthread", "gevent", "eventlet")},
    "celery": {"pool": ("prefork", "threads", "gevent", "eventlet", "solo")},
}
COMMON_KEYS = ("name", "kind", "aliases", "instances", "in_transaction")
GREEN = ("gevent", "eventlet")
# A Django request spends part of its time outside any transaction (templates, the network, other
# services); with ATOMIC_REQUESTS or a task that only works on the database, declare 1.
DEFAULT_IN_TRANSACTION = 0.5
MAX_INSTANCES = 1000
# The process type's name: APP_PROCESS_TYPE, the file names of its fragments, and the suffix of
# application_name (an alias's name of 48 characters, "-", the type: PostgreSQL keeps 63).
NAME = re.compile(r"[a-z][a-z0-9_]{0,13}")
# This process type uses the session-mode entry of its aliases (django_databases.py switches).
SESSION_PROCESS_TYPE = "migration"
POOL_QUANTILE = 0.99
CLIENT_QUANTILE = 0.999
# Above this many slots the exact distribution is replaced by the normal approximation.
EXACT_LIMIT = 2000
# A pool more than this many times the recommendation (and 2 more) is reported as large.
LARGE_FACTOR = 2


@dataclass(frozen=True)
class ProcessType:
    """A checked declaration: the slots it brings and the pools (entry, role) they reach."""

    host: str
    name: str
    kind: str
    slots: int
    arithmetic: str  # "2 instances x 4 workers x 2 threads"
    in_transaction: float
    pools: list[list[str]]  # [[entry, role], ...], one per alias it uses
    settings: dict[str, Any]  # what its fragment renders (workers, threads, concurrency, ...)


# --------------------------------------------------------------------------------------------
# The declarations


def _share(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(f"{where}: must be a number above 0 and at most 1, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{where}: must be a number above 0 and at most 1, got {value!r}") from None
    if not 0 < number <= 1:
        raise ConfigError(f"{where}: must be above 0 and at most 1 (a share of the time), got {value!r}")
    return number


def _settings(item: Mapping[str, Any], kind: str, where: str, errors: list[str]) -> dict[str, Any]:
    """The kind's keys, checked, with their defaults; unknown keys are errors."""
    allowed = (*COMMON_KEYS, *KIND_KEYS[kind], *CHOICE_KEYS.get(kind, {}))
    for key in item:
        if key not in allowed:
            errors.append(
                f"{where}.{key}: is not a key of kind {kind!r} (its keys: {', '.join(sorted(allowed))})"
            )
    settings: dict[str, Any] = {}
    for key, (low, high) in KIND_KEYS[kind].items():
        if item.get(key) is None:
            if REQUIRED_KEYS.get(kind) == key:
                errors.append(f"{where}.{key}: is required for kind {kind!r}")
            continue
        try:
            settings[key] = integer(item[key], f"{where}.{key}", low, high)
        except ConfigError as exc:
            errors.append(f"{exc} (from {low} to {high})")
    for key, choices in CHOICE_KEYS.get(kind, {}).items():
        value = item.get(key, choices[0])
        if value not in choices:
            errors.append(f"{where}.{key}: must be one of {', '.join(choices)}, got {value!r}")
        settings[key] = value
    return settings


def _slots(kind: str, settings: Mapping[str, Any], where: str, errors: list[str]) -> tuple[int, str]:
    """(slots of one instance, the arithmetic)."""
    if kind == "gunicorn":
        workers = settings.get("workers", 1)
        worker_class = settings["worker_class"]
        if worker_class in GREEN:
            if "threads" in settings:
                errors.append(f"{where}.threads: {worker_class} workers run greenlets, not threads")
            connections = settings.get("worker_connections", 1000)  # Gunicorn's default
            return workers * connections, f"{workers} workers x {connections} {worker_class} connections"
        if "worker_connections" in settings:
            errors.append(f"{where}.worker_connections: only gevent and eventlet workers use it")
        threads = settings.get("threads", 1)
        # Gunicorn runs sync workers with threads > 1 as gthread.
        return workers * threads, f"{workers} workers x {threads} threads"
    if kind == "celery":
        concurrency = settings.get("concurrency", 1)
        if settings["pool"] == "solo":
            if concurrency != 1:
                errors.append(f"{where}.concurrency: the solo pool runs one task at a time; set 1")
            return 1, "solo pool"
        return concurrency, f"concurrency {concurrency} ({settings['pool']})"
    if kind == "worker":
        processes, threads = settings.get("processes", 1), settings.get("threads", 1)
        return processes * threads, f"{processes} processes x {threads} threads"
    count = settings.get("count", 1)
    return count, f"{count} at once"


def process_types(
    declared: object, app_databases: object, host: str = "", variable: str = VARIABLE
) -> tuple[list[ProcessType], list[str]]:
    """(the checked process types, every problem naming its item). ``app_databases`` is the host's
    pgbouncer_app_files_databases (checked on its own): each alias gives the entry and role."""
    errors: list[str] = []
    if declared is None:
        return [], []
    if not isinstance(declared, Sequence) or isinstance(declared, (str, bytes)):
        return [], [f"{variable}: must be a list of process types"]
    aliases: dict[str, Mapping[str, Any]] = {
        str(item.get("alias")): item
        for item in (app_databases if isinstance(app_databases, Sequence) else [])
        if isinstance(item, Mapping)
    }
    result: list[ProcessType] = []
    names: set[str] = set()
    for index, item in enumerate(declared):
        where = f"{variable}[{index}]"
        if not isinstance(item, Mapping):
            errors.append(f"{where}: must be a mapping with name and kind")
            continue
        local: list[str] = []
        name = item.get("name")
        if not isinstance(name, str) or not NAME.fullmatch(name):
            local.append(
                f"{where}.name: {name!r} must be 1 to 14 lower-case letters, digits and '_', starting "
                "with a letter (APP_PROCESS_TYPE, and the end of application_name)"
            )
        elif name in names:
            local.append(f"{where}.name: {name!r} is declared twice")
        else:
            names.add(name)
        kind = item.get("kind")
        if kind not in KIND_KEYS:
            errors.extend([*local, f"{where}.kind: must be one of {', '.join(KIND_KEYS)}, got {kind!r}"])
            continue
        settings = _settings(item, kind, where, local)
        instances = 1
        try:
            instances = integer(item.get("instances", 1), f"{where}.instances", 1, MAX_INSTANCES)
        except ConfigError as exc:
            local.append(f"{exc} (from 1 to {MAX_INSTANCES})")
        share = DEFAULT_IN_TRANSACTION
        try:
            share = _share(item.get("in_transaction", DEFAULT_IN_TRANSACTION), f"{where}.in_transaction")
        except ConfigError as exc:
            local.append(str(exc))
        used = item.get("aliases", ["default"])
        pools: list[list[str]] = []
        if not isinstance(used, Sequence) or isinstance(used, (str, bytes)) or not used:
            local.append(f"{where}.aliases: must be a list of aliases of pgbouncer_app_files_databases")
            used = []
        for position, alias in enumerate(used):
            entry = aliases.get(str(alias)) if isinstance(alias, str) else None
            if entry is None:
                hint = "" if "aliases" in item else " (not given: it defaults to ['default'])"
                local.append(
                    f"{where}.aliases[{position}]: {alias!r} is not an alias of "
                    f"pgbouncer_app_files_databases{hint}"
                )
                continue
            database = entry.get("database")
            if name == SESSION_PROCESS_TYPE and entry.get("session_database"):
                database = entry["session_database"]
            pool = [str(database), str(entry.get("role"))]
            if pool in pools:
                local.append(
                    f"{where}.aliases[{position}]: {alias!r} reaches a pool an earlier alias reaches"
                )
            pools.append(pool)
        per_instance, arithmetic = _slots(kind, settings, where, local)
        errors.extend(local)
        if local:
            continue
        if instances != 1:
            arithmetic = f"{instances} instances x {arithmetic}"
        result.append(
            ProcessType(
                host=host,
                name=str(name),
                kind=kind,
                slots=instances * per_instance,
                arithmetic=arithmetic,
                in_transaction=share,
                pools=pools,
                settings=settings,
            )
        )
    return result, errors


def fragment_name(kind: str, name: str) -> str | None:
    """The file the application-side role renders for a process type: Gunicorn's config file, a
    module of Celery settings; None for the kinds with no settings of their own."""
    return {"gunicorn": f"gunicorn_{name}.conf.py", "celery": f"celery_{name}.py"}.get(kind)


# --------------------------------------------------------------------------------------------
# Sums of independent Bernoulli trials


def _binomial(count: int, p: float) -> list[float]:
    """P(X = k) for k = 0..count, X ~ Binomial(count, p), through logarithms (no overflow)."""
    if p >= 1:
        return [0.0] * count + [1.0]
    log_p, log_q = math.log(p), math.log1p(-p)
    return [
        math.exp(
            math.lgamma(count + 1)
            - math.lgamma(k + 1)
            - math.lgamma(count - k + 1)
            + k * log_p
            + (count - k) * log_q
        )
        for k in range(count + 1)
    ]


def distribution(trials: Sequence[tuple[int, float]]) -> list[float]:
    """P(X = k), X the sum of ``count`` independent Bernoulli(p) for each (count, p) in ``trials``."""
    result = [1.0]
    for count, p in trials:
        if count <= 0 or p <= 0:
            continue
        part = _binomial(count, p)
        combined = [0.0] * (len(result) + len(part) - 1)
        for i, a in enumerate(result):
            if a < 1e-300:
                continue
            for j, b in enumerate(part):
                combined[i + j] += a * b
        result = combined
    return result


def quantile(trials: Sequence[tuple[int, float]], q: float) -> int:
    """The smallest k with P(X <= k) >= q for X as in :func:`distribution` (exact up to
    EXACT_LIMIT trials, the normal approximation above)."""
    total = sum(count for count, p in trials if p > 0)
    if total == 0:
        return 0
    if total > EXACT_LIMIT:
        mean, deviation = _moments(trials)
        return min(total, math.ceil(mean + NormalDist().inv_cdf(q) * deviation + 0.5))
    cumulative = 0.0
    for k, weight in enumerate(distribution(trials)):
        cumulative += weight
        if cumulative >= q - 1e-9:
            return k
    return total


def exceed_probability(trials: Sequence[tuple[int, float]], limit: int) -> float:
    """P(X > limit) for X as in :func:`distribution` (the normal approximation above EXACT_LIMIT)."""
    total = sum(count for count, p in trials if p > 0)
    if limit >= total:
        return 0.0
    if total > EXACT_LIMIT:
        mean, deviation = _moments(trials)
        return 0.5 * math.erfc((limit + 0.5 - mean) / (deviation or 1.0) / math.sqrt(2))
    return max(0.0, 1.0 - sum(distribution(trials)[: limit + 1]))


def _moments(trials: Sequence[tuple[int, float]]) -> tuple[float, float]:
    """The mean and the standard deviation of X as in :func:`distribution`."""
    mean = sum(count * p for count, p in trials)
    return mean, math.sqrt(sum(count * p * (1 - p) for count, p in trials))


# --------------------------------------------------------------------------------------------
# Per pooler


def sources(pooler: str, groups: Mapping[str, Sequence[str]], hostvars: Mapping[str, Any]) -> dict[str, Any]:
    """What reaches ``pooler``: {"hosts": the application hosts, "poolers": how many poolers share
    them, "process_types": [checked declarations as dicts], "errors": the problems of the other hosts'
    declarations, each prefixed with its host}. A per_host pooler serves its own processes; a central one, every
    central application host's, with the other central poolers."""
    central = group(groups, CENTRAL_GROUP)
    if pooler in central:
        hosts = [h for h in group(groups, APP_GROUP) if topology_of(h, groups, hostvars) == CENTRAL]
        poolers = len(central)
    else:
        hosts, poolers = [pooler], 1
    found: list[dict[str, Any]] = []
    errors: list[str] = []
    for host in hosts:
        variables = hostvars.get(host) or {}
        declared, problems = process_types(
            variables.get(VARIABLE), variables.get("pgbouncer_app_files_databases") or [], host
        )
        found.extend(asdict(item) for item in declared)
        # The pooler's own declarations are reported by its own check (pgbouncer_app_files).
        if host != pooler:
            errors.extend(f"{host}: {problem}" for problem in problems)
    return {"hosts": hosts, "poolers": poolers, "process_types": found, "errors": errors}


def _per_process(trials: Sequence[Sequence[Any]], processes: int) -> list[tuple[int, float]]:
    """The trials one PgBouncer process sees: each slot lands on it with 1 / processes."""
    return [(int(trial[0]), float(trial[1]) / processes) for trial in trials]


def pool_demand(
    found: Mapping[str, Any], session_entries: Sequence[str], processes: int
) -> list[dict[str, Any]]:
    """Per pool (entry, role) the declarations reach, on one pooler: {"database", "role", "slots"
    (arriving at this pooler), "expected" (concurrent transactions, the mean), "recommended" (per
    process), "members" (each process type with its slots), "kinds", "trials"}; in the order the
    declarations name them."""
    poolers = max(1, int(found.get("poolers", 1)))
    pools: dict[tuple[str, str], dict[str, Any]] = {}
    for item in found.get("process_types") or []:
        for database, role in item["pools"]:
            share = 1.0 if database in session_entries else float(item["in_transaction"])
            pool = pools.setdefault(
                (database, role),
                {"database": database, "role": role, "slots": 0, "members": [], "kinds": [], "trials": []},
            )
            # Central: the slots spread evenly over the poolers.
            slots = math.ceil(item["slots"] / poolers)
            pool["slots"] += slots
            pool["trials"].append([slots, share, item["kind"]])
            pool["members"].append(f"{item['host']}: {item['name']} ({item['kind']}, {item['arithmetic']})")
            if item["kind"] not in pool["kinds"]:
                pool["kinds"].append(item["kind"])
    for pool in pools.values():
        pool["expected"] = round(sum(slots * share for slots, share, _kind in pool["trials"]), 2)
        pool["recommended"] = max(1, quantile(_per_process(pool["trials"], processes), POOL_QUANTILE))
    return list(pools.values())


def clients_per_process(found: Mapping[str, Any], processes: int) -> dict[str, Any]:
    """{"slots": client connections that can arrive at this pooler when the other central pooler is
    down (every slot of its hosts on a per_host pooler), "needed": what one process must hold then,
    while another process restarts (the 99.9th percentile of those that land on it)}."""
    poolers = max(1, int(found.get("poolers", 1)))
    surviving = max(1, poolers - 1)
    slots = sum(
        math.ceil(item["slots"] / surviving) * len(item["pools"]) for item in found.get("process_types") or []
    )
    others = max(1, processes - 1)
    return {"slots": slots, "needed": quantile([(slots, 1 / others)], CLIENT_QUANTILE) if slots else 0}


def verdict(pool: Mapping[str, Any], configured: int | None, processes: int) -> dict[str, Any]:
    """{"verdict": ok, small, tight, large or unlimited, "wait": P(a client waits) per process,
    "why": a sentence} for a pool whose per-process worst case (after the caps) is ``configured``
    (None: unlimited)."""
    recommended = int(pool["recommended"])
    trials = _per_process(pool["trials"], processes)
    if configured is None:
        return {"verdict": "unlimited", "wait": 0.0, "why": "no size or cap bounds it"}
    wait = round(exceed_probability(trials, configured), 4)
    mean = pool["expected"] / processes
    if configured < mean:
        why = (
            f"{configured} per process is below the {mean:g} transactions a process has at once on "
            f"average: clients wait most of the time; the toolkit would choose {recommended}"
        )
        return {"verdict": "small", "wait": wait, "why": why}
    if configured < recommended:
        why = (
            f"{configured} per process holds the average ({mean:g}) but clients wait {wait:.0%} of the "
            f"time; the toolkit would choose {recommended}"
        )
        return {"verdict": "tight", "wait": wait, "why": why}
    if configured > LARGE_FACTOR * recommended + 2:
        why = (
            f"{configured} per process is more than {LARGE_FACTOR}x the {recommended} the slots need: "
            f"idle server connections that other pools could use; the toolkit would choose {recommended}"
        )
        return {"verdict": "large", "wait": wait, "why": why}
    return {"verdict": "ok", "wait": wait, "why": f"clients wait {wait:.1%} of the time at most"}


def applied_roles(roles: Sequence[Any], demand: Sequence[Mapping[str, Any]]) -> list[Any]:
    """``roles`` (pgbouncer_roles) with each role the declarations reach given the recommended
    pool size ([users] pool_size: the largest recommendation of its pools), for APPLY_VARIABLE."""
    sizes: dict[str, int] = {}
    for pool in demand:
        sizes[pool["role"]] = max(sizes.get(pool["role"], 0), int(pool["recommended"]))
    applied: list[Any] = []
    for role in roles:
        if isinstance(role, Mapping) and role.get("name") in sizes:
            pool = role.get("pool") if isinstance(role.get("pool"), Mapping) else {}
            role = {**role, "pool": {**pool, "pool_size": sizes[role["name"]]}}
        applied.append(role)
    return applied


def _shared_pool_note(pool: Mapping[str, Any], processes: int) -> str | None:
    """A pool Celery shares with web workers, and the cap that would separate them."""
    if "celery" not in pool["kinds"] or not {"gunicorn", "worker"} & set(pool["kinds"]):
        return None
    celery = [trial for trial in pool["trials"] if trial[2] == "celery"]
    cap = max(1, quantile(_per_process(celery, processes), POOL_QUANTILE))
    return (
        f"pool {pool['database']} / {pool['role']} serves web and Celery alike: a backlog of tasks can "
        f"hold every server connection of it while web requests wait. Give Celery a login of its own "
        f"(a pgbouncer_roles entry with acts_as: {pool['role']!r} and an alias that names it) with "
        f"pool.max_user_connections: {cap}"
    )


def pooler_capacity(
    found: Mapping[str, Any],
    demand: Sequence[Mapping[str, Any]],
    configured: Mapping[tuple[str, str], tuple[int, int | None, str]],
    processes: int,
    max_client_conn: int,
) -> tuple[dict[str, Any], list[str]]:
    """(this pooler's capacity report, errors). ``configured``: per pool (entry, role), its pool
    size, its worst case per process after the caps (None: unlimited) and the variable the size
    comes from. The error: max_client_conn below what one process may have to hold."""
    rows = []
    for pool in demand:
        size, worst, variable = configured.get((pool["database"], pool["role"]), (0, None, ""))
        rows.append(
            {
                **{
                    key: pool[key]
                    for key in ("database", "role", "slots", "expected", "recommended", "members")
                },
                "pool": f"{pool['database']} / {pool['role']}",
                "pool_size": size,
                "configured": worst,
                "size_variable": variable,
                **verdict(pool, worst, processes),
            }
        )
    clients = clients_per_process(found, processes)
    errors = []
    if clients["needed"] > max_client_conn:
        poolers = int(found.get("poolers", 1))
        when = " with the other central pooler down" if poolers == 2 else ""
        if poolers > 2:
            when = f" with one of the {poolers} central poolers down"
        restart = (
            f", and a process must hold them while one of its {processes} restarts" if processes > 1 else ""
        )
        errors.append(
            f"pgbouncer_max_client_conn: {max_client_conn} per process is below the {clients['needed']} client "
            f"connections one process may have to hold: {clients['slots']} can reach this pooler{when} "
            f"(the {VARIABLE} of {', '.join(found.get('hosts') or [])}){restart}. "
            f"Raise it to {clients['needed']} or more, or declare fewer slots"
        )
    notes = [note for pool in demand if (note := _shared_pool_note(pool, processes))]
    report = {
        "hosts": list(found.get("hosts") or []),
        "poolers": int(found.get("poolers", 1)),
        "processes": processes,
        "rows": rows,
        "clients": {**clients, "max_client_conn": max_client_conn},
        "notes": notes,
    }
    return report, errors


# --------------------------------------------------------------------------------------------
# The table


def _render(lines: Sequence[Sequence[str]], left: int = 2) -> list[str]:
    widths = [max(len(line[column]) for line in lines) for column in range(len(lines[0]))]

    def one(line: Sequence[str]) -> str:
        cells = [
            cell.ljust(width) if column < left else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    return [one(lines[0]), "  ".join("-" * width for width in widths), *(one(line) for line in lines[1:])]


def capacity_table(poolers: Sequence[Mapping[str, Any]], available: object = None) -> str:
    """Per pooler and pool: the slots that arrive, the transactions they have at once on average,
    the pool per process (configured after the caps, and recommended), the chance a client waits,
    the verdict; then the client connections per process against max_client_conn, each verdict's
    reason, and the notes. Hosts with the same figures share a line. ``available``: the server
    connections the budget has (None: not known), against which the recommendations are summed."""
    header = ("pooler", "pool", "slots", "in tx", "per process", "recommended", "waits", "verdict")
    grouped: dict[tuple[Any, ...], list[str]] = {}
    reasons: dict[str, list[str]] = {}
    # Per pool over every pooler: what it can hold (None: unlimited) and what its slots need.
    holds: dict[str, int | None] = {}
    needs: dict[str, int] = {}
    clients: dict[tuple[Any, ...], list[str]] = {}
    notes: dict[str, list[str]] = {}
    needed = 0
    for pooler in poolers:
        report = pooler.get("capacity") or {}
        host = str(pooler.get("host"))
        processes = int(report.get("processes") or 1)
        for row in report.get("rows") or []:
            configured = "unlimited" if row["configured"] is None else f"{row['configured']} x {processes}"
            key = (
                row["pool"],
                str(row["slots"]),
                f"{row['expected']:g}",
                configured,
                f"{row['recommended']} x {processes}",
                f"{row['wait']:.1%}",
                row["verdict"],
            )
            grouped.setdefault(key, []).append(host)
            if row["verdict"] != "ok":
                reasons.setdefault(f"{row['pool']}: {row['why']} ({row['size_variable']})", []).append(host)
            needed += int(row["recommended"]) * processes
            needs[row["pool"]] = needs.get(row["pool"], 0) + int(row["recommended"]) * processes
            held = holds.get(row["pool"], 0)
            holds[row["pool"]] = (
                None if held is None or row["configured"] is None else held + row["configured"] * processes
            )
        if report.get("rows"):
            numbers = report["clients"]
            clients.setdefault((numbers["slots"], numbers["needed"], numbers["max_client_conn"]), []).append(
                host
            )
        for note in report.get("notes") or []:
            notes.setdefault(note, []).append(host)
    if not grouped:
        return "no process types declared (pgbouncer_app_files_processes): nothing to size from"
    lines = [header, *((", ".join(hosts), *key) for key, hosts in grouped.items())]
    text = _render(lines)
    for (slots, per_process, limit), hosts in clients.items():
        text.append(
            f"clients on {', '.join(hosts)}: {slots} can arrive at worst, {per_process} at one process; "
            f"max_client_conn {limit}"
        )
    text.extend(f"{reason} [{', '.join(hosts)}]" for reason, hosts in reasons.items())
    text.extend(f"note: {note} [{', '.join(hosts)}]" for note, hosts in notes.items())
    try:
        budget = integer(available, "available") if available is not None else None
    except ConfigError:
        budget = None
    if budget is not None and needed:
        for pool, holding in holds.items():
            share = budget * needs[pool] // needed
            if holding is None or holding > max(share, needs[pool]):
                text.append(
                    f"{pool}: can hold {'any number of' if holding is None else holding} server connections on "
                    f"all its poolers, more than its share of the {budget} PostgreSQL has for them ({share}, in "
                    f"proportion to what each pool's slots need) and than its slots need ({needs[pool]})"
                )
        verdict_text = "within" if needed <= budget else "more than"
        text.append(
            f"the recommended pools hold {needed} server connections at most, {verdict_text} the {budget} "
            "PostgreSQL has for the poolers"
        )
    return "\n".join(text)
