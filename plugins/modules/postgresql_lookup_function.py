"""Ansible module: the SECURITY DEFINER function PgBouncer's auth_query calls."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: postgresql_lookup_function
short_description: The hardened SECURITY DEFINER lookup function for PgBouncer's auth_query
description:
  - Ensures, in the auth I(database), a schema of its own and in it the function
    C(<schema>.<function>(p_username text) RETURNS TABLE (username text, password text)) that
    returns a login role's name and SCRAM verifier for PgBouncer's C(auth_query).
  - The function is SECURITY DEFINER with C(search_path = pg_catalog, pg_temp), reads only
    schema-qualified catalogs through C(OPERATOR(pg_catalog.=)), answers only for LOGIN roles that are
    neither replication roles nor (unless I(allow_superusers)) superusers and, when
    I(client_group) is set, are direct members of that group; past C(VALID UNTIL) it returns a NULL
    password (CVE-2025-2291).
  - Only the auth user may use the schema and execute the function, PUBLIC may not; PUBLIC's
    CREATE on the database's C(public) schema is revoked.
  - The installed function is compared with the wanted one (body, attributes, settings, owner,
    grants, schema privileges, overloads). On any difference every routine of that name in the
    schema is dropped and the function created again, in one transaction.
version_added: "0.1.0"
author: pgbouncer-toolkit developers (@pgbouncer-toolkit)
options:
  database:
    description: The auth database, where the function lives; the module connects to it.
    type: str
    required: true
  schema:
    description: The function's schema, which the module owns entirely.
    type: str
    default: pgbouncer
  function:
    description: The function's name.
    type: str
    default: lookup
  auth_user:
    description: The role PgBouncer logs in as to call the function.
    type: str
    required: true
  client_group:
    description:
      - Answer only for direct members of this group role.
      - Null answers for every LOGIN role (a deliberately wider lookup).
    type: str
  allow_superusers:
    description: Answer for superusers too.
    type: bool
    default: false
  owner:
    description:
      - Owner of the schema and the function; it must be a superuser to read C(pg_authid).
      - Defaults to I(login_user).
    type: str
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - In check mode a missing auth I(database), auth user, owner or group is a warning, since an
    earlier task of the same play creates it; a missing database is reported as a change with no
    statements, since there is no catalog to plan against.
requirements:
  - psycopg2 (Debian's python3-psycopg2) or psycopg 3 on the host that runs the module
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - pgbouncer_toolkit.pgbouncer.postgresql
"""

EXAMPLES = r"""
- name: Install the lookup function for PgBouncer's auth_query
  pgbouncer_toolkit.pgbouncer.postgresql_lookup_function:
    login_unix_socket: /var/run/postgresql
    database: pgbouncer_auth
    auth_user: pgbouncer_auth
    client_group: pgbouncer_clients
  become: true
  become_user: postgres
"""

RETURN = r"""
queries:
  description: The statements run (or, in check mode, that would run).
  returned: always
  type: list
  elements: str
  sample: ["DROP ROUTINE pgbouncer.lookup(text)", "CREATE FUNCTION pgbouncer.lookup(...) ..."]
auth_query:
  description: The C(auth_query) PgBouncer should use, identifiers quoted by PostgreSQL.
  returned: always
  type: str
  sample: "SELECT username, password FROM pgbouncer.lookup($1)"
"""

from collections.abc import Mapping  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.postgresql import (  # noqa: E402
    AclEntry,
    AclTarget,
    Connection,
    Cursor,
    ModuleError,
    Outcome,
    RoutineOid,
    Statement,
    apply_statements,
    call_logic,
    check_name,
    check_role_name,
    check_schema_name,
    connection_argument_spec,
    current_role,
    default_acl,
    exit_with,
    fetch_all,
    format_sql,
    plan_acl,
    plan_exclusive_acl,
    read_acl,
    rename_in_acl,
    require_roles,
    run_module,
    sorted_acl,
    statement,
)

