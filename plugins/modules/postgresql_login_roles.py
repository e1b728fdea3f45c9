"""Ansible module: the PgBouncer auth user, the client group and the pooled login roles."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: postgresql_login_roles
short_description: The PgBouncer auth user, the client group and the pooled login roles
description:
  - Ensures the NOLOGIN group role I(client_group) whose members are exactly the declared I(roles),
    the auth user PgBouncer's C(auth_query) logs in as (LOGIN and nothing else, no memberships in
    either direction, no per-role settings), and each declared login role with its SCRAM-SHA-256
    verifier and expiry.
  - Members of I(client_group) that are not declared lose their membership, so a role removed from
    the inventory loses PgBouncer access. Other memberships of the login roles are left alone.
  - Every identifier is quoted and every value bound by PostgreSQL's C(format()); passwords never
    reach the server, only verifiers made on the controller. All changes run in one transaction.
version_added: "0.1.0"
author: pgbouncer-toolkit developers (@pgbouncer-toolkit)
options:
  client_group:
    description:
      - The group role the toolkit owns; the pooled login roles are its direct members.
    type: str
    required: true
  auth_user:
    description:
      - The role PgBouncer's C(auth_query) logs in as.
      - Omitted on a managed server, where PgBouncer reads the roles' verifiers from userlist.txt.
    type: dict
    suboptions:
      name:
        description: Its name.
        type: str
        required: true
      verifier:
        description: Its SCRAM-SHA-256 verifier (C(SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>)).
        type: str
        required: true
  roles:
    description: The login roles PgBouncer pools.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The role's name.
        type: str
        required: true
      verifier:
        description: Its SCRAM-SHA-256 verifier; the stored one is replaced only when it differs.
        type: str
        required: true
      valid_until:
        description:
          - When the role's password expires (a timestamp PostgreSQL understands).
          - Null or empty means never (C(infinity)).
        type: str
      settings:
        description:
          - PostgreSQL settings for the role in every database (C(ALTER ROLE ... SET)), by name, each
            value a string, number or boolean; null removes the setting (C(RESET)). Settings not named
            here are left alone.
          - Each is checked first against the server (C(pg_settings)); a name it does not know (a
            custom C(prefix.name) excepted), one no role may carry (its context is not C(user) or
            C(superuser)) or a value it refuses (C(set_config) in a savepoint) fails the module
            before anything changes.
        type: dict
        default: {}
      acts_as:
        description:
          - Another of I(roles) whose login this role alternates with (credential rotation). The role
            becomes a member of it, with INHERIT and, on PostgreSQL 16 and later, SET, and its sessions
            start as it (C(ALTER ROLE ... SET role)), so both logins have the same privileges and what
            either creates belongs to the same role.
          - Removing it leaves the membership and the setting in place (revoke them by hand).
        type: str
  admin_user:
    description:
      - The role this module logs in as; none of the managed roles may be it. Defaults to I(login_user).
    type: str
  current_verifiers:
    description:
      - For a server whose C(pg_authid) the admin may not read (a managed PostgreSQL), the verifier the
        server holds for each role, as M(pgbouncer_toolkit.pgbouncer.postgresql_role_verifiers) read it
        (null when the server does not hold this verifier); roles are then read from C(pg_roles), and
        a role's password is set only when its verifier differs from this one.
      - An existing role left out (a login could not tell, as for a role whose password expired)
        keeps its password.
      - Omitted, the stored verifiers are read from C(pg_authid), which needs a superuser.
    type: dict
  admin_member_of:
    description:
      - Roles the admin login must be a member of, with INHERIT and, on PostgreSQL 16 and later, SET.
        A CREATEROLE admin that is not a superuser needs this to create a database owned by a role
        (SET) and to grant privileges on it (INHERIT); from PostgreSQL 16 on it holds ADMIN OPTION on
        the roles it created, which lets it grant itself the membership.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Needs psycopg2 (Debian's python3-psycopg2) or psycopg 3 on the host that runs the module.
  - The auth user gets C(VALID UNTIL 'infinity') since PostgreSQL has no statement that sets it back
    to NULL, and both mean no expiry. A stored NULL is accepted as no expiry too.
  - On PostgreSQL 16 and later a membership granted by another role is revoked C(GRANTED BY) that role.
requirements:
  - psycopg2 (Debian's python3-psycopg2) or psycopg 3 on the host that runs the module
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - pgbouncer_toolkit.pgbouncer.postgresql
"""

