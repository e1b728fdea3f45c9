"""Ansible module: each role's SCRAM verifier as a managed PostgreSQL holds it, read by logging in."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: postgresql_role_verifiers
short_description: Read roles' SCRAM verifiers from a server whose pg_authid nobody may read
description:
  - For each role, logs in to PostgreSQL over TCP as that role with SCRAM-SHA-256 and returns the
    verifier the server holds for it, rebuilt from the salt and iteration count the server sent and
    the password the server accepted; the server's own SCRAM signature is checked too.
  - A role whose password the server refuses (a wrong or expired password, an md5 hash, a role that
    does not exist) gets null. Any other outcome (no pg_hba line for this host, TLS refused, a server
    that asks for the password in clear or lets the role in without a password) fails the task with
    the role's name.
  - No password is sent, only SCRAM proofs, and the login ends at AuthenticationOk. Each call is
    still a login the server may log, and a refused one a failed login.
  - Needs only Python's standard library on the host that runs it. Give the task C(no_log).
version_added: "0.2.0"
author: pgbouncer-toolkit developers (@pgbouncer-toolkit)
options:
  roles:
    description: The roles to read, each with the password the inventory declares for it.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Role name.
        type: str
        required: true
      password:
        description: The role's plaintext password.
        type: str
        required: true
  login_host:
    description: The server's host name (for verify-full, the name its certificate carries).
    type: str
    required: true
  login_port:
    description: The server's port.
    type: int
    default: 5432
  login_db:
    description: Database named in the startup message; authentication happens before it is opened.
    type: str
    default: postgres
  login_sslmode:
    description: TLS to the server, as libpq's sslmode of the same name.
    type: str
    default: verify-full
    choices: [disable, require, verify-ca, verify-full]
  login_sslrootcert:
    description: CA bundle that signed the server's certificate; empty uses the host's trust store.
    type: str
    default: ""
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
- name: Read the verifiers the server holds for the application roles
  pgbouncer_toolkit.pgbouncer.postgresql_role_verifiers:
    login_host: writer.db.example.com
    login_sslrootcert: /etc/ssl/certs/provider-ca.pem
    roles:
      - name: app
        password: "{{ app_password }}"
  register: verifiers
  no_log: true
"""

RETURN = r"""
verifiers:
  description: "{role: the verifier the server holds, or null when it refused the password}."
  returned: always
  type: dict
  sample: {app: "SCRAM-SHA-256$4096:...", new_role: null}
"""

from collections.abc import Mapping  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.pg_wire import (  # noqa: E402
    SSLMODES,
    Server,
    WireError,
    server_verifier,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.postgresql import (  # noqa: E402
    ModuleError,
    check_role_name,
    refuse_duplicates,
)


def read_verifiers(params: Mapping[str, Any]) -> dict[str, str | None]:
    """{role: verifier or None}, in the order given; raises ModuleError naming the role."""
    roles = params["roles"]
    names = [check_role_name(role["name"], f"roles[{index}].name") for index, role in enumerate(roles)]
    refuse_duplicates(names, "roles")
    server = Server(
        host=params["login_host"],
        port=params["login_port"],
        database=params["login_db"],
        sslmode=params["login_sslmode"],
        sslrootcert=params["login_sslrootcert"],
    )
    verifiers: dict[str, str | None] = {}
    for name, role in zip(names, roles, strict=True):
        try:
            verifiers[name] = server_verifier(server, name, role["password"])
        except WireError as exc:
            raise ModuleError(
                f"cannot read the SCRAM verifier of role {name!r} by logging in as it: {exc}"
            ) from None
    return verifiers


def argument_spec() -> dict[str, Any]:
    """The module's options."""
    return {
        "roles": {
            "type": "list",
            "elements": "dict",
            "required": True,
            "options": {
                "name": {"type": "str", "required": True},
                "password": {"type": "str", "required": True, "no_log": True},
            },
        },
        "login_host": {"type": "str", "required": True},
        "login_port": {"type": "int", "default": 5432},
        "login_db": {"type": "str", "default": "postgres"},
        "login_sslmode": {"type": "str", "default": "verify-full", "choices": list(SSLMODES)},
        "login_sslrootcert": {"type": "str", "default": ""},
    }


def main() -> None:
    """Entry point for Ansible."""
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        module.exit_json(changed=False, verifiers=read_verifiers(module.params))
    except ModuleError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