# The function body, in three constant pieces. Everything is schema-qualified and every operator
# is OPERATOR(pg_catalog.x): the pinned search_path already defends it, this holds even if someone
# changes the setting. rolname is compared as text, not name: a cast to name would truncate a
# longer p_username to 63 bytes and answer for another role.
BODY = """
SELECT a.rolname::pg_catalog.text,
       CASE WHEN a.rolvaliduntil IS NOT NULL
                 AND a.rolvaliduntil OPERATOR(pg_catalog.<) pg_catalog.now()
            THEN NULL
            ELSE a.rolpassword::pg_catalog.text
       END
  FROM pg_catalog.pg_authid AS a
 WHERE a.rolname::pg_catalog.text OPERATOR(pg_catalog.=) p_username
   AND a.rolcanlogin
   AND NOT a.rolreplication
"""
BODY_NO_SUPERUSERS = """   AND NOT a.rolsuper
"""
# Direct members only: a member of a member is not in the inventory.
BODY_GROUP_MEMBERS = """   AND EXISTS (SELECT
                 FROM pg_catalog.pg_auth_members AS m
                 JOIN pg_catalog.pg_authid AS g ON g.oid OPERATOR(pg_catalog.=) m.roleid
                WHERE m.member OPERATOR(pg_catalog.=) a.oid
                  AND g.rolname::pg_catalog.text OPERATOR(pg_catalog.=) %L)
"""
# pg_temp last: with it left out, PostgreSQL would search it first.
SEARCH_PATH = "pg_catalog, pg_temp"
CREATE_FUNCTION = f"""CREATE FUNCTION %I.%I(p_username pg_catalog.text)
    RETURNS TABLE (username pg_catalog.text, password pg_catalog.text)
    LANGUAGE sql STABLE STRICT SECURITY DEFINER
    SET search_path = {SEARCH_PATH}
AS %L"""
SIGNATURE = "%I.%I(pg_catalog.text)"
AUTH_QUERY = "SELECT username, password FROM %I.%I($1)"
# The schema's whole ACL: the owner's own privileges, and USAGE for the auth user.
OWNER_SCHEMA_PRIVILEGES = frozenset({"USAGE", "CREATE"})
AUTH_USER_SCHEMA_PRIVILEGES = frozenset({"USAGE"})

_SCHEMA_QUERY = """
SELECT n.oid, pg_catalog.pg_get_userbyid(n.nspowner)::pg_catalog.text
  FROM pg_catalog.pg_namespace AS n
 WHERE n.nspname::pg_catalog.text OPERATOR(pg_catalog.=) %s"""
_FUNCTIONS_QUERY = """
SELECT p.oid, p.prosrc, p.prosecdef, p.provolatile::pg_catalog.text, p.proisstrict,
       COALESCE(p.proconfig, '{}'::pg_catalog.text[]), l.lanname::pg_catalog.text, p.prokind::pg_catalog.text,
       pg_catalog.pg_get_function_identity_arguments(p.oid), pg_catalog.pg_get_function_result(p.oid),
       pg_catalog.pg_get_userbyid(p.proowner)::pg_catalog.text
  FROM pg_catalog.pg_proc AS p
  JOIN pg_catalog.pg_language AS l ON l.oid OPERATOR(pg_catalog.=) p.prolang
 WHERE p.pronamespace OPERATOR(pg_catalog.=) %s
   AND p.proname::pg_catalog.text OPERATOR(pg_catalog.=) %s
 ORDER BY p.oid"""
_DATABASE_QUERY = """
SELECT FROM pg_catalog.pg_database AS d WHERE d.datname::pg_catalog.text OPERATOR(pg_catalog.=) %s"""
_SUPERUSER_QUERY = """
SELECT a.rolsuper FROM pg_catalog.pg_authid AS a
 WHERE a.rolname::pg_catalog.text OPERATOR(pg_catalog.=) %s"""


@dataclass(frozen=True)
class FunctionState:
    """What makes two lookup functions the same; compared as a whole."""

    source: str
    security_definer: bool
    volatility: str
    strict: bool
    config: tuple[str, ...]
    language: str
    kind: str
    arguments: str
    result: str | None
    owner: str
    acl: tuple[AclEntry, ...]


@dataclass(frozen=True)
class Request:
    """The module's checked input."""

    schema: str
    function: str
    auth_user: str
    client_group: str | None
    allow_superusers: bool
    owner: str


