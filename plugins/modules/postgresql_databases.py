"""Ansible module: the databases PgBouncer serves, and who may connect to them."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: postgresql_databases
short_description: Create databases, keep PUBLIC out, grant CONNECT and TEMPORARY per role
description:
  - Ensures each database of I(databases) exists (with its I(owner) when one is given), that PUBLIC
    has neither CONNECT nor TEMPORARY on it, and that each role of I(grants) has CONNECT and
    TEMPORARY on its database. Grants nobody declared are left alone; they may be the DBA's.
  - The I(auth_database) is created too when missing, and locked down. Apart from its owner, only
    the auth user may hold a privilege there, CONNECT without grant option; anything else is revoked.
  - An owner or grantee that does not exist is refused before anything changes. CREATE DATABASE
    runs on its own (PostgreSQL refuses it in a transaction); all other changes run in one transaction.
version_added: "0.1.0"
author: pgbouncer-toolkit developers (@pgbouncer-toolkit)
options:
  databases:
    description: The databases to create.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The database's name.
        type: str
        required: true
      owner:
        description: Its owner; null leaves the owner as it is (the creator for a new database).
        type: str
  grants:
    description: Roles that get CONNECT and TEMPORARY on a database (declared, or existing already).
    type: list
    elements: dict
    default: []
    suboptions:
      database:
        description: The database.
        type: str
        required: true
      role:
        description: The role.
        type: str
        required: true
  auth_database:
    description: The database holding the lookup function, and the role that may connect to it.
    type: dict
    suboptions:
      name:
        description: The auth database's name.
        type: str
        required: true
      user:
        description: The auth user, the only role besides the owner allowed in (CONNECT only).
        type: str
        required: true
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - In check mode a missing owner or grantee is a warning, not an error, since the login roles
    module creates them earlier in the same play.
  - A grant on the auth database is refused; the auth database admits the auth user only.
requirements:
  - psycopg2 (Debian's python3-psycopg2) or psycopg 3 on the host that runs the module
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - pgbouncer_toolkit.pgbouncer.postgresql
"""

EXAMPLES = r"""
- name: Create the databases and let each role in to its own
  pgbouncer_toolkit.pgbouncer.postgresql_databases:
    login_unix_socket: /var/run/postgresql
    databases:
      - name: app
        owner: app_owner
    grants:
      - database: app
        role: app
    auth_database:
      name: pgbouncer_auth
      user: pgbouncer_auth
  become: true
  become_user: postgres
"""

RETURN = r"""
queries:
  description: The statements run (or, in check mode, that would run).
  returned: always
  type: list
  elements: str
  sample: ["CREATE DATABASE app OWNER app_owner", "REVOKE CONNECT ON DATABASE app FROM PUBLIC CASCADE"]
databases_created:
  description: The databases created (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: [app]
"""

from collections.abc import Mapping  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.postgresql import (  # noqa: E402
    AclTarget,
    Connection,
    Cursor,
    ModuleError,
    Outcome,
    Statement,
    apply_statements,
    check_name,
    check_role_name,
    connection_argument_spec,
    current_role,
    default_acl,
    fetch_all,
    plan_acl,
    plan_exclusive_acl,
    read_acl,
    rename_in_acl,
    require_roles,
    run_module,
    statement,
)

# What PUBLIC must not have on a managed database, and what a declared grant gives.
PUBLIC_FORBIDDEN = frozenset({"CONNECT", "TEMPORARY"})
GRANTED = frozenset({"CONNECT", "TEMPORARY"})
AUTH_USER_PRIVILEGES = frozenset({"CONNECT"})

_DATABASE_QUERY = """
SELECT d.oid, pg_catalog.pg_get_userbyid(d.datdba)::pg_catalog.text
  FROM pg_catalog.pg_database AS d
 WHERE d.datname::pg_catalog.text OPERATOR(pg_catalog.=) %s"""


@dataclass(frozen=True)
class AuthDatabase:
    """The auth database and the one role besides its owner allowed in."""

    name: str
    user: str


@dataclass(frozen=True)
class Request:
    """The module's checked input."""

    owners: dict[str, str | None]  # every declared database, the auth database included
    grants: tuple[tuple[str, str], ...]  # (database, role)
    auth: AuthDatabase | None


