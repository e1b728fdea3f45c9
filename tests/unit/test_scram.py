"""Table-driven tests of the SCRAM-SHA-256 verifier filters."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from ansible.errors import AnsibleFilterError

from plugins.filter.scram import (
    FilterModule,
    parse_verifier,
    scram_sha256_verifier,
    scram_sha256_verifier_matches,
)

# PgBouncer's test/userlist.txt: scramuser1 / "foo" and scramuser2 / "bar".
PGBOUNCER_VECTORS = [
    (
        "foo",
        "D76gvGUVj9Z4DNiGoabOBg==",
        "SCRAM-SHA-256$4096:D76gvGUVj9Z4DNiGoabOBg==$RukL0Xo3Ql/2F9FsD7mcQ3GATG2fD3PA71qY1JagGDs="
        ":BhKUwyyivFm7Tq2jDJVXSVRbRDgTWyBilZKgg6DDuYU=",
    ),
    (
        "bar",
        "BUYIT9YAsWf036OHLPfv2Q==",
        "SCRAM-SHA-256$4096:BUYIT9YAsWf036OHLPfv2Q==$zuk7pzdEc5tvftsRIuwlStNxVc+wIE/xfDs7ahsKN0k="
        ":Lov6mndE0DmlgtY60e1LyDsLctQyoH+Bvkm9K9njSa8=",
    ),
]
SALT = base64.b64encode(b"0123456789abcdef").decode()


@pytest.mark.parametrize(("password", "salt", "expected"), PGBOUNCER_VECTORS)
def test_published_vector_reproduced_byte_for_byte(password, salt, expected):
    assert scram_sha256_verifier(password, salt=salt, iterations=4096) == expected


@pytest.mark.parametrize(("password", "salt", "expected"), PGBOUNCER_VECTORS)
def test_published_vector_matches_its_password_only(password, salt, expected):
    assert scram_sha256_verifier_matches(expected, password) is True
    assert scram_sha256_verifier_matches(expected, password + "x") is False


@pytest.mark.parametrize(
    ("password", "equivalent"),
    [
        ("pass\u00a0word", "pass word"),  # SASLprep maps non-ASCII spaces to U+0020
        ("\ufb01le", "file"),  # NFKC folds the ligature
        ("pass\u00adword", "password"),  # soft hyphen is mapped to nothing
    ],
)
def test_non_ascii_passwords_are_saslprepped(password, equivalent):
    assert scram_sha256_verifier(password, salt=SALT) == scram_sha256_verifier(equivalent, salt=SALT)


@pytest.mark.parametrize("password", ["pässwörd", "пароль", "密码", "key🔑", "bell\u0007"])
def test_non_ascii_password_round_trips(password):
    verifier = scram_sha256_verifier(password)
    assert scram_sha256_verifier_matches(verifier, password) is True
    assert scram_sha256_verifier_matches(verifier, password.upper() + "!") is False


@pytest.mark.parametrize("password", ["key🔑", "bell\u0007", "tab\there"])
def test_password_saslprep_refuses_is_hashed_raw_like_postgresql(password):
    raw = password.encode("utf-8")
    salted = hashlib.pbkdf2_hmac("sha256", raw, b"0123456789abcdef", 4096)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda value: base64.b64encode(value).decode()  # noqa: E731
    expected = f"SCRAM-SHA-256$4096:{SALT}${b64(hashlib.sha256(client_key).digest())}:{b64(server_key)}"
    assert scram_sha256_verifier(password, salt=SALT) == expected


def test_fresh_salt_each_call_and_defaults():
    first, second = scram_sha256_verifier("secret"), scram_sha256_verifier("secret")
    assert first != second
    parts = parse_verifier(first)
    assert parts["iterations"] == 4096
    assert len(parts["salt"]) == 16


def test_existing_salt_and_iterations_are_reused():
    verifier = scram_sha256_verifier("secret", salt=SALT, iterations=10000)
    assert verifier.startswith(f"SCRAM-SHA-256$10000:{SALT}$")
    assert scram_sha256_verifier("secret", salt=SALT, iterations=10000) == verifier


@pytest.mark.parametrize(
    "current",
    [None, "", "md5ab8b744ff66bee42dc47bae34ca17959", "plaintext-password"],
)
def test_non_scram_current_password_never_matches(current):
    assert scram_sha256_verifier_matches(current, "foo") is False


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("",), {}, "must not be empty"),
        ((None,), {}, "must be a string, got NoneType"),
        ((1234,), {}, "must be a string, got int"),
        (("secret",), {"iterations": 4095}, "between 4096 and"),
        (("secret",), {"iterations": 1000}, "between 4096 and"),
        (("secret",), {"iterations": "4096"}, "must be an integer"),
        (("secret",), {"iterations": True}, "must be an integer"),
        (("secret",), {"salt": "not base64!"}, "salt is not valid base64"),
        (("secret",), {"salt": base64.b64encode(b"short").decode()}, "at least 12 bytes"),
        (("secret",), {"salt": b"0123456789abcdef"}, "salt must be a base64 string"),
    ],
)
def test_bad_verifier_inputs_raise(args, kwargs, message):
    with pytest.raises(AnsibleFilterError, match=message):
        scram_sha256_verifier(*args, **kwargs)


@pytest.mark.parametrize(
    ("verifier", "message"),
    [
        ("SCRAM-SHA-256$4096:abc", "malformed"),
        ("SCRAM-SHA-256$x:D76gvGUVj9Z4DNiGoabOBg==$a:b", "malformed"),
        (
            "SCRAM-SHA-256$4096:D76gvGUVj9Z4DNiGoabOBg==$YWJj:YWJj",
            "must be 32 bytes",
        ),
        (
            "SCRAM-SHA-256$4096:D76g=vGU$RukL0Xo3Ql/2F9FsD7mcQ3GATG2fD3PA71qY1JagGDs="
            ":BhKUwyyivFm7Tq2jDJVXSVRbRDgTWyBilZKgg6DDuYU=",
            "salt is not valid base64",
        ),
        (12, "must be a string, got int"),
    ],
)
def test_malformed_verifiers_raise(verifier, message):
    with pytest.raises(AnsibleFilterError, match=message):
        scram_sha256_verifier_matches(verifier, "foo")


@pytest.mark.parametrize("password", ["", None, 5])
def test_matches_rejects_bad_password(password):
    with pytest.raises(AnsibleFilterError, match="SCRAM password"):
        scram_sha256_verifier_matches(PGBOUNCER_VECTORS[0][2], password)


def test_filter_module_exposes_both_filters():
    assert set(FilterModule().filters()) == {
        "scram_sha256_verifier",
        "scram_sha256_verifier_matches",
    }
