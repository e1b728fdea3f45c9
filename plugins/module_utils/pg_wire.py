"""PostgreSQL's wire protocol (version 3), spoken with the standard library only.

It runs where libpq's drivers are not installed yet, or cannot give what is needed:

- reading a role's SCRAM verifier from a server that will not show it, by logging in as the role
  (:func:`server_verifier`);
- proving a role's password works through an endpoint (PgBouncer) with a session that runs
  ``SELECT current_user`` (:func:`session_user`);
- the read-only session of the first play (:class:`ReadOnlySession`), which reads the PostgreSQL
  server before anything is installed on the database host.

On a managed PostgreSQL nobody reads pg_authid, yet PgBouncer's userlist.txt must hold the very
verifier the server holds (same salt and iterations) for SCRAM pass-through to work. A SCRAM login
gives it back: the server sends the role's salt and iteration count in its first message, and when
it accepts the proof made from the password, the verifier it holds is the one this password makes
with that salt (StoredKey and ServerKey follow from them). The server's own signature is checked
too, so a server that does not hold that verifier cannot pass for one that does. No password is
sent: SCRAM sends a proof. libpq does not hand out the salt, hence the protocol spoken here.
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
from collections.abc import Sequence
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


class WireError(Exception):
    """The server could not be reached, refused, or answered outside the protocol (says why)."""


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
            values = [value for row in _results(conn, "the session") for value in row]
            if len(values) != 1 or not isinstance(values[0], str):
                raise WireError(f"SELECT current_user returned {values!r}")
            return values[0]
        finally:
            with contextlib.suppress(OSError):
                _send(conn, b"X", b"")


# ---------------------------------------------------------------------------------------------
# The first play's read-only session

_BOOL_TYPE = 16
_INTEGER_TYPES = frozenset((20, 21, 23, 26))  # int8, int2, int4, oid
_BEGIN = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
VERIFIED_SSLMODES = ("verify-ca", "verify-full")
# Only pg_catalog on the search path (pg_temp last): no object in a schema someone else controls
# can stand in for a built-in one.
SESSION_OPTIONS = "-c search_path=pg_catalog,pg_temp"


class ReadOnlySession:
    """A session whose queries run in one REPEATABLE READ, READ ONLY transaction: the server itself
    refuses any change, and every read sees the same snapshot.

    It offers the DB-API subset the modules' read functions use: cursor() (a context manager),
    execute() with ``%s`` placeholders, whose values the extended protocol binds (never pasted into
    the text), fetchone(), fetchall(), rollback() and close(). Values come back as text, except
    booleans and integers; NULL is None.

    It logs in with no password when none is asked (trust, peer), with SCRAM-SHA-256 (the server's
    signature checked) or md5, and sends a password in clear only over TLS that verified the server.
    """

    def __init__(self, server: Server, user: str, password: str = "") -> None:
        self._conn = _connect(server)
        self._in_transaction = False
        self._rows: list[tuple[object, ...]] = []
        try:
            _startup(
                self._conn,
                {
                    "user": user,
                    "database": server.database,
                    "application_name": "pgbouncer_toolkit",
                    "client_encoding": "UTF8",
                    "options": SESSION_OPTIONS,
                },
            )
            verified = isinstance(self._conn, ssl.SSLSocket) and server.sslmode in VERIFIED_SSLMODES
            self._authenticate(user, password, verified=verified)
            _until_ready(self._conn)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> ReadOnlySession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _authenticate(self, user: str, password: str, *, verified: bool) -> None:
        code, body = _authentication(self._conn)
        if code == AUTH_SASL and _offers_scram(body):
            code = AUTH_OK if _scram(self._conn, password) is not None else None
        elif code == AUTH_MD5:
            inner = hashlib.md5((password + user).encode("utf-8"), usedforsecurity=False).hexdigest()
            answer = "md5" + hashlib.md5(inner.encode("ascii") + body[:4], usedforsecurity=False).hexdigest()
            _send(self._conn, b"p", answer.encode("ascii") + b"\0")
            code, _body = _authentication(self._conn)
        elif code == AUTH_CLEARTEXT:
            if not verified:
                raise WireError(
                    f"the server asks for the password of {user!r} in clear over a connection that did "
                    "not verify it (sslmode verify-ca or verify-full); none is sent"
                )
            _send(self._conn, b"p", password.encode("utf-8") + b"\0")
            code, _body = _authentication(self._conn)
        if code is None:
            raise WireError(f"the server refused the password of {user!r}")
        if code != AUTH_OK:
            raise WireError(
                f"the server asks for authentication method {code}; this session speaks trust, peer, "
                "SCRAM-SHA-256, md5, and a password in clear over verified TLS"
            )

    def cursor(self) -> contextlib.nullcontext[ReadOnlySession]:
        """The session itself: it is its own cursor."""
        return contextlib.nullcontext(self)

    def execute(self, query: str, params: Sequence[object] = ()) -> None:
        """Run ``query`` with ``params`` bound to its ``%s`` placeholders; keep its rows."""
        text = numbered_placeholders(query, len(params))
        values = [parameter_text(value) for value in params]
        if not self._in_transaction:
            self._simple(_BEGIN)
            self._in_transaction = True
        bind = b"\0\0" + struct.pack("!hh", 0, len(values))
        for value in values:
            if value is None:
                bind += struct.pack("!i", -1)
            else:
                encoded = value.encode("utf-8")
                bind += struct.pack("!i", len(encoded)) + encoded
        _send(self._conn, b"P", b"\0" + text.encode("utf-8") + b"\0" + struct.pack("!h", 0))
        _send(self._conn, b"B", bind + struct.pack("!h", 0))
        _send(self._conn, b"D", b"P\0")
        _send(self._conn, b"E", b"\0" + struct.pack("!i", 0))
        _send(self._conn, b"S", b"")
        self._rows = _results(self._conn, "the query")

    def fetchone(self) -> tuple[object, ...] | None:
        return self._rows.pop(0) if self._rows else None

    def fetchall(self) -> list[tuple[object, ...]]:
        rows, self._rows = self._rows, []
        return rows

    def rollback(self) -> None:
        if self._in_transaction:
            self._simple("ROLLBACK")
            self._in_transaction = False

    def close(self) -> None:
        with contextlib.suppress(OSError):
            _send(self._conn, b"X", b"")
        self._conn.close()

    def _simple(self, query: str) -> None:
        _send(self._conn, b"Q", query.encode("utf-8") + b"\0")
        _results(self._conn, query)


def _results(conn: socket.socket, what: str) -> list[tuple[object, ...]]:
    """A query's rows, read up to ReadyForQuery; an error the server sent is raised there, so the
    session is ready for the next query. A FATAL one is raised at once: the server closes next."""
    types: list[int] = []
    rows: list[tuple[object, ...]] = []
    error: dict[str, str] = {}
    while True:
        kind, body = _receive(conn)
        if kind == b"T":
            types = _row_types(body)
        elif kind == b"D":
            rows.append(tuple(_typed(value, oid) for value, oid in zip(_data_row(body), types, strict=True)))
        elif kind == b"E":
            error = _error_fields(body)
            if error.get("V", error.get("S")) in ("FATAL", "PANIC"):
                break
        elif kind == b"Z":
            break
    if error:
        raise WireError(f"{what} failed: {error.get('M', 'no message')}")
    return rows


def numbered_placeholders(query: str, count: int) -> str:
    """``query`` with its ``%s`` placeholders numbered ($1, $2...) and ``%%`` as ``%``; it must
    have exactly ``count`` placeholders and no other ``%``."""
    parts = query.split("%%")
    pieces = [part.split("%s") for part in parts]
    if any("%" in piece for part in pieces for piece in part):
        raise WireError("a query may hold only %s placeholders and %% (a literal %)")
    numbered, number = [], 0
    for part in pieces:
        text = part[0]
        for piece in part[1:]:
            number += 1
            text += f"${number}{piece}"
        numbered.append(text)
    if number != count:
        raise WireError(f"the query has {number} placeholders for {count} values")
    return "%".join(numbered)


def parameter_text(value: object) -> str | None:
    """A value as the text PostgreSQL reads for a parameter: None is NULL, a list an array."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, (int, str)):
        text = str(value)
    elif isinstance(value, (list, tuple)):
        elements = [parameter_text(element) for element in value]
        text = (
            "{"
            + ",".join("NULL" if element is None else _array_element(element) for element in elements)
            + "}"
        )
    else:
        raise WireError(f"a parameter of type {type(value).__name__} cannot be sent")
    if "\0" in text:
        raise WireError("a parameter holds a NUL character, which PostgreSQL's text cannot hold")
    return text


