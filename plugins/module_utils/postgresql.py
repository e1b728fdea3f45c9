"""Shared code for the collection's PostgreSQL modules.

Every statement that changes something is built by PostgreSQL itself: a constant template from the
module code goes to ``pg_catalog.format()`` together with the values as bound parameters
(identifiers through ``%I``, literals through ``%L``), and the text PostgreSQL returns is executed.
Python never pastes a value into SQL text. Queries that only read bind their values with ``%s``.

The modules run on the database host with Debian's python3-psycopg2, the tests on a controller with
psycopg 3: only the DB-API surface both share is used (cursor.execute with ``%s`` parameters,
fetchone/fetchall, commit/rollback, the autocommit attribute).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Union

try:
    import psycopg2 as _driver
except ImportError:
    try:
        import psycopg as _driver
    except ImportError:
        _driver = None


from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.names import (
    name_problem,
    role_name_problem,
    schema_name_problem,
    setting_name_problem,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.names import (
    setting_text as _setting_text,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.pg_wire import (
    ReadOnlySession,
    Server,
    WireError,
)

if TYPE_CHECKING:
    from ansible.module_utils.basic import AnsibleModule

# DB-API objects of whichever driver is installed; neither has a common type to name.
Connection = Any
Cursor = Any
# What a module's logic returns: changed, the statements (secrets masked), extra return values.
Outcome = tuple[bool, list[str], dict[str, Any]]


def _driver_errors() -> tuple[type[Exception], ...]:
    """The base error of every installed driver: a connection from either may reach the logic."""
    errors = []
    for name in ("psycopg2", "psycopg"):
        with contextlib.suppress(ImportError):
            errors.append(__import__(name).Error)
    return tuple(errors)


# PostgreSQL's refusals, for the modules that catch one.
DRIVER_ERRORS = _driver_errors()

MASK = "********"
NO_DRIVER = "neither psycopg2 nor psycopg (3) is installed: install python3-psycopg2 on the host"
# Role 10 is the bootstrap superuser on every PostgreSQL: acldefault() for it, renamed, is the
# default ACL of an object that does not exist yet.
BOOTSTRAP_SUPERUSER_OID = 10
PG16 = 160000
# Where Debian's libpq looks for the server's socket when no host is given.
DEFAULT_SOCKET_DIRECTORY = "/var/run/postgresql"
# libpq's sslmode values; "" leaves libpq's default (prefer).
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")

_BASE64 = r"[A-Za-z0-9+/]+={0,2}"
_SCRAM_VERIFIER = re.compile(rf"SCRAM-SHA-256\$([1-9][0-9]*):({_BASE64})\$({_BASE64}):({_BASE64})")
_SCRAM_KEY_BYTES = 32


class ModuleError(Exception):
    """A refusal or failure the module reports with fail_json; the message names the input."""


# ---------------------------------------------------------------------------------------------
# Input checks


def check_name(value: object, what: str) -> str:
    """Return ``value`` if it is a usable PostgreSQL object name, else raise naming ``what``."""
    return _checked(name_problem(value), value, what)


def check_role_name(value: object, what: str) -> str:
    """Like :func:`check_name`, and refuse role names with a meaning of their own."""
    return _checked(role_name_problem(value), value, what)


def check_schema_name(value: object, what: str) -> str:
    """Like :func:`check_name`, and refuse schemas PostgreSQL reserves or that hold other objects."""
    return _checked(schema_name_problem(value), value, what)


def check_setting_name(value: object, what: str) -> str:
    """Return ``value`` if it can name a role setting, else raise naming ``what``."""
    return _checked(setting_name_problem(value), value, f"{what} name")


def setting_text(value: object, what: str) -> str | None:
    """The text ALTER ROLE ... SET takes for ``value`` (None: RESET), else raise naming ``what``."""
    text, problem = _setting_text(value)
    if problem is not None:
        raise ModuleError(f"{what} {problem}")
    return text


def _checked(problem: str | None, value: object, what: str) -> str:
    if problem is not None:
        raise ModuleError(f"{what} {problem}")
    return str(value)


def check_verifier(value: object, what: str) -> str:
    """Return ``value`` if it is a SCRAM-SHA-256 verifier in pg_authid's format, else raise.

    The message never repeats the value: it may be a plaintext password given by mistake.
    """
    if not isinstance(value, str):
        raise ModuleError(f"{what} must be a string, got {type(value).__name__}")
    match = _SCRAM_VERIFIER.fullmatch(value)
    if match is None:
        raise ModuleError(
            f"{what} must be a SCRAM-SHA-256 verifier "
            "('SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>'); passwords are never "
            "sent to the server, make the verifier on the controller"
        )
    try:
        salt, stored_key, server_key = (base64.b64decode(part, validate=True) for part in match.groups()[1:])
    except (binascii.Error, ValueError):
        raise ModuleError(f"{what} is not a valid SCRAM-SHA-256 verifier (bad base64)") from None
    if not salt or len(stored_key) != _SCRAM_KEY_BYTES or len(server_key) != _SCRAM_KEY_BYTES:
        raise ModuleError(f"{what} is not a valid SCRAM-SHA-256 verifier (wrong key sizes)")
    return value


def refuse_duplicates(names: Iterable[str], what: str) -> None:
    """Raise if a name occurs twice in ``names``."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ModuleError(f"{what} lists {name!r} more than once")
        seen.add(name)


