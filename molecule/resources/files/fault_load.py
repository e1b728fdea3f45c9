#!/usr/bin/env python3
"""Test bed only: a bounded load through a pooler while a fault happens, and its figures.

Load (the default command): CLIENTS clients for DURATION seconds, each running QUERY in a loop with
PACE seconds between transactions, and one JSON line per transaction in OUT (mode, client, start,
end, ok, error; times in seconds since the epoch, the clock every container of the host shares).
- per-transaction clients open a new connection for each transaction (lab-psql -c), as Django
  does with CONN_MAX_AGE = 0;
- session clients keep one psql session and send each transaction down it; a session the pooler
  or the server closed ends (psql exits when not interactive) and the client opens a new one, as an
  application's connection pool does. A session's first transaction also pays for its login.
Every transaction is bounded by TIMEOUT (a longer one is killed and counted failed, "hung"), and
the load stops by itself after DURATION.

    fault_load.py load HOST PORT USER DATABASE OUT --duration S [--per-transaction N]
                  [--sessions N] [--pace S] [--timeout S] [--query SQL]
                  (the password comes from PGPASSWORD)

Summary: the figures of OUT around a fault that began at START and ended at END (the same clock),
as JSON: counts by mode, failures before the fault (a healthy baseline has none), the failures'
window, how long after END the last one ended, how long after START the first new connection
worked, the transactions that succeeded after it, the
longest transaction, whether a session survived the fault, and the distinct errors.

    fault_load.py summary OUT START END

Back: waits (at most TIMEOUT seconds) until each HOST (a process's socket directory) accepts a login
as USER and prints, as JSON, the moment each first did (null for one that did not).

    fault_load.py back USER DATABASE TIMEOUT HOST [HOST ...]

Servers: every server connection of the processes whose socket directories are given (SHOW SERVERS
on each console as USER, the password from PGPASSWORD), as JSON: database, user, state and the
local port, which PostgreSQL sees as the backend's client_port.

    fault_load.py servers USER HOST [HOST ...]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import select
import subprocess
import sys
import threading
import time

PSQL = "lab-psql"


def connection_args(args: argparse.Namespace) -> list[str]:
    return ["-At", "-h", args.host, "-p", str(args.port), "-U", args.user, "-d", args.database]


def environment(timeout: float) -> dict[str, str]:
    return {**os.environ, "PGCONNECT_TIMEOUT": str(max(2, int(timeout)))}


def error_line(text: str) -> str:
    """The server's or the pooler's own words (psql's FATAL or ERROR line) if it gave any, else psql's
    last line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    said = [line[line.index(level) :] for line in lines for level in ("FATAL:", "ERROR:") if level in line]
    return " ".join((said[:1] or lines[-1:] or [""])[0].split())[:200]


class Recorder:
    def __init__(self, path: str) -> None:
        self.file = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self.lock = threading.Lock()

    def record(self, mode: str, client: int, start: float, ok: bool, error: str, session: int) -> None:
        line = {
            "mode": mode,
            "client": client,
            "session": session,
            "start": round(start, 3),
            "end": round(time.time(), 3),
            "ok": ok,
            "error": error_line(error),
        }
        with self.lock:
            self.file.write(json.dumps(line) + "\n")

    def close(self) -> None:
        self.file.close()


def per_transaction_client(args: argparse.Namespace, client: int, deadline: float, out: Recorder) -> None:
    command = [PSQL, *connection_args(args), "-c", args.query]
    while time.time() < deadline:
        start = time.time()
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=args.timeout, env=environment(args.timeout)
            )
            ok = done.returncode == 0 and done.stdout.strip() != ""
            error = "" if ok else done.stderr or f"exit {done.returncode}"
        except subprocess.TimeoutExpired:
            ok, error = False, "hung"
        out.record("per_transaction", client, start, ok, error, 0)
        time.sleep(args.pace)


