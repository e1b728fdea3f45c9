"""The collection's PostgreSQL modules against a real PostgreSQL (the session's throwaway server).

Each module's logic is called directly with a psycopg connection, and once through
ansible-playbook with values from an inventory file. Names are hostile but valid wherever a name
goes: they must come out of the catalog exactly as they went in, and nothing else may happen.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from psycopg import sql

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.filter.scram import scram_sha256_verifier
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.pg_wire import WireError
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.postgresql import (
    MASK,
    ModuleError,
    check_name,
    check_role_name,
    read_only_session,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.modules.postgresql_databases import (
    ensure_databases,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.modules.postgresql_facts import read_facts
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.modules.postgresql_login_roles import (
    ensure_login_roles,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.modules.postgresql_lookup_function import (
    ensure_lookup_function,
)
from tests import playbooks

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MODULES = ("postgresql_facts", "postgresql_login_roles", "postgresql_databases", "postgresql_lookup_function")

# Hostile but valid: quotes, SQL fragments, dollar quotes, unicode, the 63-byte maximum.
AUTH_USER = 'Pgb Auth "Q"'
GROUP = 'Pool "Clients"; --'
LONG_NAME = "Ä" * 30 + "abc"  # 63 bytes in UTF-8
APP_ROLES = (
    "App-Role",
    "ÜNICODE_Rolle",
    'x" SUPERUSER --',
    "semi;colon",
    "$$dollar$$",
    LONG_NAME,
    "per%cent",
)
AUTH_DB = 'auth "db"; DROP DATABASE postgres; --'
APP_DBS = ("App-DB", "ÜNICODE db", "$$dollar$$", "back\\slash")
SCHEMA = 'Pgb "Schema"'
FUNCTION = "look-up $$"
DEFAULT_APP_ROLES = ("App-Role", 'x" SUPERUSER --')


def password(role: object) -> str:
    # repr: a valid password even for the refused names (NUL, not a string).
    return f"secret of {role!r}"


@functools.cache
def verifier(role: object) -> str:
    """One verifier per role for the whole session: a fresh salt would change it on every run."""
    return scram_sha256_verifier(password(role))


def ident(template: str, *names: str) -> sql.Composed:
    """Test-side SQL with quoted identifiers (the tests tamper with the catalog through this)."""
    return sql.SQL(template).format(*(sql.Identifier(name) for name in names))


@dataclass
class Cluster:
    """The throwaway server, and ways to look at it."""

    host: str
    port: int
    socket_dir: str

    @property
    def login(self) -> dict[str, Any]:
        return {"login_unix_socket": self.socket_dir, "login_port": self.port, "login_user": "postgres"}

    def connect(self, dbname: str = "postgres", *, autocommit: bool = False) -> psycopg.Connection:
        return psycopg.connect(
            host=self.socket_dir, port=self.port, user="postgres", dbname=dbname, autocommit=autocommit
        )

    def login_tcp(self, user: str, dbname: str = "postgres") -> psycopg.Connection:
        """A real SCRAM login over TCP with the role's password."""
        return psycopg.connect(
            host=self.host, port=self.port, user=user, password=password(user), dbname=dbname, autocommit=True
        )

    def rows(self, query: str | sql.Composable, params: tuple = (), dbname: str = "postgres") -> list[tuple]:
        with self.connect(dbname, autocommit=True) as conn:
            return conn.execute(query, params).fetchall()

    def value(self, query: str | sql.Composable, params: tuple = (), dbname: str = "postgres") -> Any:
        return self.rows(query, params, dbname)[0][0]

    def run(self, *statements: str | sql.Composable, dbname: str = "postgres") -> None:
        with self.connect(dbname, autocommit=True) as conn:
            for item in statements:
                conn.execute(item)

    def role_names(self) -> set[str]:
        return {row[0] for row in self.rows("SELECT rolname::text FROM pg_roles WHERE rolname !~ '^pg_'")}

    def database_names(self) -> set[str]:
        return {row[0] for row in self.rows("SELECT datname::text FROM pg_database")}

    def superusers(self) -> set[str]:
        return {row[0] for row in self.rows("SELECT rolname::text FROM pg_roles WHERE rolsuper")}

    def members(self, group: str) -> set[str]:
        query = """SELECT m.rolname::text FROM pg_auth_members am
                     JOIN pg_roles g ON g.oid = am.roleid JOIN pg_roles m ON m.oid = am.member
                    WHERE g.rolname = %s"""
        return {row[0] for row in self.rows(query, (group,))}

    def memberships_of(self, role: str) -> set[tuple[str, str]]:
        """(group, member) pairs in which ``role`` is either."""
        query = """SELECT g.rolname::text, m.rolname::text FROM pg_auth_members am
                     JOIN pg_roles g ON g.oid = am.roleid JOIN pg_roles m ON m.oid = am.member
                    WHERE %s IN (g.rolname, m.rolname)"""
        return set(self.rows(query, (role,)))

    def role(self, name: str) -> dict[str, Any]:
        query = """SELECT rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication,
                          rolbypassrls, rolconnlimit, rolpassword,
                          COALESCE(rolvaliduntil, 'infinity') = 'infinity' AS no_expiry
                     FROM pg_authid WHERE rolname = %s"""
        with self.connect(autocommit=True) as conn:
            cursor = conn.execute(query, (name,))
            row = cursor.fetchone()
            return dict(zip([column.name for column in cursor.description], row, strict=True))

    def settings_of(self, role: str) -> list[tuple]:
        query = """SELECT s.setdatabase, s.setconfig FROM pg_db_role_setting s
                     JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = %s"""
        return self.rows(query, (role,))

    def database_acl(self, database: str) -> set[tuple[str, str, bool]]:
        """{(grantee or PUBLIC, privilege, grantable)} of a database."""
        query = """SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee)::text END,
                          a.privilege_type, a.is_grantable
                     FROM pg_database d, aclexplode(COALESCE(d.datacl, acldefault('d', d.datdba))) a
                    WHERE d.datname = %s"""
        return set(self.rows(query, (database,)))

    def snapshot(self, *databases: str) -> dict[str, Any]:
        """Everything the modules could change, to tell that check mode changed nothing."""
        state: dict[str, Any] = {
            "roles": self.rows(
                "SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication,"
                " rolbypassrls, rolconnlimit, rolpassword, rolvaliduntil::text FROM pg_authid ORDER BY rolname"
            ),
            "members": self.rows("SELECT roleid, member, admin_option FROM pg_auth_members ORDER BY 1, 2"),
            "settings": self.rows("SELECT * FROM pg_db_role_setting ORDER BY 1, 2"),
            "databases": self.rows("SELECT datname, datdba, datacl::text FROM pg_database ORDER BY 1"),
        }
        for database in databases:
            if database in self.database_names():
                state[database] = function_snapshot(self, database)
        return state


def function_snapshot(
    cluster: Cluster, database: str, schema: str = SCHEMA, function: str = FUNCTION
) -> dict:
    """The schema, the public schema and every routine named ``function``, oids left out."""
    schemas = cluster.rows(
        """SELECT nspname::text, pg_get_userbyid(nspowner)::text,
                  ARRAY(SELECT ROW(pg_get_userbyid(a.grantor), a.grantee, a.privilege_type, a.is_grantable)::text
                          FROM aclexplode(COALESCE(nspacl, acldefault('n', nspowner))) a ORDER BY 1)
             FROM pg_namespace WHERE nspname IN (%s, 'public') ORDER BY 1""",
        (schema,),
        database,
    )
    routines = cluster.rows(
        """SELECT pg_get_functiondef(p.oid), p.prosrc, p.prosecdef, p.provolatile, p.proisstrict, p.proconfig,
                  pg_get_userbyid(p.proowner)::text, p.prokind,
                  ARRAY(SELECT ROW(pg_get_userbyid(a.grantor), a.grantee, a.privilege_type, a.is_grantable)::text
                          FROM aclexplode(COALESCE(p.proacl, acldefault('f', p.proowner))) a ORDER BY 1)
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = %s AND p.proname = %s ORDER BY 1""",
        (schema, function),
        database,
    )
    return {"schemas": schemas, "routines": routines}


def cleaned(server: dict[str, object]) -> Iterator[Cluster]:
    """The server; every role and database created meanwhile is dropped afterwards."""
    cluster = Cluster(**server)  # type: ignore[arg-type]
    roles, databases = cluster.role_names(), cluster.database_names()
    yield cluster
    with cluster.connect(autocommit=True) as conn:
        for database in sorted(cluster.database_names() - databases):
            conn.execute(ident("DROP DATABASE {} WITH (FORCE)", database))
        extra = sorted(cluster.role_names() - roles)
        if extra:
            names = sql.SQL(", ").join(sql.Identifier(name) for name in extra)
            conn.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(names))
            conn.execute(sql.SQL("DROP ROLE {}").format(names))


