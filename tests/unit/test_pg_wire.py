"""The wire protocol's own checks, against a stand-in server on loopback that answers as told.

The SCRAM login: a server that cannot show it holds the verifier (a wrong signature), asks for the
password in clear, or lets the role in without a password is refused by name; a server that follows
the protocol is read. The read-only session: md5 answered as PostgreSQL computes it, a password in
clear never sent without verified TLS; its placeholders and parameters as PostgreSQL reads them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import struct
import threading

import pytest

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils import scram
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.pg_wire import (
    ReadOnlySession,
    Server,
    WireError,
    numbered_placeholders,
    parameter_text,
    server_verifier,
    session_user,
)

PASSWORD = "stand-in-pass"
SALT = b"0123456789abcdef"
ITERATIONS = 4096


def _message(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!I", len(body) + 4) + body


def _auth(code: int, body: bytes = b"") -> bytes:
    return _message(b"R", struct.pack("!i", code) + body)


def _read_message(conn: socket.socket) -> bytes:
    header = conn.recv(5, socket.MSG_WAITALL)
    size = struct.unpack("!I", header[1:])[0]
    return conn.recv(size - 4, socket.MSG_WAITALL) if size > 4 else b""


MD5_SALT = b"s4lt"


def _serve(behaviour: str, listener: socket.socket, received: list[bytes]) -> None:
    conn, _ = listener.accept()
    with conn:
        size = struct.unpack("!I", conn.recv(4, socket.MSG_WAITALL))[0]
        conn.recv(size - 4, socket.MSG_WAITALL)  # the startup message
        if behaviour == "cleartext":
            conn.sendall(_auth(3))
            conn.settimeout(5)
            received += iter(lambda: conn.recv(4096), b"")  # all the client sends until it closes
            return
        if behaviour == "fatal after the query":
            conn.sendall(_auth(0) + _message(b"Z", b"I"))
            _read_message(conn)  # the query
            fatal = b"SFATAL\0VFATAL\0C08P01\0Mserver login has been failing\0\0"
            conn.sendall(_message(b"E", fatal))
            return  # and closes, as PgBouncer does after a FATAL
        if behaviour == "close after the query":
            conn.sendall(_auth(0) + _message(b"Z", b"I"))
            _read_message(conn)  # the query
            return  # closes with no answer
        if behaviour == "md5":
            conn.sendall(_auth(5, MD5_SALT))
            received.append(_read_message(conn))
            conn.sendall(_auth(0) + _message(b"Z", b"I"))
            _read_message(conn)  # Terminate
            return
        if behaviour == "trust":
            conn.sendall(_auth(0))
            return
        conn.sendall(_auth(10, b"SCRAM-SHA-256\0\0"))
        first = _read_message(conn)
        client_first_bare = first[first.index(b"n,,") + 3 :].decode()
        nonce = client_first_bare.split("r=", 1)[1] + "server"
        server_first = f"r={nonce},s={base64.b64encode(SALT).decode()},i={ITERATIONS}"
        conn.sendall(_auth(11, server_first.encode()))
        final = _read_message(conn).decode()
        final_bare = final.rsplit(",p=", 1)[0]
        auth_message = f"{client_first_bare},{server_first},{final_bare}".encode()
        salted = scram.salted_password(PASSWORD, SALT, ITERATIONS)
        signature = hmac.new(scram.server_key(salted), auth_message, hashlib.sha256).digest()
        if behaviour == "wrong signature":
            signature = bytes(32)
        conn.sendall(_auth(12, b"v=" + base64.b64encode(signature)) + _auth(0))
        _read_message(conn)  # Terminate


@pytest.fixture
def stand_in(request):
    listener = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []
    thread = threading.Thread(target=_serve, args=(request.param, listener, received), daemon=True)
    thread.start()
    yield Server("127.0.0.1", listener.getsockname()[1], "postgres", sslmode="disable", timeout=5), received
    thread.join(timeout=5)
    listener.close()


@pytest.mark.parametrize("stand_in", ["follows the protocol"], indirect=True)
def test_a_server_that_follows_the_protocol_gives_its_verifier(stand_in):
    assert server_verifier(stand_in[0], "app", PASSWORD) == scram.verifier(PASSWORD, SALT, ITERATIONS)


@pytest.mark.parametrize(
    ("stand_in", "message"),
    [
        ("wrong signature", "the server's SCRAM signature is wrong"),
        ("cleartext", "asks for the password in clear; none is sent"),
        ("trust", "let the login in without SCRAM"),
    ],
    indirect=["stand_in"],
)
def test_a_server_that_cannot_prove_the_verifier_is_refused(stand_in, message):
    with pytest.raises(WireError, match=message):
        server_verifier(stand_in[0], "app", PASSWORD)


@pytest.mark.parametrize("stand_in", ["fatal after the query"], indirect=True)
def test_a_fatal_error_is_named_though_the_server_closes_before_it_is_ready(stand_in):
    with pytest.raises(WireError, match="the session failed: server login has been failing"):
        session_user(stand_in[0], "app", PASSWORD)


@pytest.mark.parametrize("stand_in", ["close after the query"], indirect=True)
def test_a_connection_closed_after_the_login_is_not_called_a_login_failure(stand_in):
    with pytest.raises(WireError) as raised:
        session_user(stand_in[0], "app", PASSWORD)
    assert "the server closed the connection" in str(raised.value)
    assert "login" not in str(raised.value)


# ---------------------------------------------------------------------------------------------
# The read-only session


@pytest.mark.parametrize("stand_in", ["md5"], indirect=True)
def test_the_session_answers_md5_as_postgresql_computes_it(stand_in):
    server, received = stand_in
    with ReadOnlySession(server, "admin", PASSWORD):
        pass
    inner = hashlib.md5(f"{PASSWORD}admin".encode(), usedforsecurity=False).hexdigest()
    expected = "md5" + hashlib.md5(inner.encode() + MD5_SALT, usedforsecurity=False).hexdigest()
    assert received == [expected.encode() + b"\0"]


@pytest.mark.parametrize("stand_in", ["cleartext"], indirect=True)
def test_the_session_never_sends_a_password_in_clear_without_verified_tls(stand_in):
    server, received = stand_in
    with pytest.raises(WireError, match="in clear over a connection that did not verify it"):
        ReadOnlySession(server, "admin", PASSWORD)
    assert PASSWORD.encode() not in b"".join(received)


@pytest.mark.parametrize(
    ("query", "count", "expected"),
    [
        ("SELECT 1", 0, "SELECT 1"),
        ("SELECT %s", 1, "SELECT $1"),
        ("SELECT %s, %s::pg_catalog.text[]", 2, "SELECT $1, $2::pg_catalog.text[]"),
        ("SELECT 'per%%cent', %s", 1, "SELECT 'per%cent', $1"),
    ],
)
def test_placeholders_are_numbered(query, count, expected):
    assert numbered_placeholders(query, count) == expected


@pytest.mark.parametrize(
    ("query", "count", "message"),
    [
        ("SELECT %s", 2, "1 placeholders for 2 values"),
        ("SELECT 1", 1, "0 placeholders for 1 values"),
        ("SELECT %d", 1, "only %s placeholders"),
        ("SELECT 100%", 0, "only %s placeholders"),
    ],
)
def test_a_query_whose_placeholders_do_not_fit_is_refused(query, count, message):
    with pytest.raises(WireError, match=message):
        numbered_placeholders(query, count)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, None),
        (True, "t"),
        (False, "f"),
        (170002, "170002"),
        ('x" OR 1=1 --', 'x" OR 1=1 --'),
        ([], "{}"),
        (["a", 'b"c', "d\\e", "f,g}", None], '{"a","b\\"c","d\\\\e","f,g}",NULL}'),
    ],
)
def test_parameters_are_the_text_postgresql_reads(value, text):
    assert parameter_text(value) == text


@pytest.mark.parametrize(
    ("value", "message"),
    [("nul\0here", "NUL character"), (["nul\0here"], "NUL character"), (1.5, "type float")],
)
def test_a_parameter_postgresql_cannot_read_is_refused(value, message):
    with pytest.raises(WireError, match=message):
        parameter_text(value)
