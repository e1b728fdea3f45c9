"""Checks of the inventory model for the PostgreSQL side, run in the first play.

Everything the PostgreSQL-side role sends to a server or writes to pg_hba.conf is checked here,
on the controller, before any host changes: names, passwords, references between databases and
roles, expiry timestamps, collisions with the auth user, the admin login and the client group,
and the addresses pg_hba.conf will admit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.names import (
    setting_name_problem,
    setting_text,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.addresses import (
    AddressError,
    parse_interface,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.pg_hba import hba_rules
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.pooler_model import dbname_of
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.sql_text import auth_contract
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import (
    ConfigError,
    check_host,
    check_name,
    check_password,
    check_text,
    collect,
)

# What VALID UNTIL takes from an inventory: 'infinity' or an ISO 8601 date with an optional time
# and offset. PostgreSQL reads more, but this is what is unambiguous in any DateStyle.
_TIMESTAMP = re.compile(
    r"infinity|[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?)?"
    r"( ?(Z|[+-][0-9]{2}(:?[0-9]{2})?))?"
)


def _mappings(value: object, where: str, errors: list[str]) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, Iterable) or isinstance(value, (str, Mapping)):
        errors.append(f"{where}: must be a list")
        return []
    items = list(value)
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            errors.append(f"{where}[{index}]: must be a mapping")
    return [item for item in items if isinstance(item, Mapping)]


def postgresql_side(inputs: Mapping[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """The PostgreSQL side's model, checked and built once: (errors, model). The model holds no
    password: ``databases`` to create ({name, owner}), ``grants`` ([{database, role}]: CONNECT and
    TEMPORARY), ``hba_block`` (the toolkit's pg_hba.conf lines, hostssl with
    pgbouncer_postgresql_tls; empty when pg_hba.conf is not managed) and ``undeclared_owners`` (the
    owners that must exist on the server already). With errors the model is empty."""
    errors: list[str] = []
    contract = auth_contract(inputs, errors)
    auth_user, auth_db = contract.user, contract.database
    managed = bool(inputs.get("pgbouncer_managed_postgresql"))
    if managed:
        errors += managed_errors(inputs)
    else:
        collect(errors, check_password, inputs.get("pgbouncer_auth_password"), "pgbouncer_auth_password")
    group = collect(
        errors, check_name, inputs.get("pgbouncer_client_group"), "pgbouncer_client_group", kind="role"
    )
    login_user = collect(
        errors,
        check_name,
        inputs.get("pgbouncer_postgresql_login_user"),
        "pgbouncer_postgresql_login_user",
        kind="login role",
    )
    if inputs.get("pgbouncer_postgresql_login_host"):
        collect(
            errors, check_host, inputs["pgbouncer_postgresql_login_host"], "pgbouncer_postgresql_login_host"
        )

    reserved = {
        name: label
        for name, label in (
            (login_user, "the admin login (pgbouncer_postgresql_login_user)"),
            (group, "the client group (pgbouncer_client_group)"),
            (auth_user, "the auth user (pgbouncer_auth_user)"),
        )
        if name is not None
    }
    if len(reserved) < len([name for name in (auth_user, group, login_user) if name is not None]):
        errors.append(
            "pgbouncer_client_group and pgbouncer_postgresql_login_user must be two different roles"
            if managed
            else "pgbouncer_auth_user, pgbouncer_client_group and pgbouncer_postgresql_login_user must be "
            "three different roles"
        )

    databases = _mappings(inputs.get("pgbouncer_databases"), "pgbouncer_databases", errors)
    dbnames: dict[str, str] = {}
    owners: dict[str, str] = {}
    for index, entry in enumerate(databases):
        where = f"pgbouncer_databases[{index}]"
        name = entry.get("name")
        dbname = collect(errors, check_name, dbname_of(entry), f"{where}.dbname", kind="database")
        if dbname is None or not isinstance(name, str):
            continue
        dbnames[name] = dbname
        if auth_db is not None and dbname == auth_db:
            errors.append(f"{where}.dbname: {dbname!r} is the auth database (pgbouncer_auth_database)")
        owner = entry.get("owner")
        if owner is not None:
            owner = collect(errors, check_name, owner, f"{where}.owner", kind="role")
            if owner is not None and owners.setdefault(dbname, owner) != owner:
                errors.append(
                    f"{where}.owner: database {dbname!r} is given two owners, {owners[dbname]!r} and {owner!r}"
                )

    roles = _mappings(inputs.get("pgbouncer_roles"), "pgbouncer_roles", errors)
    names: set[str] = set()
    grants: dict[str, set[str]] = {}
    for index, role in enumerate(roles):
        where = f"pgbouncer_roles[{index}]"
        name = collect(errors, check_name, role.get("name"), f"{where}.name", kind="role")
        if name is None:
            continue
        if name in reserved:
            errors.append(f"{where}.name: {name!r} is {reserved[name]}")
        if name in names:
            errors.append(f"{where}.name: {name!r} is declared twice")
        names.add(name)
        collect(errors, check_password, role.get("password"), f"{where}.password")
        valid_until = role.get("valid_until")
        if valid_until not in (None, ""):
            text = collect(errors, check_text, valid_until, f"{where}.valid_until")
            if text is not None and not _TIMESTAMP.fullmatch(text):
                errors.append(
                    f"{where}.valid_until: {text!r} must be 'infinity' or an ISO 8601 timestamp "
                    "such as 2027-01-31 or '2027-01-31 12:00:00+00'"
                )
        _check_role_settings(role.get("settings"), f"{where}.settings", errors)
        grants[name] = set()
        for db_index, entry_name in enumerate(role.get("databases") or []):
            if entry_name not in dbnames:
                errors.append(
                    f"{where}.databases[{db_index}]: {entry_name!r} is not declared in pgbouncer_databases"
                )
            else:
                grants[name].add(dbnames[entry_name])

    errors += acts_as_errors(roles)

    hba_lines: list[str] = []
    if inputs.get("pgbouncer_postgresql_manage_hba", True) and auth_user and auth_db:
        try:
            hba_lines = hba_rules(
                auth_user,
                auth_db,
                {name: sorted(dbnames_of_role) for name, dbnames_of_role in grants.items()},
                inputs.get("pgbouncer_postgresql_client_addresses") or [],
                allow_everywhere=bool(inputs.get("pgbouncer_postgresql_hba_allow_everywhere")),
                tls=bool(inputs.get("pgbouncer_postgresql_tls")),
            )
        except ConfigError as exc:
            errors.append(str(exc))
    if errors:
        return errors, {}
    to_create = server_databases(databases)
    declared = {role["name"] for role in roles} | {login_user}
    return errors, {
        "databases": to_create,
        "grants": grant_list(roles, databases),
        "hba_block": "\n".join(hba_lines),
        "undeclared_owners": sorted(
            {entry["owner"] for entry in to_create if entry["owner"] and entry["owner"] not in declared}
        ),
    }


def acts_as_errors(roles: list[Mapping[str, Any]]) -> list[str]:
    """A login role that acts as another (credential rotation) names a declared role other than
    itself, one that acts as no other, and uses the same databases: the application switches
    between the two by its files alone."""
    errors: list[str] = []
    by_name = {role.get("name"): role for role in roles if isinstance(role.get("name"), str)}
    for index, role in enumerate(roles):
        target = role.get("acts_as")
        if target is None:
            continue
        where = f"pgbouncer_roles[{index}].acts_as"
        if not isinstance(target, str) or target not in by_name:
            errors.append(f"{where}: {target!r} is not declared in pgbouncer_roles")
        elif target == role.get("name"):
            errors.append(
                f"{where}: {target!r} is the role itself; name the role whose login this one alternates with"
            )
        elif by_name[target].get("acts_as") is not None:
            errors.append(
                f"{where}: {target!r} acts as {by_name[target]['acts_as']!r} itself; "
                "name the role both logins act as"
            )
        elif set(role.get("databases") or []) != set(by_name[target].get("databases") or []):
            errors.append(
                f"{where}: its databases {sorted(role.get('databases') or [])} must be those of "
                f"{target!r}, {sorted(by_name[target].get('databases') or [])}, so the application can "
                "switch between the two logins"
            )
    return errors


# What needs a superuser or the server's files, each refused by the variable that asks for it.
_SUPERUSER_WORK = (
    ("pgbouncer_postgresql_manage_hba", "the provider keeps pg_hba; the toolkit writes no pg_hba.conf"),
    ("pgbouncer_postgresql_tls", "the server's certificate is the provider's"),
    (
        "pgbouncer_postgresql_stat_statements",
        "loading pg_stat_statements needs ALTER SYSTEM (the provider's parameter group does it)",
    ),
    (
        "pgbouncer_postgresql_exporter",
        "the exporter runs on the database host, which the toolkit cannot reach",
    ),
)
VERIFYING_LOGIN_SSLMODES = ("verify-full", "verify-ca")


def managed_errors(inputs: Mapping[str, Any]) -> list[str]:
    """What a managed PostgreSQL (pgbouncer_managed_postgresql) cannot do, each by its variable."""
    errors = [
        f"{variable}: must be false with pgbouncer_managed_postgresql: {reason}"
        for variable, reason in _SUPERUSER_WORK
        if inputs.get(variable)
    ]
    if not inputs.get("pgbouncer_postgresql_login_host"):
        errors.append(
            "pgbouncer_postgresql_login_host: required with pgbouncer_managed_postgresql: the server's "
            "name (its writer endpoint), reached over TCP from the host in the pgbouncer_postgresql group"
        )
    if inputs.get("pgbouncer_postgresql_login_sslmode") not in VERIFYING_LOGIN_SSLMODES:
        errors.append(
            "pgbouncer_postgresql_login_sslmode: must be verify-full or verify-ca with "
            "pgbouncer_managed_postgresql (the admin and the logins as each role cross a network the "
            f"toolkit does not own), got {inputs.get('pgbouncer_postgresql_login_sslmode')!r}"
        )
    return errors


def _check_role_settings(settings: object, where: str, errors: list[str]) -> None:
    """Each role setting's name and value as ALTER ROLE ... SET can take them (the server checks
    the rest before anything changes: that it knows the setting, and the value)."""
    if settings is None:
        return
    if not isinstance(settings, Mapping):
        errors.append(f"{where}: must be a mapping of setting names to values")
        return
    for name, value in settings.items():
        problem = setting_name_problem(name)
        if problem is None:
            problem = setting_text(value)[1]
        if problem is not None:
            errors.append(f"{where}.{name}: {problem}")


def server_databases(databases: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The PostgreSQL databases to create: one per dbname of the entries on the toolkit's server
    (an entry with its own host is on another server), with its owner when one is declared."""
    result: dict[str, dict[str, Any]] = {}
    for entry in databases:
        if entry.get("host"):
            continue
        dbname = dbname_of(entry)
        owner = entry.get("owner") or result.get(dbname, {}).get("owner")
        result[dbname] = {"name": dbname, "owner": owner}
    return list(result.values())