@pytest.fixture
def pg(postgresql_server) -> Iterator[Cluster]:
    """The server, cleaned after each test."""
    yield from cleaned(postgresql_server)


# ---------------------------------------------------------------------------------------------
# Calling the modules' logic


def run_facts(cluster: Cluster, **params: Any) -> tuple[bool, list[str], dict]:
    # The module's own session (the standard library's protocol), as on the host.
    with read_only_session({**cluster.login, **params}) as session:
        return read_facts(session, {**cluster.login, **params})


def run_login_roles(
    cluster: Cluster, *, check_mode: bool = False, **params: Any
) -> tuple[bool, list[str], dict]:
    with cluster.connect() as conn:
        return ensure_login_roles(conn, {**cluster.login, **params}, check_mode=check_mode)


def run_databases(
    cluster: Cluster, *, check_mode: bool = False, **params: Any
) -> tuple[bool, list[str], dict]:
    with cluster.connect() as conn:
        return ensure_databases(conn, {**cluster.login, **params}, check_mode=check_mode)


def run_lookup(cluster: Cluster, *, check_mode: bool = False, **params: Any) -> tuple[bool, list[str], dict]:
    params = {"database": AUTH_DB, "schema": SCHEMA, "function": FUNCTION, "auth_user": AUTH_USER, **params}
    params.setdefault("client_group", GROUP)
    with cluster.connect(params["database"]) as conn:
        return ensure_lookup_function(conn, {**cluster.login, **params}, check_mode=check_mode)


def role_params(
    roles: tuple[str, ...] = DEFAULT_APP_ROLES,
    *,
    group: str = GROUP,
    auth_user: str = AUTH_USER,
    valid_until: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "client_group": group,
        "auth_user": {"name": auth_user, "verifier": verifier(auth_user)},
        "roles": [
            {"name": name, "verifier": verifier(name), "valid_until": (valid_until or {}).get(name)}
            for name in roles
        ],
    }


def database_params(
    databases: tuple[str, ...] = ("App-DB",), owner: str | None = "App-Role"
) -> dict[str, Any]:
    return {
        "databases": [{"name": name, "owner": owner} for name in databases],
        "grants": [{"database": name, "role": "App-Role"} for name in databases],
        "auth_database": {"name": AUTH_DB, "user": AUTH_USER},
    }


def deploy(cluster: Cluster, roles: tuple[str, ...] = DEFAULT_APP_ROLES, **lookup: Any) -> dict[str, tuple]:
    """All three modules, as the role runs them, with the auth database only (CREATE DATABASE
    is the slowest statement here); returns each one's outcome."""
    return {
        "roles": run_login_roles(cluster, **role_params(roles)),
        "databases": run_databases(cluster, **database_params(())),
        "lookup": run_lookup(cluster, **lookup),
    }


def lookup_as_auth_user(cluster: Cluster, username: str, **lookup: Any) -> list[tuple]:
    """Call the function the way PgBouncer does: a SCRAM login as the auth user, auth_query, $1."""
    _, _, extra = run_lookup(cluster, **lookup)
    with cluster.login_tcp(AUTH_USER, AUTH_DB) as conn:
        return psycopg.RawCursor(conn).execute(extra["auth_query"], [username]).fetchall()


def lookup_with_set_role(cluster: Cluster, username: str) -> list[tuple]:
    """Call the function as the auth user through SET ROLE in an admin session."""
    with cluster.connect(AUTH_DB, autocommit=True) as conn:
        conn.execute(ident("SET ROLE {}", AUTH_USER))
        return conn.execute(ident("SELECT * FROM {}.{}(%s)", SCHEMA, FUNCTION), (username,)).fetchall()


# ---------------------------------------------------------------------------------------------
# Names


def test_hostile_names_work_end_to_end(pg):
    before_roles, superusers = pg.role_names(), pg.superusers()
    changed, _, extra = run_login_roles(pg, **role_params(APP_ROLES))
    assert changed
    assert set(extra["roles_changed"]) == {GROUP, AUTH_USER, *APP_ROLES}
    databases = {
        "databases": [{"name": name, "owner": role} for name, role in zip(APP_DBS, APP_ROLES, strict=False)],
        "grants": [{"database": name, "role": role} for name, role in zip(APP_DBS, APP_ROLES, strict=False)],
        "auth_database": {"name": AUTH_DB, "user": AUTH_USER},
    }
    assert run_databases(pg, **databases)[0]
    assert run_lookup(pg)[0]

    # Exactly the declared names, nothing else, nobody promoted.
    assert pg.role_names() == before_roles | {GROUP, AUTH_USER, *APP_ROLES}
    assert pg.superusers() == superusers
    assert pg.members(GROUP) == set(APP_ROLES)
    owners = dict(pg.rows("SELECT datname::text, pg_get_userbyid(datdba)::text FROM pg_database"))
    for name, role in zip(APP_DBS, APP_ROLES, strict=False):
        assert owners[name] == role
        assert pg.database_acl(name) >= {(role, "CONNECT", False), (role, "TEMPORARY", False)}
    assert AUTH_DB in owners
    assert (
        pg.value(
            "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = %s AND p.proname = %s",
            (SCHEMA, FUNCTION),
            AUTH_DB,
        )
        == 1
    )
    assert pg.role(LONG_NAME)["rolcanlogin"] and len(LONG_NAME.encode()) == 63

    # The names work: a SCRAM login, and the lookup answers for a hostile name.
    for role in ('x" SUPERUSER --', "$$dollar$$", "per%cent"):
        with pg.login_tcp(role) as conn:
            assert conn.execute(
                "SELECT current_user::text, usesuper FROM pg_user WHERE usename = current_user"
            ).fetchone() == (role, False)
    assert lookup_as_auth_user(pg, 'x" SUPERUSER --') == [('x" SUPERUSER --', verifier('x" SUPERUSER --'))]

    # A second run changes nothing and issues nothing.
    assert run_login_roles(pg, **role_params(APP_ROLES))[:2] == (False, [])
    assert run_databases(pg, **databases)[:2] == (False, [])
    assert run_lookup(pg)[:2] == (False, [])


RESERVED_ROLE_NAMES = [
    "public",
    "Public",
    "PUBLIC",
    "none",
    "current_user",
    "session_user",
    "current_role",
    "all",
    "pgbouncer",
    "pg_x",
    "PG_x",
]
MALFORMED_NAMES = [
    ("64 bytes", "Ä" * 31 + "ab"),
    ("newline", "app\nrole"),
    ("trailing newline", "app\n"),
    ("NUL", "app\x00role"),
    ("tab", "app\trole"),
    ("DEL", "app\x7f"),
    ("empty", ""),
    ("leading space", " app"),
    ("trailing space", "app "),
    ("not a string", 42),
]


@pytest.mark.parametrize(
    "name",
    RESERVED_ROLE_NAMES + [name for _, name in MALFORMED_NAMES],
    ids=RESERVED_ROLE_NAMES + [case for case, _ in MALFORMED_NAMES],
)
def test_refused_role_name_changes_nothing(pg, name):
    before = pg.snapshot()
    with pytest.raises(ModuleError, match=r"^roles\[1\]\.name ") as refused:
        run_login_roles(pg, **role_params(("App-Role", name)))
    assert "roles[1].name" in str(refused.value)
    assert pg.snapshot() == before


@pytest.mark.parametrize(
    "name", [name for _, name in MALFORMED_NAMES], ids=[case for case, _ in MALFORMED_NAMES]
)
def test_check_name_refuses_malformed_names(name):
    with pytest.raises(ModuleError, match=r"^databases\[0\]\.name "):
        check_name(name, "databases[0].name")


@pytest.mark.parametrize(
    "name",
    ["App-Role", "ÜNICODE_Rolle", 'x" SUPERUSER --', "$$dollar$$", LONG_NAME, "publicity", "pgx", "allow"],
)
def test_check_role_name_accepts_valid_names(name):
    assert check_role_name(name, "roles[0].name") == name


# Each field of each module that takes a name refuses a bad one, naming the field.
FIELD_CASES = [
    ("login_roles", {"client_group": "Public"}, "client_group"),
    ("login_roles", {"auth_user": {"name": "pgbouncer", "verifier": verifier("x")}}, "auth_user.name"),
    ("databases", {"databases": [{"name": "app\n"}]}, r"databases\[0\]\.name"),
    ("databases", {"databases": [{"name": "app", "owner": "current_user"}]}, r"databases\[0\]\.owner"),
    ("databases", {"grants": [{"database": "app", "role": "pg_monitor"}]}, r"grants\[0\]\.role"),
    ("databases", {"grants": [{"database": " app", "role": "App-Role"}]}, r"grants\[0\]\.database"),
    ("databases", {"auth_database": {"name": "auth", "user": "none"}}, r"auth_database\.user"),
    ("databases", {"auth_database": {"name": "a\x00", "user": AUTH_USER}}, r"auth_database\.name"),
    ("lookup", {"auth_user": "PUBLIC"}, "auth_user"),
    ("lookup", {"client_group": "session_user"}, "client_group"),
    ("lookup", {"owner": "all"}, "owner"),
    ("lookup", {"schema": "pg_catalog"}, "schema"),
    ("lookup", {"schema": "public"}, "schema"),
    ("lookup", {"function": "look\tup"}, "function"),
    ("facts", {"roles": ["ok", "Public"]}, r"roles\[1\]"),
]


