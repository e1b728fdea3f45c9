"""The pooler's configuration from the inventory model: every role variable checked once, by
name, and each process's pgbouncer.ini sections built from the checked values (pooler_model).

Every error names the inventory variable it comes from (``pgbouncer_databases[2].settings.x``);
all of them are reported at once (value_checks.collect).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils import capacity
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.pgbouncer_files import (
    check_section_name,
    connstr,
    ini_key,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.pgbouncer_role import (
    managed_keys,
    role_default,
    role_variables,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.pgbouncer_settings import (
    SettingsTable,
    check_setting,
    load_table,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.pool_sizes import (
    DESCRIPTOR_HEADROOM,
    MAX_DESCRIPTORS,
    EntryLimits,
    Pool,
    RoleLimits,
    descriptors_needed,
    pool_of,
    pools,
    server_connections,
    worst_per_process,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.pooler_processes import (
    MAX_PROCESSES,
    process_settings_of,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.sql_text import (
    auth_contract,
    auth_query,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.tls_files import TLS_FILES
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import (
    ConfigError,
    as_list,
    check_host,
    check_name,
    check_socket_dir,
    check_text,
    collect,
    flag,
    integer,
    is_loopback,
    tcp_port,
)

# sslmodes under which PgBouncer checks the server's certificate against server_tls_ca_file.
VERIFYING_SSLMODES = ("verify-ca", "verify-full")
# [databases] keys an entry's `settings` may not set, and why.
DATABASE_MANAGED_KEYS = {
    "dbname": "use the entry's dbname",
    "host": "use the entry's host",
    "port": "use the entry's port",
    "pool_size": "use the entry's pool_size",
    "pool_mode": "use the entry's pool_mode",
    "reserve_pool": "use reserve_pool_size",
    "user": "a forced user defeats auth_query and SCRAM pass-through",
    "password": "no secret goes into pgbouncer.ini",
    "auth_user": "the auth user is pgbouncer_auth_user for every entry",
    "auth_dbname": "the auth database is pgbouncer_auth_database for every entry",
    "auth_query": "the lookup is pgbouncer_auth_schema.pgbouncer_auth_function for every entry",
}
AUTH_FILE = "/etc/pgbouncer/userlist.txt"
# The auth types under which PgBouncer verifies the client's SCRAM proof and reuses its keys.
AUTH_TYPES = ("scram-sha-256", "md5", "hba")


def dbname_of(entry: Mapping[str, Any]) -> Any:
    """The PostgreSQL database behind a pgbouncer_databases entry: its dbname, else its name."""
    return entry["dbname"] if entry.get("dbname") is not None else entry.get("name")


def pooler_config(
    inputs: Mapping[str, Any], version: str, process: int = 1
) -> tuple[list[str], dict[str, dict[str, str]]]:
    """Check the inventory model and build pgbouncer.ini's sections for process ``process``
    (1 to pgbouncer_processes): (errors, sections). ``inputs`` holds the role variables by name.
    """
    table = load_table()
    errors, shared, _pools = _shared_sections(table, inputs, version)
    return errors, _process_sections(table, shared, inputs, version, process, errors)


def pooler_model(
    inputs: Mapping[str, Any], version: str
) -> tuple[list[str], list[dict[str, dict[str, str]]], dict[str, Any]]:
    """Check the inventory model once and build every process's pgbouncer.ini sections:
    (errors, [sections of process 1, process 2, ...], limits), limits being {"pools", "elsewhere",
    "limit_nofile", "descriptors"}. The entries, roles and settings are checked once; only what
    sets a process apart (process_settings) is worked out per process. The pools
    (pool_sizes.pools) and the descriptor limit are the same in every process."""
    table = load_table()
    count_errors: list[str] = []
    count = collect(
        count_errors,
        integer,
        inputs.get("pgbouncer_processes", role_default("pgbouncer_processes")),
        "pgbouncer_processes",
    )
    numbers = range(1, count + 1) if count is not None and 1 <= count <= MAX_PROCESSES else range(1, 2)
    found = inputs.get("capacity_sources") or {}
    demand = capacity.pool_demand(found, _session_entries(inputs), len(numbers))
    apply = collect(count_errors, flag, inputs.get(capacity.APPLY_VARIABLE, False), capacity.APPLY_VARIABLE)
    if apply and demand:
        inputs = {
            **inputs,
            "pgbouncer_roles": capacity.applied_roles(as_list(inputs.get("pgbouncer_roles")), demand),
        }
    errors, shared, limits = _shared_sections(table, inputs, version)
    errors[:0] = count_errors
    errors.extend(found.get("errors") or [])
    processes = [_process_sections(table, shared, inputs, version, number, errors) for number in numbers]
    limits["capacity"] = _capacity(found, demand, limits, len(numbers), errors)
    # A problem every process shares (a peer_id clash, say) is reported once.
    return list(dict.fromkeys(errors)), processes, limits


def _session_entries(inputs: Mapping[str, Any]) -> list[str]:
    """The pgbouncer_databases entries in session mode (their own pool_mode, else the role's)."""
    default = inputs.get("pgbouncer_pool_mode") or role_default("pgbouncer_pool_mode")
    return [
        str(entry.get("name"))
        for entry in as_list(inputs.get("pgbouncer_databases"))
        if isinstance(entry, Mapping) and (entry.get("pool_mode") or default) == "session"
    ]


def _sized_by(pool: Pool, worst: int | None) -> str:
    """The variables that set what ``pool`` holds per process: its size's, or the caps' that hold
    it below its size."""
    if worst is not None and (pool.bound is None or worst < pool.bound):
        caps = [v for v in (pool.db_cap_variable, pool.user_cap_variable) if v]
        if caps:
            return ", ".join(caps)
    return pool.size_variable


def _capacity(
    found: Mapping[str, Any],
    demand: list[dict[str, Any]],
    limits: Mapping[str, Any],
    processes: int,
    errors: list[str],
) -> dict[str, Any]:
    """The capacity report of this pooler (capacity.pooler_capacity) from its pools' limits."""
    pool_objects = [pool_of(pool) for pool in limits["pools"] if not pool["auth_query"]]
    worst = worst_per_process(pool_objects)
    configured = {
        (p.database, p.role): (p.pool_size, bound, _sized_by(p, bound))
        for p, bound in zip(pool_objects, worst, strict=True)
    }
    clients = limits["descriptors"]["clients"]  # max_client_conn, read once by _descriptor_limit
    report, problems = capacity.pooler_capacity(found, demand, configured, processes, clients)
    errors.extend(problems)
    return report


def _process_sections(
    table: SettingsTable,
    shared: Mapping[str, Mapping[str, str]],
    inputs: Mapping[str, Any],
    version: str,
    process: int,
    errors: list[str],
) -> dict[str, dict[str, str]]:
    """``shared`` completed with what sets process ``process`` apart: its [pgbouncer] keys and
    the [peers] every process holds."""
    instance = collect(errors, process_settings_of, inputs, process)
    pgbouncer = dict(shared["pgbouncer"])
    for key, value in dict(instance or {}).items():
        if key == "peers":
            continue
        result = collect(
            errors, check_setting, table, "pgbouncer", key, value, version, f"process {process}'s {key}"
        )
        if result is not None:
            pgbouncer[key] = result[1]
    sections: dict[str, dict[str, str]] = {"databases": dict(shared["databases"])}
    if shared.get("users"):
        sections["users"] = dict(shared["users"])
    peers = dict((instance or {}).get("peers") or {})
    if peers:
        sections["peers"] = {
            str(peer_id): collect(errors, _peer_entry, table, version, peer, f"[peers] {peer_id}") or ""
            for peer_id, peer in sorted(peers.items())
        }
    sections["pgbouncer"] = dict(sorted(pgbouncer.items()))
    return sections


def _shared_sections(
    table: SettingsTable, inputs: Mapping[str, Any], version: str
) -> tuple[list[str], dict[str, dict[str, str]], dict[str, Any]]:
    """(errors, the sections every process shares, limits as pooler_model returns them):
    everything but process_settings."""
    errors: list[str] = []
    pgbouncer: dict[str, str] = {}
    origin: dict[str, str] = {}  # the variable each [pgbouncer] key comes from

    def setting(section: str, key: str, value: object, where: str) -> str | None:
        result = collect(errors, check_setting, table, section, key, value, version, where)
        return None if result is None else result[1]

    for variable, key in role_variables().items():
        if variable in inputs and inputs[variable] is not None:
            text = setting("pgbouncer", key, inputs[variable], variable)
            if text is not None:
                pgbouncer[key] = text
                origin[key] = variable

    listen_port = collect(
        errors,
        tcp_port,
        inputs.get("pgbouncer_listen_port", role_default("pgbouncer_listen_port")),
        "pgbouncer_listen_port",
        1024,
    )
    if inputs.get("pgbouncer_unix_socket_dir") is not None:
        collect(
            errors,
            check_socket_dir,
            inputs["pgbouncer_unix_socket_dir"],
            "pgbouncer_unix_socket_dir",
            listen_port or 65535,
        )
    if inputs.get("pgbouncer_topology", "per_host") == "per_host":
        outside = [a for a in as_list(inputs.get("pgbouncer_listen_addr")) if not is_loopback(str(a))]
        if outside:
            errors.append(
                f"pgbouncer_listen_addr: the per_host topology listens on loopback only, got {outside}"
            )
    if pgbouncer.get("auth_type") not in (None, *AUTH_TYPES):
        errors.append(
            f"pgbouncer_auth_type: must be one of {', '.join(AUTH_TYPES)} (the types that verify the "
            f"client's password and pass its SCRAM keys on), got {pgbouncer['auth_type']!r}"
        )

    # The auth contract (shared with the PostgreSQL side); its database is also an ini key here.
    # A managed PostgreSQL has none: userlist.txt holds the application roles' verifiers.
    managed = bool(inputs.get("pgbouncer_managed_postgresql"))
    contract = auth_contract(inputs, errors)
    auth_user, schema, function = contract.user, contract.schema, contract.function
    auth_db = contract.database and collect(
        errors,
        check_section_name,
        contract.database,
        "pgbouncer_auth_database",
        kind="database",
        version=version,
    )
    server_host = collect(errors, check_host, inputs.get("pgbouncer_server_host"), "pgbouncer_server_host")
    server_port = collect(
        errors,
        tcp_port,
        inputs.get("pgbouncer_server_port", role_default("pgbouncer_server_port")),
        "pgbouncer_server_port",
    )
    if auth_db is not None and auth_db.lower() == "pgbouncer":
        errors.append("pgbouncer_auth_database: 'pgbouncer' is PgBouncer's admin console")

    roles = as_list(inputs.get("pgbouncer_roles"))
    role_names = [role.get("name") for role in roles if isinstance(role, Mapping)]
    databases_section: dict[str, str] = {}
    auth_pool = collect(
        errors,
        integer,
        inputs.get("pgbouncer_auth_pool_size", role_default("pgbouncer_auth_pool_size")),
        "pgbouncer_auth_pool_size",
    )
    if auth_pool is not None and not 1 <= auth_pool <= 100:
        errors.append(f"pgbouncer_auth_pool_size: {auth_pool} is not between 1 and 100")
    if auth_db is not None and server_host is not None and server_port is not None and auth_pool is not None:
        # Only auth_query's lookups use this entry: a small pool, counted in the budget.
        databases_section[ini_key(auth_db)] = connstr(
            [
                ("dbname", auth_db, False),
                ("host", server_host, False),
                ("port", str(server_port), True),
                ("pool_size", str(auth_pool), True),
            ]
        )
    entry_names: set[str] = set()
    entry_limits: list[EntryLimits] = []
    for index, entry in enumerate(as_list(inputs.get("pgbouncer_databases"))):
        where = f"pgbouncer_databases[{index}]"
        rendered = collect(
            errors,
            _database_entry,
            table,
            version,
            entry,
            where,
            server_host,
            server_port,
            auth_db,
            entry_names,
        )
        if rendered is not None and rendered[2] is not None:
            databases_section[ini_key(rendered[0])] = rendered[1]
            entry_limits.append(rendered[2])

    users_section: dict[str, str] = {}
    seen_roles: set[str] = set()
    role_limits: list[RoleLimits] = []
    for index, role in enumerate(roles):
        where = f"pgbouncer_roles[{index}]"
        rendered = collect(
            errors, _user_entry, table, version, role, where, auth_user, entry_names, seen_roles, errors
        )
        if rendered is not None:
            role_limits.append(rendered[2])
            if rendered[1]:
                users_section[ini_key(rendered[0])] = rendered[1]

    for variable in ("pgbouncer_admin_users", "pgbouncer_stats_users"):
        for name in as_list(inputs.get(variable)):
            if name not in role_names:
                errors.append(
                    f"{variable}: {name!r} is not declared in pgbouncer_roles (console users are "
                    "PostgreSQL roles PgBouncer checks through auth_query or userlist.txt)"
                )

    for key, value in dict(inputs.get("pgbouncer_settings") or {}).items():
        where = f"pgbouncer_settings.{key}"
        if key in managed_keys():
            errors.append(f"{where}: not settable in pgbouncer_settings: {managed_keys()[key]}")
            continue
        text = setting("pgbouncer", key, value, where)
        if text is not None:
            pgbouncer[key] = text
            origin[key] = where

    if auth_user is not None:
        pgbouncer["auth_user"] = auth_user
    if auth_db is not None:
        pgbouncer["auth_dbname"] = auth_db
    if schema is not None and function is not None:
        pgbouncer["auth_query"] = collect(
            errors, check_text, auth_query(schema, function), "pgbouncer_auth_query"
        )
    auth_file = setting("pgbouncer", "auth_file", inputs.get("auth_file", AUTH_FILE), "auth_file")
    if auth_file is not None:
        pgbouncer["auth_file"] = auth_file
    # TLS: the files the pgbouncer_tls role places (tls_files.py), where the modes need them.
    if pgbouncer.get("server_tls_sslmode") in VERIFYING_SSLMODES:
        server_ca = inputs.get("pgbouncer_server_tls_ca_bundle")
        pgbouncer["server_tls_ca_file"] = TLS_FILES["server_ca" if server_ca else "ca"]
        if managed and not server_ca:
            errors.append(
                "pgbouncer_server_tls_ca_bundle: required with pgbouncer_managed_postgresql and "
                f"pgbouncer_server_tls_sslmode {pgbouncer['server_tls_sslmode']}: the CA bundle your "
                "provider publishes for its certificates (a file on the controller)"
            )
    if pgbouncer.get("client_tls_sslmode", "disable") != "disable":
        pgbouncer["client_tls_cert_file"] = TLS_FILES["cert"]
        pgbouncer["client_tls_key_file"] = TLS_FILES["key"]
    _check_limits(inputs, errors)
    pool_list, elsewhere = pools(
        pgbouncer,
        origin,
        entry_limits,
        role_limits,
        (server_host or "", server_port or 0),
        None
        if None in (auth_db, auth_user, auth_pool)
        else (str(auth_db), str(auth_user), int(auth_pool or 0)),
    )
    return (
        errors,
        {"databases": databases_section, "users": users_section, "pgbouncer": pgbouncer},
        {
            "pools": pool_list,
            "elsewhere": elsewhere,
            **_descriptor_limit(inputs, pgbouncer, pool_list, errors),
        },
    )


def _database_entry(
    table: SettingsTable,
    version: str,
    entry: object,
    where: str,
    server_host: str | None,
    server_port: int | None,
    auth_db: str | None,
    seen: set[str],
) -> tuple[str, str, EntryLimits | None]:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: must be a mapping with at least a name")
    if entry.get("name") == "*":
        raise ConfigError(
            f"{where}.name: '*' would make a catch-all entry that routes any database name a client "
            "asks for; declare each database instead"
        )
    name = check_section_name(entry.get("name"), f"{where}.name", kind="database", version=version)
    if name.lower() == "pgbouncer":
        raise ConfigError(f"{where}.name: 'pgbouncer' is reserved for PgBouncer's admin console")
    if auth_db is not None and name == auth_db:
        raise ConfigError(
            f"{where}.name: {name!r} is reserved for the auth database (pgbouncer_auth_database)"
        )
    if name in seen:
        raise ConfigError(f"{where}.name: {name!r} is declared twice")
    seen.add(name)
    dbname = check_name(dbname_of(entry), f"{where}.dbname", kind="database")
    host = check_host(entry["host"], f"{where}.host") if entry.get("host") is not None else server_host
    port = tcp_port(entry["port"], f"{where}.port") if entry.get("port") is not None else server_port
    if host is None or port is None:
        return name, "", None  # pgbouncer_server_host (or _port) is invalid: reported once, there
    pairs = [("dbname", dbname, False), ("host", host, False), ("port", str(port), True)]
    for key in ("pool_size", "pool_mode"):
        if entry.get(key) is not None:
            setting, text = check_setting(table, "databases", key, entry[key], version, f"{where}.{key}")
            pairs.append((key, text, setting.type != "enum"))
    settings = entry.get("settings") or {}
    if not isinstance(settings, Mapping):
        raise ConfigError(f"{where}.settings: must be a mapping of [databases] parameters")
    for key, value in settings.items():
        if key in DATABASE_MANAGED_KEYS:
            raise ConfigError(f"{where}.settings.{key}: {DATABASE_MANAGED_KEYS[key]}")
        setting, text = check_setting(table, "databases", key, value, version, f"{where}.settings.{key}")
        pairs.append((key, text, setting.type in ("integer", "size", "time")))
    limits = EntryLimits(
        name,
        where,
        host,
        port,
        pool_size=_number(pairs, "pool_size"),
        reserve=_number(pairs, "reserve_pool_size"),
        db_cap=_number(pairs, "max_db_connections"),
    )
    return name, connstr(pairs), limits


def _number(pairs: Sequence[tuple[str, str, bool]], key: str) -> int | None:
    """The checked value of integer setting ``key`` among an entry's ``pairs``; None when unset."""
    text = next((text for name, text, _number_type in pairs if name == key), None)
    return None if text is None else integer(text, key)


def _user_entry(
    table: SettingsTable,
    version: str,
    role: object,
    where: str,
    auth_user: str | None,
    entry_names: set[str],
    seen: set[str],
    errors: list[str],
) -> tuple[str, str, RoleLimits]:
    if not isinstance(role, Mapping):
        raise ConfigError(f"{where}: must be a mapping with at least a name")
    name = check_name(role.get("name"), f"{where}.name", kind="role")
    if name in seen:
        raise ConfigError(f"{where}.name: {name!r} is declared twice")
    seen.add(name)
    if auth_user is not None and name == auth_user:
        raise ConfigError(f"{where}.name: {name!r} is the auth user (pgbouncer_auth_user)")
    databases: list[str] = []
    for index, database in enumerate(as_list(role.get("databases"))):
        if database in entry_names:
            databases.append(str(database))
        else:
            errors.append(f"{where}.databases[{index}]: {database!r} is not declared in pgbouncer_databases")
    pool = role.get("pool") or {}
    if not isinstance(pool, Mapping):
        raise ConfigError(f"{where}.pool: must be a mapping of [users] settings")
    if pool:
        check_section_name(name, f"{where}.name", kind="role", version=version)
    pairs = []
    for key, value in pool.items():
        setting, text = check_setting(table, "users", key, value, version, f"{where}.pool.{key}")
        pairs.append((key, text, setting.type != "enum"))
    limits = RoleLimits(
        name,
        where,
        databases,
        pool_size=_number(pairs, "pool_size"),
        reserve=_number(pairs, "reserve_pool_size"),
        user_cap=_number(pairs, "max_user_connections"),
    )
    return name, connstr(pairs), limits


def _peer_entry(table: SettingsTable, version: str, peer: Mapping[str, Any], where: str) -> str:
    pairs = []
    for key, value in peer.items():
        if key == "host":
            text = check_host(value, f"{where}.host")
        else:
            text = check_setting(table, "peers", key, value, version, f"{where}.{key}")[1]
        pairs.append((key, text, key != "host"))
    return connstr(pairs)


# Role variables that are not PgBouncer settings, and their bounds.
SERVICE_VARIABLES = {
    "pgbouncer_stop_timeout": (1, 3600),
    "pgbouncer_login_timeout": (1, 600),
    "pgbouncer_restart_throttle": (1, 10000),
    "pgbouncer_drain_timeout": (0, 86400),
    "pgbouncer_rotation_drain_timeout": (0, 86400),
    "pgbouncer_switchover_pause_timeout": (1, 600),
    "pgbouncer_switchover_timeout": (1, 3600),
}


def _check_limits(inputs: Mapping[str, Any], errors: list[str]) -> None:
    """Values that pass their type but cannot work together, and the service's own variables."""
    for variable, (low, high) in SERVICE_VARIABLES.items():
        if variable in inputs:
            number = collect(errors, integer, inputs[variable], variable)
            if number is not None and not low <= number <= high:
                errors.append(f"{variable}: {number} is not between {low} and {high}")
    try:
        prepared = integer(
            inputs.get(
                "pgbouncer_max_prepared_statements", role_default("pgbouncer_max_prepared_statements")
            ),
            "pgbouncer_max_prepared_statements",
        )
    except ConfigError as exc:
        errors.append(str(exc))
        return
    if prepared < 1 and inputs.get("pgbouncer_pool_mode") == "transaction":
        errors.append(
            "pgbouncer_max_prepared_statements: must be above 0 in transaction mode, or protocol-level "
            "prepared statements fail"
        )


def _descriptor_limit(
    inputs: Mapping[str, Any],
    pgbouncer: Mapping[str, str],
    pool_list: list[dict[str, Any]],
    errors: list[str],
) -> dict[str, Any]:
    """{"limit_nofile": each process's LimitNOFILE (None with an error), "descriptors": {clients,
    servers, headroom, needed}}: pgbouncer_limit_nofile when set, else what a process may use at
    once (pool_sizes.descriptors_needed). A set value below that, or a need above what Linux allows
    a process, is an error naming the variables."""
    clients = integer(
        pgbouncer.get("max_client_conn", role_default("pgbouncer_max_client_conn")),
        "pgbouncer_max_client_conn",
    )
    servers = server_connections(pool_list, clients)
    needed = descriptors_needed(clients, servers)
    descriptors = {"clients": clients, "servers": servers, "headroom": DESCRIPTOR_HEADROOM, "needed": needed}
    arithmetic = (
        f"pgbouncer_max_client_conn {clients} + 2 x {servers} server connections (the pools' worst case "
        f"per process) + {DESCRIPTOR_HEADROOM}"
    )
    if needed > MAX_DESCRIPTORS:
        errors.append(
            f"pgbouncer_max_client_conn: a process may need {needed} file descriptors ({arithmetic}), more "
            f"than Linux gives a process ({MAX_DESCRIPTORS}); lower it or the pool sizes"
        )
        return {"limit_nofile": None, "descriptors": descriptors}
    value = inputs.get("pgbouncer_limit_nofile")
    if value is None:
        return {"limit_nofile": needed, "descriptors": descriptors}
    nofile = collect(errors, integer, value, "pgbouncer_limit_nofile")
    if nofile is not None and not needed <= nofile <= MAX_DESCRIPTORS:
        errors.append(
            f"pgbouncer_limit_nofile: {nofile} must be between the {needed} file descriptors a process may "
            f"need ({arithmetic}) and {MAX_DESCRIPTORS}; or leave it unset to use {needed}"
        )
        nofile = None
    return {"limit_nofile": nofile, "descriptors": descriptors}
