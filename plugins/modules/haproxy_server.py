#!/usr/bin/python
"""Drain one server of an HAProxy backend, or bring it back, through HAProxy's runtime API."""

from __future__ import annotations

DOCUMENTATION = r"""
module: haproxy_server
short_description: Drain or restore one server of an HAProxy backend through the runtime API
description:
  - Drains one server of an HAProxy backend, or takes it back, by sending
    C(set server <backend>/<server> state drain|ready) to HAProxy's runtime API (its stats socket,
    which must be declared with C(level admin)). Meant for a rolling restart of PgBouncer backends
    behind HAProxy - drain one, restart it, restore it, go on with the next one.
  - The server's state is read from C(show stat) before anything is sent, so a server already in
    the requested state is left alone (C(changed=false)).
  - With I(state=drain), new connections stop going to the server at once, while its open
    sessions stay (drain, not maint, because entering maintenance counts as marked down, and a
    server with C(on-marked-down shutdown-sessions) would have its sessions cut at once); health
    checks go on; the module then waits up to I(wait_timeout) seconds for them to end. Sessions
    still open then do not make it fail - they are returned in RV(sessions_left) with a warning,
    and the caller decides (wait more, or restart anyway).
  - With I(state=ready), the module waits up to I(wait_timeout) seconds for the health checks to
    report the server up (status C(UP), or C(no check) for a server without checks), and fails if
    they do not. A server leaving maintenance shows C(UP 1/2) until its first check passes, so
    the module waits for that check rather than trusting HAProxy's unchecked C(UP 1/2).
  - Every command is sent on its own connection to the socket (HAProxy's non-interactive mode),
    each socket operation with a timeout. I(backend) and I(server) must be HAProxy names (1 to 64
    letters, digits, dots, colons, underscores or hyphens), so no value can add a command to the
    line sent.
version_added: "0.1.0"
author: pgbouncer-toolkit developers (@pgbouncer-toolkit)
options:
  socket:
    description: HAProxy's stats socket (C(stats socket ... level admin) in haproxy.cfg).
    type: path
    default: /run/pgbouncer-lb/admin.sock
  backend:
    description: The backend the server belongs to.
    type: str
    default: pgbouncer
  server:
    description: The server's name in the backend.
    type: str
    required: true
  state:
    description:
      - C(drain) stops sending new connections to the server and waits for its sessions to end.
      - C(ready) takes the server out of drain (or maintenance) and waits until it is up. A
        server that is in neither is not sent anything, but is still waited for.
    type: str
    required: true
    choices: [drain, ready]
  wait_timeout:
    description:
      - Seconds to wait for the server's sessions to end (C(drain)) or for it to be up (C(ready)).
        C(0) looks once, without waiting (so C(ready) then fails unless the server already is
        C(UP)). At most 86400.
    type: int
    default: 60
  require_other_up:
    description:
      - With I(state=drain), refuse to drain the server unless another server of the
        backend is up (status C(UP...) or C(no check)), so a rolling restart never drains the last
        one. Nothing is sent when it refuses. Not checked when the server already is drained,
        since nothing would change.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    details: Reads the state and reports what would change; sends no command that changes it and
      does not wait.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Runs on the HAProxy host, as a user that may open the socket (root with C(mode 600)).
  - Only Python's standard library is used; nothing needs to be installed on the host.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Drain this PgBouncer host on every HAProxy before restarting it
  pgbouncer_toolkit.pgbouncer.haproxy_server:
    server: "{{ inventory_hostname }}"
    state: drain
    wait_timeout: 300
  register: drained
  delegate_to: "{{ item }}"
  loop: "{{ groups['pgbouncer_lb'] }}"

- name: Say so when clients still held sessions on it
  ansible.builtin.debug:
    msg: "{{ item.item }} still had {{ item.sessions_left }} session(s) to {{ inventory_hostname }}"
  loop: "{{ drained.results }}"
  when: item.sessions_left > 0

- name: Give pgb1 back its share of new connections once it answers again
  pgbouncer_toolkit.pgbouncer.haproxy_server:
    socket: /run/pgbouncer-lb/admin.sock
    backend: pgbouncer
    server: pgb1
    state: ready
    wait_timeout: 30
"""

RETURN = r"""
status_before:
  description: The server's C(status) in C(show stat) before anything was sent (C(UP), C(DOWN),
    C(MAINT), C(DRAIN), C(UP 1/2), C(no check), ...).
  returned: always
  type: str
  sample: UP
status_after:
  description: Its status when the module returned (in check mode, the unchanged status).
  returned: always
  type: str
  sample: DRAIN
sessions_left:
  description: The server's current sessions (C(scur)) when the module returned; with
    I(state=drain), more than 0 means they had not ended within I(wait_timeout).
  returned: always
  type: int
  sample: 0
waited:
  description: Seconds spent waiting for the sessions to end or for the server to be up.
  returned: always
  type: float
  sample: 1.4
"""