@pytest.mark.parametrize(
    ("module", "params", "field"), FIELD_CASES, ids=[f"{c[0]}-{c[2]}" for c in FIELD_CASES]
)
def test_each_name_field_is_checked(pg, module, params, field):
    before = pg.snapshot()
    run: Callable[..., tuple] = {
        "login_roles": lambda: run_login_roles(pg, **{**role_params(), **params}),
        "databases": lambda: run_databases(pg, **params),
        "lookup": lambda: run_lookup(pg, database="postgres", **params),
        "facts": lambda: run_facts(pg, **params),
    }[module]
    with pytest.raises(ModuleError, match=rf"^{field} "):
        run()
    assert pg.snapshot() == before


# ---------------------------------------------------------------------------------------------
# Injection attempts


def test_owner_injection_is_refused_as_a_missing_role(pg):
    run_login_roles(pg, **role_params())
    owner = 'x"; CREATE ROLE evil SUPERUSER; --'
    with pytest.raises(ModuleError, match=r"does not exist; create it first \(nothing was changed\)"):
        run_databases(pg, databases=[{"name": "victim", "owner": owner}])
    assert "evil" not in pg.role_names()
    assert "victim" not in pg.database_names()

    # Once a role of that very name exists, it is just the owner's name.
    run_login_roles(pg, **role_params(("App-Role", owner)))
    _, queries, _ = run_databases(pg, databases=[{"name": "victim", "owner": owner}])
    assert queries[0] == 'CREATE DATABASE victim OWNER "x""; CREATE ROLE evil SUPERUSER; --"'
    assert pg.value("SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = 'victim'") == owner
    assert "evil" not in pg.role_names()


def test_role_name_injection_is_just_a_name(pg):
    pg.run("CREATE DATABASE injection")
    pg.run("CREATE TABLE t (i int)", dbname="injection")
    name = "a'); DROP TABLE t; --"
    run_login_roles(pg, **role_params((name,)))
    assert name in pg.role_names()
    assert pg.members(GROUP) == {name}
    assert pg.value("SELECT to_regclass('public.t') IS NOT NULL", dbname="injection")


# ---------------------------------------------------------------------------------------------
# Privileges: PUBLIC and outsiders


def test_public_and_outsiders_are_locked_out(pg):
    deploy(pg)
    pg.run(sql.SQL("CREATE ROLE outsider LOGIN PASSWORD {}").format(sql.Literal(verifier("outsider"))))
    function_oid = pg.value(
        "SELECT p.oid FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = %s AND p.proname = %s",
        (SCHEMA, FUNCTION),
        AUTH_DB,
    )
    checks = pg.rows(
        """SELECT has_function_privilege(r, %(f)s, 'EXECUTE'),
                  has_schema_privilege(r, %(s)s, 'USAGE'), has_schema_privilege(r, %(s)s, 'CREATE'),
                  has_schema_privilege(r, 'public', 'CREATE'),
                  has_database_privilege(r, current_database(), 'CONNECT'),
                  has_database_privilege(r, current_database(), 'TEMPORARY')
             FROM unnest(ARRAY['public', 'outsider', %(a)s]) AS r""",
        {"f": function_oid, "s": SCHEMA, "a": AUTH_USER},
        AUTH_DB,
    )
    assert checks == [
        (False, False, False, False, False, False),  # PUBLIC
        (False, False, False, False, False, False),  # an unrelated LOGIN role
        (True, True, False, False, True, False),  # the auth user: execute, use, connect; nothing else
    ]
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        pg.login_tcp("outsider", AUTH_DB)
    with pg.connect(AUTH_DB, autocommit=True) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SET ROLE outsider")
        conn.execute(ident("SELECT * FROM {}.{}('App-Role')", SCHEMA, FUNCTION))


# ---------------------------------------------------------------------------------------------
# The auth user and the group


def test_auth_user_drift_is_corrected(pg):
    deploy(pg)
    pg.run(
        "CREATE ROLE bystander LOGIN",
        ident("ALTER ROLE {} SUPERUSER CREATEDB CREATEROLE REPLICATION BYPASSRLS INHERIT", AUTH_USER),
        ident("ALTER ROLE {} CONNECTION LIMIT 3 VALID UNTIL '2031-01-01'", AUTH_USER),
        ident("ALTER ROLE {} PASSWORD 'md5d41d8cd98f00b204e9800998ecf8427e'", AUTH_USER),
        ident("GRANT pg_read_all_data TO {}", AUTH_USER),
        ident("GRANT {} TO {}", GROUP, AUTH_USER),
        ident("GRANT {} TO bystander", AUTH_USER),
        ident("ALTER ROLE {} SET work_mem = '1GB'", AUTH_USER),
        ident("ALTER ROLE {} IN DATABASE postgres SET statement_timeout = 1", AUTH_USER),
    )
    changed, queries, extra = run_login_roles(pg, **role_params())
    assert changed
    assert AUTH_USER in extra["roles_changed"]
    assert pg.role(AUTH_USER) == {
        "rolsuper": False,
        "rolinherit": False,
        "rolcreaterole": False,
        "rolcreatedb": False,
        "rolcanlogin": True,
        "rolreplication": False,
        "rolbypassrls": False,
        "rolconnlimit": -1,
        "rolpassword": verifier(AUTH_USER),
        "no_expiry": True,
    }
    assert pg.memberships_of(AUTH_USER) == set()
    assert pg.settings_of(AUTH_USER) == []
    assert f"'{MASK}'" in " ".join(queries)
    assert run_login_roles(pg, **role_params())[:2] == (False, [])


def test_group_is_nologin_and_without_password(pg):
    pg.run(ident("CREATE ROLE {} LOGIN SUPERUSER INHERIT PASSWORD 'x'", GROUP))
    run_login_roles(pg, **role_params())
    group = pg.role(GROUP)
    assert not any(
        group[key] for key in ("rolsuper", "rolinherit", "rolcreaterole", "rolcreatedb", "rolcanlogin")
    )
    assert group["rolpassword"] is None


def test_role_removed_from_inventory_loses_the_group(pg):
    deploy(pg, roles=("App-Role", "Leaver"))
    pg.run("CREATE ROLE stray LOGIN", ident("GRANT {} TO stray", GROUP))
    assert lookup_as_auth_user(pg, "Leaver") == [("Leaver", verifier("Leaver"))]

    changed, queries, extra = run_login_roles(pg, **role_params(("App-Role",)))
    assert changed
    assert set(extra["roles_changed"]) == {"Leaver", "stray"}
    assert all(query.startswith(("REVOKE", "GRANT")) for query in queries)
    assert pg.members(GROUP) == {"App-Role"}
    assert lookup_as_auth_user(pg, "Leaver") == []
    assert lookup_as_auth_user(pg, "App-Role") == [("App-Role", verifier("App-Role"))]
    # Left alone: the role itself, and its other memberships.
    assert "Leaver" in pg.role_names()


def test_membership_granted_by_another_role_is_revoked(pg):
    """From PostgreSQL 16 a superuser's REVOKE removes only its own grant; the module names the grantor."""
    run_login_roles(pg, **role_params())
    pg.run(
        "CREATE ROLE dba CREATEROLE",
        ident("GRANT {} TO dba WITH ADMIN OPTION", GROUP),
        "CREATE ROLE stray LOGIN",
    )
    with pg.connect(autocommit=True) as conn:
        conn.execute("SET ROLE dba")
        conn.execute(ident("GRANT {} TO stray", GROUP))
    grantor = pg.value(
        "SELECT pg_get_userbyid(grantor)::text FROM pg_auth_members WHERE member = 'stray'::regrole"
    )
    assert grantor == "dba"
    changed, queries, _ = run_login_roles(pg, **role_params())
    assert changed
    # dba is no declared role either: its ADMIN OPTION membership goes too.
    assert pg.members(GROUP) == set(DEFAULT_APP_ROLES)
    assert len(queries) == 2
    assert run_login_roles(pg, **role_params())[:2] == (False, [])


# ---------------------------------------------------------------------------------------------
# What the lookup function answers


