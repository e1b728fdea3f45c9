"""The haproxy_server module against a real HAProxy (3.0.11 of Debian 13), run by ansible-playbook
through the containers.podman.podman connection, so Ansible ships and runs it in the container
as it would on an lb host:

- in a throwaway podman container (no network), two small TCP servers on 127.0.0.1 stand in for
  two PgBouncers, behind HAProxy's frontend 127.0.0.1:6432 (backend `pgbouncer`, leastconn,
  servers `a` and `b` with fast checks and, as in the product's haproxy.cfg,
  `on-marked-down shutdown-sessions`) and its admin socket /run/pgbouncer-lb/admin.sock (the role's);
- each test reads the servers' state with its own `show stat` (tests' HELPER, not the module), so
  what the module reports is checked against what HAProxy says;
- every test starts from both servers UP with no session, and ends by bringing them back to it;
  every wait is bounded.

Marked `container` like the other tests that need the base image of tests/lab/build-image.sh;
the image is test_lb_templates.py's (localhost/pgbouncer-toolkit-lb:<base image id>), which has
HAProxy.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.containers import PODMAN_ENV, derived_image, podman, start_container
from tests.integration.test_lb_templates import LB_REPOSITORY
from tests.playbooks import BIN, ansible_env

ROOT = Path(__file__).resolve().parents[2]
MODULE = "pgbouncer_toolkit.pgbouncer.haproxy_server"
# The packages test_lb_templates.py's container fixture asks for: the same list, so whichever of
# the two builds the image first builds the one both expect.
LB_PACKAGES = ["haproxy", "keepalived", "pgbouncer", "iproute2"]
CONTAINER_LIFETIME = 600  # the container's own `sleep`: it ends even if the finalizer never runs
ADMIN_SOCKET = "/run/pgbouncer-lb/admin.sock"
RELEASE = "/tmp/hx-release"  # the held client connections close when this file appears
TEMPLATE = ROOT / "roles/pgbouncer_lb/templates/haproxy.cfg.j2"
# As in the product's haproxy.cfg: a server marked down (and entering maintenance counts as marked
# down) has its sessions cut at once. The reason the module drains rather than puts in maint.
CUT_WHEN_DOWN = "on-marked-down shutdown-sessions"

HAPROXY_CFG = f"""\
global
    stats socket {ADMIN_SOCKET} mode 600 level admin
    stats timeout 30s

defaults
    mode tcp
    timeout connect 2s
    timeout client 10m
    timeout server 10m

frontend pgbouncer_in
    bind 127.0.0.1:6432
    default_backend pgbouncer

backend pgbouncer
    balance leastconn
    default-server inter 200ms fall 2 rise 2 {CUT_WHEN_DOWN}
    server a 127.0.0.1:7001 check
    server b 127.0.0.1:7002 check
"""

# Runs in the container (Python 3 standard library only). Subcommands:
#   listen PORT             accept connections and hold each until its peer closes it, answering
#                           each line it sends with "PORT line" (so a client knows its server)
#   stop PORT               end `listen PORT`; wait until the port refuses connections
#   listen-when-ready SERVER PORT
#                           `listen PORT` once SERVER is neither drained nor in maintenance
#                           (its admin state in `show servers state`), at most 60s from now
#   stat                    {server: [status, scur]} of backend pgbouncer, as JSON
#   set SERVER STATE        `set server pgbouncer/SERVER state STATE`
#   reset                   release held clients, start any stopped listener, both servers ready;
#                           wait until both UP, idle
#   hold COUNT              COUNT clients through the frontend, held until RELEASE appears (120s)
#   client                  one connection through the frontend, driven by lines on stdin (see
#                           HeldClient), until stdin ends or RELEASE appears (120s)
HELPER = f"""\
import json, os, socket, subprocess, sys, threading, time

SOCKET = {ADMIN_SOCKET!r}
RELEASE = {RELEASE!r}
PORTS = (7001, 7002)