EXAMPLES = r"""
- name: Create the auth user, the client group and the pooled roles
  pgbouncer_toolkit.pgbouncer.postgresql_login_roles:
    login_unix_socket: /var/run/postgresql
    client_group: pgbouncer_clients
    auth_user:
      name: pgbouncer_auth
      verifier: "{{ auth_verifier }}"
    roles:
      - name: app
        verifier: "{{ app_verifier }}"
        valid_until: "2030-01-01"
  become: true
  become_user: postgres
  no_log: true
"""

RETURN = r"""
queries:
  description: The statements run (or, in check mode, that would run); verifiers are masked.
  returned: always
  type: list
  elements: str
  sample: ["ALTER ROLE app PASSWORD '********'"]
roles_expired:
  description: The declared roles whose VALID UNTIL has passed by the server's clock (no login works).
  returned: always
  type: list
  elements: str
  sample: [app_expired]
roles_changed:
  description:
    - Roles created or altered, and roles that gained or lost a membership, in order of first change.
  returned: always
  type: list
  elements: str
  sample: [app]
"""

from collections.abc import Mapping, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.postgresql import (  # noqa: E402
    DRIVER_ERRORS,
    PG16,
    Connection,
    Cursor,
    ModuleError,
    Outcome,
    Secret,
    Statement,
    apply_statements,
    check_role_name,
    check_setting_name,
    check_verifier,
    connection_argument_spec,
    fetch_all,
    refuse_duplicates,
    run_module,
    server_version_num,
    setting_text,
    statement,
)

NO_EXPIRY = "infinity"
# A planned statement and the role it changes (for roles_changed).
Change = tuple[str, Statement]


@dataclass(frozen=True)
class Attribute:
    """A role attribute: its pg_authid column, the value wanted, the clause that sets it."""

    column: str
    value: object
    clause: str


# What each kind of role must be. The clauses are the only attribute SQL the module writes.
GROUP_ATTRIBUTES = (
    Attribute("rolcanlogin", False, "NOLOGIN"),
    Attribute("rolsuper", False, "NOSUPERUSER"),
    Attribute("rolcreatedb", False, "NOCREATEDB"),
    Attribute("rolcreaterole", False, "NOCREATEROLE"),
    Attribute("rolinherit", False, "NOINHERIT"),
    Attribute("rolreplication", False, "NOREPLICATION"),
    Attribute("rolbypassrls", False, "NOBYPASSRLS"),
)
AUTH_USER_ATTRIBUTES = (
    Attribute("rolcanlogin", True, "LOGIN"),
    *GROUP_ATTRIBUTES[1:],
    Attribute("rolconnlimit", -1, "CONNECTION LIMIT -1"),
)
# INHERIT is the DBA's business: an application role may rely on inheriting from its own groups.
LOGIN_ROLE_ATTRIBUTES = tuple(
    attribute for attribute in AUTH_USER_ATTRIBUTES if attribute.column not in ("rolinherit", "rolconnlimit")
)