GROUP_ONLY: dict[str, Any] = {}
WIDE = {"client_group": None}
LOOKUP_CASES = [
    ("declared member", GROUP_ONLY, "App-Role", "verifier"),
    ("declared member with a 63-byte name", GROUP_ONLY, LONG_NAME, "verifier"),
    ("a longer name a cast to name would truncate to a member's", GROUP_ONLY, LONG_NAME + "z", "absent"),
    ("undeclared login role", GROUP_ONLY, "stranger", "absent"),
    ("undeclared login role, wide lookup", WIDE, "stranger", "verifier"),
    ("member of a member", GROUP_ONLY, "nested", "absent"),
    ("superuser in the group", GROUP_ONLY, "root", "absent"),
    ("superuser, wide lookup", WIDE, "root", "absent"),
    ("superuser in the group, superusers allowed", {"allow_superusers": True}, "root", "verifier"),
    ("superuser, wide lookup, superusers allowed", {**WIDE, "allow_superusers": True}, "root", "verifier"),
    ("postgres, wide lookup", WIDE, "postgres", "absent"),
    ("replication role in the group", GROUP_ONLY, "replicator", "absent"),
    ("replication role, wide lookup", WIDE, "replicator", "absent"),
    ("NOLOGIN role in the group", GROUP_ONLY, "nologin", "absent"),
    ("the group itself", WIDE, GROUP, "absent"),
    ("expired member", GROUP_ONLY, "Expired", "null password"),
    ("expired role, wide lookup", WIDE, "Expired", "null password"),
    ("no such role", WIDE, "ghost", "absent"),
]


class TestLookupAnswers:
    """Who the function answers for. One population for the class: the cases only read it, and
    each case installs the function variant it needs."""

    @pytest.fixture(scope="class")
    def population(self, postgresql_server) -> Iterator[Cluster]:
        """The deployment, plus roles the inventory does not declare (made after the run)."""
        for cluster in cleaned(postgresql_server):
            declared = ("App-Role", "Expired", LONG_NAME)
            deploy(cluster, roles=declared)
            run_login_roles(cluster, **role_params(declared, valid_until={"Expired": "2001-02-03"}))
            for role, attributes in (
                ("stranger", "LOGIN"),
                ("root", "LOGIN SUPERUSER"),
                ("replicator", "LOGIN REPLICATION"),
                ("nested", "LOGIN"),
                ("nologin", "NOLOGIN"),
            ):
                cluster.run(
                    sql.SQL("CREATE ROLE {} {} PASSWORD {}").format(
                        sql.Identifier(role), sql.SQL(attributes), sql.Literal(verifier(role))
                    )
                )
            # A superuser, a replication and a NOLOGIN role in the group; "nested" only through a member.
            cluster.run(ident("GRANT {} TO root, replicator, nologin", GROUP), 'GRANT "App-Role" TO nested')
            yield cluster

    @pytest.mark.parametrize(
        ("lookup", "username", "answer"),
        [case[1:] for case in LOOKUP_CASES],
        ids=[case[0] for case in LOOKUP_CASES],
    )
    def test_lookup_answers(self, population, lookup, username, answer):
        expected = {
            "verifier": [(username, verifier(username))],
            "null password": [(username, None)],
            "absent": [],
        }[answer]
        assert lookup_as_auth_user(population, username, **lookup) == expected
        assert lookup_with_set_role(population, username) == expected


def test_lookup_ignores_look_alike_catalogs_on_the_callers_search_path(pg):
    deploy(pg)
    honest = lookup_with_set_role(pg, "App-Role")
    assert honest == [("App-Role", verifier("App-Role"))]
    with pg.connect(AUTH_DB, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA evil")
        conn.execute(ident("GRANT USAGE ON SCHEMA evil TO {}", AUTH_USER))
        for table in ("evil.pg_authid", "pg_temp.pg_authid"):
            conn.execute(
                sql.SQL(
                    "CREATE TABLE {} (oid oid, rolname name, rolpassword text, rolcanlogin bool, rolreplication bool,"
                    " rolsuper bool, rolvaliduntil timestamptz)"
                ).format(sql.SQL(table))
            )
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} VALUES (1, 'App-Role', 'forged', true, false, false, NULL),"
                    " (2, 'ghost', 'forged', true, false, false, NULL)"
                ).format(sql.SQL(table))
            )
        # An "=" that is always true, for operators resolved through the search_path.
        conn.execute("CREATE FUNCTION evil.always(text, text) RETURNS bool LANGUAGE sql AS 'SELECT true'")
        conn.execute("CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.always)")
        conn.execute(ident("SET ROLE {}", AUTH_USER))
        for search_path in ("pg_temp, evil, pg_catalog", "evil, pg_catalog, pg_temp"):
            conn.execute(sql.SQL("SET search_path = {}").format(sql.SQL(search_path)))
            call = ident("SELECT * FROM {}.{}(%s)", SCHEMA, FUNCTION)
            assert conn.execute(call, ("App-Role",)).fetchall() == honest
            assert conn.execute(call, ("ghost",)).fetchall() == []


# ---------------------------------------------------------------------------------------------
# The lookup function: tampering is undone, an identical one is left alone


def _fn(template: str) -> sql.Composed:
    """A tampering statement; {fn} is the function's signature, {schema} its schema."""
    return sql.SQL(template).format(
        fn=sql.SQL("{}.{}(text)").format(sql.Identifier(SCHEMA), sql.Identifier(FUNCTION)),
        schema=sql.Identifier(SCHEMA),
        name=sql.Identifier(FUNCTION),
        auth=sql.Identifier(AUTH_USER),
    )


TAMPERING = [
    (
        "body",
        "CREATE OR REPLACE FUNCTION {schema}.{name}(p_username text) RETURNS TABLE (username text, password text)"
        " LANGUAGE sql STABLE STRICT SECURITY DEFINER SET search_path = pg_catalog, pg_temp"
        " AS $$SELECT rolname::text, rolpassword FROM pg_catalog.pg_authid WHERE rolname = p_username$$",
    ),
    ("owner", "ALTER FUNCTION {fn} OWNER TO mallory"),
    ("search_path", "ALTER FUNCTION {fn} SET search_path = public, pg_catalog"),
    ("no search_path", "ALTER FUNCTION {fn} RESET search_path"),
    ("extra setting", "ALTER FUNCTION {fn} SET work_mem = '64kB'"),
    ("security invoker", "ALTER FUNCTION {fn} SECURITY INVOKER"),
    ("volatile", "ALTER FUNCTION {fn} VOLATILE"),
    ("called on null input", "ALTER FUNCTION {fn} CALLED ON NULL INPUT"),
    ("EXECUTE to PUBLIC", "GRANT EXECUTE ON FUNCTION {fn} TO PUBLIC"),
    ("EXECUTE to another role", "GRANT EXECUTE ON FUNCTION {fn} TO mallory"),
    ("EXECUTE revoked from the auth user", "REVOKE EXECUTE ON FUNCTION {fn} FROM {auth}"),
    (
        "planted overload",
        "CREATE FUNCTION {schema}.{name}(p_username varchar) RETURNS text LANGUAGE sql AS 'SELECT 1::text'",
    ),
    ("planted procedure", "CREATE PROCEDURE {schema}.{name}(integer) LANGUAGE sql AS 'SELECT 1'"),
    ("dropped", "DROP FUNCTION {fn}"),
    ("schema owner", "ALTER SCHEMA {schema} OWNER TO mallory"),
    ("schema USAGE to PUBLIC", "GRANT USAGE ON SCHEMA {schema} TO PUBLIC"),
    ("schema CREATE to the auth user", "GRANT CREATE ON SCHEMA {schema} TO {auth}"),
    ("schema USAGE with grant option", "GRANT USAGE ON SCHEMA {schema} TO {auth} WITH GRANT OPTION"),
    ("public schema CREATE to PUBLIC", "GRANT CREATE ON SCHEMA public TO PUBLIC"),
]


@pytest.mark.parametrize("tamper", [case[1] for case in TAMPERING], ids=[case[0] for case in TAMPERING])
def test_tampered_lookup_function_is_replaced(pg, tamper):
    deploy(pg)
    pg.run("CREATE ROLE mallory")
    fresh = function_snapshot(pg, AUTH_DB)
    pg.run(_fn(tamper), dbname=AUTH_DB)
    assert function_snapshot(pg, AUTH_DB) != fresh

    changed, queries, _ = run_lookup(pg)
    assert changed and queries
    assert function_snapshot(pg, AUTH_DB) == fresh
    assert run_lookup(pg)[:2] == (False, [])


def test_every_same_name_routine_is_dropped_in_one_go(pg):
    deploy(pg)
    tampering = dict(TAMPERING)
    pg.run(
        _fn(tampering["planted overload"]),
        _fn(tampering["planted procedure"]),
        _fn(tampering["volatile"]),
        dbname=AUTH_DB,
    )
    _, queries, _ = run_lookup(pg)
    # regprocedure's own rendering: the signature quoted by PostgreSQL, in creation order.
    signature = 'DROP ROUTINE "Pgb ""Schema"""."look-up $$"'
    assert queries[:3] == [f"{signature}(text)", f"{signature}(character varying)", f"{signature}(integer)"]
    assert queries[3].startswith('CREATE FUNCTION "Pgb ""Schema"""."look-up $$"(p_username pg_catalog.text)')
    assert len(function_snapshot(pg, AUTH_DB)["routines"]) == 1


