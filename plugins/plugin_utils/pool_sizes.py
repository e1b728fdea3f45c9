"""The pools of the pooler's model: every pool one PgBouncer process can have, the limits
PgBouncer applies to it, and the inventory variable each limit comes from.

pooler_model builds them from values it has already checked (``EntryLimits``, ``RoleLimits`` and
the [pgbouncer] section with each key's variable); the connection budget only reads them.

PgBouncer's rules (``launch_new_connection``, src/objects.c; ``pool_pool_size`` and
``pool_res_pool_size``, src/server.c):

- A pool exists for each pgbouncer_databases entry and each role whose ``databases`` lists that
  entry (pg_hba and CONNECT refuse every other pair, so no other pool ever holds a connection),
  plus the auth_query pool: pgbouncer_auth_user on pgbouncer_auth_database, sized by
  pgbouncer_auth_pool_size.
- Pool size: the role's ``pool.pool_size`` ([users], 1.23+), else the entry's ``pool_size``, else
  [pgbouncer] default_pool_size (PgBouncer's default when unset). The first level that is set
  wins, 0 included; 0 means unlimited.
- Reserve: the role's ``pool.reserve_pool_size``, else the entry's ``settings.reserve_pool_size``,
  else [pgbouncer] reserve_pool_size. No pool uses a reserve when reserve_pool_timeout is 0, and
  an unlimited pool's reserve does not matter: both count as 0.
- Caps, per process: max_db_connections (the entry's setting, else [pgbouncer]) and
  max_user_connections (the role's pool, else [pgbouncer]). A level set to 0 defers to the next;
  0 at the end means no cap.
- An entry whose host or port is not pgbouncer_server_host/port uses another server: its pools are
  marked ``elsewhere`` (the pooler still opens them; the server's budget does not count them).

A process's file descriptors (``descriptors_needed``): one per client, two per server connection it
can hold (the connection, and room for a cancel request or a peer's forwarded one), and
``DESCRIPTOR_HEADROOM`` for its listeners, log, pidfile and DNS lookups.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.pgbouncer_settings import load_table
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import integer

DEFAULT_POOL_SIZE_VARIABLE = "pgbouncer_default_pool_size"
AUTH_POOL_SIZE_VARIABLE = "pgbouncer_auth_pool_size"
DESCRIPTOR_HEADROOM = 100
# Linux's default fs.nr_open: no process's RLIMIT_NOFILE can be higher.
MAX_DESCRIPTORS = 1048576


@dataclass(frozen=True)
class EntryLimits:
    """A checked pgbouncer_databases entry: where it points and the limits it sets (None: unset)."""

    name: str
    where: str  # "pgbouncer_databases[2]"
    host: str
    port: int
    pool_size: int | None = None
    reserve: int | None = None
    db_cap: int | None = None


@dataclass(frozen=True)
class RoleLimits:
    """A checked pgbouncer_roles entry: the declared entries it may use and its [users] limits."""

    name: str
    where: str  # "pgbouncer_roles[0]"
    databases: list[str] = field(default_factory=list)
    pool_size: int | None = None
    reserve: int | None = None
    user_cap: int | None = None


def _first(*levels: tuple[int | None, str]) -> tuple[int | None, str]:
    """The first level that is set: (value, variable)."""
    for value, variable in levels:
        if value is not None:
            return value, variable
    return levels[-1]


def _cap(*levels: tuple[int | None, str]) -> tuple[int, str | None]:
    """A level set to 0 (or unset) defers to the next; 0 at the end means no cap."""
    for value, variable in levels:
        if value:
            return value, variable
    return 0, None


def pools(
    pgbouncer: Mapping[str, str],
    origin: Mapping[str, str],
    entries: Sequence[EntryLimits],
    roles: Sequence[RoleLimits],
    server: tuple[str, int],
    auth: tuple[str, str, int] | None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """(pools, elsewhere): one dict per pool, entry by entry and role by role as declared, the
    auth_query pool last (a pool whose entry points at another server has ``elsewhere`` true); and
    a note for each entry that points at another server.

    ``pgbouncer``: the checked [pgbouncer] texts; ``origin``: the variable each key came from;
    ``auth``: (auth database, auth user, pgbouncer_auth_pool_size), None when not checked.
    """

    def global_value(key: str) -> tuple[int | None, str]:
        text = pgbouncer.get(key)
        return (None if text is None else integer(text, key)), origin.get(key, f"pgbouncer_settings.{key}")

    default_size = global_value("default_pool_size")[0]
    if default_size is None:  # PgBouncer's own default
        default_size = integer(
            load_table().get("pgbouncer", "default_pool_size").default, "default_pool_size"
        )
    default = (default_size, origin.get("default_pool_size", DEFAULT_POOL_SIZE_VARIABLE))
    timeout = pgbouncer.get(
        "reserve_pool_timeout", load_table().get("pgbouncer", "reserve_pool_timeout").default
    )
    reserve_off = float(timeout) == 0
    global_reserve = global_value("reserve_pool_size")
    global_db_cap = global_value("max_db_connections")
    global_user_cap = global_value("max_user_connections")

    def pool(
        database: str,
        role: str,
        size: tuple[int | None, str],
        reserve: tuple[int | None, str],
        db_cap: tuple[int, str | None],
        user_cap: tuple[int, str | None],
        *,
        auth_query: bool = False,
        elsewhere: bool = False,
    ) -> dict[str, Any]:
        reserve_value, reserve_variable = reserve
        if reserve_off or not reserve_value or not size[0]:
            reserve_value, reserve_variable = 0, None
        return {
            "database": database,
            "role": role,
            "auth_query": auth_query,
            "elsewhere": elsewhere,
            "pool_size": size[0] or 0,
            "size_variable": size[1],
            "reserve": reserve_value,
            "reserve_variable": reserve_variable,
            "db_cap": db_cap[0],
            "db_cap_variable": db_cap[1],
            "user_cap": user_cap[0],
            "user_cap_variable": user_cap[1],
        }

    by_name = {entry.name: entry for entry in entries}
    away = [entry for entry in entries if (entry.host, entry.port) != server]
    notes = [
        f"{entry.where} ({entry.name}): its host or port is not pgbouncer_server_host/port; its pools use "
        "another server's budget and are not counted here"
        for entry in away
    ]
    made: list[tuple[int, int, dict[str, Any]]] = []
    order = list(by_name)
    for role_order, role in enumerate(roles):
        for database in dict.fromkeys(role.databases):
            entry = by_name.get(database)
            if entry is None:
                continue
            made.append(
                (
                    order.index(database),
                    role_order,
                    pool(
                        database,
                        role.name,
                        _first(
                            (role.pool_size, f"{role.where}.pool.pool_size"),
                            (entry.pool_size, f"{entry.where}.pool_size"),
                            default,
                        ),
                        _first(
                            (role.reserve, f"{role.where}.pool.reserve_pool_size"),
                            (entry.reserve, f"{entry.where}.settings.reserve_pool_size"),
                            global_reserve,
                        ),
                        _cap((entry.db_cap, f"{entry.where}.settings.max_db_connections"), global_db_cap),
                        _cap((role.user_cap, f"{role.where}.pool.max_user_connections"), global_user_cap),
                        elsewhere=entry in away,
                    ),
                )
            )
    result = [made_pool for _entry, _role, made_pool in sorted(made, key=lambda item: item[:2])]
    if auth is not None:
        # The auth entry has pool_size = pgbouncer_auth_pool_size and no other settings.
        auth_db, auth_user, auth_size = auth
        result.append(
            pool(
                auth_db,
                auth_user,
                (auth_size, AUTH_POOL_SIZE_VARIABLE),
                global_reserve,
                _cap(global_db_cap),
                _cap(global_user_cap),
                auth_query=True,
            )
        )
    return result, notes


@dataclass(frozen=True)
class Pool:
    """One pool as the model keeps it (a dict in the fact; see pools)."""

    database: str
    role: str
    auth_query: bool
    pool_size: int
    size_variable: str
    reserve: int
    reserve_variable: str | None
    db_cap: int  # 0 = none
    db_cap_variable: str | None
    user_cap: int
    user_cap_variable: str | None

    @property
    def bound(self) -> int | None:
        return None if self.pool_size == 0 else self.pool_size + self.reserve

    @property
    def label(self) -> str:
        return f"{self.database} / {self.role}" + (" (auth_query)" if self.auth_query else "")


def pool_of(pool: Mapping[str, Any]) -> Pool:
    """One pool of the model (a dict from :func:`pools`)."""
    return Pool(**{name: pool[name] for name in Pool.__dataclass_fields__})


def worst_per_process(pools: Sequence[Pool]) -> list[int | None]:
    """Per pool, what it holds in one worst-case state of one process (None = unbounded).

    A maximum flow entries -> pools -> roles. It starts from an even filling (every pool grows
    alike until a limit stops it), so where a cap binds the rows share it rather than the first
    pool taking all; augmenting paths then make the total the exact maximum.
    """
    result: list[int | None] = [None] * len(pools)
    members = [i for i, p in enumerate(pools) if p.bound is not None or p.db_cap or p.user_cap]
    big = 1 + sum(p.bound or 0 for p in pools) + sum({p.database: p.db_cap for p in pools}.values())
    big += sum({p.role: p.user_cap for p in pools}.values())
    capacity = {i: pools[i].bound or big for i in members}
    db_cap = {pools[i].database: pools[i].db_cap or big for i in members}
    user_cap = {pools[i].role: pools[i].user_cap or big for i in members}
    flow = dict.fromkeys(members, 0)
    db_used: Counter[str] = Counter()
    user_used: Counter[str] = Counter()

    def room(i: int) -> int:
        p = pools[i]
        return min(
            capacity[i] - flow[i],
            db_cap[p.database] - db_used[p.database],
            user_cap[p.role] - user_used[p.role],
        )

    def add(i: int, amount: int) -> None:
        flow[i] += amount
        db_used[pools[i].database] += amount
        user_used[pools[i].role] += amount

    # Even filling: each round adds the same amount to every pool that can still grow, or one
    # connection each (in declaration order) when a limit has less left than pools sharing it.
    active = [i for i in members if room(i) > 0]
    while active:
        per_db = Counter(pools[i].database for i in active)
        per_user = Counter(pools[i].role for i in active)
        step = min(
            min(capacity[i] - flow[i] for i in active),
            min((db_cap[d] - db_used[d]) // n for d, n in per_db.items()),
            min((user_cap[u] - user_used[u]) // n for u, n in per_user.items()),
        )
        for i in active:
            if step:
                add(i, step)
            elif room(i) > 0:
                add(i, 1)
        active = [i for i in active if room(i) > 0]

    # Augmenting paths (Edmonds-Karp) from that flow to the maximum.
    by_db: dict[str, list[int]] = {}
    by_user: dict[str, list[int]] = {}
    for i in members:
        by_db.setdefault(pools[i].database, []).append(i)
        by_user.setdefault(pools[i].role, []).append(i)
    while True:
        parent: dict[tuple[str, str], tuple[tuple[str, str], int, int] | None] = {}
        queue: deque[tuple[str, str]] = deque()
        for database in by_db:
            if db_cap[database] - db_used[database] > 0:
                parent["db", database] = None
                queue.append(("db", database))
        end = None
        while queue and end is None:
            kind, name = queue.popleft()
            if kind == "db":
                for i in by_db[name]:
                    node = ("role", pools[i].role)
                    if capacity[i] - flow[i] > 0 and node not in parent:
                        parent[node] = (("db", name), i, 1)
                        if user_cap[node[1]] - user_used[node[1]] > 0:
                            end = node
                            break
                        queue.append(node)
            else:
                for i in by_user[name]:
                    node = ("db", pools[i].database)
                    if flow[i] > 0 and node not in parent:
                        parent[node] = (("role", name), i, -1)
                        queue.append(node)
        if end is None:
            break
        path: list[tuple[int, int]] = []
        node, step = end, user_cap[end[1]] - user_used[end[1]]
        while (link := parent[node]) is not None:
            node, i, direction = link
            path.append((i, direction))
            step = min(step, capacity[i] - flow[i] if direction > 0 else flow[i])
        step = min(step, db_cap[node[1]] - db_used[node[1]])
        db_used[node[1]] += step
        user_used[end[1]] += step
        for i, direction in path:
            flow[i] += direction * step
    for i in members:
        result[i] = flow[i]
    return result


def server_connections(pools: Sequence[Mapping[str, Any]], max_client_conn: int) -> int:
    """The most server connections one process can hold, to any server: the pools' worst case
    with the caps; a pool nothing bounds counts as max_client_conn (PgBouncer opens a server
    connection only for a client that waits)."""
    return sum(
        max_client_conn if worst is None else worst
        for worst in worst_per_process([pool_of(pool) for pool in pools])
    )


def descriptors_needed(max_client_conn: int, servers: int) -> int:
    """File descriptors one process may use at once (see the module docstring)."""
    return max_client_conn + 2 * servers + DESCRIPTOR_HEADROOM