# ---------------------------------------------------------------------------------------------
# Statements built by pg_catalog.format()


@dataclass(frozen=True)
class Secret:
    """A value to bind that must not appear in the module's output (a verifier)."""

    value: str

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"


@dataclass(frozen=True)
class RoutineOid:
    """A function, by oid: PostgreSQL renders it through regprocedure, quoted signature included."""

    oid: int


# Union, not |: module_utils run on the hosts, whose Python may be older than 3.10.
SqlArg = Union[str, Secret, RoutineOid, None]  # noqa: UP007


@dataclass(frozen=True)
class Statement:
    """A constant template for pg_catalog.format() and the values that fill it.

    ``autocommit`` marks the statements PostgreSQL refuses inside a transaction (CREATE DATABASE).
    """

    template: str
    args: tuple[SqlArg, ...] = ()
    autocommit: bool = False


def statement(template: str, *args: SqlArg, autocommit: bool = False) -> Statement:
    """Shorthand for :class:`Statement`."""
    return Statement(template, args, autocommit)


def _placeholder(arg: SqlArg) -> str:
    # Typed placeholders: "any" (format's variadic) cannot take a parameter of unknown type.
    if isinstance(arg, RoutineOid):
        return "%s::pg_catalog.oid::pg_catalog.regprocedure"
    return "%s::pg_catalog.text"


def _parameter(arg: SqlArg, reveal: bool) -> object:
    if isinstance(arg, Secret):
        return arg.value if reveal else MASK
    if isinstance(arg, RoutineOid):
        return arg.oid
    return arg


def format_sql(cursor: Cursor, template: str, *args: SqlArg, reveal_secrets: bool = True) -> str:
    """Have PostgreSQL fill ``template`` with ``args`` (``%I``, ``%L``, ``%s``); return the text.

    With ``reveal_secrets=False`` each :class:`Secret` is replaced by the mask, for display.
    """
    # Only placeholders are joined here, one per argument; the values travel as parameters.
    placeholders = ", ".join(["%s::pg_catalog.text", *(_placeholder(arg) for arg in args)])
    cursor.execute(
        f"SELECT pg_catalog.format({placeholders})",
        [template, *(_parameter(arg, reveal_secrets) for arg in args)],
    )
    return cursor.fetchone()[0]


def execute_formatted(cursor: Cursor, template: str, *args: SqlArg, check_mode: bool = False) -> str:
    """Build a statement with :func:`format_sql`, run it (not in check mode), return it masked."""
    shown = format_sql(cursor, template, *args, reveal_secrets=False)
    if not check_mode:
        has_secret = any(isinstance(arg, Secret) for arg in args)
        cursor.execute(format_sql(cursor, template, *args) if has_secret else shown)
    return shown