def test_lookup_switches_between_group_and_wide(pg):
    deploy(pg)
    group_source = function_snapshot(pg, AUTH_DB)["routines"][0][1]
    assert "pg_auth_members" in group_source
    changed, _, _ = run_lookup(pg, client_group=None)
    assert changed
    assert "pg_auth_members" not in function_snapshot(pg, AUTH_DB)["routines"][0][1]
    changed, _, _ = run_lookup(pg)
    assert changed
    assert function_snapshot(pg, AUTH_DB)["routines"][0][1] == group_source


def test_lookup_owner_must_be_a_superuser(pg):
    deploy(pg)
    with pytest.raises(ModuleError, match="owner 'App-Role' must be a superuser"):
        run_lookup(pg, owner="App-Role")


# ---------------------------------------------------------------------------------------------
# Check mode


def test_check_mode_reports_and_changes_nothing(pg):
    before = pg.snapshot(AUTH_DB)
    changed, queries, extra = run_login_roles(pg, check_mode=True, **role_params())
    assert changed and extra["roles_changed"] == [GROUP, AUTH_USER, *DEFAULT_APP_ROLES]
    assert any(query.startswith("CREATE ROLE") for query in queries)
    changed, queries, extra = run_databases(pg, check_mode=True, **database_params())
    assert changed and extra["databases_created"] == ["App-DB", AUTH_DB]
    assert any("does not exist" in warning for warning in extra["warnings"])
    assert pg.snapshot(AUTH_DB) == before

    run_login_roles(pg, **role_params())
    run_databases(pg, **database_params())
    before = pg.snapshot(AUTH_DB)
    changed, queries, _ = run_lookup(pg, check_mode=True)
    assert changed and any(query.startswith("CREATE FUNCTION") for query in queries)
    assert pg.snapshot(AUTH_DB) == before


def test_check_mode_reports_drift_and_leaves_it(pg):
    deploy(pg)
    pg.run(
        ident("ALTER ROLE {} CREATEDB", AUTH_USER), ident("GRANT TEMPORARY ON DATABASE {} TO PUBLIC", AUTH_DB)
    )
    pg.run(_fn("ALTER FUNCTION {fn} VOLATILE"), dbname=AUTH_DB)
    before = pg.snapshot(AUTH_DB)
    for run in (run_login_roles, run_databases, run_lookup):
        params = {run_login_roles: role_params(), run_databases: database_params(), run_lookup: {}}[run]
        changed, queries, _ = run(pg, check_mode=True, **params)
        assert changed and queries, run.__name__
    assert pg.snapshot(AUTH_DB) == before


# ---------------------------------------------------------------------------------------------
# Passwords


def test_password_is_altered_only_when_the_verifier_differs(pg):
    run_login_roles(pg, **role_params())
    assert run_login_roles(pg, **role_params())[:2] == (False, [])

    params = role_params()
    new = scram_sha256_verifier("a new secret")
    params["roles"][0]["verifier"] = new
    changed, queries, extra = run_login_roles(pg, **params)
    assert (changed, queries, extra["roles_changed"]) == (
        True,
        [f"ALTER ROLE \"App-Role\" WITH PASSWORD '{MASK}'"],
        ["App-Role"],
    )
    assert pg.role("App-Role")["rolpassword"] == new
    assert new not in repr(queries)


@pytest.mark.parametrize(
    "secret",
    [
        "hunter2",
        "md5d41d8cd98f00b204e9800998ecf8427e",
        "SCRAM-SHA-256$4096:c2FsdA==$short:keys",
        "SCRAM-SHA-256$0:c2FsdA==$" + "A" * 43 + "=:" + "A" * 43 + "=",
        " " + verifier("App-Role"),
    ],
    ids=["plaintext", "md5", "short keys", "zero iterations", "leading space"],
)
def test_anything_but_a_scram_verifier_is_refused(pg, secret):
    before = pg.snapshot()
    params = role_params()
    params["roles"][1]["verifier"] = secret
    with pytest.raises(ModuleError, match=r"^roles\[1\]\.verifier ") as refused:
        run_login_roles(pg, **params)
    assert secret.strip() not in str(refused.value)
    assert pg.snapshot() == before


def test_valid_until_is_set_and_cleared(pg):
    run_login_roles(pg, **role_params(valid_until={"App-Role": "2040-05-06 07:08:09+00"}))
    assert pg.value(
        "SELECT rolvaliduntil = '2040-05-06 07:08:09+00' FROM pg_authid WHERE rolname = 'App-Role'"
    )
    assert run_login_roles(pg, **role_params(valid_until={"App-Role": "2040-05-06 07:08:09+00"}))[:2] == (
        False,
        [],
    )
    _, queries, _ = run_login_roles(pg, **role_params())
    assert queries == ["ALTER ROLE \"App-Role\" WITH VALID UNTIL 'infinity'"]
    assert pg.role("App-Role")["no_expiry"]


# ---------------------------------------------------------------------------------------------
# Collisions


COLLISIONS = [
    (
        "role is the auth user",
        role_params((AUTH_USER,)),
        r"roles\[0\]\.name 'Pgb Auth \"Q\"' is also auth_user.name",
    ),
    ("role is the group", role_params((GROUP,)), r"roles\[0\]\.name .* is also client_group"),
    (
        "role is the admin login",
        role_params(("postgres",)),
        r"roles\[0\]\.name 'postgres' is also the admin login",
    ),
    (
        "role is the named admin",
        {**role_params(("dba",)), "admin_user": "dba"},
        r"roles\[0\]\.name 'dba' is also the admin login",
    ),
    ("auth user is the group", role_params(group=AUTH_USER), r"auth_user.name .* is also client_group"),
    (
        "auth user is the admin login",
        role_params(auth_user="postgres"),
        r"auth_user.name 'postgres' is also the admin login",
    ),
    (
        "group is the admin login",
        role_params(group="postgres"),
        r"client_group 'postgres' is also the admin login",
    ),
    (
        "duplicate roles",
        role_params(("App-Role", "other", "App-Role")),
        r"roles lists 'App-Role' more than once",
    ),
]


@pytest.mark.parametrize(
    ("params", "message"), [case[1:] for case in COLLISIONS], ids=[case[0] for case in COLLISIONS]
)
def test_collisions_are_refused(pg, params, message):
    before = pg.snapshot()
    with pytest.raises(ModuleError, match=message):
        run_login_roles(pg, **params)
    assert pg.snapshot() == before


# ---------------------------------------------------------------------------------------------
# Databases


def test_databases_public_revoked_grants_added_dba_grants_kept(pg):
    run_login_roles(pg, **role_params())
    pg.run(
        "CREATE ROLE reporting", 'CREATE DATABASE "App-DB"', 'GRANT CONNECT ON DATABASE "App-DB" TO reporting'
    )
    changed, queries, extra = run_databases(pg, **database_params())
    assert changed and extra["databases_created"] == [AUTH_DB]
    assert queries[0] == 'CREATE DATABASE "auth ""db""; DROP DATABASE postgres; --"'
    assert (
        pg.value("SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = 'App-DB'")
        == "App-Role"
    )
    assert pg.database_acl("App-DB") == {
        ("App-Role", "CREATE", False),
        ("App-Role", "CONNECT", False),
        ("App-Role", "TEMPORARY", False),
        ("reporting", "CONNECT", False),  # the DBA's grant, left alone
    }
    assert pg.database_acl(AUTH_DB) == {
        ("postgres", "CREATE", False),
        ("postgres", "CONNECT", False),
        ("postgres", "TEMPORARY", False),
        (AUTH_USER, "CONNECT", False),
    }
    assert run_databases(pg, **database_params())[:2] == (False, [])


def test_auth_database_drift_is_revoked(pg):
    run_login_roles(pg, **role_params())
    run_databases(pg, **database_params())
    pg.run(
        "CREATE ROLE dba",
        "CREATE ROLE downstream",
        ident("GRANT TEMPORARY ON DATABASE {} TO PUBLIC", AUTH_DB),
        ident('GRANT CONNECT ON DATABASE {} TO "App-Role"', AUTH_DB),
        ident("GRANT CREATE, TEMPORARY ON DATABASE {} TO {}", AUTH_DB, AUTH_USER),
        ident("GRANT CONNECT ON DATABASE {} TO {} WITH GRANT OPTION", AUTH_DB, AUTH_USER),
        ident("GRANT CONNECT ON DATABASE {} TO dba WITH GRANT OPTION", AUTH_DB),
    )
    for grantor, grantee in ((AUTH_USER, "downstream"), ("dba", "downstream"), ("dba", "PUBLIC")):
        with pg.connect(autocommit=True) as conn:
            conn.execute(ident("SET ROLE {}", grantor))
            conn.execute(
                sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                    sql.Identifier(AUTH_DB),
                    sql.SQL("PUBLIC") if grantee == "PUBLIC" else sql.Identifier(grantee),
                )
            )
    changed, _, _ = run_databases(pg, **database_params())
    assert changed
    assert pg.database_acl(AUTH_DB) == {
        ("postgres", "CREATE", False),
        ("postgres", "CONNECT", False),
        ("postgres", "TEMPORARY", False),
        (AUTH_USER, "CONNECT", False),
    }
    assert run_databases(pg, **database_params())[:2] == (False, [])


