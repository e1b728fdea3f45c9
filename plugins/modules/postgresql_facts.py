"""Ansible module: what the toolkit needs to know about a PostgreSQL server, read-only."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: postgresql_facts
short_description: Read the server version, connection limits, pg_hba.conf and current role verifiers
description:
  - Reads, and never changes, what the toolkit plans with, the server version and its connection
    limits, and the stored password verifiers of the named roles, so the controller can keep a
    verifier that still matches its password instead of writing a fresh one on every run.
  - Also reads where pg_hba.conf is and the errors PostgreSQL finds in it as it is on disk now
    (C(pg_hba_file_rules)), so a new file can be checked before PostgreSQL is told to reload it.
  - Reading C(pg_authid) needs a superuser. Give the task C(no_log) since verifiers are secrets.
  - Needs no PostgreSQL driver on the host; it speaks the protocol with Python's standard library,
    so it runs before anything is installed (the first play). Its reads run in one C(READ ONLY)
    transaction, so the server itself refuses any change. It logs in with no password where none
    is asked (peer, trust), with SCRAM-SHA-256 or md5, and sends a password in clear only over TLS
    that verified the server. An empty I(login_host) and I(login_unix_socket) mean
    C(/var/run/postgresql); I(login_sslmode=allow) is taken as C(prefer).
version_added: "0.1.0"
author: pgbouncer-toolkit developers (@pgbouncer-toolkit)
options:
  roles:
    description: Roles to look for, and whose stored verifiers to return; roles that do not exist are left out.
    type: list
    elements: str
    default: []
  superuser_reads:
    description:
      - Read what only a superuser may, where pg_hba.conf is, its errors and the stored verifiers.
      - False on a managed server, whose admin is no superuser; C(hba_file), C(hba_errors) and
        C(verifiers) are then empty (M(pgbouncer_toolkit.pgbouncer.postgresql_role_verifiers) reads
        the verifiers by logging in).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - pgbouncer_toolkit.pgbouncer.postgresql
"""

EXAMPLES = r"""
- name: Read the server's facts and the current verifiers
  pgbouncer_toolkit.pgbouncer.postgresql_facts:
    login_unix_socket: /var/run/postgresql
    roles: [pgbouncer_auth, app]
  become: true
  become_user: postgres
  register: postgresql_facts
  no_log: true
"""

RETURN = r"""
server_version_num:
  description: The server version as a number (170002 for 17.2).
  returned: always
  type: int
  sample: 170002
max_connections:
  description: The server's max_connections.
  returned: always
  type: int
  sample: 100
superuser_reserved_connections:
  description: The server's superuser_reserved_connections.
  returned: always
  type: int
  sample: 3
reserved_connections:
  description: The server's reserved_connections (PostgreSQL 16 and later; 0 before).
  returned: always
  type: int
  sample: 0
hba_file:
  description: The path of the server's pg_hba.conf.
  returned: always
  type: str
  sample: /etc/postgresql/17/main/pg_hba.conf
hba_errors:
  description: The errors PostgreSQL finds in pg_hba.conf as it is on disk, one per bad line.
  returned: always
  type: list
  elements: str
  sample: ["line 101: invalid IP mask \"33\": Name or service not known"]
existing_roles:
  description: The requested roles that exist on the server (read from pg_roles).
  returned: always
  type: list
  elements: str
  sample: [app]
expired_roles:
  description: The requested roles whose VALID UNTIL has passed (no login as them works).
  returned: always
  type: list
  elements: str
  sample: [app_expired]
verifiers:
  description: "{role: stored rolpassword, or null when it has none} for the requested roles that exist."
  returned: always
  type: dict
  sample: {app: "SCRAM-SHA-256$4096:...", nopassword: null}
queries:
  description: Always empty; the module changes nothing.
  returned: always
  type: list
  elements: str
  sample: []
"""

from collections.abc import Mapping  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.postgresql import (  # noqa: E402
    Connection,
    Outcome,
    check_role_name,
    connection_argument_spec,
    fetch_all,
    run_module,
)

# current_setting(..., true) is NULL for a setting this server does not have (reserved_connections
# before 16).
_SETTINGS_QUERY = """
SELECT pg_catalog.current_setting('server_version_num')::pg_catalog.int4,
       pg_catalog.current_setting('max_connections')::pg_catalog.int4,
       pg_catalog.current_setting('superuser_reserved_connections')::pg_catalog.int4,
       COALESCE(pg_catalog.current_setting('reserved_connections', true)::pg_catalog.int4, 0)"""
_HBA_FILE_QUERY = "SELECT pg_catalog.current_setting('hba_file')"
# pg_hba_file_rules reads the file as it is on disk now, not the rules the server has loaded.
_HBA_ERRORS_QUERY = """
SELECT pg_catalog.concat('line ', r.line_number, ': ', r.error)
  FROM pg_catalog.pg_hba_file_rules AS r
 WHERE r.error IS NOT NULL
 ORDER BY r.line_number"""
_VERIFIERS_QUERY = """
SELECT a.rolname::pg_catalog.text, a.rolpassword
  FROM pg_catalog.pg_authid AS a
 WHERE a.rolname::pg_catalog.text OPERATOR(pg_catalog.=) ANY (%s::pg_catalog.text[])
 ORDER BY 1"""
# pg_roles: readable by every role. Expired: past VALID UNTIL, no login works.
_EXISTING_ROLES_QUERY = """
SELECT r.rolname::pg_catalog.text,
       COALESCE(r.rolvaliduntil OPERATOR(pg_catalog.<) pg_catalog.now(), false)
  FROM pg_catalog.pg_roles AS r
 WHERE r.rolname::pg_catalog.text OPERATOR(pg_catalog.=) ANY (%s::pg_catalog.text[])
 ORDER BY 1"""
_SETTING_NAMES = (
    "server_version_num",
    "max_connections",
    "superuser_reserved_connections",
    "reserved_connections",
)


def read_facts(conn: Connection, params: Mapping[str, Any], *, check_mode: bool = False) -> Outcome:
    """Return (False, [], facts); reads in a read-only transaction that is rolled back."""
    roles = [check_role_name(name, f"roles[{index}]") for index, name in enumerate(params.get("roles") or [])]
    try:
        with conn.cursor() as cursor:
            cursor.execute(_SETTINGS_QUERY)
            facts: dict[str, Any] = dict(zip(_SETTING_NAMES, cursor.fetchone(), strict=True))
            existing = fetch_all(cursor, _EXISTING_ROLES_QUERY, [roles])
            facts["existing_roles"] = [name for name, _expired in existing]
            facts["expired_roles"] = [name for name, expired in existing if expired]
            facts["hba_file"], facts["hba_errors"], facts["verifiers"] = "", [], {}
            if params.get("superuser_reads", True):
                facts["hba_file"] = fetch_all(cursor, _HBA_FILE_QUERY)[0][0]
                facts["hba_errors"] = [row[0] for row in fetch_all(cursor, _HBA_ERRORS_QUERY)]
                facts["verifiers"] = dict(fetch_all(cursor, _VERIFIERS_QUERY, [roles]))
    finally:
        conn.rollback()
    return False, [], facts


def argument_spec() -> dict[str, Any]:
    """The module's options."""
    return {
        **connection_argument_spec(),
        "roles": {"type": "list", "elements": "str", "default": []},
        "superuser_reads": {"type": "bool", "default": True},
    }


def main() -> None:
    """Entry point for Ansible."""
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_module(module, read_facts, read_only=True)


if __name__ == "__main__":
    main()
