"""Shared fixtures: the collection importable by its fully qualified name, and a throwaway
PostgreSQL server for tests that need a real one (initdb in a temp dir)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# collections/ansible_collections/pgbouncer_toolkit/pgbouncer links to the repository root, so
# `ansible_collections.pgbouncer_toolkit.pgbouncer.plugins...` imports the code under test.
sys.path.insert(0, os.path.join(ROOT, "collections"))


def _pg_bindir() -> str | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return os.path.dirname(candidates[0])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def postgresql_server() -> Iterator[dict[str, object]]:
    """Start PostgreSQL on 127.0.0.1 with scram-sha-256 for TCP logins; yield how to reach it."""
    bindir = _pg_bindir()
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries (initdb) are required in CI")
        pytest.skip("PostgreSQL server binaries (initdb) not installed")
    # Outside pytest's 0700 temp tree: the server may run as another user.
    topdir = tempfile.mkdtemp(prefix="pgbt-postgresql-")
    datadir, sockdir = f"{topdir}/data", f"{topdir}/socket"
    os.mkdir(sockdir)
    port = _free_port()
    prefix: list[str] = []
    if os.geteuid() == 0:
        # initdb and postgres refuse to run as root.
        account = pwd.getpwnam("postgres")
        for path in (topdir, sockdir):
            os.chown(path, account.pw_uid, account.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    initdb = subprocess.run(
        [
            *prefix,
            f"{bindir}/initdb",
            "-D",
            datadir,
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if initdb.returncode != 0:
        shutil.rmtree(topdir, ignore_errors=True)
        pytest.fail(f"initdb failed: {initdb.stderr}")
    server = subprocess.Popen(
        [
            *prefix,
            f"{bindir}/postgres",
            "-D",
            datadir,
            "-p",
            str(port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={sockdir}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(f"{sockdir}/.s.PGSQL.{port}"):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("throwaway PostgreSQL did not start")
            time.sleep(0.1)
        time.sleep(0.5)
        yield {"host": "127.0.0.1", "port": port, "socket_dir": sockdir}
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(topdir, ignore_errors=True)