# {catalog}: pg_authid, or pg_roles (the same columns, the password masked) where pg_authid is
# unreadable.
_ROLE_QUERY = """
SELECT a.rolcanlogin, a.rolsuper, a.rolcreatedb, a.rolcreaterole, a.rolinherit, a.rolreplication,
       a.rolbypassrls, a.rolconnlimit, a.rolpassword,
       -- NULL and 'infinity' both mean "no expiry"; PostgreSQL parses the wanted timestamp.
       COALESCE(a.rolvaliduntil, 'infinity') OPERATOR(pg_catalog.=) %s::pg_catalog.timestamptz
  FROM pg_catalog.{catalog} AS a
 WHERE a.rolname::pg_catalog.text OPERATOR(pg_catalog.=) %s"""
_ROLE_COLUMNS = (
    "rolcanlogin",
    "rolsuper",
    "rolcreatedb",
    "rolcreaterole",
    "rolinherit",
    "rolreplication",
    "rolbypassrls",
    "rolconnlimit",
    "rolpassword",
    "valid_until_matches",
)
# Every membership in which one of the given roles is the group or the member.
_MEMBERSHIPS_QUERY = """
SELECT g.rolname::pg_catalog.text, m.rolname::pg_catalog.text,
       pg_catalog.pg_get_userbyid(am.grantor)::pg_catalog.text
  FROM pg_catalog.pg_auth_members AS am
  JOIN pg_catalog.pg_roles AS g ON g.oid OPERATOR(pg_catalog.=) am.roleid
  JOIN pg_catalog.pg_roles AS m ON m.oid OPERATOR(pg_catalog.=) am.member
 WHERE g.rolname::pg_catalog.text OPERATOR(pg_catalog.=) ANY (%s::pg_catalog.text[])
    OR m.rolname::pg_catalog.text OPERATOR(pg_catalog.=) ANY (%s::pg_catalog.text[])
 ORDER BY 1, 2, 3"""
# Per-role settings (ALTER ROLE ... [IN DATABASE ...] SET); database NULL: for every database.
_SETTINGS_QUERY = """
SELECT d.datname::pg_catalog.text
  FROM pg_catalog.pg_db_role_setting AS s
  JOIN pg_catalog.pg_roles AS a ON a.oid OPERATOR(pg_catalog.=) s.setrole
  LEFT JOIN pg_catalog.pg_database AS d ON d.oid OPERATOR(pg_catalog.=) s.setdatabase
 WHERE a.rolname::pg_catalog.text OPERATOR(pg_catalog.=) %s
 ORDER BY 1 NULLS FIRST"""
# The given roles a member belongs to, and whether one of its grants there has {held}: INHERIT and
# SET from 16 on (_PG16_HELD), any membership before (true).
_HELD_MEMBERSHIPS_QUERY = """
SELECT g.rolname::pg_catalog.text, pg_catalog.bool_or({held})
  FROM pg_catalog.pg_auth_members AS am
  JOIN pg_catalog.pg_roles AS g ON g.oid OPERATOR(pg_catalog.=) am.roleid
  JOIN pg_catalog.pg_roles AS m ON m.oid OPERATOR(pg_catalog.=) am.member
 WHERE m.rolname::pg_catalog.text OPERATOR(pg_catalog.=) %s
   AND g.rolname::pg_catalog.text OPERATOR(pg_catalog.=) ANY (%s::pg_catalog.text[])
 GROUP BY 1"""
# A setting's context (who may set it, and when); no row: no such setting (or a custom one).
_SETTING_QUERY = "SELECT s.context FROM pg_catalog.pg_settings AS s WHERE s.name OPERATOR(pg_catalog.=) %s"
# The role's settings for every database (setdatabase 0), as name=value texts.
_ROLE_SETTINGS_QUERY = """
SELECT s.setconfig
  FROM pg_catalog.pg_db_role_setting AS s
  JOIN pg_catalog.pg_roles AS a ON a.oid OPERATOR(pg_catalog.=) s.setrole
 WHERE a.rolname::pg_catalog.text OPERATOR(pg_catalog.=) %s
   AND s.setdatabase OPERATOR(pg_catalog.=) 0"""