def parse_params(params: Mapping[str, Any]) -> Request:
    """Check the input; raise ModuleError naming the first bad field, before any database work."""
    check_name(params.get("database"), "database")
    group = params.get("client_group")
    request = Request(
        schema=check_schema_name(params.get("schema", "pgbouncer"), "schema"),
        function=check_name(params.get("function", "lookup"), "function"),
        auth_user=check_role_name(params.get("auth_user"), "auth_user"),
        client_group=None if group is None else check_role_name(group, "client_group"),
        allow_superusers=bool(params.get("allow_superusers", False)),
        owner=check_role_name(params.get("owner") or params.get("login_user") or "postgres", "owner"),
    )
    if request.auth_user == request.owner:
        raise ModuleError(f"auth_user {request.auth_user!r} must not own the function (owner)")
    if request.client_group in (request.auth_user, request.owner):
        raise ModuleError(f"client_group {request.client_group!r} must differ from auth_user and owner")
    return request


def expected_function(cursor: Cursor, request: Request) -> FunctionState:
    """The function as it must be installed; its body made by the same format() call as CREATE's."""
    template = BODY + ("" if request.allow_superusers else BODY_NO_SUPERUSERS)
    if request.client_group is None:
        source = format_sql(cursor, template)
    else:
        source = format_sql(cursor, template + BODY_GROUP_MEMBERS, request.client_group)
    return FunctionState(
        source=source,
        security_definer=True,
        volatility="s",
        strict=True,
        config=(f"search_path={SEARCH_PATH}",),
        language="sql",
        kind="f",
        arguments="p_username text",
        result="TABLE(username text, password text)",
        owner=request.owner,
        acl=tuple(
            sorted_acl(
                AclEntry(request.owner, grantee, "EXECUTE", False)
                for grantee in (request.owner, request.auth_user)
            )
        ),
    )


def installed_functions(cursor: Cursor, schema_oid: int, function: str) -> dict[int, FunctionState]:
    """{oid: state} of every routine named ``function`` in the schema, overloads included."""
    installed = {}
    for (
        oid,
        source,
        secdef,
        volatility,
        strict,
        config,
        language,
        kind,
        arguments,
        result,
        owner,
    ) in fetch_all(cursor, _FUNCTIONS_QUERY, [schema_oid, function]):
        installed[oid] = FunctionState(
            source=source,
            security_definer=secdef,
            volatility=volatility,
            strict=strict,
            config=tuple(config),
            language=language,
            kind=kind,
            arguments=arguments,
            result=result,
            owner=owner,
            acl=tuple(read_acl(cursor, "FUNCTION", oid)),
        )
    return installed


def _check_roles(cursor: Cursor, request: Request, *, check_mode: bool) -> list[str]:
    """Refuse missing roles and an owner that is no superuser; return check mode's warnings."""
    roles = {request.owner: "owner", request.auth_user: "auth_user"}
    if request.client_group is not None:
        roles[request.client_group] = "client_group"
    warnings = require_roles(cursor, roles, check_mode=check_mode)
    if fetch_all(cursor, _SUPERUSER_QUERY, [request.owner]) == [(False,)]:
        raise ModuleError(
            f"owner {request.owner!r} must be a superuser: the function reads pg_catalog.pg_authid"
        )
    return warnings


def _plan_schema(cursor: Cursor, request: Request) -> tuple[int | None, list[Statement]]:
    """(the schema's oid or None when it is created, statements): owned by owner, exact ACL."""
    rows = fetch_all(cursor, _SCHEMA_QUERY, [request.schema])
    plan: list[Statement] = []
    if not rows:
        oid = None
        plan.append(statement("CREATE SCHEMA %I AUTHORIZATION %I", request.schema, request.owner))
        entries = default_acl(cursor, "SCHEMA", request.owner)
    else:
        oid, owner = rows[0]
        entries = read_acl(cursor, "SCHEMA", oid)
        if owner != request.owner:
            plan.append(statement("ALTER SCHEMA %I OWNER TO %I", request.schema, request.owner))
            entries = rename_in_acl(entries, owner, request.owner)
    allowed = {request.owner: OWNER_SCHEMA_PRIVILEGES, request.auth_user: AUTH_USER_SCHEMA_PRIVILEGES}
    plan += plan_exclusive_acl(AclTarget("SCHEMA", request.schema, request.owner), entries, allowed)
    return oid, plan