def grant_list(
    roles: Iterable[Mapping[str, Any]], databases: Iterable[Mapping[str, Any]]
) -> list[dict[str, str]]:
    """[{database, role}]: CONNECT and TEMPORARY for each role on each database it declares."""
    local = {entry["name"]: dbname_of(entry) for entry in databases if not entry.get("host")}
    return [
        {"database": dbname, "role": role}
        for role, dbnames in grants_by_role(roles, databases).items()
        for dbname in dbnames
        if dbname in local.values()
    ]


def host_addresses(hosts: Iterable[str], hostvars: Mapping[str, Any]) -> list[str]:
    """The address of each PgBouncer host for pg_hba.conf: its ``pgbouncer_address`` (multi-homed
    hosts) or the default IPv4 (else IPv6) address Ansible gathered, as a host network in its
    canonical form (addresses.py).

    An address the parser refuses (a zone id, a name) is passed on as given, for check_address to
    refuse by name in postgresql_side: this runs inside the first play's no_log task, where
    a failure of its own would be reported without its message. The block is never rendered with
    it (hba_rules checks every address again).
    """
    addresses = []
    for host in hosts:
        variables = hostvars[host]
        facts = variables.get("ansible_facts", {}) or {}
        address = variables.get("pgbouncer_address") or (facts.get("default_ipv4") or {}).get("address")
        address = address or (facts.get("default_ipv6") or {}).get("address")
        if not address:
            raise ConfigError(
                f"{host}: no address for pg_hba.conf; set pgbouncer_address on the host or gather its facts"
            )
        try:
            addresses.append(parse_interface(str(address)).with_prefixlen)
        except AddressError:
            addresses.append(str(address))
    return addresses


def grants_by_role(
    roles: Iterable[Mapping[str, Any]], databases: Iterable[Mapping[str, Any]]
) -> dict[str, list[str]]:
    """{role: [PostgreSQL database names]} from the roles' entry names (checked already)."""
    dbnames = {entry["name"]: dbname_of(entry) for entry in databases}
    return {
        role["name"]: sorted({dbnames[name] for name in role.get("databases") or [] if name in dbnames})
        for role in roles
    }