class Session:
    """One psql reading transactions from a pipe; each is followed by an \\echo marker, so a failed
    transaction (marker without its result) is told from a lost session (psql exits)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.process = subprocess.Popen(
            # Line-buffered stdout: psql's results reach the pipe as each transaction ends.
            ["stdbuf", "-oL", PSQL, *connection_args(args)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment(args.timeout),
        )
        self.buffer = b""
        self.errors = b""

    def transaction(self, query: str, number: int, timeout: float) -> tuple[bool, str, bool]:
        """(ok, error, session still open)."""
        result, marker = f"ok-{number}", f"end-{number}"
        try:
            self.process.stdin.write(f"SELECT '{result}' FROM ({query}) AS q;\n\\echo {marker}\n".encode())
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            return False, self.error_text() or "session closed", False
        deadline = time.time() + timeout
        while marker.encode() not in self.buffer:
            wait = deadline - time.time()
            if wait <= 0:
                self.close()
                return False, "hung", False
            ready, _, _ = select.select([self.process.stdout, self.process.stderr], [], [], wait)
            for stream in ready:
                chunk = os.read(stream.fileno(), 65536)
                if stream is self.process.stderr:
                    self.errors += chunk
                elif chunk:
                    self.buffer += chunk
                else:
                    self.close()
                    return False, self.error_text() or "session closed", False
        ok = result.encode() in self.buffer
        self.buffer = b""
        error = "" if ok else self.error_text() or "no result"
        return ok, error, True

    def error_text(self) -> str:
        text, self.errors = self.errors.decode(errors="replace"), b""
        return text.strip()

    def close(self) -> None:
        if self.process.stdin.closed:
            return
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.errors += self.process.stderr.read() or b""
        for stream in (self.process.stderr, self.process.stdout, self.process.stdin):
            with contextlib.suppress(BrokenPipeError):
                stream.close()


def session_client(args: argparse.Namespace, client: int, deadline: float, out: Recorder) -> None:
    session, opened, number = None, 0, 0
    while time.time() < deadline:
        if session is None:
            session, opened = Session(args), opened + 1
        number += 1
        start = time.time()
        ok, error, still_open = session.transaction(args.query, number, args.timeout)
        if not still_open:
            session.close()
            error = error or session.error_text()
            session = None
        out.record("session", client, start, ok, error, opened)
        time.sleep(args.pace)
    if session is not None:
        session.close()


def load(args: argparse.Namespace) -> None:
    deadline = time.time() + args.duration
    out = Recorder(args.out)
    threads = [
        threading.Thread(target=per_transaction_client, args=(args, number, deadline, out))
        for number in range(args.per_transaction)
    ] + [
        threading.Thread(target=session_client, args=(args, number, deadline, out))
        for number in range(args.sessions)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.close()


def summary(records: list[dict], start: float, end: float) -> dict[str, object]:
    failed = [item for item in records if not item["ok"]]
    # A transaction in flight when the fault began may fail with it: what failed before is what ended before.
    during = [item for item in failed if item["end"] >= start]
    after_end = [item for item in records if item["start"] > end]
    sessions = [item for item in records if item["mode"] == "session"]
    clients = {item["client"] for item in sessions}
    kept = [
        client
        for client in clients
        if {item["session"] for item in sessions if item["client"] == client} == {1}
        and all(item["ok"] for item in sessions if item["client"] == client)
    ]
    by_mode = {}
    for mode in ("per_transaction", "session"):
        mine = [item for item in records if item["mode"] == mode]
        by_mode[mode] = {"transactions": len(mine), "failed": sum(1 for item in mine if not item["ok"])}
    last_failed_end = max((item["end"] for item in during), default=None)
    # From the fault's start to the end of the first new connection started after it that worked.
    reconnected = [
        item["end"]
        for item in records
        if item["mode"] == "per_transaction" and item["ok"] and item["start"] >= start
    ]
    return {
        "transactions": len(records),
        "failed": len(failed),
        "by_mode": by_mode,
        "failed_before_fault": len(failed) - len(during),
        "first_failed_after_start": round(min(item["start"] for item in during) - start, 2)
        if during
        else None,
        "failed_window": round(last_failed_end - min(item["start"] for item in during), 2) if during else 0.0,
        "failing_after_end": round(max(0.0, last_failed_end - end), 2) if during else 0.0,
        "new_connection_gap": round(min(reconnected) - start, 2) if reconnected else None,
        "ok_after_end": sum(1 for item in after_end if item["ok"]),
        "failed_after_end": sum(1 for item in after_end if not item["ok"]),
        "longest": round(max((item["end"] - item["start"] for item in records), default=0.0), 2),
        "hung": sum(1 for item in failed if item["error"] == "hung"),
        "sessions_kept": len(kept),
        "sessions": len(clients),
        "errors": sorted({item["error"] for item in failed})[:6],
    }


def back(user: str, database: str, timeout: float, hosts: list[str]) -> dict[str, float | None]:
    deadline, first = time.time() + timeout, dict.fromkeys(hosts)
    while time.time() < deadline and None in first.values():
        for host in [host for host, at in first.items() if at is None]:
            command = [PSQL, "-At", "-h", host, "-p", "6432", "-U", user, "-d", database, "-c", "SELECT 1"]
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=5, env=environment(2))
            except subprocess.TimeoutExpired:
                continue
            if done.returncode == 0 and done.stdout.strip() == "1":
                first[host] = round(time.time(), 3)
        time.sleep(0.1)
    return first


def servers(user: str, hosts: list[str]) -> list[dict[str, str]]:
    found = []
    for host in hosts:
        command = [
            PSQL,
            "--csv",
            "-h",
            host,
            "-p",
            "6432",
            "-U",
            user,
            "-d",
            "pgbouncer",
            "-c",
            "SHOW SERVERS",
        ]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=20, env=environment(5), check=True
        )
        for row in csv.DictReader(io.StringIO(done.stdout)):
            found.append(
                {key: row[key] for key in ("database", "user", "state", "local_port")} | {"process": host}
            )
    return found


def main() -> None:
    if sys.argv[1:2] == ["servers"]:
        print(json.dumps(servers(sys.argv[2], sys.argv[3:])))
        return
    if sys.argv[1:2] == ["back"]:
        user, database, timeout, *hosts = sys.argv[2:]
        print(json.dumps(back(user, database, float(timeout), hosts)))
        return
    if sys.argv[1:2] == ["summary"]:
        with open(sys.argv[2], encoding="utf-8") as records:
            lines = [json.loads(line) for line in records if line.strip()]
        print(json.dumps(summary(lines, float(sys.argv[3]), float(sys.argv[4]))))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["load"])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("user")
    parser.add_argument("database")
    parser.add_argument("out")
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--per-transaction", type=int, default=0)
    parser.add_argument("--sessions", type=int, default=0)
    parser.add_argument("--pace", type=float, default=0.1)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--query", default="SELECT 1")
    load(parser.parse_args())


if __name__ == "__main__":
    main()