def _plan_public_schema(cursor: Cursor, request: Request) -> list[Statement]:
    """Nobody but its owner creates objects in the public schema (the default from 15 on)."""
    rows = fetch_all(cursor, _SCHEMA_QUERY, ["public"])
    if not rows:
        return []
    oid, owner = rows[0]
    forbidden = {None: {"CREATE"}, request.auth_user: {"CREATE"}}
    return plan_acl(
        AclTarget("SCHEMA", "public", owner), read_acl(cursor, "SCHEMA", oid), forbidden=forbidden
    )


def _plan_function(cursor: Cursor, request: Request, schema_oid: int | None) -> list[Statement]:
    """Drop every routine of that name and create the function, unless it is exactly as wanted."""
    expected = expected_function(cursor, request)
    installed = {} if schema_oid is None else installed_functions(cursor, schema_oid, request.function)
    if list(installed.values()) == [expected]:
        return []
    names = (request.schema, request.function)
    plan = [statement("DROP ROUTINE %s", RoutineOid(oid)) for oid in installed]
    plan.append(statement(CREATE_FUNCTION, *names, expected.source))
    if request.owner != current_role(cursor):
        plan.append(statement(f"ALTER FUNCTION {SIGNATURE} OWNER TO %I", *names, request.owner))
    plan.append(statement(f"REVOKE ALL ON FUNCTION {SIGNATURE} FROM PUBLIC", *names))
    plan.append(statement(f"GRANT EXECUTE ON FUNCTION {SIGNATURE} TO %I", *names, request.auth_user))
    return plan


def ensure_lookup_function(
    conn: Connection, params: Mapping[str, Any], *, check_mode: bool = False
) -> Outcome:
    """Bring the schema, the function and their privileges to the wanted state.

    ``conn`` is connected to the auth database. Returns (changed, queries, {"auth_query": ...}).
    """
    request = parse_params(params)
    with conn.cursor() as cursor:
        warnings = _check_roles(cursor, request, check_mode=check_mode)
        schema_oid, plan = _plan_schema(cursor, request)
        plan += _plan_public_schema(cursor, request)
        plan += _plan_function(cursor, request, schema_oid)
        auth_query = format_sql(cursor, AUTH_QUERY, request.schema, request.function)
    queries = apply_statements(conn, plan, check_mode=check_mode)
    return bool(plan), queries, {"auth_query": auth_query, "warnings": warnings}


def argument_spec() -> dict[str, Any]:
    """The module's options."""
    return {
        **connection_argument_spec(),
        "database": {"type": "str", "required": True},
        "schema": {"type": "str", "default": "pgbouncer"},
        "function": {"type": "str", "default": "lookup"},
        "auth_user": {"type": "str", "required": True},
        "client_group": {"type": "str"},
        "allow_superusers": {"type": "bool", "default": False},
        "owner": {"type": "str"},
    }


def report_missing_database(
    conn: Connection, params: Mapping[str, Any], *, check_mode: bool = True
) -> Outcome | None:
    """In check mode, before the auth database exists: the outcome to report, else None.

    ``conn`` is connected to login_db. The module cannot plan inside a database it cannot connect
    to, so it reports a change (everything would be created) without statements.
    """
    request = parse_params(params)
    try:
        with conn.cursor() as cursor:
            if fetch_all(cursor, _DATABASE_QUERY, [params["database"]]):
                return None
            auth_query = format_sql(cursor, AUTH_QUERY, request.schema, request.function)
    finally:
        conn.rollback()
    warning = f"database {params['database']!r} does not exist (yet): the schema and the function would be created in it"
    return True, [], {"auth_query": auth_query, "warnings": [warning]}


def main() -> None:
    """Entry point for Ansible."""
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if module.check_mode:
        outcome = call_logic(module, report_missing_database)
        if outcome is not None:
            exit_with(module, outcome)
    run_module(module, ensure_lookup_function, database=module.params["database"])


if __name__ == "__main__":
    main()
