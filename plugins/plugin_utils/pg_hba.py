"""The toolkit's pg_hba.conf rules, as one block it owns.

Fields are quoted the way PostgreSQL's tokenizer reads them (``"..."`` with ``""`` for a quote;
a quoted ``all``, ``sameuser``, ``samerole``, ``samegroup``, ``replication``, ``+name`` or
``@file`` loses its special meaning; a leading ``/``, a regular expression even quoted, is refused
by names.py), addresses are parsed by addresses.py (no zone id) and rendered in their canonical
form, never as given, and a rule that admits the whole internet is refused unless the inventory
says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.addresses import (
    AddressError,
    parse_network,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import (
    ConfigError,
    check_name,
    check_text,
)

METHOD = "scram-sha-256"


def hba_quote(name: str) -> str:
    """A database or user field: always double-quoted, a quote doubled."""
    return '"{}"'.format(name.replace('"', '""'))


def check_address(value: object, where: str, *, allow_everywhere: bool = False) -> str:
    """A CIDR network (``10.0.0.5/32``, ``fd00::/64``) or a bare address (made /32 or /128), as
    its canonical text."""
    text = check_text(value, where)
    try:
        network = parse_network(text)
    except AddressError as exc:
        raise ConfigError(f"{where}: {text!r} is not an address or a network in CIDR form ({exc})") from None
    if network.prefixlen == 0 and not allow_everywhere:
        raise ConfigError(
            f"{where}: {text!r} admits every address; set pgbouncer_postgresql_hba_allow_everywhere "
            "to true if that is really meant"
        )
    return network.with_prefixlen


def hba_rules(
    auth_user: str,
    auth_database: str,
    grants: Mapping[str, Iterable[str]],
    addresses: Iterable[object],
    *,
    allow_everywhere: bool = False,
    tls: bool = False,
) -> list[str]:
    """The block's lines: the auth user to the auth database, each role to its databases, from
    each PgBouncer address, and a reject line that keeps the auth user out of everything else
    (unless a rule above the block, which is the DBA's, says otherwise). With ``tls`` the
    PgBouncer hosts are admitted over TLS only (hostssl); the reject line covers both."""
    kind = "hostssl" if tls else "host"
    networks = sorted(
        {
            check_address(
                address, f"pgbouncer_postgresql_client_addresses[{index}]", allow_everywhere=allow_everywhere
            )
            for index, address in enumerate(addresses)
        }
    )
    if not networks:
        raise ConfigError("pgbouncer_postgresql_client_addresses: no PgBouncer host address to admit")
    check_name(auth_user, "pgbouncer_auth_user", kind="role")
    check_name(auth_database, "pgbouncer_auth_database", kind="database")
    lines = [f"{kind} {hba_quote(auth_database)} {hba_quote(auth_user)} {net} {METHOD}" for net in networks]
    lines.append(f"host all {hba_quote(auth_user)} all reject")
    for role in sorted(grants):
        check_name(role, "pgbouncer_roles[].name", kind="role")
        databases = sorted(
            {check_name(db, f"databases of role {role!r}", kind="database") for db in grants[role]}
        )
        if not databases:
            continue
        fields = ",".join(hba_quote(db) for db in databases)
        lines.extend(f"{kind} {fields} {hba_quote(role)} {net} {METHOD}" for net in networks)
    return lines