def _execute_all(conn: Connection, statements: Sequence[Statement], *, check_mode: bool = False) -> list[str]:
    with conn.cursor() as cursor:
        return [
            execute_formatted(cursor, item.template, *item.args, check_mode=check_mode) for item in statements
        ]


def apply_statements(conn: Connection, statements: Sequence[Statement], *, check_mode: bool) -> list[str]:
    """Run ``statements`` and commit; return their texts, secrets masked.

    The autocommit ones (CREATE DATABASE) run first, each on its own; all others run in one
    transaction, the one the module's reads opened, so a failure leaves them all undone. In check
    mode the statements are only rendered and the transaction is rolled back.
    """
    ordered = sorted(statements, key=lambda item: not item.autocommit)
    alone = [] if check_mode else [item for item in ordered if item.autocommit]
    together = ordered[len(alone) :]
    queries: list[str] = []
    try:
        if alone:
            # Autocommit can only be switched on between transactions: end the reads' one.
            conn.commit()
            conn.autocommit = True
            try:
                queries += _execute_all(conn, alone)
            finally:
                conn.autocommit = False
        queries += _execute_all(conn, together, check_mode=check_mode)
    except BaseException:
        conn.rollback()
        raise
    if check_mode:
        conn.rollback()
    else:
        conn.commit()
    return queries


# ---------------------------------------------------------------------------------------------
# Reading