# Of the given (role, VALID UNTIL) pairs, the roles whose timestamp has passed by the server's clock.
_EXPIRED_QUERY = """
SELECT r.name
  FROM ROWS FROM (pg_catalog.unnest(%s::pg_catalog.text[]), pg_catalog.unnest(%s::pg_catalog.text[]))
       AS r(name, valid_until)
 WHERE r.valid_until::pg_catalog.timestamptz OPERATOR(pg_catalog.<) pg_catalog.now()"""
_PG16_HELD = "am.inherit_option AND am.set_option"


@dataclass(frozen=True)
class LoginRole:
    """A role to log in with: name, verifier, expiry ('infinity' for none), settings (None: RESET)."""

    name: str
    verifier: str
    valid_until: str = NO_EXPIRY
    settings: tuple[tuple[str, str | None], ...] = ()
    acts_as: str | None = None


@dataclass(frozen=True)
class Membership:
    """A row of pg_auth_members, by name: ``member`` is a member of ``group``."""

    group: str
    member: str
    grantor: str


@dataclass(frozen=True)
class Request:
    """The module's checked input."""

    client_group: str
    auth_user: LoginRole | None
    roles: tuple[LoginRole, ...]
    admin_user: str
    # None: read pg_authid; else the verifiers a login read back (managed servers).
    current_verifiers: Mapping[str, str | None] | None = None
    admin_member_of: tuple[str, ...] = ()


def parse_params(params: Mapping[str, Any]) -> Request:
    """Check the input; raise ModuleError naming the first bad field, before any database work."""
    group = check_role_name(params.get("client_group"), "client_group")
    auth = params.get("auth_user")
    auth_user = None
    if auth is not None:
        auth_user = LoginRole(
            check_role_name(auth.get("name"), "auth_user.name"),
            check_verifier(auth.get("verifier"), "auth_user.verifier"),
        )
    roles = tuple(
        LoginRole(
            check_role_name(role.get("name"), f"roles[{index}].name"),
            check_verifier(role.get("verifier"), f"roles[{index}].verifier"),
            role.get("valid_until") or NO_EXPIRY,
            tuple(
                (
                    check_setting_name(name, f"roles[{index}].settings"),
                    setting_text(value, f"roles[{index}].settings.{name}"),
                )
                for name, value in sorted((role.get("settings") or {}).items())
            ),
            None
            if role.get("acts_as") is None
            else check_role_name(role["acts_as"], f"roles[{index}].acts_as"),
        )
        for index, role in enumerate(params.get("roles") or [])
    )
    admin = params.get("admin_user") or params.get("login_user") or "postgres"
    current = params.get("current_verifiers")
    if current is not None:
        current = {
            str(name): None if value is None else check_verifier(value, f"current_verifiers[{name!r}]")
            for name, value in current.items()
        }
    member_of = tuple(
        check_role_name(name, f"admin_member_of[{index}]")
        for index, name in enumerate(params.get("admin_member_of") or [])
    )
    request = Request(group, auth_user, roles, admin, current, member_of)
    _refuse_collisions(request)
    return request


def _refuse_collisions(request: Request) -> None:
    """One role, one job: the admin, the group, the auth user and each login role are distinct."""
    refuse_duplicates((role.name for role in request.roles), "roles")
    # Each name against the jobs taken before it, in this order.
    taken: dict[str, str] = {request.admin_user: "the admin login (admin_user)"}
    named = [
        ("client_group", request.client_group),
        *((("auth_user.name", request.auth_user.name),) if request.auth_user else ()),
        *((f"roles[{index}].name", role.name) for index, role in enumerate(request.roles)),
    ]
    for field, name in named:
        if name in taken:
            raise ModuleError(f"{field} {name!r} is also {taken[name]}")
        taken[name] = field
    acting = {role.name: role.acts_as for role in request.roles}
    for index, role in enumerate(request.roles):
        if role.acts_as is None:
            continue
        if role.acts_as == role.name or role.acts_as not in acting:
            raise ModuleError(f"roles[{index}].acts_as {role.acts_as!r} must name another of the roles")
        if acting[role.acts_as] is not None:
            raise ModuleError(f"roles[{index}].acts_as {role.acts_as!r} acts as another role itself")


