"""A minimal client for PgBouncer's admin console over its unix socket.

PgBouncer admits the console user ``pgbouncer`` without a password when the peer of its unix
socket runs as PgBouncer's own OS user (getpeereid). So a root process can read the console
with no secret at all: it connects with the service user's effective ids, which is what the
kernel records for the peer, and switches back at once. Only the simple query protocol is
spoken: startup, one query, rows as text.
"""

from __future__ import annotations

import os
import pwd
import socket
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

PROTOCOL_VERSION = 196608  # 3.0
CONSOLE_USER = "pgbouncer"


class ConsoleError(RuntimeError):
    """The console could not be reached or refused the query."""


def socket_path(socket_dir: str, port: int) -> str:
    return os.path.join(socket_dir, f".s.PGSQL.{int(port)}")


@contextmanager
def _effective_user(user: str | None) -> Iterator[None]:
    """Run the block with ``user``'s effective uid and gid (root only); nothing when None."""
    if user is None or os.geteuid() != 0:
        yield
        return
    entry = pwd.getpwnam(user)
    os.setegid(entry.pw_gid)
    os.seteuid(entry.pw_uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def _message(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("!I", len(payload) + 4) + payload


def _error_text(payload: bytes) -> str:
    fields = {}
    for part in payload.split(b"\0"):
        if part:
            fields[part[:1]] = part[1:].decode("utf-8", "replace")
    return fields.get(b"M", "unknown error")


class Console:
    """One connection to the console; use as a context manager."""

    def __init__(self, socket_dir: str, port: int, *, as_user: str | None = None, timeout: float = 5.0):
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        self._buffer = b""
        try:
            with _effective_user(as_user):
                self._sock.connect(socket_path(socket_dir, port))
            startup = b"user\0" + CONSOLE_USER.encode() + b"\0database\0pgbouncer\0\0"
            self._sock.sendall(struct.pack("!II", len(startup) + 8, PROTOCOL_VERSION) + startup)
            self._until_ready()
        except (OSError, ConsoleError) as exc:
            self._sock.close()
            raise ConsoleError(f"admin console at {socket_path(socket_dir, port)}: {exc}") from None

    def __enter__(self) -> Console:
        return self

    def __exit__(self, *exc: object) -> None:
        with suppress(OSError):
            self._sock.sendall(_message(b"X", b""))
        self._sock.close()

    def _read(self, size: int) -> bytes:
        while len(self._buffer) < size:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConsoleError("connection closed by PgBouncer")
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def _next(self) -> tuple[bytes, bytes]:
        kind = self._read(1)
        (length,) = struct.unpack("!I", self._read(4))
        return kind, self._read(length - 4)

    def _until_ready(self) -> None:
        while True:
            kind, payload = self._next()
            if kind == b"E":
                raise ConsoleError(_error_text(payload))
            if kind == b"R" and struct.unpack("!I", payload[:4])[0] != 0:
                raise ConsoleError("the console asks for a password: not connected as PgBouncer's OS user")
            if kind == b"Z":
                return

    def query(self, sql: str) -> list[dict[str, str | None]]:
        """Rows of a console command, each a {column: text} mapping."""
        self._sock.sendall(_message(b"Q", sql.encode() + b"\0"))
        columns: list[str] = []
        rows: list[dict[str, str | None]] = []
        error = None
        while True:
            kind, payload = self._next()
            if kind == b"T":
                (count,) = struct.unpack("!H", payload[:2])
                offset = 2
                for _column in range(count):
                    end = payload.index(b"\0", offset)
                    columns.append(payload[offset:end].decode())
                    offset = end + 1 + 18  # table oid, column, type oid, size, modifier, format
            elif kind == b"D":
                values: list[str | None] = []
                offset = 2
                for _field in range(struct.unpack("!H", payload[:2])[0]):
                    (size,) = struct.unpack("!i", payload[offset : offset + 4])
                    offset += 4
                    if size < 0:
                        values.append(None)
                    else:
                        values.append(payload[offset : offset + size].decode("utf-8", "surrogateescape"))
                        offset += size
                rows.append(dict(zip(columns, values, strict=True)))
            elif kind == b"E":
                error = _error_text(payload)
            elif kind == b"Z":
                if error is not None:
                    raise ConsoleError(error)
                return rows


def show_config(socket_dir: str, port: int, *, as_user: str | None = None) -> dict[str, dict[str, str]]:
    """SHOW CONFIG as {key: {"value", "default", "changeable"}}."""
    with Console(socket_dir, port, as_user=as_user) as console:
        rows = console.query("SHOW CONFIG")
    return {
        str(row["key"]): {
            "value": row.get("value") or "",
            "default": row.get("default") or "",
            "changeable": row.get("changeable") or "",
        }
        for row in rows
    }


def wait_for_login(socket_dir: str, port: int, *, as_user: str | None, timeout: float) -> str:
    """Log in to the console until it answers SHOW VERSION, for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with Console(socket_dir, port, as_user=as_user, timeout=2.0) as console:
                return str(console.query("SHOW VERSION")[0].get("version"))
        except ConsoleError as exc:
            if time.monotonic() >= deadline:
                raise ConsoleError(f"no login within {timeout:g} s: {exc}") from None
            time.sleep(0.2)


def processes_argument_spec() -> dict[str, dict[str, object]]:
    """The options of the modules that reach every process of a host (doc fragment
    pgbouncer_toolkit.pgbouncer.pgbouncer_processes)."""
    return {
        "socket_dirs": {"type": "list", "elements": "path", "required": True},
        "port": {"type": "int", "default": 6432},
        "service_user": {"type": "str", "default": "postgres"},
    }