def fetch_all(cursor: Cursor, query: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
    """Run a read-only query with bound parameters; return all rows."""
    cursor.execute(query, list(params))
    return list(cursor.fetchall())


def fetch_value(cursor: Cursor, query: str, params: Sequence[object] = ()) -> Any:
    """Run a read-only query returning one row; return its first column."""
    cursor.execute(query, list(params))
    return cursor.fetchone()[0]


def current_role(cursor: Cursor) -> str:
    """The role the session acts as: the owner of what it creates."""
    return fetch_value(cursor, "SELECT CURRENT_USER::pg_catalog.text")


def server_version_num(cursor: Cursor) -> int:
    """The server's version as an integer (170002 for 17.2)."""
    return int(fetch_value(cursor, "SELECT pg_catalog.current_setting('server_version_num')"))


def existing_roles(cursor: Cursor, names: Iterable[str]) -> set[str]:
    """Which of ``names`` exist as roles."""
    rows = fetch_all(
        cursor,
        "SELECT r.rolname::pg_catalog.text FROM pg_catalog.pg_roles AS r "
        "WHERE r.rolname::pg_catalog.text OPERATOR(pg_catalog.=) ANY (%s::pg_catalog.text[])",
        [sorted(set(names))],
    )
    return {row[0] for row in rows}


def require_roles(cursor: Cursor, roles: Mapping[str, str], *, check_mode: bool) -> list[str]:
    """Fail if a role of ``roles`` ({name: what it is for}) does not exist; return warnings.

    In check mode a missing role is only a warning: an earlier task of the same play (the login
    roles module) creates it when the play runs for real.
    """
    present = existing_roles(cursor, roles)
    missing = [f"{what}: role {name!r} does not exist" for name, what in roles.items() if name not in present]
    if missing and not check_mode:
        raise ModuleError(f"{missing[0]}; create it first (nothing was changed)")
    return [f"{message} (yet); the real run fails unless it is created before" for message in missing]


# ---------------------------------------------------------------------------------------------
# Privileges (ACLs) of databases and schemas


@dataclass(frozen=True)
class AclEntry:
    """One privilege of an object's ACL, as aclexplode() shows it; grantee None means PUBLIC."""

    grantor: str
    grantee: str | None
    privilege: str
    grantable: bool

    def sort_key(self) -> tuple[object, ...]:
        """PUBLIC first, then by grantee, privilege and grantor: a stable order to compare and plan in."""
        return (self.grantee is not None, self.grantee or "", self.privilege, self.grantor, self.grantable)


def sorted_acl(entries: Iterable[AclEntry]) -> list[AclEntry]:
    """``entries`` without duplicates, in :meth:`AclEntry.sort_key` order."""
    return sorted(set(entries), key=AclEntry.sort_key)


_ACL_COLUMNS = """
SELECT pg_catalog.pg_get_userbyid(acl.grantor)::pg_catalog.text,
       CASE WHEN acl.grantee OPERATOR(pg_catalog.=) 0 THEN NULL
            ELSE pg_catalog.pg_get_userbyid(acl.grantee)::pg_catalog.text END,
       acl.privilege_type,
       acl.is_grantable"""
# NULL means the built-in default ACL, which acldefault() spells out.
_ACL_QUERIES = {
    "DATABASE": _ACL_COLUMNS
    + """
  FROM pg_catalog.pg_database AS o,
       pg_catalog.aclexplode(COALESCE(o.datacl, pg_catalog.acldefault('d', o.datdba))) AS acl
 WHERE o.oid OPERATOR(pg_catalog.=) %s""",
    "SCHEMA": _ACL_COLUMNS
    + """
  FROM pg_catalog.pg_namespace AS o,
       pg_catalog.aclexplode(COALESCE(o.nspacl, pg_catalog.acldefault('n', o.nspowner))) AS acl
 WHERE o.oid OPERATOR(pg_catalog.=) %s""",
    "FUNCTION": _ACL_COLUMNS
    + """
  FROM pg_catalog.pg_proc AS o,
       pg_catalog.aclexplode(COALESCE(o.proacl, pg_catalog.acldefault('f', o.proowner))) AS acl
 WHERE o.oid OPERATOR(pg_catalog.=) %s""",
}
_ACL_DEFAULT_QUERY = (
    _ACL_COLUMNS
    + """
  FROM pg_catalog.aclexplode(pg_catalog.acldefault(%s::pg_catalog.char, %s::pg_catalog.oid)) AS acl"""
)
_ACL_KIND_CODES = {"DATABASE": "d", "SCHEMA": "n", "FUNCTION": "f"}
# Catalog privilege names -> the keyword a template may contain: nothing else reaches SQL text.
_PRIVILEGE_KEYWORDS = {
    "DATABASE": {"CREATE": "CREATE", "CONNECT": "CONNECT", "TEMPORARY": "TEMPORARY"},
    "SCHEMA": {"CREATE": "CREATE", "USAGE": "USAGE"},
}


def _acl_rows(rows: Iterable[tuple[Any, ...]]) -> list[AclEntry]:
    return sorted_acl(
        AclEntry(grantor, grantee, privilege, bool(grantable))
        for grantor, grantee, privilege, grantable in rows
    )


def read_acl(cursor: Cursor, kind: str, oid: int) -> list[AclEntry]:
    """The effective ACL of a database, schema or function (its default when datacl is NULL)."""
    return _acl_rows(fetch_all(cursor, _ACL_QUERIES[kind], [oid]))


def default_acl(cursor: Cursor, kind: str, owner: str) -> list[AclEntry]:
    """The ACL a new database, schema or function owned by ``owner`` gets, as PostgreSQL says."""
    rows = fetch_all(cursor, _ACL_DEFAULT_QUERY, [_ACL_KIND_CODES[kind], BOOTSTRAP_SUPERUSER_OID])
    bootstrap = fetch_value(
        cursor, "SELECT pg_catalog.pg_get_userbyid(%s)::pg_catalog.text", [BOOTSTRAP_SUPERUSER_OID]
    )
    return rename_in_acl(_acl_rows(rows), bootstrap, owner)


def rename_in_acl(entries: Iterable[AclEntry], old: str, new: str) -> list[AclEntry]:
    """The ACL after ALTER ... OWNER TO: PostgreSQL replaces the old owner by the new one."""

    def swap(role: str) -> str:
        return new if role == old else role

    return sorted_acl(
        replace(entry, grantor=swap(entry.grantor), grantee=swap(entry.grantee)) for entry in entries
    )


@dataclass(frozen=True)
class AclTarget:
    """A database or schema whose privileges a module manages."""

    kind: str  # "DATABASE" or "SCHEMA"
    name: str
    owner: str

    def keyword(self, privilege: str) -> str:
        """The SQL keyword of a privilege of this kind of object, from the fixed table."""
        try:
            return _PRIVILEGE_KEYWORDS[self.kind][privilege]
        except KeyError:
            raise ModuleError(
                f"unexpected privilege {privilege!r} on {self.kind.lower()} {self.name!r}"
            ) from None

    def grant(self, privilege: str, grantee: str) -> Statement:
        return statement(f"GRANT {self.keyword(privilege)} ON {self.kind} %I TO %I", self.name, grantee)

    def revoke(self, entry: AclEntry, *, grant_option_only: bool = False) -> list[Statement]:
        """Statements revoking ``entry``.

        CASCADE takes along what the grantee granted onward with a grant option. A REVOKE by a
        superuser acts as the owner, and removes only what the owner granted: an entry granted
        by someone else (who held a grant option) is revoked as that grantor.
        """
        what = (
            f"GRANT OPTION FOR {self.keyword(entry.privilege)}"
            if grant_option_only
            else self.keyword(entry.privilege)
        )
        if entry.grantee is None:
            revoke = statement(f"REVOKE {what} ON {self.kind} %I FROM PUBLIC CASCADE", self.name)
        else:
            revoke = statement(f"REVOKE {what} ON {self.kind} %I FROM %I CASCADE", self.name, entry.grantee)
        if entry.grantor == self.owner:
            return [revoke]
        return [statement("SET ROLE %I", entry.grantor), revoke, statement("RESET ROLE")]


def plan_exclusive_acl(
    target: AclTarget, entries: Iterable[AclEntry], allowed: Mapping[str, Iterable[str]]
) -> list[Statement]:
    """Make the ACL exactly: the owner's own privileges plus ``allowed`` ({grantee: privileges}).

    Everything else goes, PUBLIC's included, and grant options go too. An entry someone other than
    the owner granted is skipped: its grantor's grant option is revoked with CASCADE, which takes
    it along. The owner's privileges are only added (when listed in ``allowed``), never revoked.
    """
    entries = list(entries)
    wanted: dict[str | None, frozenset[str]] = {
        grantee: frozenset(privileges) for grantee, privileges in allowed.items()
    }
    plan: list[Statement] = []
    for entry in entries:
        if entry.grantee == target.owner or entry.grantor != target.owner:
            continue
        if entry.privilege not in wanted.get(entry.grantee, frozenset()):
            plan += target.revoke(entry)
        elif entry.grantable:
            plan += target.revoke(entry, grant_option_only=True)
    for grantee, privileges in allowed.items():
        for privilege in sorted(privileges):
            if not any(
                entry.grantee == grantee
                and entry.privilege == privilege
                and (entry.grantor == target.owner or grantee == target.owner)
                for entry in entries
            ):
                plan.append(target.grant(privilege, grantee))
    return plan


def plan_acl(
    target: AclTarget,
    entries: Iterable[AclEntry],
    *,
    required: Mapping[str, Iterable[str]] | None = None,
    forbidden: Mapping[str | None, Iterable[str]] | None = None,
) -> list[Statement]:
    """Grant the ``required`` privileges that are missing, revoke the ``forbidden`` ones present.

    Both are {grantee: privileges}; None stands for PUBLIC. Other entries are left alone.
    """
    entries = list(entries)
    plan: list[Statement] = []
    for entry in entries:
        if entry.privilege in frozenset((forbidden or {}).get(entry.grantee, ())):
            plan += target.revoke(entry)
    for grantee, privileges in (required or {}).items():
        for privilege in sorted(frozenset(privileges)):
            if not any(entry.grantee == grantee and entry.privilege == privilege for entry in entries):
                plan.append(target.grant(privilege, grantee))
    return plan


# ---------------------------------------------------------------------------------------------
# Connection and the module's main()


def connection_argument_spec() -> dict[str, dict[str, Any]]:
    """The options every module of the collection takes to reach PostgreSQL."""
    return {
        "login_host": {"type": "str", "default": ""},
        "login_unix_socket": {"type": "str", "default": ""},
        "login_port": {"type": "int", "default": 5432},
        "login_user": {"type": "str", "default": "postgres"},
        "login_password": {"type": "str", "default": "", "no_log": True},
        "login_db": {"type": "str", "default": "postgres"},
        "login_sslmode": {"type": "str", "default": "", "choices": ["", *SSLMODES]},
        "login_sslrootcert": {"type": "str", "default": ""},
    }


def connect(params: Mapping[str, Any], database: str | None = None) -> Connection:
    """Open a connection (not in autocommit) to ``database``, or to ``login_db``.

    login_host wins over login_unix_socket; with neither, libpq's default socket is used.
    The session's search_path holds only pg_catalog (and pg_temp last), so no object in a
    schema someone else controls can stand in for a built-in one.
    """
    if _driver is None:
        raise ModuleError(NO_DRIVER)
    kwargs: dict[str, Any] = {
        "dbname": database if database is not None else params.get("login_db", "postgres"),
        "user": params.get("login_user", "postgres"),
        "port": params.get("login_port", 5432),
        "options": "-c search_path=pg_catalog,pg_temp",
        "application_name": "pgbouncer_toolkit",
    }
    host = params.get("login_host") or params.get("login_unix_socket")
    if host:
        kwargs["host"] = host
    if params.get("login_password"):
        kwargs["password"] = params["login_password"]
    for option in ("sslmode", "sslrootcert"):
        if params.get(f"login_{option}"):
            kwargs[option] = params[f"login_{option}"]
    return _driver.connect(**kwargs)


def read_only_session(params: Mapping[str, Any]) -> ReadOnlySession:
    """A session for the read-only modules, from the same login options, spoken with the standard
    library: it works before any driver is installed (the first play). login_host wins over
    login_unix_socket; with neither, Debian's socket directory. An empty sslmode is libpq's prefer
    (the wire protocol takes allow as prefer too: TLS when the server offers it)."""
    host = params.get("login_host") or params.get("login_unix_socket") or DEFAULT_SOCKET_DIRECTORY
    server = Server(
        host,
        params.get("login_port", 5432),
        params.get("login_db", "postgres"),
        sslmode=params.get("login_sslmode") or "prefer",
        sslrootcert=params.get("login_sslrootcert") or "",
    )
    return ReadOnlySession(server, params.get("login_user", "postgres"), params.get("login_password") or "")


def call_logic(
    module: AnsibleModule, logic: Callable[..., Any], *, database: str | None = None, read_only: bool = False
) -> Any:
    """Connect, return ``logic(conn, module.params, check_mode=...)``; fail_json on any error.

    ``read_only``: through :func:`read_only_session` (no driver needed; the server refuses any
    change) instead of the driver's connection.
    """
    if read_only:
        errors: tuple[type[Exception], ...] = (WireError,)
        refused = "PostgreSQL refused: {}"
    else:
        if _driver is None:
            module.fail_json(msg=NO_DRIVER)
        errors = (_driver.Error,)
        refused = "PostgreSQL refused: {} (its transaction was rolled back)"
    target = database if database is not None else module.params.get("login_db")
    try:
        conn = read_only_session(module.params) if read_only else connect(module.params, database)
    except errors as exc:
        module.fail_json(msg=f"cannot connect to PostgreSQL database {target!r}: {str(exc).strip()}")
    try:
        return logic(conn, module.params, check_mode=module.check_mode)
    except ModuleError as exc:
        module.fail_json(msg=str(exc))
    except errors as exc:
        module.fail_json(msg=refused.format(str(exc).strip()))
    finally:
        conn.close()


def exit_with(module: AnsibleModule, outcome: Outcome) -> None:
    """exit_json with a module's outcome; its extra "warnings" become Ansible warnings."""
    changed, queries, extra = outcome
    for warning in extra.pop("warnings", []):
        module.warn(warning)
    module.exit_json(changed=changed, queries=queries, **extra)


def run_module(
    module: AnsibleModule,
    logic: Callable[..., Outcome],
    *,
    database: str | None = None,
    read_only: bool = False,
) -> None:
    """Connect, run ``logic(conn, module.params, check_mode=...)``, and exit with its outcome."""
    exit_with(module, call_logic(module, logic, database=database, read_only=read_only))