def admin(command):
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(SOCKET)
        sock.sendall(command.encode() + b"\\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def stat():
    lines = admin("show stat").splitlines()
    header = lines[0][2:].split(",")
    rows = [dict(zip(header, line.split(","))) for line in lines[1:] if line]
    return {{
        row["svname"]: [row["status"], int(row["scur"] or 0)]
        for row in rows
        if row["pxname"] == "pgbouncer" and row["svname"] not in ("FRONTEND", "BACKEND")
    }}


def wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            sys.exit(f"timed out; show stat: {{stat()}}")
        time.sleep(0.1)


def pid_file(port):
    return f"/tmp/hx-listen-{{port}}.pid"


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return False
    return True


def admin_state(server):
    lines = admin("show servers state pgbouncer").splitlines()
    header = lines[1][2:].split()
    rows = [dict(zip(header, line.split())) for line in lines[2:] if line]
    return int(next(row for row in rows if row["srv_name"] == server)["srv_admin_state"])


def hold_peer(conn, port):
    with conn:
        pending = b""
        while data := conn.recv(4096):
            pending += data
            while b"\\n" in pending:
                line, pending = pending.split(b"\\n", 1)
                conn.sendall(b"%d %s\\n" % (port, line))


def listen(port):
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(128)
    with open(pid_file(port), "w") as file:
        file.write(str(os.getpid()))
    while True:
        conn, _ = server.accept()
        threading.Thread(target=hold_peer, args=(conn, port), daemon=True).start()


def exit_on_release():
    deadline = time.monotonic() + 120
    while not os.path.exists(RELEASE) and time.monotonic() < deadline:
        time.sleep(0.05)
    os._exit(0)


# Send WORD as a line: the line answered, or what happened to the connection instead.
def exchange(client, word):
    try:
        client.settimeout(5)
        client.sendall(word.encode() + b"\\n")
        answer = b""
        while not answer.endswith(b"\\n"):
            chunk = client.recv(4096)
            if not chunk:
                return "eof"
            answer += chunk
        return answer.decode().strip()
    except ConnectionError:
        return "reset"
    except TimeoutError:
        return "timeout"


# eof or reset if the connection ends within SECONDS (sending nothing), else open.
def closed(client, seconds):
    try:
        client.settimeout(seconds)
        return "eof" if client.recv(4096) == b"" else "data"
    except ConnectionError:
        return "reset"
    except TimeoutError:
        return "open"


command = sys.argv[1]
if command == "listen":
    listen(int(sys.argv[2]))
elif command == "stop":
    port = int(sys.argv[2])
    with open(pid_file(port)) as file:
        os.kill(int(file.read()), 15)
    wait_for(lambda: not listening(port), 10)
elif command == "listen-when-ready":
    deadline = time.monotonic() + 60
    while admin_state(sys.argv[2]) != 0:
        if time.monotonic() > deadline:
            sys.exit(f"{{sys.argv[2]}} stayed drained or in maintenance")
        time.sleep(0.05)
    listen(int(sys.argv[3]))
elif command == "stat":
    print(json.dumps(stat()))
elif command == "set":
    answer = admin(f"set server pgbouncer/{{sys.argv[2]}} state {{sys.argv[3]}}").strip()
    if answer:
        sys.exit(answer)
elif command == "reset":
    open(RELEASE, "w").close()
    for port in PORTS:
        if not listening(port):
            subprocess.Popen(
                [sys.executable, __file__, "listen", str(port)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
    wait_for(lambda: all(listening(port) for port in PORTS), 10)
    for name in ("a", "b"):
        admin(f"set server pgbouncer/{{name}} state ready")
    wait_for(lambda: all(status == "UP" and scur == 0 for status, scur in stat().values()), 20)
    os.remove(RELEASE)
elif command == "hold":
    clients = []
    for _ in range(int(sys.argv[2])):
        clients.append(socket.create_connection(("127.0.0.1", 6432), timeout=5))
        time.sleep(0.3)  # counted by HAProxy before the next one comes: leastconn spreads them
    deadline = time.monotonic() + 120
    while not os.path.exists(RELEASE) and time.monotonic() < deadline:
        time.sleep(0.05)
    for client in clients:
        client.close()
elif command == "client":
    threading.Thread(target=exit_on_release, daemon=True).start()
    client = socket.create_connection(("127.0.0.1", 6432), timeout=5)
    print("connected", flush=True)
    for line in sys.stdin:
        verb, argument = line.split()
        if verb == "send":
            print(exchange(client, argument), flush=True)
        elif verb == "closed":
            print(closed(client, float(argument)), flush=True)
        else:
            print(f"unknown: {{line.strip()}}", flush=True)
"""


def helper(container: str, *args: str, check: bool = True) -> str:
    done = podman("exec", container, "python3", "/tmp/hx.py", *args, timeout=60, check=check)
    return done.stdout.decode()


def servers(container: str) -> dict[str, list[Any]]:
    """{server: [status, scur]} of backend pgbouncer, from HAProxy's `show stat`."""
    return json.loads(helper(container, "stat"))


def statuses(container: str) -> dict[str, str]:
    return {name: status for name, (status, _scur) in servers(container).items()}


@pytest.fixture(scope="module")
def container(request: pytest.FixtureRequest) -> str:
    """HAProxy in front of two TCP servers that hold every connection, in a container with
    nothing but loopback; removed at the end."""
    image = derived_image(LB_REPOSITORY, LB_PACKAGES, "HAProxy and keepalived")
    name = start_container(request, image, "pgbt-haproxy-api", CONTAINER_LIFETIME)
    podman("exec", "-i", name, "sh", "-c", "cat > /tmp/hx.py", stdin=HELPER.encode())
    podman("exec", "-i", name, "sh", "-c", "cat > /tmp/haproxy.cfg", stdin=HAPROXY_CFG.encode())
    setup = """set -eu
mkdir -p /run/haproxy
mkdir -p -m 0700 /run/pgbouncer-lb
for port in 7001 7002; do
    python3 /tmp/hx.py listen "$port" </dev/null >/dev/null 2>&1 &
done
haproxy -c -q -f /tmp/haproxy.cfg
haproxy -D -f /tmp/haproxy.cfg -p /run/haproxy/haproxy.pid
"""
    podman("exec", name, "sh", "-c", setup)
    return name


def reset(container: str) -> None:
    """Held clients released, both listeners running, both servers UP with no session."""
    done = podman("exec", container, "python3", "/tmp/hx.py", "reset", timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert servers(container) == {"a": ["UP", 0], "b": ["UP", 0]}


@pytest.fixture
def haproxy(container: str) -> Iterator[str]:
    """The container with both servers UP and no client session; brought back to that (servers
    ready) after the test."""
    reset(container)
    yield container
    reset(container)


class HeldClient:
    """One client connection through the frontend, held open by the helper's `client` in the
    container: ``ask("send WORD")`` exchanges a line over it ("PORT WORD" from the server it
    reached, or eof, reset, timeout); ``ask("closed SECONDS")`` waits that long for it to end
    (eof, reset, or open)."""

    def __init__(self, container: str):
        self.process = subprocess.Popen(
            ["podman", "exec", "-i", container, "python3", "/tmp/hx.py", "client"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=PODMAN_ENV,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self.read, daemon=True).start()
        first = self.answer(30)
        if first != "connected":
            self.close()
            pytest.fail(f"the held client did not connect: {first!r}")

    def read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def answer(self, timeout: float) -> str:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"the held client did not answer in {timeout}s")
        if line is None:
            self.process.wait(timeout=10)
            assert self.process.stderr is not None
            pytest.fail(f"the held client ended ({self.process.returncode}): {self.process.stderr.read()}")
        return line

    def ask(self, line: str, timeout: float = 30) -> str:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return self.answer(timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()  # the helper's connection closes with it
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def __enter__(self) -> HeldClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def run_module(
    container: str, tmp_path: Path, *tasks: dict[str, Any], check_mode: bool = False
) -> list[dict[str, Any]]:
    """Each of ``tasks`` (the module's arguments) as one task of one play on the container,
    through ansible-playbook and the podman connection; each task's result, in order."""
    work = tmp_path / f"run-{uuid.uuid4().hex[:8]}"
    work.mkdir()
    inventory = {
        "all": {
            "hosts": {
                container: {
                    "ansible_connection": "containers.podman.podman",
                    "ansible_python_interpreter": "/usr/bin/python3",
                }
            }
        }
    }
    (work / "hosts.yml").write_text(yaml.safe_dump(inventory))
    play = [
        {
            "name": "Drive haproxy_server",
            "hosts": "all",
            "gather_facts": False,
            "tasks": [
                {"name": f"task {index}", MODULE: args, "check_mode": check_mode, "ignore_errors": True}
                for index, args in enumerate(tasks)
            ],
        }
    ]
    (work / "playbook.yml").write_text(json.dumps(play))  # JSON is YAML: a newline stays "\n"
    done = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(work / "hosts.yml"), str(work / "playbook.yml")],
        cwd=ROOT,
        env=ansible_env(
            ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", CONTAINERS_CONF=PODMAN_ENV["CONTAINERS_CONF"]
        ),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    results = [task["hosts"][container] for task in report["plays"][0]["tasks"]]
    assert len(results) == len(tasks), done.stdout
    assert not any(result.get("unreachable") for result in results), done.stdout
    return results


def succeeded(result: dict[str, Any]) -> dict[str, Any]:
    assert not result.get("failed"), result
    return result


def failed(result: dict[str, Any]) -> dict[str, Any]:
    assert result.get("failed") is True, result
    return result


# ------------------------------------------------------------------------------------------------


def test_the_backend_here_cuts_sessions_when_marked_down_like_the_product():
    """What the drain tests prove holds for the product only if its servers have the same option."""
    product = [
        line.split()
        for line in TEMPLATE.read_text().splitlines()
        if line.strip().startswith("default-server")
    ]
    here = [line.split() for line in HAPROXY_CFG.splitlines() if line.strip().startswith("default-server")]
    assert len(product) == 1 and len(here) == 1
    for words in (*product, *here):
        assert " ".join(words[words.index("on-marked-down") :][:2]) == CUT_WHEN_DOWN


@pytest.mark.container
def test_drain_drains_an_idle_server_once(haproxy, tmp_path):
    first, second = run_module(
        haproxy, tmp_path, {"server": "a", "state": "drain"}, {"server": "a", "state": "drain"}
    )
    assert succeeded(first)["changed"] is True
    assert (first["status_before"], first["status_after"], first["sessions_left"]) == ("UP", "DRAIN", 0)
    assert 0 <= first["waited"] < 1
    assert "warnings" not in first
    assert succeeded(second)["changed"] is False
    assert (second["status_before"], second["status_after"]) == ("DRAIN", "DRAIN")
    assert statuses(haproxy) == {"a": "DRAIN", "b": "UP"}  # b is not touched


@pytest.mark.container
@pytest.mark.parametrize(
    ("state", "status", "checked"),
    [
        # a drained server stayed up: ready gives it back UP at once
        pytest.param("drain", "DRAIN", False, id="drained"),
        # out of maintenance it shows UP 1/2 until a check passes: the module waits for that check
        pytest.param("maint", "MAINT", True, id="in maintenance"),
    ],
)
def test_ready_brings_the_server_back_up_once(haproxy, tmp_path, state, status, checked):
    helper(haproxy, "set", "a", state)
    assert statuses(haproxy) == {"a": status, "b": "UP"}
    first, second = run_module(
        haproxy,
        tmp_path,
        {"server": "a", "state": "ready", "wait_timeout": 20},
        {"server": "a", "state": "ready", "wait_timeout": 20},
    )
    assert succeeded(first)["changed"] is True
    assert (first["status_before"], first["status_after"]) == (status, "UP")
    if checked:
        assert 0 < first["waited"] < 20  # waited for a check to pass, not trusting UP 1/2
    else:
        assert 0 <= first["waited"] < 1
    assert succeeded(second)["changed"] is False
    assert (second["status_before"], second["status_after"]) == ("UP", "UP")
    assert statuses(haproxy) == {"a": "UP", "b": "UP"}


@pytest.mark.container
def test_ready_takes_a_drained_server_that_went_down_out_of_drain(haproxy, tmp_path):
    """A drained server whose check fails (its PgBouncer restarting) shows DOWN, not DRAIN: ready
    must still be sent, or the server comes back drained. Its listener here starts again only
    once HAProxy's admin state says it is no longer drained, so the module cannot see it UP
    unless it sent ready."""
    helper(haproxy, "set", "a", "drain")
    helper(haproxy, "stop", "7001")
    wait = podman(
        "exec",
        haproxy,
        "python3",
        "-c",
        "import json, subprocess, sys, time\n"
        "deadline = time.monotonic() + 20\n"
        "while time.monotonic() < deadline:\n"
        "    seen = json.loads(subprocess.run(['python3', '/tmp/hx.py', 'stat'], capture_output=True).stdout)\n"
        "    if seen['a'][0] == 'DOWN':\n"
        "        sys.exit(0)\n"
        "    time.sleep(0.1)\n"
        "sys.exit(f'a never went DOWN: {seen}')\n",
        timeout=60,
        check=False,
    )
    assert wait.returncode == 0, wait.stderr.decode(errors="replace")
    podman("exec", "--detach", haproxy, "python3", "/tmp/hx.py", "listen-when-ready", "a", "7001")

    (ready,) = run_module(haproxy, tmp_path, {"server": "a", "state": "ready", "wait_timeout": 20})
    assert succeeded(ready)["changed"] is True
    assert (ready["status_before"], ready["status_after"]) == ("DOWN", "UP")
    assert 0 < ready["waited"] < 20  # the listener came back after the command, then the checks
    assert statuses(haproxy) == {"a": "UP", "b": "UP"}


@pytest.mark.container
def test_drain_reports_sessions_left_until_the_client_leaves(haproxy, tmp_path):
    podman("exec", "--detach", haproxy, "python3", "/tmp/hx.py", "hold", "2")
    # leastconn gives each server one of the two clients
    wait = podman(
        "exec",
        haproxy,
        "python3",
        "-c",
        "import json, subprocess, sys, time\n"
        "deadline = time.monotonic() + 20\n"
        "while time.monotonic() < deadline:\n"
        "    seen = json.loads(subprocess.run(['python3', '/tmp/hx.py', 'stat'], capture_output=True).stdout)\n"
        "    if seen['a'][1] == 1 and seen['b'][1] == 1:\n"
        "        sys.exit(0)\n"
        "    time.sleep(0.1)\n"
        "sys.exit(f'sessions never reached 1 and 1: {seen}')\n",
        timeout=60,
        check=False,
    )
    assert wait.returncode == 0, wait.stderr.decode(errors="replace")

    (held,) = run_module(haproxy, tmp_path, {"server": "a", "state": "drain", "wait_timeout": 1})
    assert succeeded(held)["changed"] is True
    assert (held["status_before"], held["status_after"], held["sessions_left"]) == ("UP", "DRAIN", 1)
    assert 1 <= held["waited"] < 3
    assert held["warnings"] == ["pgbouncer/a is drained but still has 1 session(s) after 1s"]
    assert servers(haproxy) == {"a": ["DRAIN", 1], "b": ["UP", 1]}  # the session was not cut

    podman("exec", haproxy, "touch", RELEASE)
    (left,) = run_module(haproxy, tmp_path, {"server": "a", "state": "drain", "wait_timeout": 20})
    assert succeeded(left)["changed"] is False
    assert (left["status_after"], left["sessions_left"]) == ("DRAIN", 0)
    assert "warnings" not in left
    assert servers(haproxy)["a"] == ["DRAIN", 0]


@pytest.mark.container
def test_drain_keeps_a_held_session_that_maint_would_cut(haproxy, tmp_path):
    """Why the module drains: with `on-marked-down shutdown-sessions`, entering maintenance counts
    as marked down and cuts the server's sessions at once; drain leaves them open."""
    helper(haproxy, "set", "b", "drain")  # so that the client's connection goes to a
    with HeldClient(haproxy) as client:
        helper(haproxy, "set", "b", "ready")
        assert servers(haproxy) == {"a": ["UP", 1], "b": ["UP", 0]}
        assert client.ask("send before") == "7001 before"

        (drained,) = run_module(haproxy, tmp_path, {"server": "a", "state": "drain", "wait_timeout": 1})
        assert succeeded(drained)["changed"] is True
        assert (drained["status_before"], drained["status_after"]) == ("UP", "DRAIN")
        assert drained["sessions_left"] == 1
        assert drained["warnings"] == ["pgbouncer/a is drained but still has 1 session(s) after 1s"]
        assert client.ask("closed 1") == "open"
        assert client.ask("send after-drain") == "7001 after-drain"
        assert servers(haproxy) == {"a": ["DRAIN", 1], "b": ["UP", 0]}

        helper(haproxy, "set", "a", "maint")
        assert client.ask("closed 5") in ("eof", "reset")
        assert servers(haproxy) == {"a": ["MAINT", 0], "b": ["UP", 0]}


@pytest.mark.container
@pytest.mark.parametrize(("state", "status"), [("drain", "DRAIN"), ("maint", "MAINT")])
def test_drain_refuses_to_drain_the_last_server_up(haproxy, tmp_path, state, status):
    helper(haproxy, "set", "a", state)
    (refused,) = run_module(haproxy, tmp_path, {"server": "b", "state": "drain"})
    assert (
        failed(refused)["msg"] == f"draining b would leave backend pgbouncer with no server up (a {status})"
    )
    assert refused["changed"] is False
    assert statuses(haproxy) == {"a": status, "b": "UP"}


@pytest.mark.container
def test_check_mode_changes_nothing(haproxy, tmp_path):
    (drain,) = run_module(haproxy, tmp_path, {"server": "a", "state": "drain"}, check_mode=True)
    assert succeeded(drain)["changed"] is True  # would change
    assert (drain["status_before"], drain["status_after"], drain["waited"]) == ("UP", "UP", 0.0)
    assert statuses(haproxy) == {"a": "UP", "b": "UP"}

    helper(haproxy, "set", "a", "drain")
    (ready,) = run_module(haproxy, tmp_path, {"server": "a", "state": "ready"}, check_mode=True)
    assert succeeded(ready)["changed"] is True
    assert (ready["status_before"], ready["status_after"], ready["waited"]) == ("DRAIN", "DRAIN", 0.0)
    assert statuses(haproxy) == {"a": "DRAIN", "b": "UP"}


@pytest.mark.container
def test_a_name_that_would_add_a_command_fails_and_changes_nothing(haproxy, tmp_path):
    newline, semicolon = run_module(
        haproxy,
        tmp_path,
        {"server": "a\nset server pgbouncer/b state maint", "state": "drain", "require_other_up": False},
        {"backend": "pgbouncer/b state maint;x", "server": "a", "state": "ready"},
    )
    assert failed(newline)["msg"].startswith(
        "server: 'a\\nset server pgbouncer/b state maint' is not an HAProxy name"
    )
    assert failed(semicolon)["msg"].startswith("backend: ")
    assert statuses(haproxy) == {"a": "UP", "b": "UP"}


@pytest.mark.container
def test_maint_is_not_a_state_of_the_module(haproxy, tmp_path):
    (maint,) = run_module(haproxy, tmp_path, {"server": "a", "state": "maint"})
    assert "value of state must be one of: drain, ready, got: maint" in failed(maint)["msg"]
    assert statuses(haproxy) == {"a": "UP", "b": "UP"}


@pytest.mark.container
def test_unknown_names_and_a_missing_socket_fail_clearly(haproxy, tmp_path):
    server, backend, missing = run_module(
        haproxy,
        tmp_path,
        {"server": "c", "state": "drain"},
        {"backend": "pgbouncer2", "server": "a", "state": "drain"},
        {"socket": "/run/haproxy/missing.sock", "server": "a", "state": "drain"},
    )
    assert failed(server)["msg"] == "backend 'pgbouncer' has no server 'c' (its servers: a, b)"
    assert failed(backend)["msg"] == "backend 'pgbouncer2' is not in HAProxy's `show stat`"
    assert failed(missing)["msg"].startswith(
        "cannot reach HAProxy's runtime API at /run/haproxy/missing.sock: [Errno 2]"
    )
    assert statuses(haproxy) == {"a": "UP", "b": "UP"}