def parse_params(params: Mapping[str, Any]) -> Request:
    """Check the input; raise ModuleError naming the first bad field, before any database work."""
    owners: dict[str, str | None] = {}
    for index, item in enumerate(params.get("databases") or []):
        name = check_name(item.get("name"), f"databases[{index}].name")
        owner = item.get("owner")
        if owner is not None:
            owner = check_role_name(owner, f"databases[{index}].owner")
        if owners.get(name, owner) != owner:
            raise ModuleError(f"databases lists {name!r} twice with different owners")
        owners[name] = owner
    auth = None
    if params.get("auth_database"):
        auth = AuthDatabase(
            check_name(params["auth_database"].get("name"), "auth_database.name"),
            check_role_name(params["auth_database"].get("user"), "auth_database.user"),
        )
        owners.setdefault(auth.name, None)
    grants = []
    for index, item in enumerate(params.get("grants") or []):
        database = check_name(item.get("database"), f"grants[{index}].database")
        role = check_role_name(item.get("role"), f"grants[{index}].role")
        if auth is not None and database == auth.name:
            raise ModuleError(
                f"grants[{index}] grants on the auth database {database!r}, which admits the auth user only"
            )
        grants.append((database, role))
    return Request(owners, tuple(dict.fromkeys(grants)), auth)


def _required_roles(request: Request) -> dict[str, str]:
    """{role: what it is for} for every role the request names."""
    roles = {role: f"grants on database {database!r}" for database, role in request.grants}
    roles.update({owner: f"owner of database {name!r}" for name, owner in request.owners.items() if owner})
    if request.auth is not None:
        roles[request.auth.user] = "auth_database.user"
    return roles


def _plan_database(cursor: Cursor, request: Request, name: str) -> list[Statement]:
    """The statements one database needs: declared, or only named by grants (then it must exist)."""
    declared = name in request.owners
    wanted_owner = request.owners.get(name)
    rows = fetch_all(cursor, _DATABASE_QUERY, [name])
    plan: list[Statement] = []
    if rows:
        oid, owner = rows[0]
        entries = read_acl(cursor, "DATABASE", oid)
        if wanted_owner is not None and wanted_owner != owner:
            plan.append(statement("ALTER DATABASE %I OWNER TO %I", name, wanted_owner))
            entries, owner = rename_in_acl(entries, owner, wanted_owner), wanted_owner
    elif declared:
        owner = wanted_owner or current_role(cursor)
        entries = default_acl(cursor, "DATABASE", owner)
        if wanted_owner is None:
            plan.append(statement("CREATE DATABASE %I", name, autocommit=True))
        else:
            plan.append(statement("CREATE DATABASE %I OWNER %I", name, owner, autocommit=True))
    else:
        raise ModuleError(f"grants name database {name!r}, which neither exists nor is in databases")
    target = AclTarget("DATABASE", name, owner)
    if request.auth is not None and name == request.auth.name:
        return plan + plan_exclusive_acl(target, entries, {request.auth.user: AUTH_USER_PRIVILEGES})
    required = {role: GRANTED for database, role in request.grants if database == name}
    # PUBLIC is kept out of the databases declared here only; others are the DBA's.
    forbidden = {None: PUBLIC_FORBIDDEN} if declared else {}
    return plan + plan_acl(target, entries, required=required, forbidden=forbidden)


def ensure_databases(conn: Connection, params: Mapping[str, Any], *, check_mode: bool = False) -> Outcome:
    """Bring the databases and their privileges to the declared state.

    Returns (changed, queries, {"databases_created": [...], "warnings": [...]}).
    """
    request = parse_params(params)
    plan: list[Statement] = []
    with conn.cursor() as cursor:
        warnings = require_roles(cursor, _required_roles(request), check_mode=check_mode)
        for name in dict.fromkeys([*request.owners, *(database for database, _privileges in request.grants)]):
            plan += _plan_database(cursor, request, name)
    queries = apply_statements(conn, plan, check_mode=check_mode)
    created = [item.args[0] for item in plan if item.autocommit]
    return bool(plan), queries, {"databases_created": created, "warnings": warnings}


def argument_spec() -> dict[str, Any]:
    """The module's options."""
    return {
        **connection_argument_spec(),
        "databases": {
            "type": "list",
            "elements": "dict",
            "default": [],
            "options": {"name": {"type": "str", "required": True}, "owner": {"type": "str"}},
        },
        "grants": {
            "type": "list",
            "elements": "dict",
            "default": [],
            "options": {
                "database": {"type": "str", "required": True},
                "role": {"type": "str", "required": True},
            },
        },
        "auth_database": {
            "type": "dict",
            "options": {"name": {"type": "str", "required": True}, "user": {"type": "str", "required": True}},
        },
    }


def main() -> None:
    """Entry point for Ansible."""
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_module(module, ensure_databases)


if __name__ == "__main__":
    main()
