"""Read a role's SCRAM verifier from a server that will not show it, by logging in as the role.

On a managed PostgreSQL nobody reads pg_authid, yet PgBouncer's userlist.txt must hold the very
verifier the server holds (same salt and iterations) for SCRAM pass-through to work. A SCRAM login
gives it back: the server sends the role's salt and iteration count in its first message, and when
it accepts the proof made from the password, the verifier it holds is the one this password makes
with that salt (StoredKey and ServerKey follow from them). The server's own signature is checked
too, so a server that does not hold that verifier cannot pass for one that does.

No password is sent: SCRAM sends a proof. The login stops at AuthenticationOk, before any session
starts. The protocol is spoken directly (the standard library only) because libpq does not hand
out the salt.

The same login, carried on to ``SELECT current_user`` (session_user below), proves that a role's
password works through an endpoint (PgBouncer) before the application files name that role.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import socket
import ssl
import struct
from dataclasses import dataclass

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.scram import (
    client_key,
    salted_password,
    server_key,
    verifier_text,
)

PROTOCOL_3 = 196608
SSL_REQUEST = 80877103
AUTH_OK, AUTH_CLEARTEXT, AUTH_MD5, AUTH_SASL, AUTH_SASL_CONTINUE, AUTH_SASL_FINAL = 0, 3, 5, 10, 11, 12
# SQLSTATE invalid_password: a wrong password, and (the server pretends) a role that does not exist.
INVALID_PASSWORD = "28P01"
SSLMODES = ("disable", "require", "verify-ca", "verify-full")
# libpq's TLS-when-offered modes (and its default, prefer): TLS if the server has it, unverified.
OPPORTUNISTIC_SSLMODES = ("allow", "prefer")
MAX_MESSAGE = 1 << 20


class LoginError(Exception):
    """The login could not say whether the server holds a verifier of this password (says why)."""


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    database: str
    sslmode: str = "verify-full"
    sslrootcert: str = ""
    timeout: float = 10.0


def server_verifier(server: Server, role: str, password: str) -> str | None:
    """The role's verifier as the server holds it, or None when the server refuses this password.

    None also covers a role that does not exist, or whose password expired (VALID UNTIL) or is an
    md5 hash: for each, the server holds no SCRAM verifier of this password.
    """
    with _connect(server) as conn:
        try:
            return _login(conn, server.database, role, password)
        finally:
            with contextlib.suppress(OSError):  # the server may have gone already
                _send(conn, b"X", b"")


def session_user(server: Server, role: str, password: str) -> str | None:
    """The role a session of ``role`` runs queries as (``current_user``), or None when the server
    refuses this password.

    The login goes all the way: after authentication it waits for the session to be ready and runs
    ``SELECT current_user``. Through PgBouncer that query needs a server connection, so the answer
    proves PgBouncer's own login to PostgreSQL for this role too. A login that needs no password
    (trust) counts as working: the endpoint, not the toolkit, chose it.
    """
    with _connect(server) as conn:
        try:
            if _login(conn, server.database, role, password, scram_only=False) is None:
                return None
            _until_ready(conn)
            _send(conn, b"Q", b"SELECT current_user\0")
            values: list[str] = []
            while True:
                kind, body = _receive(conn)
                if kind == b"D":
                    values += _data_row(body)
                elif kind == b"E":
                    raise LoginError(f"the session failed: {_error_fields(body).get('M', 'no message')}")
                elif kind == b"Z":
                    break
            if len(values) != 1:
                raise LoginError(f"SELECT current_user returned {len(values)} values")
            return values[0]
        finally:
            with contextlib.suppress(OSError):
                _send(conn, b"X", b"")


def _until_ready(conn: socket.socket) -> None:
    """Read the session's start (parameters, key data, notices) up to ReadyForQuery."""
    while True:
        kind, body = _receive(conn)
        if kind == b"Z":
            return
        if kind == b"E":
            raise LoginError(f"the session did not start: {_error_fields(body).get('M', 'no message')}")


def _data_row(body: bytes) -> list[str]:
    (count,) = struct.unpack("!h", body[:2])
    values, offset = [], 2
    for _column in range(count):
        (size,) = struct.unpack("!i", body[offset : offset + 4])
        offset += 4
        values.append("" if size < 0 else body[offset : offset + size].decode("utf-8", "replace"))
        offset += max(size, 0)
    return values


def _connect(server: Server) -> socket.socket:
    # A host that is a directory is a unix socket's, as in libpq; TLS is never asked for there.
    if server.host.startswith("/"):
        path = f"{server.host}/.s.PGSQL.{server.port}"
        unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        unix.settimeout(server.timeout)
        try:
            unix.connect(path)
        except OSError as exc:
            unix.close()
            raise LoginError(f"cannot reach {path}: {exc}") from None
        return unix
    try:
        raw = socket.create_connection((server.host, server.port), timeout=server.timeout)
    except OSError as exc:
        raise LoginError(f"cannot reach {server.host}:{server.port}: {exc}") from None
    if server.sslmode == "disable":
        return raw
    raw.sendall(struct.pack("!II", 8, SSL_REQUEST))
    answer = raw.recv(1)
    if answer != b"S" and server.sslmode in OPPORTUNISTIC_SSLMODES:
        return raw
    if answer != b"S":
        raw.close()
        raise LoginError(f"{server.host}:{server.port} does not offer TLS (sslmode {server.sslmode})")
    # libpq's sslrootcert=system (16+) is the host's trust store, as an empty one is here.
    context = ssl.create_default_context(
        cafile=server.sslrootcert if server.sslrootcert not in ("", "system") else None
    )
    context.check_hostname = server.sslmode == "verify-full"
    if server.sslmode not in ("verify-ca", "verify-full"):
        context.verify_mode = ssl.CERT_NONE
    try:
        return context.wrap_socket(raw, server_hostname=server.host)
    except (OSError, ssl.SSLError) as exc:
        raw.close()
        raise LoginError(f"TLS to {server.host}:{server.port} failed: {exc}") from None


