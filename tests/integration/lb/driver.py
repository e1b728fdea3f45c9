"""Runs inside the throwaway lb container (tests/integration/test_lb_templates.py): two real
PgBouncers, HAProxy and keepalived with the files the pgbouncer_lb role rendered, and what each
step did, printed as one JSON object. Python 3 standard library only; every wait is bounded.

The container has its own network namespace and nothing else: the lb host's address on a veth
interface, the two PgBouncer hosts' addresses on loopback, net.ipv4.ip_nonlocal_bind set by podman.

argv: virtual IP, port, backend address:port..., then the track script, the script user and the
interface.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

SSL_REQUEST = bytes.fromhex("0000000804d2162f")
ADMIN_SOCKET = "/run/pgbouncer-lb/admin.sock"
WORK = "/tmp/lb"


def wait_for(predicate, timeout: float, step: float = 0.2):
    """predicate()'s first truthy value within ``timeout`` seconds, else its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def admin(command: str) -> str:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(ADMIN_SOCKET)
        sock.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def server_states() -> dict[str, str]:
    """{server name: UP|DOWN|...} from the runtime API's `show stat` (CSV)."""
    try:
        lines = admin("show stat").splitlines()
    except OSError:
        return {}
    header = lines[0].lstrip("# ").split(",")
    rows = [dict(zip(header, line.split(","), strict=False)) for line in lines[1:] if line]
    return {
        row["svname"]: row["status"]
        for row in rows
        if row.get("pxname") == "pgbouncer" and row["svname"] not in ("FRONTEND", "BACKEND")
    }


def ssl_request(address: str, port: int) -> tuple[socket.socket | None, bytes]:
    """A client that sent PgBouncer's SSLRequest through ``address``; (socket, first byte)."""
    try:
        sock = socket.create_connection((address, port), timeout=5)
        sock.sendall(SSL_REQUEST)
        return sock, sock.recv(1)
    except OSError as exc:
        return None, repr(exc).encode()


def closed(sock: socket.socket) -> bool:
    """Whether the peer closed ``sock`` (EOF or reset), without waiting."""
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def vip_held(interface: str, virtual_ip: str) -> bool:
    shown = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "dev", interface], capture_output=True, text=True
    )
    return f" {virtual_ip}/32 " in shown.stdout


def track_script(script: str, user: str, virtual_ip: str, port: int) -> int:
    return subprocess.run(
        ["runuser", "-u", user, "--", script, virtual_ip, str(port)], check=False
    ).returncode


def start_pgbouncer(name: str, address: str, port: int) -> int:
    ini = f"{WORK}/{name}.ini"
    with open(ini, "w") as file:
        file.write(
            "[databases]\n* = host=127.0.0.1 port=5432\n[pgbouncer]\n"
            f"listen_addr = {address}\nlisten_port = {port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {WORK}/users.txt\n"
            f"pidfile = {WORK}/{name}.pid\nlogfile = {WORK}/{name}.log\n"
        )
    subprocess.run(["runuser", "-u", "postgres", "--", "pgbouncer", "-d", ini], check=True)
    wait_for(lambda: os.path.exists(f"{WORK}/{name}.pid"), 10)
    with open(f"{WORK}/{name}.pid") as file:
        return int(file.read().strip())


def main() -> None:
    virtual_ip, port = sys.argv[1], int(sys.argv[2])
    backends = sys.argv[3:-3]
    script, user, interface = sys.argv[-3:]
    seen: dict[str, object] = {}
    os.makedirs(WORK, exist_ok=True)
    os.chmod(WORK, 0o777)
    open(f"{WORK}/users.txt", "w").close()
    os.makedirs("/run/haproxy", exist_ok=True)
    os.makedirs(os.path.dirname(ADMIN_SOCKET), mode=0o700, exist_ok=True)

    pids = []
    for number, backend in enumerate(backends, start=1):
        address, backend_port = backend.rsplit(":", 1)
        pids.append(start_pgbouncer(f"pgb{number}", address, int(backend_port)))

    # HAProxy binds the VIP although no interface holds it yet (ip_nonlocal_bind).
    haproxy = subprocess.Popen(
        ["haproxy", "-W", "-db", "-f", "/etc/haproxy/haproxy.cfg"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seen["haproxy_listening"] = bool(wait_for(lambda: os.path.exists(ADMIN_SOCKET), 10)) and bool(
        wait_for(lambda: track_script(script, user, virtual_ip, port) == 0, 10)
    )
    seen["vip_held_before_keepalived"] = vip_held(interface, virtual_ip)
    seen["servers_up"] = wait_for(lambda: set(server_states().values()) == {"UP"} and server_states(), 15)

    keepalived = subprocess.Popen(
        ["keepalived", "--dont-fork", "--log-console", "--vrrp", "-f", "/etc/keepalived/keepalived.conf"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    seen["vip_taken"] = wait_for(lambda: vip_held(interface, virtual_ip), 20)

    # Two clients through the VIP: leastconn puts one on each PgBouncer.
    clients = [ssl_request(virtual_ip, port) for _ in backends]
    seen["client_answers"] = [answer.decode(errors="replace") for _, answer in clients]
    seen["sessions_per_server"] = admin("show servers conn pgbouncer")

    # A PgBouncer that stops answering (frozen: its kernel still accepts connections) is marked
    # down, and its client's session is cut; the other client keeps its connection.
    os.kill(pids[0], signal.SIGSTOP)
    seen["frozen_marked_down"] = wait_for(lambda: server_states().get("pgb1") == "DOWN", 15)
    time.sleep(0.5)
    seen["clients_closed"] = [closed(sock) if sock else None for sock, _ in clients]
    _, seen["new_client_answer"] = ssl_request(virtual_ip, port)
    seen["new_client_answer"] = seen["new_client_answer"].decode(errors="replace")
    os.kill(pids[0], signal.SIGCONT)
    seen["thawed_marked_up"] = wait_for(lambda: server_states().get("pgb1") == "UP", 15)

    # HAProxy gone: the track script fails and keepalived gives the VIP up (FAULT).
    haproxy.send_signal(signal.SIGTERM)
    haproxy.wait(timeout=10)
    seen["track_script_after_haproxy_stopped"] = track_script(script, user, virtual_ip, port)
    seen["vip_released"] = wait_for(lambda: not vip_held(interface, virtual_ip), 20)

    keepalived.send_signal(signal.SIGTERM)
    try:
        output, _ = keepalived.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        keepalived.kill()
        output, _ = keepalived.communicate()
    seen["keepalived_log"] = output.decode(errors="replace")
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
