"""Ansible module: prove roles log in through an endpoint and run a query, before anything names them."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pgbouncer_login_probe
short_description: Prove that roles log in through a PgBouncer endpoint and get a working session
description:
  - For each login, connects to the endpoint as the application would (TCP with its sslmode, or a
    unix socket directory), authenticates with SCRAM-SHA-256, waits for the session and runs
    C(SELECT current_user). Through PgBouncer in transaction pooling that query needs a server
    connection, so a success proves PgBouncer's own login to PostgreSQL for the role as well.
  - Every login is tried; the task fails naming each one that did not work (refused password, no
    such role, an error from PgBouncer or PostgreSQL, the endpoint unreachable) and why.
  - Read-only, so it runs in check mode too. No password is sent, only SCRAM proofs; each probe is
    still a login the endpoint and the server may log. Give the task C(no_log).
  - Needs only Python's standard library on the host that runs it.
version_added: "0.2.0"
author: pgbouncer-toolkit developers (@pgbouncer-toolkit)
options:
  logins:
    description: The logins to prove.
    type: list
    elements: dict
    required: true
    suboptions:
      user:
        description: Role name.
        type: str
        required: true
      password:
        description: The role's plaintext password.
        type: str
        required: true
      database:
        description: The database (PgBouncer's entry name) to open.
        type: str
        required: true
  host:
    description: The endpoint's host name or address, or a unix socket directory (starting with C(/)).
    type: str
    required: true
  port:
    description: The endpoint's port.
    type: int
    default: 6432
  sslmode:
    description:
      - TLS as libpq's sslmode of the same name; empty is libpq's default, C(prefer). C(allow) and
        C(prefer) use TLS when offered without verifying it. Not used with a unix socket.
    type: str
    default: ""
    choices: ["", disable, allow, prefer, require, verify-ca, verify-full]
  sslrootcert:
    description: CA bundle the endpoint's certificate is verified against; empty uses the host's trust store.
    type: str
    default: ""
  timeout:
    description: Seconds each connection may take to connect and each read may wait.
    type: float
    default: 10
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Prove the application's role logs in through the host's PgBouncer
  pgbouncer_toolkit.pgbouncer.pgbouncer_login_probe:
    host: 127.0.0.1
    port: 6432
    logins:
      - user: app
        password: "{{ app_password }}"
        database: app
  no_log: true
"""

RETURN = r"""
sessions:
  description: Each login as proved, with the role its session runs queries as.
  returned: success
  type: list
  elements: dict
  sample: [{user: app_next, database: app, current_user: app}]
"""

from collections.abc import Mapping  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.pg_wire import (  # noqa: E402
    Server,
    WireError,
    session_user,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.postgresql import (  # noqa: E402
    ModuleError,
)


def probe_logins(params: Mapping[str, Any]) -> list[dict[str, str]]:
    """Each login with the role its session runs as; raises ModuleError naming every failed login."""
    endpoint = f"{params['host']}:{params['port']}"
    sessions, failures = [], []
    for index, login in enumerate(params["logins"]):
        server = Server(
            host=params["host"],
            port=params["port"],
            database=login["database"],
            sslmode=params["sslmode"] or "prefer",
            sslrootcert=params["sslrootcert"],
            timeout=params["timeout"],
        )
        where = f"logins[{index}] ({login['user']!r} to {login['database']!r} through {endpoint})"
        try:
            current = session_user(server, login["user"], login["password"])
        except WireError as exc:
            failures.append(f"{where}: {exc}")
            continue
        if current is None:
            failures.append(f"{where}: the password is refused (or the role does not exist)")
            continue
        sessions.append({"user": login["user"], "database": login["database"], "current_user": current})
    if failures:
        raise ModuleError("; ".join(failures))
    return sessions


def argument_spec() -> dict[str, Any]:
    """The module's options."""
    return {
        "logins": {
            "type": "list",
            "elements": "dict",
            "required": True,
            "options": {
                "user": {"type": "str", "required": True},
                "password": {"type": "str", "required": True, "no_log": True},
                "database": {"type": "str", "required": True},
            },
        },
        "host": {"type": "str", "required": True},
        "port": {"type": "int", "default": 6432},
        "sslmode": {
            "type": "str",
            "default": "",
            "choices": ["", "disable", "allow", "prefer", "require", "verify-ca", "verify-full"],
        },
        "sslrootcert": {"type": "str", "default": ""},
        "timeout": {"type": "float", "default": 10.0},
    }


def main() -> None:
    """Entry point for Ansible."""
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        module.exit_json(changed=False, sessions=probe_logins(module.params))
    except ModuleError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
