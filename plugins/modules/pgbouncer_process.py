#!/usr/bin/python
"""Bring one PgBouncer process to its configuration file, judged by what it runs."""

from __future__ import annotations

DOCUMENTATION = r"""
module: pgbouncer_process
short_description: Reload or restart one PgBouncer process by what it runs, not by what changed
description:
  - Reads the running configuration of one PgBouncer process (C(SHOW CONFIG) over its unix socket,
    connecting with the service user's ids, so no password is needed) and compares it with the
    values the configuration file should give it.
  - Restarts the process when a differing key is one RELOAD does not apply (C(changeable) is
    C(no)), reloads it when only reloadable keys differ or when the file changed since the process
    last loaded it, and does nothing otherwise. A run that died between writing the file and
    applying it is caught up by the next run, whatever the file looked like before.
  - Before a restart takes the process's TCP listeners out of the port's so_reuseport group (from
    outside, module_utils/listeners.py) and waits I(drain_seconds), so new connections go to the
    other processes and the logins it has in progress finish (PgBouncer 1.25 and newer refuse those
    once they are told to stop, with "pooler is shutting down").
  - After a start or restart waits until the process accepts logins; after any action checks that
    the process now runs the expected values, and fails naming the keys that still differ.
  - The file the process last loaded is remembered as (main PID, file checksum) under I(state_dir),
    on a tmpfs, so a reboot costs one harmless RELOAD.
version_added: "0.1.0"
author: pgbouncer-toolkit developers (@pgbouncer-toolkit)
options:
  process:
    description: The process number; the unit is C(pgbouncer@<process>.service).
    type: int
    required: true
  config_file:
    description: The configuration file the process reads.
    type: path
    required: true
  socket_dir:
    description: The process's unix socket directory.
    type: path
    required: true
  port:
    description: listen_port (the socket's port number).
    type: int
    required: true
  expected:
    description:
      - The [pgbouncer] keys the file sets, in the form C(SHOW CONFIG) displays them. Keys not
        listed must be at their default.
    type: dict
    required: true
  ignore_keys:
    description: Keys whose running value is not compared (set on the command line, not by the file).
    type: list
    elements: str
    default: [conffile]
  restart:
    description: Restart even when the running values match (unit file changed, rolling restart).
    type: bool
    default: false
  service_user:
    description: PgBouncer's OS user, whose ids the console connection uses.
    type: str
    default: postgres
  login_timeout:
    description: Seconds to wait for the process to accept logins after a start or restart.
    type: int
    default: 60
  drain_seconds:
    description: Seconds between closing the listeners of a process to be restarted and stopping it.
    type: float
    default: 1.0
  watched_files:
    description:
      - Other files the process reads on RELOAD (its auth_file; its TLS certificate, key and CA).
        Their content is part of the checksum, so a process that has not loaded their current
        content gets a RELOAD (PgBouncer 1.24 and newer reload TLS files whose content changed).
    type: list
    elements: path
    default: []
  state_dir:
    description: Where the (PID, checksum) of the file each process last loaded is kept.
    type: path
    default: /run/pgbouncer-toolkit
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Runs as root on the PgBouncer host (it calls systemctl).
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Apply the configuration to process 2
  pgbouncer_toolkit.pgbouncer.pgbouncer_process:
    process: 2
    config_file: /etc/pgbouncer/pgbouncer-2.ini
    socket_dir: /run/pgbouncer-2
    port: 6432
    expected:
      pool_mode: transaction
      listen_addr: 127.0.0.1
"""

RETURN = r"""
action:
  description: What was done (or, in check mode, would be) - none, start, reload or restart.
  returned: always
  type: str
restart_keys:
  description: Running keys that differ from the file and that only a restart applies.
  returned: always
  type: list
  elements: str
reload_keys:
  description: Running keys that differ from the file and that RELOAD applies.
  returned: always
  type: list
  elements: str
listeners_closed:
  description: >-
    TCP listeners taken out of service before a restart (0 when there was none to restart, -1 when
    they could not be reached and the process closed them itself).
  returned: always
  type: int
pid_before:
  description: The process's main PID before, 0 if it was not running.
  returned: always
  type: int
pid_after:
  description: Its main PID after.
  returned: always
  type: int
"""

import hashlib  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils import pgbouncer_console as console  # noqa: E402
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.listeners import close_listeners  # noqa: E402
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.pgbouncer_show import shows_default  # noqa: E402


def differences(
    running: dict[str, dict[str, str]], expected: dict[str, str], ignore: set[str]
) -> tuple[list[str], list[str]]:
    """(restart keys, reload keys): running keys that are not what the file gives them."""
    restart, reload = [], []
    for key, row in sorted(running.items()):
        if key in ignore:
            continue
        if key in expected:
            differs = row["value"] != expected[key]
        else:
            differs = not shows_default(row["value"], row["default"])
        if differs:
            (reload if row["changeable"] == "yes" else restart).append(key)
    return restart, reload


