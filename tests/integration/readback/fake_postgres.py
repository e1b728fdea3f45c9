"""A stand-in PostgreSQL server for the readback test, run inside the throwaway container.

It listens on unix sockets only, accepts every login without a password, and records what
PgBouncer sends it, byte for byte (hex in JSON lines): the startup packet of every server
connection, every simple query (connect_query, server_reset_query, ...) and the extended-protocol
auth_query with its parameter. The auth_query gets one row back, (the user asked for,
FAKE_PASSWORD), so PgBouncer can finish the client's login.

Usage: fake_postgres.py SOCKET_DIR PORT[,PORT...] LOG_FILE LIFETIME_SECONDS
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import sys
import threading

FAKE_PASSWORD = b"fake-secret"
SSL_REQUEST, GSS_REQUEST, CANCEL_REQUEST = 80877103, 80877104, 80877102
PARAMETERS = (
    (b"server_version", b"17.0"),
    (b"server_encoding", b"UTF8"),
    (b"client_encoding", b"UTF8"),
    (b"DateStyle", b"ISO, MDY"),
    (b"IntervalStyle", b"postgres"),
    (b"integer_datetimes", b"on"),
    (b"standard_conforming_strings", b"on"),
    (b"TimeZone", b"UTC"),
)

_lock = threading.Lock()


def record(log_file: str, **fields: object) -> None:
    with _lock, open(log_file, "a", encoding="ascii") as log:
        log.write(json.dumps(fields) + "\n")


def read_exact(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def message(kind: bytes, payload: bytes = b"") -> bytes:
    return kind + struct.pack("!I", len(payload) + 4) + payload


def parse_bind_parameters(payload: bytes) -> list[str]:
    """The parameter values of a Bind message, hex-encoded (None for NULL is not expected)."""
    position = payload.index(b"\0") + 1  # portal
    position = payload.index(b"\0", position) + 1  # statement
    (formats,) = struct.unpack_from("!H", payload, position)
    position += 2 + 2 * formats
    (count,) = struct.unpack_from("!H", payload, position)
    position += 2
    values = []
    for _ in range(count):
        (length,) = struct.unpack_from("!i", payload, position)
        position += 4
        values.append(payload[position : position + length].hex())
        position += length
    return values


def serve(conn: socket.socket, port: str, log_file: str) -> None:
    with conn:
        try:
            while True:
                (length,) = struct.unpack("!I", read_exact(conn, 4))
                body = read_exact(conn, length - 4)
                (code,) = struct.unpack("!I", body[:4])
                if code in (SSL_REQUEST, GSS_REQUEST):
                    conn.sendall(b"N")
                    continue
                if code == CANCEL_REQUEST:
                    return
                break
            fields = body[4:].split(b"\0")
            pairs = zip(fields[0:-1:2], fields[1::2], strict=True)  # name, value, ..., "" (the end)
            params = [[key.hex(), value.hex()] for key, value in pairs if key]
            record(log_file, kind="startup", port=port, params=params)
            reply = message(b"R", struct.pack("!I", 0))
            for key, value in PARAMETERS:
                reply += message(b"S", key + b"\0" + value + b"\0")
            reply += message(b"K", struct.pack("!II", os.getpid(), 4242))
            conn.sendall(reply + message(b"Z", b"I"))
            user = b""
            while True:
                kind = read_exact(conn, 1)
                (length,) = struct.unpack("!I", read_exact(conn, 4))
                payload = read_exact(conn, length - 4)
                if kind == b"X":
                    return
                if kind == b"Q":
                    record(log_file, kind="query", port=port, text=payload[:-1].hex())
                    conn.sendall(message(b"I") + message(b"Z", b"I"))
                elif kind == b"P":
                    statement_end = payload.index(b"\0")
                    query = payload[statement_end + 1 : payload.index(b"\0", statement_end + 1)]
                    record(log_file, kind="parse", port=port, text=query.hex())
                elif kind == b"B":
                    values = parse_bind_parameters(payload)
                    record(log_file, kind="bind", port=port, values=values)
                    user = bytes.fromhex(values[0]) if values else b""
                elif kind == b"S":
                    # The auth_query: Parse, Bind, Describe, Execute, Sync in one go.
                    row = struct.pack("!H", 2)
                    for value in (user, FAKE_PASSWORD):
                        row += struct.pack("!I", len(value)) + value
                    columns = b""
                    for name in (b"username", b"password"):
                        columns += name + b"\0" + struct.pack("!IhIhih", 0, 0, 25, -1, -1, 0)
                    conn.sendall(
                        message(b"1")
                        + message(b"2")
                        + message(b"T", struct.pack("!H", 2) + columns)
                        + message(b"D", row)
                        + message(b"C", b"SELECT 1\0")
                        + message(b"Z", b"I")
                    )
        except (EOFError, OSError):
            return


def listen(socket_dir: str, port: str, log_file: str) -> None:
    path = os.path.join(socket_dir, f".s.PGSQL.{port}")
    if os.path.exists(path):
        os.unlink(path)  # left by an earlier job in the same container
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(16)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=serve, args=(conn, port, log_file), daemon=True).start()


def main() -> None:
    socket_dir, ports, log_file, lifetime = sys.argv[1], sys.argv[2].split(","), sys.argv[3], sys.argv[4]
    signal.alarm(int(lifetime))  # never outlives the test, whatever happens to it
    os.makedirs(socket_dir, exist_ok=True)
    for port in ports[1:]:
        threading.Thread(target=listen, args=(socket_dir, port, log_file), daemon=True).start()
    listen(socket_dir, ports[0], log_file)


if __name__ == "__main__":
    main()
