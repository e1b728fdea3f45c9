#!/usr/bin/python3
"""Accept a candidate pgbouncer.ini only if a throwaway PgBouncer comes up with it.

Usage: pgbouncer-check-config --user postgres [--timeout 10] [--memory-mb 512] CANDIDATE

PgBouncer has no config-check mode, and a RELOAD that meets a bad line keeps the keys before it
and resets the rest to defaults, so the only reliable check is to start it. The throwaway
process never has root's privileges and never touches the live instance:

- the candidate is copied by root into a fresh directory that only root and the service group
  can enter (mode 0710), as a root-owned file the service user can read but not change; the
  directory PgBouncer writes to (its unix socket) is a subdirectory owned by the service user;
- PgBouncer is executed directly as the service user (uid, gid and groups set before exec, no
  wrapper in between), in a session of its own, with a limit on its address space and no core
  files, on a private unix socket with no TCP listener, no pidfile, no log file and no syslog;
- a candidate is accepted only if PgBouncer logged "process up" with no WARNING, ERROR or FATAL
  before it (a warning at start-up means part of the file, an hba line or a database entry, did
  not load);
- root reads nothing the service user can write: readiness ("process up") and errors come from
  the child's output pipe, which this program created; the service user's directory is emptied
  by a process running as the service user;
- the whole process group is killed when the check ends, and at the latest at --timeout, so a
  candidate that blocks (a FIFO as auth_hba_file) or grows (/dev/zero) cannot hold it up.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import re
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SEARCH_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
MAX_CANDIDATE_BYTES = 1 << 20
MAX_OUTPUT_BYTES = 64 << 10
READY = re.compile(rb"\bprocess up: ")
PROBLEM = re.compile(rb"\b(ERROR|FATAL|WARNING)\b")
# The ini parser's unquoted key characters (libusual cfparser.c).
KEY = re.compile(rb"[A-Za-z0-9_.*-]+")
# Keys the throwaway instance must not take from the candidate: where it listens, what it writes,
# and which user it switches to. (unix_socket_group and _mode stay: a group that does not exist
# fails the start, and the socket sits in a directory only the service user can enter.)
OVERRIDDEN = {
    b"listen_addr": b"",
    b"unix_socket_dir": None,  # filled in with the private socket directory
    b"pidfile": b"",
    b"logfile": b"",
    b"syslog": b"0",
    b"so_reuseport": b"0",
    b"user": None,  # dropped: it is already running as the service user
}


class CheckError(Exception):
    """The candidate cannot be checked (not: PgBouncer refused it)."""


def throwaway_config(candidate: bytes, socket_dir: str) -> bytes:
    """The candidate with the keys in OVERRIDDEN replaced in its [pgbouncer] section."""
    lines = candidate.split(b"\n")
    out: list[bytes] = []
    section = None
    found_main = False
    for line in lines:
        stripped = line.lstrip()
        if stripped.startswith(b"%include"):
            raise CheckError("the candidate uses %include, which this check does not follow")
        if stripped.startswith(b"["):
            section = stripped[1:].split(b"]", 1)[0]
            out.append(line)
            if section == b"pgbouncer":
                found_main = True
                for key, value in OVERRIDDEN.items():
                    if key == b"unix_socket_dir":
                        value = socket_dir.encode()
                    if value is not None:
                        out.append(key + b" = " + value)
            continue
        if section == b"pgbouncer":
            match = KEY.match(stripped)
            if match and match.group(0) in OVERRIDDEN:
                continue
        out.append(line)
    if not found_main:
        raise CheckError("the candidate has no [pgbouncer] section")
    return b"\n".join(out)


def _limit_child(memory_bytes: int) -> None:
    """Runs in the child before exec: bound its memory, no core files."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def run_throwaway(
    pgbouncer: str, config: str, account: pwd.struct_passwd, groups: list[int], timeout: float, memory_mb: int
) -> tuple[bool, bytes, str]:
    """Start PgBouncer as ``account`` on ``config``; (came up, its output, why it did not)."""
    process = subprocess.Popen(
        [pgbouncer, config],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd="/",
        env={"PATH": SEARCH_PATH, "LANG": "C.UTF-8"},
        user=account.pw_uid,
        group=account.pw_gid,
        extra_groups=groups,
        start_new_session=True,
        preexec_fn=lambda: _limit_child(memory_mb << 20),
    )
    output = b""
    deadline = time.monotonic() + timeout
    try:
        assert process.stdout is not None
        os.set_blocking(process.stdout.fileno(), False)
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False, output, f"did not start listening within {timeout:g} s"
                if not selector.select(remaining):
                    continue
                chunk = process.stdout.read(65536) or b""
                if not chunk:
                    process.wait()
                    return False, output, f"exited with status {process.returncode}"
                if len(output) < MAX_OUTPUT_BYTES:
                    output += chunk[: MAX_OUTPUT_BYTES - len(output)]
                ready = READY.search(output)
                if ready:
                    # A warning before "process up" means part of the file did not load (an hba
                    # line, a database entry): that candidate would go live half-applied.
                    if PROBLEM.search(output, 0, ready.start()):
                        return False, output, "it came up, but with warnings"
                    return True, output, ""
    finally:
        _kill_group(process)