class Process:
    def __init__(self, module: AnsibleModule):
        self.module = module
        self.params = module.params
        self.unit = f"pgbouncer@{self.params['process']}.service"
        self.marker = os.path.join(self.params["state_dir"], str(self.params["process"]))
        self.expected = {str(key): str(value) for key, value in self.params["expected"].items()}
        self.ignore = set(self.params["ignore_keys"])

    def main_pid(self) -> int:
        rc, out, err = self.module.run_command(
            ["systemctl", "show", "--property=MainPID", "--value", self.unit]
        )
        if rc != 0:
            self.module.fail_json(msg=f"systemctl show {self.unit}: {err.strip()}")
        return int(out.strip() or 0)

    def systemctl(self, verb: str) -> None:
        rc, _out, err = self.module.run_command(["systemctl", verb, self.unit])
        if rc != 0:
            self.module.fail_json(msg=f"systemctl {verb} {self.unit} failed: {err.strip()}")

    def differences(self) -> tuple[list[str], list[str]]:
        """(restart keys, reload keys) of the running process against its file's values."""
        running = console.show_config(
            self.params["socket_dir"], self.params["port"], as_user=self.params["service_user"]
        )
        return differences(running, self.expected, self.ignore)

    def file_checksum(self) -> str:
        """The checksum of the configuration file and the watched files, in order."""
        digest = hashlib.sha256()
        for path in [self.params["config_file"], *self.params["watched_files"]]:
            try:
                with open(path, "rb") as handle:
                    content = handle.read()
            except FileNotFoundError:
                if self.module.check_mode:
                    return ""  # written by an earlier task of this run outside check mode
                raise
            digest.update(hashlib.sha256(content).digest())
        return digest.hexdigest()

    def loaded_marker(self) -> str:
        try:
            with open(self.marker, encoding="ascii") as handle:
                return handle.read().strip()
        except OSError:
            return ""

    def remember(self, pid: int, checksum: str) -> None:
        os.makedirs(self.params["state_dir"], mode=0o700, exist_ok=True)
        temporary = f"{self.marker}.tmp"
        with open(temporary, "w", encoding="ascii") as handle:
            handle.write(f"{pid} {checksum}\n")
        os.replace(temporary, self.marker)

    def wait_for_login(self) -> None:
        console.wait_for_login(
            self.params["socket_dir"],
            self.params["port"],
            as_user=self.params["service_user"],
            timeout=self.params["login_timeout"],
        )

    def settled(self) -> tuple[list[str], list[str]]:
        """The differences left after an action; RELOAD is asynchronous, so for a few seconds."""
        deadline = time.monotonic() + 5
        while True:
            left = self.differences()
            if not any(left) or time.monotonic() >= deadline:
                return left
            time.sleep(0.2)


def run(module: AnsibleModule) -> dict[str, object]:
    process = Process(module)
    checksum = process.file_checksum()
    pid = process.main_pid()
    restart_keys: list[str] = []
    reload_keys: list[str] = []
    if pid == 0:
        action = "start"
    else:
        try:
            restart_keys, reload_keys = process.differences()
        except console.ConsoleError as exc:
            module.fail_json(msg=f"{process.unit} runs (PID {pid}) but its console does not answer: {exc}")
        if module.params["restart"] or restart_keys:
            action = "restart"
        elif reload_keys or process.loaded_marker() != f"{pid} {checksum}":
            action = "reload"
        else:
            action = "none"
    result: dict[str, object] = {
        "changed": action != "none",
        "action": action,
        "restart_keys": restart_keys,
        "reload_keys": reload_keys,
        "pid_before": pid,
        "pid_after": pid,
        "listeners_closed": 0,
    }
    if action == "none" or module.check_mode:
        return result

    if action == "restart":
        result["listeners_closed"] = close_listeners(
            pid, module.params["port"], module.params["service_user"]
        )
        if result["listeners_closed"] > 0:
            time.sleep(module.params["drain_seconds"])
    process.systemctl(action)
    try:
        process.wait_for_login()
        left_restart, left_reload = process.settled()
    except console.ConsoleError as exc:
        module.fail_json(msg=f"{process.unit} after {action}: {exc}", **result)
    if left_restart or left_reload:
        module.fail_json(
            msg=f"{process.unit} does not run its file's values after {action}: "
            f"{', '.join(left_restart + left_reload)} (see journalctl -u {process.unit})",
            **result,
        )
    result["pid_after"] = process.main_pid()
    process.remember(int(result["pid_after"]), checksum)
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "process": {"type": "int", "required": True},
            "config_file": {"type": "path", "required": True},
            "socket_dir": {"type": "path", "required": True},
            "port": {"type": "int", "required": True},
            "expected": {"type": "dict", "required": True},
            "ignore_keys": {"type": "list", "elements": "str", "default": ["conffile"], "no_log": False},
            "restart": {"type": "bool", "default": False},
            "service_user": {"type": "str", "default": "postgres"},
            "login_timeout": {"type": "int", "default": 60},
            "watched_files": {"type": "list", "elements": "path", "default": []},
            "drain_seconds": {"type": "float", "default": 1.0},
            "state_dir": {"type": "path", "default": "/run/pgbouncer-toolkit"},
        },
        supports_check_mode=True,
    )
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()
