"""Ansible module: PAUSE, RECONNECT or RESUME every pool of this host's PgBouncer processes."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pgbouncer_pools
short_description: Pause, recycle or resume every pool of this host's PgBouncer processes
description:
  - Sends one admin command to the console of each given process, over its unix socket with
    PgBouncer's own OS user (no password), and reads each process's server connections after it.
  - C(paused) runs C(PAUSE), which returns once every server connection is released; clients stay
    connected and their queries wait (at most PgBouncer's C(query_wait_timeout)). A process that is
    paused already (C(SHOW STATE)) is left as it is.
  - C(recycled) runs C(RECONNECT), which closes each server connection once it is released (at once
    when paused), so the next ones are opened anew, to what the server's name resolves to then.
  - C(resumed) runs C(RESUME) where the process is paused.
  - Reports a change whenever a command ran (or, in check mode, would run).
version_added: "0.2.0"
author: pgbouncer-toolkit developers (@pgbouncer-toolkit)
options:
  state:
    description: What to do.
    type: str
    required: true
    choices: [paused, recycled, resumed]
  timeout:
    description: Seconds a command may take (C(PAUSE) waits for the transactions running).
    type: float
    default: 30
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
- name: Hold every client while the primary moves
  pgbouncer_toolkit.pgbouncer.pgbouncer_pools:
    state: paused
    socket_dirs: [/run/pgbouncer-1, /run/pgbouncer-2]
"""

RETURN = r"""
server_addresses:
  description: "{socket_dir: the address of each server connection the process holds}, after the command."
  returned: success
  type: dict
  sample: {/run/pgbouncer-1: ["10.89.0.5"]}
"""

from collections.abc import Mapping  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.pgbouncer_console import (  # noqa: E402
    Console,
    ConsoleError,
    processes_argument_spec,
)

COMMANDS = {"paused": "PAUSE", "recycled": "RECONNECT", "resumed": "RESUME"}
# SHOW STATE's "paused" when the process is in that state already (the command would be refused).
ALREADY = {"paused": "yes", "resumed": "no"}


def _paused(console: Console) -> str:
    rows = console.query("SHOW STATE")
    return next((str(row.get("value")) for row in rows if row.get("key") == "paused"), "no")


def apply(params: Mapping[str, Any], *, check_mode: bool = False) -> tuple[bool, dict[str, list[str]]]:
    """Run the state's command on each process; (changed, server addresses per process)."""
    state = params["state"]
    changed = False
    addresses: dict[str, list[str]] = {}
    for socket_dir in params["socket_dirs"]:
        with Console(
            socket_dir, params["port"], as_user=params["service_user"], timeout=params["timeout"]
        ) as console:
            needed = state not in ALREADY or _paused(console) != ALREADY[state]
            if needed and not check_mode:
                try:
                    console.query(COMMANDS[state])
                except ConsoleError as exc:
                    raise ConsoleError(f"{COMMANDS[state]} on {socket_dir}: {exc}") from None
            changed = changed or needed
            addresses[socket_dir] = [str(row.get("addr")) for row in console.query("SHOW SERVERS")]
    return changed, addresses


def argument_spec() -> dict[str, Any]:
    """The module's options."""
    return {
        **processes_argument_spec(),
        "state": {"type": "str", "required": True, "choices": list(COMMANDS)},
        "timeout": {"type": "float", "default": 30.0},
    }


def main() -> None:
    """Entry point for Ansible."""
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        changed, addresses = apply(module.params, check_mode=module.check_mode)
    except ConsoleError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=changed, server_addresses=addresses)


if __name__ == "__main__":
    main()