def _array_element(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _row_types(body: bytes) -> list[int]:
    """The type oid of each column of a RowDescription."""
    (count,) = struct.unpack("!h", body[:2])
    types, offset = [], 2
    for _column in range(count):
        offset = body.index(b"\0", offset) + 1 + 6  # the name, then table oid and column number
        types.append(struct.unpack("!I", body[offset : offset + 4])[0])
        offset += 12  # type oid, size, modifier, format
    return types


def _typed(value: str | None, type_oid: int) -> object:
    if value is None:
        return None
    if type_oid == _BOOL_TYPE:
        return value == "t"
    if type_oid in _INTEGER_TYPES:
        return int(value)
    return value


def _until_ready(conn: socket.socket) -> None:
    """Read the session's start (parameters, key data, notices) up to ReadyForQuery."""
    while True:
        kind, body = _receive(conn)
        if kind == b"Z":
            return
        if kind == b"E":
            raise WireError(f"the session did not start: {_error_fields(body).get('M', 'no message')}")


def _data_row(body: bytes) -> list[str | None]:
    """A DataRow's values as text, None for NULL."""
    (count,) = struct.unpack("!h", body[:2])
    values: list[str | None] = []
    offset = 2
    for _column in range(count):
        (size,) = struct.unpack("!i", body[offset : offset + 4])
        offset += 4
        values.append(None if size < 0 else body[offset : offset + size].decode("utf-8", "replace"))
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
            raise WireError(f"cannot reach {path}: {exc}") from None
        return unix
    try:
        raw = socket.create_connection((server.host, server.port), timeout=server.timeout)
    except OSError as exc:
        raise WireError(f"cannot reach {server.host}:{server.port}: {exc}") from None
    if server.sslmode == "disable":
        return raw
    raw.sendall(struct.pack("!II", 8, SSL_REQUEST))
    answer = raw.recv(1)
    if answer != b"S" and server.sslmode in OPPORTUNISTIC_SSLMODES:
        return raw
    if answer != b"S":
        raw.close()
        raise WireError(f"{server.host}:{server.port} does not offer TLS (sslmode {server.sslmode})")
    # libpq's sslrootcert=system (16+) is the host's trust store, as an empty one is here.
    context = ssl.create_default_context(
        cafile=server.sslrootcert if server.sslrootcert not in ("", "system") else None
    )
    context.check_hostname = server.sslmode == "verify-full"
    if server.sslmode not in VERIFIED_SSLMODES:
        context.verify_mode = ssl.CERT_NONE
    try:
        return context.wrap_socket(raw, server_hostname=server.host)
    except (OSError, ssl.SSLError) as exc:
        raw.close()
        raise WireError(f"TLS to {server.host}:{server.port} failed: {exc}") from None


def _startup(conn: socket.socket, parameters: dict[str, str]) -> None:
    body = b"".join(f"{key}\0{value}\0".encode() for key, value in parameters.items())
    conn.sendall(struct.pack("!II", 8 + len(body) + 1, PROTOCOL_3) + body + b"\0")


def _login(
    conn: socket.socket, database: str, role: str, password: str, *, scram_only: bool = True
) -> str | None:
    """The verifier the server holds (after a SCRAM login), None for a refused password; "" when
    the server lets the role in without a password and ``scram_only`` is false."""
    _startup(conn, {"user": role, "database": database, "application_name": "pgbouncer_toolkit"})
    code, body = _authentication(conn)
    if code in (AUTH_MD5, AUTH_CLEARTEXT) or (code == AUTH_SASL and not _offers_scram(body)):
        # md5 is asked for when the role has an md5 hash, or does not exist under an md5 line.
        # Neither answer is given: the toolkit never sends a password in clear.
        if code == AUTH_CLEARTEXT:
            raise WireError("the server asks for the password in clear; none is sent")
        return None
    if code == AUTH_OK and not scram_only:
        return ""
    if code != AUTH_SASL:
        raise WireError(f"the server let the login in without SCRAM (authentication {code})")
    keys = _scram(conn, password)
    return None if keys is None else verifier_text(*keys)


def _scram(conn: socket.socket, password: str) -> tuple[bytes, int, bytes, bytes] | None:
    """The SCRAM-SHA-256 exchange after the server asked for it, up to AuthenticationOk: the salt,
    iterations, StoredKey and ServerKey the server proved it holds; None for a refused password."""
    nonce = base64.b64encode(os.urandom(18)).decode("ascii")
    client_first_bare = f"n=,r={nonce}"
    first = ("n,," + client_first_bare).encode("ascii")
    _send(conn, b"p", b"SCRAM-SHA-256\0" + struct.pack("!i", len(first)) + first)
    code, server_first = _authentication(conn)
    if code is None:
        return None
    if code != AUTH_SASL_CONTINUE:
        raise WireError(f"unexpected authentication message {code} after client-first")
    attributes = _attributes(server_first)
    try:
        salt = base64.b64decode(attributes["s"], validate=True)
        iterations = int(attributes["i"])
        server_nonce = attributes["r"]
    except (KeyError, ValueError) as exc:
        raise WireError(f"malformed server-first-message ({exc})") from None
    if not server_nonce.startswith(nonce) or iterations < 1:
        raise WireError("the server's nonce or iteration count is not valid")

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
        raise WireError(f"unexpected authentication message {code} after client-final")
    expected = hmac.new(server_key(salted), auth_message, hashlib.sha256).digest()
    given = _attributes(server_final).get("v", "")
    if not hmac.compare_digest(base64.b64encode(expected).decode("ascii"), given):
        raise WireError("the server's SCRAM signature is wrong (not the server it claims)")
    code, _body = _authentication(conn)
    if code != AUTH_OK:
        raise WireError("no AuthenticationOk after a valid server signature")
    return salt, iterations, stored_key, server_key(salted)


def _offers_scram(mechanisms: bytes) -> bool:
    """Whether an AuthenticationSASL message's list of mechanisms holds SCRAM-SHA-256."""
    return b"SCRAM-SHA-256" in mechanisms.split(b"\0")


def _attributes(message: bytes) -> dict[str, str]:
    try:
        text = message.decode("ascii")
    except UnicodeDecodeError:
        raise WireError("the server's SCRAM message is not ASCII") from None
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
            raise WireError(f"the server refused the login: {fields.get('M', 'no message')}")
        if kind != b"v":  # NegotiateProtocolVersion is harmless; anything else is not.
            raise WireError(f"unexpected message {kind!r} during authentication")


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
        raise WireError(f"the server sent a message of {size} bytes")
    return header[:1], _exactly(conn, size - 4)


def _exactly(conn: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        try:
            chunk = conn.recv(count - len(data))
        except OSError as exc:
            raise WireError(f"the connection failed: {exc}") from None
        if not chunk:
            raise WireError("the server closed the connection")
        data += chunk
    return data