def test_public_grant_by_another_grantor_is_revoked_as_that_grantor(pg):
    run_login_roles(pg, **role_params())
    run_databases(pg, **database_params())
    pg.run("CREATE ROLE dba", 'GRANT CONNECT ON DATABASE "App-DB" TO dba WITH GRANT OPTION')
    with pg.connect(autocommit=True) as conn:
        conn.execute("SET ROLE dba")
        conn.execute('GRANT CONNECT ON DATABASE "App-DB" TO PUBLIC')
    assert pg.value("SELECT has_database_privilege('public', 'App-DB', 'CONNECT')")
    _, queries, _ = run_databases(pg, **database_params())
    assert queries == [
        "SET ROLE dba",
        'REVOKE CONNECT ON DATABASE "App-DB" FROM PUBLIC CASCADE',
        "RESET ROLE",
    ]
    assert not pg.value("SELECT has_database_privilege('public', 'App-DB', 'CONNECT')")
    assert ("dba", "CONNECT", True) in pg.database_acl("App-DB")  # the DBA's own grant stays


def test_database_owner_is_changed(pg):
    run_login_roles(pg, **role_params())
    pg.run('CREATE DATABASE "App-DB"', 'GRANT TEMPORARY ON DATABASE "App-DB" TO "x"" SUPERUSER --"')
    _, queries, _ = run_databases(pg, **database_params())
    assert 'ALTER DATABASE "App-DB" OWNER TO "App-Role"' in queries
    # The grant the old owner made is now the new owner's, and stays.
    assert ('x" SUPERUSER --', "TEMPORARY", False) in pg.database_acl("App-DB")
    assert (
        pg.value("SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = 'App-DB'")
        == "App-Role"
    )
    assert run_databases(pg, **database_params())[:2] == (False, [])


DATABASE_REFUSALS = [
    (
        "same database, two owners",
        {"databases": [{"name": "d", "owner": "App-Role"}, {"name": "d", "owner": 'x" SUPERUSER --'}]},
        "databases lists 'd' twice with different owners",
    ),
    (
        "grant on the auth database",
        {**database_params(), "grants": [{"database": AUTH_DB, "role": "App-Role"}]},
        r"grants\[0\] grants on the auth database",
    ),
    (
        "grant on a database nobody declared",
        {"grants": [{"database": "nowhere", "role": "App-Role"}]},
        "grants name database 'nowhere', which neither exists nor is in databases",
    ),
    (
        "grant to a missing role",
        {"databases": [{"name": "d"}], "grants": [{"database": "d", "role": "nobody"}]},
        "grants on database 'd': role 'nobody' does not exist",
    ),
]


@pytest.mark.parametrize(
    ("params", "message"), [c[1:] for c in DATABASE_REFUSALS], ids=[c[0] for c in DATABASE_REFUSALS]
)
def test_database_refusals_change_nothing(pg, params, message):
    run_login_roles(pg, **role_params())
    before = pg.snapshot()
    with pytest.raises(ModuleError, match=message):
        run_databases(pg, **params)
    assert pg.snapshot() == before


def test_same_database_twice_with_one_owner_is_fine(pg):
    run_login_roles(pg, **role_params())
    changed, queries, extra = run_databases(
        pg, databases=[{"name": "d", "owner": "App-Role"}, {"name": "d", "owner": "App-Role"}]
    )
    assert changed and extra["databases_created"] == ["d"]
    assert queries.count('CREATE DATABASE d OWNER "App-Role"') == 1


# ---------------------------------------------------------------------------------------------
# Facts


def test_facts(pg):
    run_login_roles(pg, **role_params())
    pg.run("CREATE ROLE nopassword LOGIN")
    changed, queries, facts = run_facts(pg, roles=["App-Role", "nopassword", "absent"])
    assert (changed, queries) == (False, [])
    assert facts["verifiers"] == {"App-Role": verifier("App-Role"), "nopassword": None}
    assert facts["server_version_num"] == int(pg.value("SHOW server_version_num"))
    assert facts["max_connections"] == int(pg.value("SHOW max_connections"))
    assert facts["superuser_reserved_connections"] == int(pg.value("SHOW superuser_reserved_connections"))
    expected_reserved = (
        int(pg.value("SHOW reserved_connections")) if facts["server_version_num"] >= 160000 else 0
    )
    assert facts["reserved_connections"] == expected_reserved


def test_facts_find_every_hostile_role_name_bound_as_an_array(pg):
    run_login_roles(pg, **role_params(APP_ROLES))
    facts = run_facts(pg, roles=[*APP_ROLES, "absent", 'absent"}', "back\\slash"])[2]
    assert sorted(facts["existing_roles"]) == sorted(APP_ROLES)
    assert facts["verifiers"] == {name: verifier(name) for name in APP_ROLES}


def test_facts_read_over_tcp_with_scram_in_a_read_only_transaction(pg):
    """The first play's session logs in as a password role over TCP (SCRAM, the server's signature
    checked) and the server refuses it any change; a wrong password is named."""
    run_login_roles(pg, **role_params())
    pg.run(ident("ALTER ROLE {} SUPERUSER", "App-Role"))
    tcp = {"login_host": pg.host, "login_port": pg.port, "login_user": "App-Role", "login_sslmode": "disable"}
    facts = run_facts(pg, **tcp, login_password=password("App-Role"), roles=["App-Role"])[2]
    assert facts["existing_roles"] == ["App-Role"]
    assert facts["verifiers"] == {"App-Role": verifier("App-Role")}
    with (
        read_only_session({**tcp, "login_password": password("App-Role")}) as session,
        pytest.raises(WireError, match="read-only transaction"),
    ):
        session.execute("CREATE ROLE written_by_a_read")
    assert "written_by_a_read" not in pg.role_names()
    with pytest.raises(WireError, match="refused the password of 'App-Role'"):
        read_only_session({**tcp, "login_password": "wrong"})


def test_facts_report_pg_hba_as_it_is_on_disk(pg):
    """hba_errors reads the file now (not the loaded rules): the check before a reload."""
    hba_file = Path(run_facts(pg)[2]["hba_file"])
    assert str(hba_file) == pg.value("SHOW hba_file")
    assert run_facts(pg)[2]["hba_errors"] == []
    original = hba_file.read_text()
    try:
        hba_file.write_text(original + "host all all 10.0.0.5/33 scram-sha-256\n")
        errors = run_facts(pg)[2]["hba_errors"]
        assert len(errors) == 1 and errors[0].startswith(f"line {len(original.splitlines()) + 1}: "), errors
    finally:
        hba_file.write_text(original)
    assert run_facts(pg)[2]["hba_errors"] == []


# ---------------------------------------------------------------------------------------------
# Through Ansible


PLAYBOOK = """
- name: The PostgreSQL modules, driven by inventory values
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Read the facts
      pgbouncer_toolkit.pgbouncer.postgresql_facts:
        login_unix_socket: "{{ pg_socket }}"
        login_port: "{{ pg_port }}"
        roles: "{{ [auth_user.name] + app_roles | map(attribute='name') }}"
      register: facts
      no_log: true

    - name: Check the facts' types
      ansible.builtin.assert:
        that:
          - facts.server_version_num is integer and facts.server_version_num >= 130000
          - facts.max_connections is integer
          - facts.verifiers is mapping
        quiet: true

    - name: Roles
      pgbouncer_toolkit.pgbouncer.postgresql_login_roles:
        login_unix_socket: "{{ pg_socket }}"
        login_port: "{{ pg_port }}"
        client_group: "{{ client_group }}"
        auth_user: "{{ auth_user }}"
        roles: "{{ app_roles }}"

    - name: Databases
      pgbouncer_toolkit.pgbouncer.postgresql_databases:
        login_unix_socket: "{{ pg_socket }}"
        login_port: "{{ pg_port }}"
        databases: "{{ app_databases }}"
        grants: "{{ app_grants }}"
        auth_database:
          name: "{{ auth_database }}"
          user: "{{ auth_user.name }}"

    - name: Lookup function
      pgbouncer_toolkit.pgbouncer.postgresql_lookup_function:
        login_unix_socket: "{{ pg_socket }}"
        login_port: "{{ pg_port }}"
        database: "{{ auth_database }}"
        schema: "{{ auth_schema }}"
        function: "{{ auth_function }}"
        auth_user: "{{ auth_user.name }}"
        client_group: "{{ client_group }}"

    - name: Refuse an owner that does not exist
      pgbouncer_toolkit.pgbouncer.postgresql_databases:
        login_unix_socket: "{{ pg_socket }}"
        login_port: "{{ pg_port }}"
        databases: [{name: victim, owner: "{{ hostile_owner }}"}]
      register: refused
      # Check mode only warns: an earlier task of a real run could have created the owner.
      failed_when: not (ansible_check_mode or refused.failed)
"""


