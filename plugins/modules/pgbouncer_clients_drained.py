"""Ansible module: wait until no client logged in as given roles remains on this host's PgBouncers."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pgbouncer_clients_drained
short_description: Wait until no client logged in as the given roles remains on this host's PgBouncer processes
description:
  - Reads C(SHOW CLIENTS) on the admin console of each given process, over its unix socket with
    PgBouncer's own OS user (no password), until none of the clients is logged in as one of I(users),
    for at most I(timeout) seconds.
  - Fails after I(timeout) naming each role and process that still has clients, and how many. Reads
    only; changes nothing, so it runs in check mode too.
  - Used after the application files switched to another login role (credential rotation); once the
    previous login has no client left on any pooler, its password can change without failing a login.
version_added: "0.2.0"
author: pgbouncer-toolkit developers (@pgbouncer-toolkit)
options:
  users:
    description: The roles whose clients must be gone.
    type: list
    elements: str
    required: true
  timeout:
    description: Seconds to wait at most; 0 reads once.
    type: int
    default: 300
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - pgbouncer_toolkit.pgbouncer.pgbouncer_processes
"""

EXAMPLES = r"""
- name: Wait until no client logs in as the previous login
  pgbouncer_toolkit.pgbouncer.pgbouncer_clients_drained:
    socket_dirs: [/run/pgbouncer-1, /run/pgbouncer-2]
    users: [app]
    timeout: 600
"""

RETURN = r"""
clients:
  description: "{role: clients logged in as it on this host's processes}, at the last read (all 0 on success)."
  returned: success
  type: dict
  sample: {app: 0}
waited:
  description: Seconds waited until the last read.
  returned: success
  type: float
  sample: 12.4
"""

import time  # noqa: E402
from collections.abc import Mapping  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.pgbouncer_console import (  # noqa: E402
    Console,
    ConsoleError,
    processes_argument_spec,
)


def clients_by_process(
    socket_dirs: list[str], port: int, users: list[str], service_user: str
) -> dict[str, dict[str, int]]:
    """{socket_dir: {user: clients logged in as it}} from each process's SHOW CLIENTS."""
    counts = {}
    for socket_dir in socket_dirs:
        with Console(socket_dir, port, as_user=service_user) as console:
            rows = console.query("SHOW CLIENTS")
        counts[socket_dir] = {user: sum(1 for row in rows if row.get("user") == user) for user in users}
    return counts


def wait_drained(params: Mapping[str, Any], *, clock=time.monotonic, sleep=time.sleep) -> dict[str, Any]:
    """Poll until no process has a client of the users; raise ConsoleError on timeout, naming them."""
    users = list(dict.fromkeys(params["users"]))
    start = clock()
    while True:
        counts = clients_by_process(params["socket_dirs"], params["port"], users, params["service_user"])
        left = {
            (socket_dir, user): count
            for socket_dir, by_user in counts.items()
            for user, count in by_user.items()
            if count
        }
        waited = clock() - start
        if not left:
            return {"clients": dict.fromkeys(users, 0), "waited": round(waited, 1)}
        if waited >= params["timeout"]:
            raise ConsoleError(
                f"after {waited:.0f} s clients still log in as: "
                + ", ".join(
                    f"{user!r} ({count} on {socket_dir})" for (socket_dir, user), count in left.items()
                )
                + "; restart the application processes that use the previous files, then run again"
            )
        sleep(1.0)


def argument_spec() -> dict[str, Any]:
    """The module's options."""
    return {
        **processes_argument_spec(),
        "users": {"type": "list", "elements": "str", "required": True},
        "timeout": {"type": "int", "default": 300},
    }


def main() -> None:
    """Entry point for Ansible."""
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        module.exit_json(changed=False, **wait_drained(module.params))
    except ConsoleError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