def _read_role(
    cursor: Cursor, name: str, valid_until: str, verifiers: Mapping[str, str | None] | None
) -> dict[str, Any] | None:
    """The role's row; with ``verifiers`` (pg_authid unreadable) from pg_roles, the password from them."""
    catalog = "pg_authid" if verifiers is None else "pg_roles"
    rows = fetch_all(cursor, _ROLE_QUERY.format(catalog=catalog), [valid_until, name])
    if not rows:
        return None
    row = dict(zip(_ROLE_COLUMNS, rows[0], strict=True))
    row["password_known"] = verifiers is None or name in verifiers
    if verifiers is not None:
        row["rolpassword"] = verifiers.get(name)
    return row


def _plan_role(
    cursor: Cursor,
    request: Request,
    name: str,
    attributes: Sequence[Attribute],
    verifier: str | None,
    valid_until: str | None,
) -> list[Statement]:
    """Create the role, or correct its attributes, password and expiry (None: a NOLOGIN group)."""
    clauses = " ".join(attribute.clause for attribute in attributes)
    current = _read_role(cursor, name, valid_until or NO_EXPIRY, request.current_verifiers)
    if current is None:
        if verifier is None:
            return [statement(f"CREATE ROLE %I WITH {clauses}", name)]
        return [
            statement(
                f"CREATE ROLE %I WITH {clauses} PASSWORD %L VALID UNTIL %L",
                name,
                Secret(verifier),
                valid_until,
            )
        ]
    plan = []
    drift = " ".join(
        attribute.clause for attribute in attributes if current[attribute.column] != attribute.value
    )
    if drift:
        plan.append(statement(f"ALTER ROLE %I WITH {drift}", name))
    # pg_roles masks every password: a group's cannot be checked there.
    if verifier is None and current["password_known"] and current["rolpassword"] is not None:
        plan.append(statement("ALTER ROLE %I WITH PASSWORD NULL", name))
    if verifier is not None and current["password_known"] and current["rolpassword"] != verifier:
        plan.append(statement("ALTER ROLE %I WITH PASSWORD %L", name, Secret(verifier)))
    if valid_until is not None and not current["valid_until_matches"]:
        plan.append(statement("ALTER ROLE %I WITH VALID UNTIL %L", name, valid_until))
    return plan


def _revoke(membership: Membership, version: int) -> Statement:
    # From 16 on a role may hold one grant per grantor, and a superuser's REVOKE removes only the
    # grant recorded as the bootstrap superuser's: name the grantor. Before 16 there is one grant
    # per pair, GRANTED BY is ignored, and the grantor may even be a dropped role: leave it out.
    if version >= PG16:
        return statement(
            "REVOKE %I FROM %I GRANTED BY %I CASCADE", membership.group, membership.member, membership.grantor
        )
    return statement("REVOKE %I FROM %I CASCADE", membership.group, membership.member)


def _plan_memberships(cursor: Cursor, version: int, request: Request) -> list[Change]:
    """The group holds exactly the declared roles; the auth user is in no role and holds none."""
    auth_name = request.auth_user.name if request.auth_user else None
    watched = [name for name in (request.client_group, auth_name) if name is not None]
    memberships = [Membership(*row) for row in fetch_all(cursor, _MEMBERSHIPS_QUERY, [watched, watched])]
    declared = {role.name for role in request.roles}
    unwanted = [
        membership
        for membership in memberships
        if (auth_name is not None and auth_name in (membership.group, membership.member))
        # A CREATEROLE admin holds ADMIN OPTION on the group it created (PostgreSQL 16+): kept.
        or (
            membership.group == request.client_group
            and membership.member not in declared
            and membership.member != request.admin_user
        )
    ]
    plan = [(membership.member, _revoke(membership, version)) for membership in unwanted]
    members = {membership.member for membership in memberships if membership.group == request.client_group}
    plan += [
        (role.name, statement("GRANT %I TO %I", request.client_group, role.name))
        for role in request.roles
        if role.name not in members
    ]
    return plan


