"""Runs inside the readback test's throwaway container, as root: one call per job, so the test
pays for one `podman exec` and not one per step.

The job comes as JSON on stdin; everything byte-exact travels base64- or hex-encoded:

    {"fake": {"dir": ..., "ports": [...], "log": ...} | null,  # fake_postgres.py while the job runs
     "runs": [{"files": [[path, base64], ...],   # written and owned by postgres, parents created
               "dirs": [path, ...],              # created and owned by postgres
               "config": path, "pidfile": path, "log": path,
               "console": {"dir": path, "port": int} | null,   # psql goes there
               "socket": path | null,          # wait for it (default: the console's socket)
               "queries": [{"user", "dbname", "password" | null, "sql"}, ...],
               "settle": [hex of a query fake_postgres must have received before the run stops],
               "paths": [path, ...]}]}                       # report which of these exist

For each run: write the files, start `pgbouncer -d` as postgres, wait for the console socket,
run one psql per query, stop PgBouncer (SIGTERM, then SIGKILL), and report. Prints JSON:
{"runs": [{"returncode", "stderr", "log", "socket", "queries": [{"returncode", "stdout",
"stderr"}], "paths": {...}}], "fake": [records]}.
"""

from __future__ import annotations

import base64
import json
import os
import pwd
import signal
import subprocess
import sys
import time
from pathlib import Path

USER = "postgres"
NULL = "\x1fNULL\x1f"  # what psql prints for NULL: no value can hold a control character
STEP_TIMEOUT = 20
ENV = {
    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "PGCLIENTENCODING": "UTF8",
    "PGCONNECT_TIMEOUT": "10",
    "PGSSLMODE": "disable",
}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def owned(path: str) -> None:
    account = pwd.getpwnam(USER)
    os.chown(path, account.pw_uid, account.pw_gid)


def make_dirs(path: str) -> None:
    missing = []
    while path and not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    for directory in reversed(missing):
        os.mkdir(directory)
        owned(directory)


def as_user(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        args,
        env=env or ENV,
        user=USER,
        group=USER,
        extra_groups=[],
        capture_output=True,
        timeout=STEP_TIMEOUT,
        check=False,
    )


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def read_pid(pidfile: str) -> int | None:
    try:
        with open(pidfile, encoding="ascii") as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def alive(pid: int) -> bool:
    """Running (the daemon's parent is the container's `sleep`, which reaps nobody: a zombie is
    an exited PgBouncer)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def stop(pidfile: str) -> None:
    pid = read_pid(pidfile)
    if pid is None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not alive(pid):
            break
        os.kill(pid, sig)
        wait_for(lambda pid=pid: not alive(pid), 10)
    if os.path.exists(pidfile):
        os.unlink(pidfile)


def fake_records(fake: dict | None) -> list[dict]:
    if not fake or not os.path.exists(fake["log"]):
        return []
    with open(fake["log"], encoding="ascii") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def run_one(run: dict, fake: dict | None) -> dict:
    for directory in run.get("dirs", []):
        make_dirs(directory)
    for path, data in run.get("files", []):
        make_dirs(os.path.dirname(path))
        Path(path).write_bytes(base64.b64decode(data))
        owned(path)
    started = as_user(["pgbouncer", "-d", run["config"]])
    result = {"returncode": started.returncode, "stderr": b64(started.stderr), "queries": []}
    console = run.get("console")
    socket_path = run.get("socket") or (
        console and os.path.join(console["dir"], f".s.PGSQL.{console['port']}")
    )
    result["socket"] = bool(
        started.returncode == 0 and socket_path and wait_for(lambda: os.path.exists(socket_path), 10)
    )
    log = run.get("log")
    if result["socket"] and log:  # the listeners are logged just after they are made
        wait_for(lambda: b"process up:" in (Path(log).read_bytes() if os.path.exists(log) else b""), 10)
    try:
        for query in run.get("queries", []) if result["socket"] else []:
            env = dict(ENV, PGPASSWORD=query["password"]) if query.get("password") else ENV
            args = ["psql", "-X", "--csv", "-P", f"null={NULL}", "-h", console["dir"]]
            args += ["-p", str(console["port"]), "-U", query["user"], "-d", query["dbname"]]
            done = as_user([*args, "-c", query["sql"]], env)
            result["queries"].append(
                {"returncode": done.returncode, "stdout": b64(done.stdout), "stderr": b64(done.stderr)}
            )
        wanted = set(run.get("settle", []))
        wait_for(lambda: wanted <= {r.get("text") for r in fake_records(fake)}, 10)
    finally:
        stop(run["pidfile"])
    result["paths"] = {path: os.path.lexists(path) for path in run.get("paths", [])}
    result["log"] = b64(Path(log).read_bytes()) if log and os.path.exists(log) else ""
    return result


def main() -> None:
    job = json.load(sys.stdin)
    fake = job.get("fake")
    server = None
    if fake:
        make_dirs(fake["dir"])
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_postgres.py")
        args = [sys.executable, script, fake["dir"], ",".join(map(str, fake["ports"])), fake["log"], "300"]
        Path(fake["log"]).write_bytes(b"")
        owned(fake["log"])
        server = subprocess.Popen(args, env=ENV, user=USER, group=USER, extra_groups=[])
        sockets = [os.path.join(fake["dir"], f".s.PGSQL.{port}") for port in fake["ports"]]
        wait_for(lambda: all(os.path.exists(path) for path in sockets), 10)
    try:
        runs = [run_one(run, fake) for run in job["runs"]]
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
    json.dump({"runs": runs, "fake": fake_records(fake)}, sys.stdout)


if __name__ == "__main__":
    main()
