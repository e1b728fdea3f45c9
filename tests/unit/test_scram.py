"""Table-driven tests of the SCRAM-SHA-256 verifier filters."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.filter.scram import (
    FilterModule,
    parse_verifier,
    scram_sha256_role_verifiers,
    scram_sha256_verifier,
    scram_sha256_verifier_matches,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.scram import saslprep

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


# (password, what PostgreSQL's pg_saslprep makes of it; None = it hashes the raw UTF-8 bytes)
SASLPREP_CASES = [
    ("plain ascii", "plain ascii"),
    ("bell\u0007 and tab\t", "bell\u0007 and tab\t"),  # pure ASCII is never touched
    ("pass\u00a0word", "pass word"),  # non-ASCII space (C.1.2) maps to U+0020
    ("ideo\u3000space", "ideo space"),
    ("\ufb01le", "file"),  # NFKC folds the ligature
    ("pass\u00adword", "password"),  # soft hyphen: commonly mapped to nothing (B.1)
    ("zero\u200bwidth", "zerowidth"),
    ("\uff30\uff21\uff33\uff33", "PASS"),  # full-width letters
    ("Ä\u0308x", "Ä\u0308x"),  # already composed letters stay; NFKC composes A + U+0308
    ("A\u0308", "Ä"),
    ("p\u00e4ss", "p\u00e4ss"),
    ("\u05e9\u05dc\u05d5\u05dd", "\u05e9\u05dc\u05d5\u05dd"),  # right-to-left only: allowed
    ("a\u05e9", None),  # RandALCat mixed with LCat
    ("\u05e91", None),  # RandALCat string must end with RandALCat
    ("\u00ad", None),  # maps to nothing at all
    ("key\U0001f511", None),  # unassigned in Unicode 3.2
    ("ctl\u0080x", None),  # non-ASCII control character (C.2.2)
    ("priv\ue000ate", None),  # private use (C.3)
    ("rep\ufffdlace", None),  # inappropriate for plain text (C.6)
]


@pytest.mark.parametrize(("password", "expected"), SASLPREP_CASES)
def test_saslprep_follows_postgresql(password, expected):
    assert saslprep(password) == expected


@pytest.mark.parametrize(("password", "expected"), [case for case in SASLPREP_CASES if case[1] is not None])
def test_verifier_hashes_the_saslprep_form(password, expected):
    assert scram_sha256_verifier(password, salt=SALT) == scram_sha256_verifier(expected, salt=SALT)


@pytest.mark.parametrize("password", [case[0] for case in SASLPREP_CASES if case[1] is None])
def test_verifier_hashes_raw_bytes_where_postgresql_does(password):
    raw = password.encode("utf-8")
    salted = hashlib.pbkdf2_hmac("sha256", raw, b"0123456789abcdef", 4096)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda value: base64.b64encode(value).decode()  # noqa: E731
    expected = f"SCRAM-SHA-256$4096:{SALT}${b64(hashlib.sha256(client_key).digest())}:{b64(server_key)}"
    assert scram_sha256_verifier(password, salt=SALT) == expected


class TaggedStr(str):
    """Stands in for the str subclass Ansible hands filters (data tagging)."""


class TaggedInt(int):
    """Stands in for the int subclass Ansible hands filters (data tagging)."""


@pytest.mark.parametrize(
    ("password", "iterations"),
    [(TaggedStr("pass\u00a0word"), TaggedInt(4096)), ("pass\u00a0word", "4096"), ("pass\u00a0word", 4096)],
)
def test_inputs_are_coerced_at_the_boundary(password, iterations):
    verifier = scram_sha256_verifier(password, salt=SALT, iterations=iterations)
    assert verifier == scram_sha256_verifier("pass word", salt=SALT, iterations=4096)
    assert scram_sha256_verifier_matches(TaggedStr(verifier), TaggedStr("pass word")) is True


@pytest.mark.parametrize("password", ["pässwörd", "пароль", "密码", "key🔑", "bell\u0007"])
def test_non_ascii_password_round_trips(password):
    verifier = scram_sha256_verifier(password)
    assert scram_sha256_verifier_matches(verifier, password) is True
    assert scram_sha256_verifier_matches(verifier, password.upper() + "!") is False


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
        (("secret",), {"iterations": "4096x"}, "must be an integer"),
        (("secret",), {"iterations": "-4096"}, "must be an integer"),
        (("secret",), {"iterations": 4096.0}, "must be an integer"),
        (("secret",), {"iterations": True}, "must be an integer"),
        (("secret",), {"iterations": 10_000_001}, "between 4096 and"),
        (("nul\x00byte",), {}, "must not contain a NUL"),
        (("x" * 1025,), {}, "1025 bytes long; PostgreSQL clients accept at most 1024"),
        (("\u00e9" * 513,), {}, "1026 bytes long"),
        (("lone\ud800surrogate",), {}, "lone surrogate"),
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


def test_filter_module_exposes_the_filters():
    assert set(FilterModule().filters()) == {
        "scram_sha256_role_verifiers",
        "scram_sha256_verifier",
        "scram_sha256_verifier_matches",
    }


def test_role_verifiers_keep_a_matching_verifier_and_replace_the_rest():
    kept = scram_sha256_verifier("app-password")
    roles = [
        {"name": "app", "password": "app-password"},
        {"name": "celery", "password": "new-password", "valid_until": "2030-01-01"},
        {"name": "new", "password": "x"},
    ]
    current = {"app": kept, "celery": scram_sha256_verifier("old-password")}
    result = scram_sha256_role_verifiers(roles, current, 4096)
    assert [role["name"] for role in result] == ["app", "celery", "new"]
    assert result[0]["verifier"] == kept
    assert scram_sha256_verifier_matches(result[1]["verifier"], "new-password")
    assert result[1]["valid_until"] == "2030-01-01"
    assert scram_sha256_verifier_matches(result[2]["verifier"], "x")
    assert all("password" not in role for role in result)