def _check_settings(cursor: Cursor, request: Request) -> None:
    """Ask the server about every declared setting before anything changes; raise naming the first
    it refuses. A value is tried with set_config() for this transaction only, in a savepoint."""
    for index, role in enumerate(request.roles):
        for name, value in role.settings:
            where = f"roles[{index}].settings.{name}"
            rows = fetch_all(cursor, _SETTING_QUERY, [name])
            if not rows and "." not in name:
                raise ModuleError(f"{where}: PostgreSQL has no setting {name!r}")
            if rows and rows[0][0] not in ("user", "superuser"):
                raise ModuleError(
                    f"{where}: {name!r} cannot be set for a role (its context is {rows[0][0]!r}; "
                    "only user and superuser settings can)"
                )
            if value is None:
                continue
            cursor.execute("SAVEPOINT pgbouncer_toolkit_setting")
            try:
                cursor.execute("SELECT pg_catalog.set_config(%s, %s, true)", [name, value])
            except DRIVER_ERRORS as exc:
                cursor.execute("ROLLBACK TO SAVEPOINT pgbouncer_toolkit_setting")
                raise ModuleError(f"{where}: PostgreSQL refuses {value!r}: {str(exc).strip()}") from None
            cursor.execute("ROLLBACK TO SAVEPOINT pgbouncer_toolkit_setting")


def _plan_role_settings(cursor: Cursor, role: LoginRole) -> list[Statement]:
    """SET each declared setting whose stored value differs, RESET each declared null that is set."""
    if not role.settings:
        return []
    stored = _stored_settings(cursor, role.name)
    plan = []
    for name, value in role.settings:
        if value is None and name in stored:
            plan.append(statement("ALTER ROLE %I RESET %I", role.name, name))
        elif value is not None and stored.get(name) != value:
            plan.append(statement("ALTER ROLE %I SET %I TO %L", role.name, name, value))
    return plan


def _stored_settings(cursor: Cursor, role: str) -> dict[str, str]:
    """The role's settings for every database (ALTER ROLE ... SET), by name."""
    return dict(
        item.split("=", 1)
        for (config,) in fetch_all(cursor, _ROLE_SETTINGS_QUERY, [role])
        for item in config or []
        if "=" in item
    )


def _ungranted(cursor: Cursor, version: int, member: str, groups: Sequence[str]) -> list[str]:
    """Those of ``groups`` in which ``member`` holds no grant with INHERIT and, on PostgreSQL 16
    and later, SET."""
    if not groups:
        return []
    query = _HELD_MEMBERSHIPS_QUERY.format(held=_PG16_HELD if version >= PG16 else "true")
    held = dict(fetch_all(cursor, query, [member, list(groups)]))
    return [group for group in groups if not held.get(group)]


def _grant(version: int, group: str, member: str) -> Statement:
    clause = " WITH INHERIT TRUE, SET TRUE" if version >= PG16 else ""
    return statement(f"GRANT %I TO %I{clause}", group, member)


def _plan_admin_memberships(cursor: Cursor, version: int, request: Request) -> list[Change]:
    """The admin becomes a member, with INHERIT and SET (16+), of each role in admin_member_of."""
    return [
        (name, _grant(version, name, request.admin_user))
        for name in _ungranted(cursor, version, request.admin_user, request.admin_member_of)
    ]