def _login(
    conn: socket.socket, database: str, role: str, password: str, *, scram_only: bool = True
) -> str | None:
    """The verifier the server holds (after a SCRAM login), None for a refused password; "" when
    the server lets the role in without a password and ``scram_only`` is false."""
    startup = b"".join(
        part.encode("utf-8") + b"\0"
        for part in ("user", role, "database", database, "application_name", "pgbouncer_toolkit")
    )
    conn.sendall(struct.pack("!II", 8 + len(startup) + 1, PROTOCOL_3) + startup + b"\0")
    code, body = _authentication(conn)
    if code in (AUTH_MD5, AUTH_CLEARTEXT) or (code == AUTH_SASL and b"SCRAM-SHA-256\0" not in body):
        # md5 is asked for when the role has an md5 hash, or does not exist under an md5 line.
        # Neither answer is given: the toolkit never sends a password in clear.
        if code == AUTH_CLEARTEXT:
            raise LoginError("the server asks for the password in clear; none is sent")
        return None
    if code == AUTH_OK and not scram_only:
        return ""
    if code != AUTH_SASL:
        raise LoginError(f"the server let the login in without SCRAM (authentication {code})")

    nonce = base64.b64encode(os.urandom(18)).decode("ascii")
    client_first_bare = f"n=,r={nonce}"
    first = ("n,," + client_first_bare).encode("ascii")
    _send(conn, b"p", b"SCRAM-SHA-256\0" + struct.pack("!i", len(first)) + first)
    code, server_first = _authentication(conn)
    if code is None:
        return None
    if code != AUTH_SASL_CONTINUE:
        raise LoginError(f"unexpected authentication message {code} after client-first")
    attributes = _attributes(server_first)
    try:
        salt = base64.b64decode(attributes["s"], validate=True)
        iterations = int(attributes["i"])
        server_nonce = attributes["r"]
    except (KeyError, ValueError) as exc:
        raise LoginError(f"malformed server-first-message ({exc})") from None
    if not server_nonce.startswith(nonce) or iterations < 1:
        raise LoginError("the server's nonce or iteration count is not valid")

    final_bare = f"c=biws,r={server_nonce}"
    auth_message = f"{client_first_bare},{server_first.decode('ascii')},{final_bare}".encode("ascii")
    salted = salted_password(password, salt, iterations)
    stored_key = hashlib.sha256(client_key(salted)).digest()
    signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key(salted), signature, strict=True))
    final = f"{final_bare},p={base64.b64encode(proof).decode('ascii')}".encode("ascii")
    _send(conn, b"p", final)
    code, server_final = _authentication(conn)
    if code is None:
        return None
    if code != AUTH_SASL_FINAL:
        raise LoginError(f"unexpected authentication message {code} after client-final")
    expected = hmac.new(server_key(salted), auth_message, hashlib.sha256).digest()
    given = _attributes(server_final).get("v", "")
    if not hmac.compare_digest(base64.b64encode(expected).decode("ascii"), given):
        raise LoginError("the server's SCRAM signature is wrong (not the server it claims)")
    code, _body = _authentication(conn)
    if code != AUTH_OK:
        raise LoginError("no AuthenticationOk after a valid server signature")
    return verifier_text(salt, iterations, stored_key, server_key(salted))


def _attributes(message: bytes) -> dict[str, str]:
    try:
        text = message.decode("ascii")
    except UnicodeDecodeError:
        raise LoginError("the server's SCRAM message is not ASCII") from None
    return dict(part.split("=", 1) for part in text.split(",") if "=" in part)


def _authentication(conn: socket.socket) -> tuple[int | None, bytes]:
    """The next Authentication message's code and body; None for "wrong password"."""
    while True:
        kind, body = _receive(conn)
        if kind == b"R" and len(body) >= 4:
            return struct.unpack("!i", body[:4])[0], body[4:]
        if kind == b"E":
            fields = _error_fields(body)
            if fields.get("C") == INVALID_PASSWORD:
                return None, b""
            raise LoginError(f"the server refused the login: {fields.get('M', 'no message')}")
        if kind != b"v":  # NegotiateProtocolVersion is harmless; anything else is not.
            raise LoginError(f"unexpected message {kind!r} during authentication")


def _error_fields(body: bytes) -> dict[str, str]:
    fields = {}
    for field in body.split(b"\0"):
        if field:
            fields[chr(field[0])] = field[1:].decode("utf-8", "replace")
    return fields


def _send(conn: socket.socket, kind: bytes, body: bytes) -> None:
    conn.sendall(kind + struct.pack("!I", len(body) + 4) + body)


def _receive(conn: socket.socket) -> tuple[bytes, bytes]:
    header = _exactly(conn, 5)
    size = struct.unpack("!I", header[1:])[0]
    if not 4 <= size <= MAX_MESSAGE:
        raise LoginError(f"the server sent a message of {size} bytes")
    return header[:1], _exactly(conn, size - 4)


def _exactly(conn: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        try:
            chunk = conn.recv(count - len(data))
        except OSError as exc:
            raise LoginError(f"the connection failed during the login: {exc}") from None
        if not chunk:
            raise LoginError("the server closed the connection during the login")
        data += chunk
    return data