def empty_as(account: pwd.struct_passwd, groups: list[int], directory: str) -> None:
    """Remove what the throwaway PgBouncer left in its directory, as the user that owns it."""
    subprocess.run(
        ["find", directory, "-mindepth", "1", "-delete"],
        env={"PATH": SEARCH_PATH},
        user=account.pw_uid,
        group=account.pw_gid,
        extra_groups=groups,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=10,
        check=False,
    )


def check(candidate_path: str, user: str, timeout: float, memory_mb: int) -> int:
    if os.geteuid() != 0:
        raise CheckError("must run as root (it starts PgBouncer as the service user)")
    try:
        account = pwd.getpwnam(user)
    except KeyError:
        raise CheckError(f"no such user: {user}") from None
    groups = os.getgrouplist(user, account.pw_gid)
    pgbouncer = shutil.which("pgbouncer", path=SEARCH_PATH)
    if pgbouncer is None:
        raise CheckError("pgbouncer is not installed")
    with open(candidate_path, "rb") as handle:
        candidate = handle.read(MAX_CANDIDATE_BYTES + 1)
    if len(candidate) > MAX_CANDIDATE_BYTES:
        raise CheckError(f"the candidate is larger than {MAX_CANDIDATE_BYTES} bytes")

    work = tempfile.mkdtemp(prefix="pgbouncer-check.", dir="/run" if os.path.isdir("/run") else None)
    run_dir = os.path.join(work, "run")
    config = os.path.join(work, "pgbouncer.ini")
    try:
        os.chown(work, 0, account.pw_gid)
        os.chmod(work, 0o710)
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o640)
        with os.fdopen(fd, "wb") as handle:
            os.fchown(handle.fileno(), 0, account.pw_gid)
            handle.write(throwaway_config(candidate, run_dir))
        os.mkdir(run_dir, 0o700)
        os.chown(run_dir, account.pw_uid, account.pw_gid)

        came_up, output, reason = run_throwaway(pgbouncer, config, account, groups, timeout, memory_mb)
    finally:
        if os.path.isdir(run_dir):
            # Out of the service user's reach by name first (the parent is root's), then emptied
            # by the service user, then removed by root: root reads nothing the service user wrote.
            retired = os.path.join(work, "retired")
            os.rename(run_dir, retired)
            empty_as(account, groups, retired)
            try:
                os.rmdir(retired)
            except OSError as exc:
                print(f"pgbouncer-check-config: could not remove {retired}: {exc}", file=sys.stderr)
        if os.path.exists(config):
            os.unlink(config)
        with contextlib.suppress(OSError):
            os.rmdir(work)
    if came_up:
        return 0
    lines = [line for line in output.splitlines() if PROBLEM.search(line)] or output.splitlines()[-20:]
    print(f"pgbouncer refused the candidate configuration ({reason}):", file=sys.stderr)
    for line in dict.fromkeys(lines):
        print(line.decode("utf-8", "replace"), file=sys.stderr)
    return 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--user", required=True, help="the service user PgBouncer runs as")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for it to come up")
    parser.add_argument("--memory-mb", type=int, default=512, help="address-space limit of the throwaway")
    parser.add_argument("candidate")
    args = parser.parse_args()
    try:
        return check(args.candidate, args.user, args.timeout, args.memory_mb)
    except (CheckError, OSError) as exc:
        print(f"pgbouncer-check-config: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