def _plan_acts_as(cursor: Cursor, version: int, request: Request) -> list[Change]:
    """Each role that acts as another is its member (INHERIT, and SET from 16 on) and starts its
    sessions as it."""
    plan: list[Change] = []
    for role in request.roles:
        if role.acts_as is None:
            continue
        if _ungranted(cursor, version, role.name, [role.acts_as]):
            plan.append((role.name, _grant(version, role.acts_as, role.name)))
        if _stored_settings(cursor, role.name).get("role") != role.acts_as:
            plan.append((role.name, statement("ALTER ROLE %I SET role TO %L", role.name, role.acts_as)))
    return plan


def _plan_settings_reset(cursor: Cursor, role: str) -> list[Statement]:
    """Remove the role's ALTER ROLE ... SET settings, in every database."""
    return [
        statement("ALTER ROLE %I RESET ALL", role)
        if database is None
        else statement("ALTER ROLE %I IN DATABASE %I RESET ALL", role, database)
        for (database,) in fetch_all(cursor, _SETTINGS_QUERY, [role])
    ]


def ensure_login_roles(conn: Connection, params: Mapping[str, Any], *, check_mode: bool = False) -> Outcome:
    """Bring the group, the auth user and the login roles to the declared state.

    Returns (changed, queries with verifiers masked, {"roles_changed": [...], "roles_expired": [...]}).
    """
    request = parse_params(params)
    auth = request.auth_user
    plan: list[Change] = []
    with conn.cursor() as cursor:
        _check_settings(cursor, request)
        targets = [
            (request.client_group, GROUP_ATTRIBUTES, None, None),
            *(((auth.name, AUTH_USER_ATTRIBUTES, auth.verifier, NO_EXPIRY),) if auth else ()),
            *((role.name, LOGIN_ROLE_ATTRIBUTES, role.verifier, role.valid_until) for role in request.roles),
        ]
        for name, attributes, verifier, valid_until in targets:
            plan += [
                (name, item) for item in _plan_role(cursor, request, name, attributes, verifier, valid_until)
            ]
        version = server_version_num(cursor)
        plan += _plan_memberships(cursor, version, request)
        plan += _plan_admin_memberships(cursor, version, request)
        plan += _plan_acts_as(cursor, version, request)
        for role in request.roles:
            plan += [(role.name, item) for item in _plan_role_settings(cursor, role)]
        if auth:
            plan += [(auth.name, item) for item in _plan_settings_reset(cursor, auth.name)]
        # By the server's clock, the roles whose declared VALID UNTIL has passed: one query for all.
        names, untils = [role.name for role in request.roles], [role.valid_until for role in request.roles]
        expired_names = {row[0] for row in fetch_all(cursor, _EXPIRED_QUERY, [names, untils])}
        expired = [name for name in names if name in expired_names]
    queries = apply_statements(conn, [item for _role, item in plan], check_mode=check_mode)
    # dict.fromkeys: unique, in order of first change.
    return (
        bool(plan),
        queries,
        {"roles_changed": list(dict.fromkeys(role for role, _item in plan)), "roles_expired": expired},
    )


def argument_spec() -> dict[str, Any]:
    """The module's options."""
    login_role = {
        "name": {"type": "str", "required": True},
        "verifier": {"type": "str", "required": True, "no_log": True},
    }
    return {
        **connection_argument_spec(),
        "client_group": {"type": "str", "required": True},
        "auth_user": {"type": "dict", "options": login_role},
        "roles": {
            "type": "list",
            "elements": "dict",
            "default": [],
            "options": {
                **login_role,
                "valid_until": {"type": "str"},
                "settings": {"type": "dict", "default": {}},
                "acts_as": {"type": "str"},
            },
        },
        "admin_user": {"type": "str"},
        "current_verifiers": {"type": "dict", "no_log": True},
        "admin_member_of": {"type": "list", "elements": "str", "default": []},
    }


def main() -> None:
    """Entry point for Ansible."""
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_module(module, ensure_login_roles)


if __name__ == "__main__":
    main()