import csv  # noqa: E402
import re  # noqa: E402
import socket as socketlib  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

# The characters HAProxy accepts in a proxy or server name.
NAME_PATTERN = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
SOCKET_TIMEOUT = 10.0  # seconds, for every connect, send and receive on the socket
POLL_INTERVAL = 0.2  # seconds between two `show stat` while waiting
MAX_RESPONSE = 16 * 1024 * 1024  # bytes; `show stat` of a very large configuration stays far below
# `show stat` rows that are not servers.
NOT_SERVERS = ("FRONTEND", "BACKEND")


class RuntimeApiError(Exception):
    """The runtime API could not be reached or did not answer as expected."""


def name_error(parameter: str, value: object) -> str | None:
    """Why ``value`` cannot be the HAProxy name ``parameter``, or None when it can."""
    if not isinstance(value, str) or NAME_PATTERN.fullmatch(value) is None:
        return (
            f"{parameter}: {value!r} is not an HAProxy name (1 to 64 of the characters A-Z a-z 0-9 _ . : -)"
        )
    return None


def set_state_command(backend: str, server: str, state: str) -> str:
    """The runtime API line that puts ``backend``/``server`` into ``state``."""
    for parameter, value in (("backend", backend), ("server", server)):
        error = name_error(parameter, value)
        if error:
            raise ValueError(error)
    if state not in ("drain", "ready"):
        raise ValueError(f"state: {state!r} is neither drain nor ready")
    return f"set server {backend}/{server} state {state}"


def parse_stat(text: str) -> list[dict[str, str]]:
    """The rows of `show stat` output (CSV after a `# ` header line), as {column: value}."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("# "):
        first = lines[0] if lines else ""
        raise RuntimeApiError(f"`show stat` did not answer with its CSV header: {first[:200]!r}")
    reader = csv.reader([lines[0][2:], *(line for line in lines[1:] if line.strip())])
    header = next(reader)
    rows = []
    for values in reader:
        # Not zip(strict=...): the module also runs on the Pythons before 3.10 Ansible supports.
        row = {header[index]: value for index, value in enumerate(values[: len(header)])}
        row.pop("", None)  # every line ends with a comma
        rows.append(row)
    return rows


def is_server_row(row: dict[str, str]) -> bool:
    if row.get("type"):
        return row["type"] == "2"
    return row.get("svname") not in NOT_SERVERS


def find_server(rows: list[dict[str, str]], backend: str, server: str) -> dict[str, str]:
    """The row of ``backend``/``server``; LookupError naming what is missing."""
    in_backend = [row for row in rows if row.get("pxname") == backend]
    if not in_backend:
        raise LookupError(f"backend {backend!r} is not in HAProxy's `show stat`")
    for row in in_backend:
        if row.get("svname") == server and is_server_row(row):
            return row
    servers = sorted(row.get("svname", "") for row in in_backend if is_server_row(row))
    raise LookupError(f"backend {backend!r} has no server {server!r} (its servers: {', '.join(servers)})")


def in_maintenance(status: str) -> bool:
    """MAINT, MAINT (via ...), MAINT (resolution)."""
    return status.startswith("MAINT")


def is_drained(status: str) -> bool:
    """DRAIN, DRAIN (agent), ...: up, but sent no new connection."""
    return status.startswith("DRAIN")


def is_serving(status: str) -> bool:
    """Up as far as new connections go: UP, UP 1/2 (one failed check from DOWN), or no check."""
    return status.startswith("UP") or status == "no check"


def is_confirmed_up(status: str) -> bool:
    """Up and not on its way down: UP (every recent check passed), or no check (never checked).

    A server leaving maintenance shows UP 1/2 until its first check passes: HAProxy counts it up
    without having checked it, so that alone does not prove the restarted process answers.
    """
    return status in ("UP", "no check")


def needs_command(state: str, status: str) -> bool:
    """Whether ``set server ... state <state>`` must be sent to a server with ``status``."""
    if state == "drain":
        return not is_drained(status)
    # A drained server whose check failed while it restarted shows DOWN, not DRAIN: anything but
    # a confirmed UP gets the command (harmless on a server in its ready state).
    return not is_confirmed_up(status)


def drain_refusal(rows: list[dict[str, str]], backend: str, server: str) -> str | None:
    """Why ``server`` must not be drained (no other server of ``backend`` up), or None."""
    others = [
        row
        for row in rows
        if row.get("pxname") == backend and is_server_row(row) and row.get("svname") != server
    ]
    if any(is_serving(row.get("status", "")) for row in others):
        return None
    seen = ", ".join(f"{row.get('svname')} {row.get('status')}" for row in others) or "no other server"
    return f"draining {server} would leave backend {backend} with no server up ({seen})"


def sessions(row: dict[str, str]) -> int:
    """The row's current sessions (scur)."""
    try:
        return int(row.get("scur") or 0)
    except ValueError as exc:
        raise RuntimeApiError(f"`show stat` gave scur {row.get('scur')!r}") from exc