def run_playbook(pg: Cluster, tmp_path: Path, *args: str) -> dict[str, Any]:
    roles = ("App-Role", "$$dollar$$", LONG_NAME)
    host_vars = {
        "pg_socket": pg.socket_dir,
        "pg_port": pg.port,
        "client_group": GROUP,
        "auth_user": {"name": AUTH_USER, "verifier": verifier(AUTH_USER)},
        "app_roles": [{"name": name, "verifier": verifier(name)} for name in roles],
        "app_databases": [{"name": "App-DB", "owner": "App-Role"}, {"name": "ÜNICODE db"}],
        "app_grants": [{"database": "App-DB", "role": LONG_NAME}],
        "auth_database": AUTH_DB,
        "auth_schema": SCHEMA,
        "auth_function": FUNCTION,
        "hostile_owner": 'x"; CREATE ROLE evil SUPERUSER; --',
    }
    result = playbooks.run_playbook(
        tmp_path, host_vars, PLAYBOOK, *args, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for name in (AUTH_USER, *roles):
        assert verifier(name) not in result.stdout + result.stderr, "a verifier reached the output"
    output = json.loads(result.stdout)
    tasks = {task["task"]["name"]: task["hosts"]["localhost"] for task in output["plays"][0]["tasks"]}
    return {"tasks": tasks, "stats": output["stats"]["localhost"]}


def test_modules_through_ansible_playbook(pg, tmp_path):
    checked = run_playbook(pg, tmp_path, "--check")
    assert checked["stats"]["changed"] == 4
    assert "does not exist (yet)" in " ".join(
        checked["tasks"]["Refuse an owner that does not exist"]["warnings"]
    )
    assert GROUP not in pg.role_names()

    first = run_playbook(pg, tmp_path)
    assert first["stats"]["changed"] == 3
    refused = first["tasks"]["Refuse an owner that does not exist"]
    assert refused["msg"].startswith("owner of database 'victim': role 'x\"; CREATE ROLE evil SUPERUSER; --'")
    assert "evil" not in pg.role_names() and "victim" not in pg.database_names()
    roles = first["tasks"]["Roles"]
    assert f"'{MASK}'" in " ".join(roles["queries"])
    assert set(roles["roles_changed"]) == {GROUP, AUTH_USER, "App-Role", "$$dollar$$", LONG_NAME}
    assert first["tasks"]["Lookup function"]["auth_query"] == (
        'SELECT username, password FROM "Pgb ""Schema"""."look-up $$"($1)'
    )
    assert pg.members(GROUP) == {"App-Role", "$$dollar$$", LONG_NAME}
    assert ("ÜNICODE db",) in pg.rows("SELECT datname::text FROM pg_database")
    with pg.login_tcp("$$dollar$$") as conn:
        assert conn.execute("SELECT current_user::text").fetchone() == ("$$dollar$$",)
    assert lookup_with_set_role(pg, LONG_NAME) == [(LONG_NAME, verifier(LONG_NAME))]

    second = run_playbook(pg, tmp_path)
    assert second["stats"]["changed"] == 0
    assert all(not task.get("queries") for task in second["tasks"].values())


def _documented(options: dict[str, Any]) -> dict[str, Any]:
    """An option table as DOCUMENTATION states it, reduced to what an argument spec also says."""
    return {
        name: {
            "type": option.get("type", "str"),
            "required": option.get("required", False),
            "default": option.get("default"),
            "elements": option.get("elements"),
            "options": _documented(option["suboptions"]) if "suboptions" in option else None,
        }
        for name, option in options.items()
    }


def _specified(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {
            "type": option.get("type", "str"),
            "required": option.get("required", False),
            "default": option.get("default"),
            "elements": option.get("elements"),
            "options": _specified(option["options"]) if "options" in option else None,
        }
        for name, option in spec.items()
    }


@pytest.mark.parametrize("name", MODULES)
def test_documentation_matches_argument_spec(name):
    module = importlib.import_module(
        f"ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.modules.{name}"
    )
    documented = yaml.safe_load(module.DOCUMENTATION)
    assert documented["module"] == name
    # The connection options come from the collection's doc fragment, as ansible-doc merges them;
    # the attributes' descriptions from ansible-core's.
    assert documented["extends_documentation_fragment"] == [
        "ansible.builtin.action_common_attributes",
        "pgbouncer_toolkit.pgbouncer.postgresql",
    ]
    fragment = importlib.import_module(
        "ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.doc_fragments.postgresql"
    )
    options = {**yaml.safe_load(fragment.ModuleDocFragment.DOCUMENTATION)["options"], **documented["options"]}
    assert _documented(options) == _specified(module.argument_spec())
    assert set(yaml.safe_load(module.RETURN)) >= {"queries"}


def test_ansible_doc_renders_every_module():
    result = subprocess.run(
        [
            str(BIN / "ansible-doc"),
            "--json",
            "-t",
            "module",
            *(f"pgbouncer_toolkit.pgbouncer.{m}" for m in MODULES),
        ],
        cwd=ROOT,
        env=playbooks.ansible_env(ANSIBLE_STDOUT_CALLBACK="ansible.posix.json"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    docs = json.loads(result.stdout)
    for module in MODULES:
        entry = docs[f"pgbouncer_toolkit.pgbouncer.{module}"]
        assert entry["doc"]["short_description"]
        assert entry["examples"].strip()
        assert entry["return"]["queries"]
        assert entry["doc"]["attributes"]["check_mode"]["support"] == "full"


# ---------------------------------------------------------------------------------------------
# psycopg2, the driver on the database hosts (Debian's python3-psycopg2)


def test_psycopg2_connection_gives_the_same_result(pg):
    """Skipped where psycopg2 is missing (this controller); run with it on PYTHONPATH to check the shim."""
    psycopg2 = pytest.importorskip("psycopg2")

    def call(logic: Callable[..., tuple], params: dict[str, Any], dbname: str = "postgres") -> tuple:
        conn = psycopg2.connect(host=pg.socket_dir, port=pg.port, user="postgres", dbname=dbname)
        try:
            return logic(conn, {**pg.login, **params})
        finally:
            conn.close()

    lookup = {
        "database": AUTH_DB,
        "schema": SCHEMA,
        "function": FUNCTION,
        "auth_user": AUTH_USER,
        "client_group": GROUP,
    }
    steps = [
        (ensure_login_roles, role_params(), "postgres"),
        (ensure_databases, database_params(), "postgres"),
        (ensure_lookup_function, lookup, AUTH_DB),
    ]
    assert all(call(logic, params, dbname)[0] for logic, params, dbname in steps)
    assert all(call(logic, params, dbname)[:2] == (False, []) for logic, params, dbname in steps)
    facts = call(read_facts, {"roles": ["App-Role"]})[2]
    assert facts["verifiers"] == {"App-Role": verifier("App-Role")}
    assert lookup_as_auth_user(pg, "App-Role") == [("App-Role", verifier("App-Role"))]


# ---------------------------------------------------------------------------------------------
# A managed server: the admin has CREATEROLE and CREATEDB only, and cannot read pg_authid


class TestManagedServer:
    ADMIN = "Cloud Admin"
    ROLE = 'Owner "O"'

    @pytest.fixture
    def managed(self, pg: Cluster) -> Iterator[Cluster]:
        with pg.connect(autocommit=True) as conn:
            conn.execute(
                ident("CREATE ROLE {} LOGIN CREATEROLE CREATEDB PASSWORD ", self.ADMIN)
                + sql.Literal(verifier(self.ADMIN))
            )
        yield pg

    def run(self, cluster: Cluster, logic: Callable[..., Any], **params: Any) -> tuple[bool, list[str], dict]:
        with cluster.login_tcp(self.ADMIN) as conn:
            conn.autocommit = False
            return logic(conn, {"login_user": self.ADMIN, **params})

    def login_roles(self, current: dict[str, str | None]) -> dict[str, Any]:
        return {
            "client_group": GROUP,
            "roles": [{"name": self.ROLE, "verifier": verifier(self.ROLE)}],
            "admin_user": self.ADMIN,
            "current_verifiers": current,
            "admin_member_of": [self.ROLE],
        }

    def test_the_admin_cannot_read_pg_authid(self, managed: Cluster) -> None:
        with managed.login_tcp(self.ADMIN) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT rolpassword FROM pg_catalog.pg_authid")

    def test_roles_and_an_owned_database_without_a_superuser(self, managed: Cluster) -> None:
        changed, queries, _ = self.run(managed, ensure_login_roles, **self.login_roles({self.ROLE: None}))
        assert changed and any(query.startswith("GRANT ") and self.ADMIN in query for query in queries)
        databases = {
            "databases": [{"name": "Managed DB", "owner": self.ROLE}],
            "grants": [{"database": "Managed DB", "role": self.ROLE}],
        }
        assert self.run(managed, ensure_databases, **databases)[0]
        assert managed.rows(
            "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = 'Managed DB'"
        ) == [(self.ROLE,)]
        assert (self.ROLE, "CONNECT", False) in managed.database_acl("Managed DB")
        # The server holds the verifier it was given; a re-run that read it back changes nothing.
        stored = managed.rows("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (self.ROLE,))
        assert stored == [(verifier(self.ROLE),)]
        again = self.login_roles({self.ROLE: verifier(self.ROLE)})
        assert self.run(managed, ensure_login_roles, **again) == (
            False,
            [],
            {"roles_changed": [], "roles_expired": []},
        )
        assert self.run(managed, ensure_databases, **databases)[0] is False

    def test_a_role_whose_verifier_could_not_be_read_keeps_its_password(self, managed: Cluster) -> None:
        self.run(managed, ensure_login_roles, **self.login_roles({self.ROLE: None}))
        other = {**self.login_roles({}), "roles": [{"name": self.ROLE, "verifier": verifier("another")}]}
        assert self.run(managed, ensure_login_roles, **other)[0] is False
        stored = managed.rows("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (self.ROLE,))
        assert stored == [(verifier(self.ROLE),)]

    def test_facts_read_without_a_superuser(self, managed: Cluster) -> None:
        facts = self.run(managed, read_facts, roles=[self.ADMIN, "absent"], superuser_reads=False)[2]
        assert facts["existing_roles"] == [self.ADMIN]
        assert (facts["hba_file"], facts["hba_errors"], facts["verifiers"]) == ("", [], {})
        assert facts["max_connections"] > 0

    def test_a_twin_login_without_a_superuser(self, managed: Cluster) -> None:
        params = self.login_roles({self.ROLE: None, "Twin": None})
        params["roles"].append({"name": "Twin", "verifier": verifier("Twin"), "acts_as": self.ROLE})
        assert self.run(managed, ensure_login_roles, **params)[0]
        with managed.login_tcp("Twin") as conn:
            assert conn.execute("SELECT current_user").fetchone() == (self.ROLE,)
        again = self.login_roles({self.ROLE: verifier(self.ROLE), "Twin": verifier("Twin")})
        again["roles"].append({"name": "Twin", "verifier": verifier("Twin"), "acts_as": self.ROLE})
        assert self.run(managed, ensure_login_roles, **again)[0] is False

    def test_roles_past_valid_until_are_named_by_the_servers_clock(self, managed: Cluster) -> None:
        params = self.login_roles({})
        params["roles"] = [
            {"name": self.ROLE, "verifier": verifier(self.ROLE), "valid_until": "2001-01-01"},
            {"name": "Later", "verifier": verifier("Later"), "valid_until": "2999-01-01"},
            {"name": "Never", "verifier": verifier("Never")},
        ]
        assert self.run(managed, ensure_login_roles, **params)[2]["roles_expired"] == [self.ROLE]


# ---------------------------------------------------------------------------------------------
# Role settings (ALTER ROLE ... SET): checked against the server first, corrected when they drift


def settings_params(settings: dict[str, object]) -> dict[str, Any]:
    params = role_params(("App-Role",))
    params["roles"][0]["settings"] = settings
    return params


def stored_settings(cluster: Cluster, role: str) -> dict[str, str]:
    rows = cluster.rows(
        "SELECT unnest(s.setconfig) FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole"
        " WHERE r.rolname = %s AND s.setdatabase = 0",
        (role,),
    )
    return dict(row[0].split("=", 1) for row in rows)


def test_role_settings_are_set_kept_and_corrected(pg: Cluster) -> None:
    declared = {"statement_timeout": "30s", "lock_timeout": 5000, "app.tenant": "x y", "jit": False}
    assert run_login_roles(pg, **settings_params(declared))[0]
    expected = {"statement_timeout": "30s", "lock_timeout": "5000", "app.tenant": "x y", "jit": "off"}
    assert stored_settings(pg, "App-Role") == expected
    assert run_login_roles(pg, **settings_params(declared))[0] is False
    # Drift on the server, and a setting nobody declared: the first is put back, the second kept.
    with pg.connect(autocommit=True) as conn:
        conn.execute(ident("ALTER ROLE {} SET statement_timeout = '1min'", "App-Role"))
        conn.execute(ident("ALTER ROLE {} SET work_mem = '8MB'", "App-Role"))
    changed, queries, _ = run_login_roles(pg, **settings_params(declared))
    assert changed and queries == ["ALTER ROLE \"App-Role\" SET statement_timeout TO '30s'"]
    assert stored_settings(pg, "App-Role") == {**expected, "work_mem": "8MB"}
    # A null removes it.
    assert run_login_roles(pg, **settings_params({**declared, "lock_timeout": None}))[0]
    assert "lock_timeout" not in stored_settings(pg, "App-Role")
    # What a login as the role gets.
    with pg.login_tcp("App-Role") as conn:
        assert conn.execute("SHOW statement_timeout").fetchone() == ("30s",)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"statment_timeout": "30s"},
            "roles[0].settings.statment_timeout: PostgreSQL has no setting 'statment_timeout'",
        ),
        ({"shared_buffers": "1GB"}, "cannot be set for a role (its context is 'postmaster'"),
        ({"statement_timeout": "soon"}, "roles[0].settings.statement_timeout: PostgreSQL refuses 'soon'"),
        ({"lock_timeout": -1}, "roles[0].settings.lock_timeout: PostgreSQL refuses '-1'"),
        (
            {"Statement_Timeout": "1s"},
            "roles[0].settings name must be a setting's name as pg_settings spells it",
        ),
        ({"statement_timeout": ["1s"]}, "must be a string, a number or a boolean, got list"),
    ],
)
def test_a_setting_the_server_refuses_fails_before_anything_changes(pg: Cluster, settings, message) -> None:
    before = pg.snapshot()
    with pytest.raises(ModuleError, match=re.escape(message)):
        run_login_roles(pg, **settings_params({"statement_timeout": "30s", **settings}))
    assert pg.snapshot() == before


# ---------------------------------------------------------------------------------------------
# A login that acts as another (credential rotation): the same privileges, and what it creates
# belongs to the role it acts as


def twin_params(owner: str = "App-Role", twin: str = "App-Role next") -> dict[str, Any]:
    params = role_params((owner, twin))
    params["roles"][1]["acts_as"] = owner
    return params


def test_a_login_acting_as_another_runs_as_it_and_creates_what_it_owns(pg: Cluster) -> None:
    changed, queries, _ = run_login_roles(pg, **twin_params())
    assert changed
    assert any(query.startswith('GRANT "App-Role" TO "App-Role next"') for query in queries)
    assert "ALTER ROLE \"App-Role next\" SET role TO 'App-Role'" in queries
    assert run_login_roles(pg, **twin_params()) == (False, [], {"roles_changed": [], "roles_expired": []})
    pg.run(ident("CREATE DATABASE {} OWNER {}", "Twin DB", "App-Role"))
    with pg.login_tcp("App-Role next", "Twin DB") as conn:
        assert conn.execute("SELECT current_user, session_user").fetchone() == ("App-Role", "App-Role next")
        conn.execute("CREATE TABLE made_by_the_twin (id int)")
    assert (
        pg.value("SELECT tableowner FROM pg_tables WHERE tablename = 'made_by_the_twin'", dbname="Twin DB")
        == "App-Role"
    )
    # The other login, back in use at the next rotation, owns what the twin made.
    with pg.login_tcp("App-Role", "Twin DB") as conn:
        conn.execute("ALTER TABLE made_by_the_twin ADD COLUMN note text")
    # Drift on the server is put back.
    pg.run(ident("ALTER ROLE {} RESET role", "App-Role next"))
    assert run_login_roles(pg, **twin_params())[1] == ["ALTER ROLE \"App-Role next\" SET role TO 'App-Role'"]


@pytest.mark.parametrize(
    ("acts_as", "message"),
    [
        ("App-Role next", "roles[1].acts_as 'App-Role next' must name another of the roles"),
        ("Nobody", "roles[1].acts_as 'Nobody' must name another of the roles"),
    ],
)
def test_acts_as_names_another_declared_role(pg: Cluster, acts_as: str, message: str) -> None:
    params = twin_params()
    params["roles"][1]["acts_as"] = acts_as
    before = pg.snapshot()
    with pytest.raises(ModuleError, match=re.escape(message)):
        run_login_roles(pg, **params)
    assert pg.snapshot() == before


def test_acts_as_is_not_chained(pg: Cluster) -> None:
    params = role_params(("A", "B", "C"))
    params["roles"][1]["acts_as"] = "A"
    params["roles"][2]["acts_as"] = "B"
    with pytest.raises(ModuleError, match=re.escape("roles[2].acts_as 'B' acts as another role itself")):
        run_login_roles(pg, **params)
