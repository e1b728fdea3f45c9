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
  listed apart (``elsewhere``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.pgbouncer_settings import load_table
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import integer

DEFAULT_POOL_SIZE_VARIABLE = "pgbouncer_default_pool_size"
AUTH_POOL_SIZE_VARIABLE = "pgbouncer_auth_pool_size"


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
    """(pools, elsewhere): one dict per pool on pgbouncer_server_host/port, entry by entry and role
    by role as declared, the auth_query pool last; and each entry that points at another server.

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
        auth_query: bool,
        size: tuple[int | None, str],
        reserve: tuple[int | None, str],
        db_cap: tuple[int, str | None],
        user_cap: tuple[int, str | None],
    ) -> dict[str, Any]:
        reserve_value, reserve_variable = reserve
        if reserve_off or not reserve_value or not size[0]:
            reserve_value, reserve_variable = 0, None
        return {
            "database": database,
            "role": role,
            "auth_query": auth_query,
            "pool_size": size[0] or 0,
            "size_variable": size[1],
            "reserve": reserve_value,
            "reserve_variable": reserve_variable,
            "db_cap": db_cap[0],
            "db_cap_variable": db_cap[1],
            "user_cap": user_cap[0],
            "user_cap_variable": user_cap[1],
        }

    counted: dict[str, EntryLimits] = {}
    elsewhere: list[str] = []
    for entry in entries:
        if (entry.host, entry.port) == server:
            counted[entry.name] = entry
        else:
            elsewhere.append(
                f"{entry.where} ({entry.name}): its host or port is not pgbouncer_server_host/port; its "
                "pools use another server's budget and are not counted here"
            )
    made: list[tuple[int, int, dict[str, Any]]] = []
    order = list(counted)
    for role_order, role in enumerate(roles):
        for database in dict.fromkeys(role.databases):
            entry = counted.get(database)
            if entry is None:
                continue
            made.append(
                (
                    order.index(database),
                    role_order,
                    pool(
                        database,
                        role.name,
                        False,
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
                    ),
                )
            )
    result = [made_pool for _entry, _role, made_pool in sorted(made, key=lambda item: item[:2])]
    if auth is not None:
        auth_db, auth_user, auth_size = auth
        # The auth entry has pool_size = pgbouncer_auth_pool_size and no other settings.
        result.append(
            pool(
                auth_db,
                auth_user,
                True,
                (auth_size, AUTH_POOL_SIZE_VARIABLE),
                global_reserve,
                _cap(global_db_cap),
                _cap(global_user_cap),
            )
        )
    return result, elsewhere