def runtime_command(path: str, command: str, timeout: float = SOCKET_TIMEOUT) -> str:
    """Send one command on its own connection to the runtime API at ``path``; its whole answer."""
    if "\n" in command or "\r" in command or ";" in command:
        raise ValueError(f"refusing to send more than one command: {command!r}")
    chunks: list[bytes] = []
    size = 0
    try:
        with socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(command.encode("ascii") + b"\n")
            while chunk := sock.recv(65536):
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_RESPONSE:
                    raise RuntimeApiError(f"`{command}`: answer larger than {MAX_RESPONSE} bytes")
    except TimeoutError as exc:
        raise RuntimeApiError(
            f"HAProxy's runtime API at {path} did not answer `{command}` in {timeout:g}s"
        ) from exc
    except OSError as exc:
        raise RuntimeApiError(f"cannot reach HAProxy's runtime API at {path}: {exc}") from exc
    return b"".join(chunks).decode("utf-8", errors="replace")


class Server:
    """One server of one backend, seen and driven through the runtime API."""

    def __init__(self, path: str, backend: str, server: str):
        self.path, self.backend, self.server = path, backend, server

    def stat(self) -> tuple[list[dict[str, str]], dict[str, str]]:
        """(every `show stat` row, this server's row)."""
        rows = parse_stat(runtime_command(self.path, "show stat"))
        return rows, find_server(rows, self.backend, self.server)

    def set_state(self, state: str) -> None:
        command = set_state_command(self.backend, self.server, state)
        answer = runtime_command(self.path, command).strip()
        if answer:  # HAProxy answers nothing on success
            raise RuntimeApiError(f"`{command}` was refused: {answer[:500]}")

    def wait(self, done: Callable[[dict[str, str]], bool], timeout: int) -> tuple[dict[str, str], float]:
        """(the last row, seconds waited): polls until ``done(row)`` or ``timeout`` seconds pass."""
        start = time.monotonic()
        while True:
            _rows, row = self.stat()
            waited = time.monotonic() - start
            if done(row) or waited >= timeout:
                return row, round(waited, 3)
            time.sleep(min(POLL_INTERVAL, max(timeout - waited, 0.0)))


def run(module: AnsibleModule) -> dict[str, object]:
    params = module.params
    for parameter in ("backend", "server"):
        error = name_error(parameter, params[parameter])
        if error:
            module.fail_json(msg=error)
    if not 0 <= params["wait_timeout"] <= 86400:
        module.fail_json(msg=f"wait_timeout: {params['wait_timeout']} is not between 0 and 86400")
    state, backend, name = params["state"], params["backend"], params["server"]
    server = Server(params["socket"], backend, name)

    rows, row = server.stat()
    status_before = row.get("status", "")
    change = needs_command(state, status_before)
    result: dict[str, object] = {
        "changed": change,
        "status_before": status_before,
        "status_after": status_before,
        "sessions_left": sessions(row),
        "waited": 0.0,
    }
    if state == "drain" and change and params["require_other_up"]:
        refusal = drain_refusal(rows, backend, name)
        if refusal:
            module.fail_json(msg=refusal, **{**result, "changed": False})
    if module.check_mode:
        return result

    if change:
        server.set_state(state)
    try:
        if state == "drain":
            row, waited = server.wait(lambda row: sessions(row) == 0, params["wait_timeout"])
        else:
            row, waited = server.wait(
                lambda row: is_confirmed_up(row.get("status", "")), params["wait_timeout"]
            )
    except (RuntimeApiError, LookupError) as exc:  # the state was changed: say so
        module.fail_json(msg=f"{backend}/{name} after `state {state}`: {exc}", **result)
    result.update(status_after=row.get("status", ""), sessions_left=sessions(row), waited=waited)
    if state == "drain" and result["sessions_left"]:
        module.warn(
            f"{backend}/{name} is drained but still has {result['sessions_left']} session(s) "
            f"after {params['wait_timeout']}s"
        )
    if state == "ready" and not is_confirmed_up(str(result["status_after"])):
        module.fail_json(
            msg=f"{backend}/{name} is not up after {params['wait_timeout']}s: its status is "
            f"{result['status_after']!r}",
            **result,
        )
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "socket": {"type": "path", "default": "/run/pgbouncer-lb/admin.sock"},
            "backend": {"type": "str", "default": "pgbouncer"},
            "server": {"type": "str", "required": True},
            "state": {"type": "str", "required": True, "choices": ["drain", "ready"]},
            "wait_timeout": {"type": "int", "default": 60},
            "require_other_up": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    try:
        module.exit_json(**run(module))
    except (RuntimeApiError, LookupError, ValueError) as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
