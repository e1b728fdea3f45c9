"""The SCRAM login's own checks, against a stand-in server on loopback that answers as told: a server
that cannot show it holds the verifier (a wrong signature), asks for the password in clear, or lets
the role in without a password is refused by name; a server that follows the protocol is read."""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import struct
import threading

import pytest

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils import scram
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.scram_login import (
    LoginError,
    Server,
    server_verifier,
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


def _serve(behaviour: str, listener: socket.socket) -> None:
    conn, _ = listener.accept()
    with conn:
        size = struct.unpack("!I", conn.recv(4, socket.MSG_WAITALL))[0]
        conn.recv(size - 4, socket.MSG_WAITALL)  # the startup message
        if behaviour == "cleartext":
            conn.sendall(_auth(3))
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
    thread = threading.Thread(target=_serve, args=(request.param, listener), daemon=True)
    thread.start()
    yield Server("127.0.0.1", listener.getsockname()[1], "postgres", sslmode="disable", timeout=5)
    thread.join(timeout=5)
    listener.close()


@pytest.mark.parametrize("stand_in", ["follows the protocol"], indirect=True)
def test_a_server_that_follows_the_protocol_gives_its_verifier(stand_in):
    assert server_verifier(stand_in, "app", PASSWORD) == scram.verifier(PASSWORD, SALT, ITERATIONS)


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
    with pytest.raises(LoginError, match=message):
        server_verifier(stand_in, "app", PASSWORD)
