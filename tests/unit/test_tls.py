"""The TLS names a certificate carries and the checks of an operator's certificate
(plugin_utils/tls.py), against certificates made here with the cryptography library."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils import tls
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.addresses import parse_address
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import ConfigError

NOW = datetime.datetime(2026, 12, 5, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("name", "entry"),
    [
        ("db1.example.internal", "DNS:db1.example.internal"),
        ("DB1.Example.Internal.", "DNS:db1.example.internal"),
        ("pgbt-test-db", "DNS:pgbt-test-db"),
        ("10.0.0.5", "IP:10.0.0.5"),
        ("fd00::5", "IP:fd00::5"),
        ("FD00:0::5", "IP:fd00::5"),
        ("localhost", "DNS:localhost"),
    ],
)
def test_san_entry(name, entry):
    assert tls.san_entry(name, "x") == entry


@pytest.mark.parametrize(
    "name",
    [
        "*.example.internal",
        "::1%eth0",
        "::%1 :: trust #",
        "10.0.0.300",
        "db1 .example",
        "db1\n",
        "db1\nDNS:evil",
        "-db1",
        "a" * 64 + ".example",
        "http://db1",
        "",
        None,
        7,
        "db1,db2",
        "IP:10.0.0.5",
    ],
)
def test_san_entry_refuses_what_is_no_host_name_or_address(name):
    with pytest.raises(ConfigError, match=r"^pgbouncer_tls_names\[0\]"):
        tls.subject_alt_names({"pgbouncer_tls_names": [name]})


def test_subject_alt_names_merges_sources_dns_first():
    entries = tls.subject_alt_names(
        {
            "host": ["db1", "10.0.0.5", "127.0.0.1"],
            "requested": ["10.0.0.5", "VIP.example"],
            "extra": ["db1."],
        }
    )
    assert entries == ["DNS:db1", "DNS:vip.example", "IP:10.0.0.5", "IP:127.0.0.1"]


def test_host_names_take_default_addresses_not_every_address():
    facts = {
        "fqdn": "db1.dns.podman",
        "hostname": "db1",
        "default_ipv4": {"address": "10.89.0.2"},
        "default_ipv6": {"address": "fe80::1"},
        # A VIP held right now must not change the certificate's names.
        "all_ipv4_addresses": ["10.89.0.2", "10.89.0.100"],
    }
    names = tls.host_names("pgbt-test-db", facts)
    assert names == ["pgbt-test-db", "db1.dns.podman", "db1", "10.89.0.2", "localhost", "127.0.0.1", "::1"]


def test_host_names_skip_an_inventory_alias_that_is_no_dns_name():
    assert "db_1" not in tls.host_names("db_1", {"hostname": "db1"})


# ------------------------------------------------------------------------------------------------
# Operator certificates


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _certificate(
    subject_key, issuer_key, issuer_name, names, *, not_before, not_after, ca=False
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")]) if not ca else issuer_name)
        .issuer_name(issuer_name)
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(parse_address(n)) if n[0].isdigit() else x509.DNSName(n) for n in names]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def pki():
    ca_key, other_key = _key(), _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "operator CA")])
    ca = _certificate(ca_key, ca_key, ca_name, [], not_before=NOW - datetime.timedelta(days=1),
                      not_after=NOW + datetime.timedelta(days=900), ca=True)  # fmt: skip
    other_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "operator CA")])  # same name, other key
    other = _certificate(other_key, other_key, other_name, [], not_before=NOW - datetime.timedelta(days=1),
                         not_after=NOW + datetime.timedelta(days=900), ca=True)  # fmt: skip
    return {"ca_key": ca_key, "ca": ca, "other_key": other_key, "other": other, "name": ca_name}


REQUIRED = ["DNS:db1.example.internal", "IP:10.0.0.5"]
GOOD_NAMES = ["db1.example.internal", "10.0.0.5"]


def _case(pki, kind):
    key = _key()
    issuer_key = pki["other_key"] if kind == "other CA" else pki["ca_key"]
    before = NOW - datetime.timedelta(days=2)
    after = NOW + datetime.timedelta(days=30)
    if kind == "expired":
        after = NOW - datetime.timedelta(days=1)
    if kind == "not yet valid":
        before = NOW + datetime.timedelta(days=1)
    names = ["db1.example.internal"] if kind == "missing a name" else GOOD_NAMES
    certificate = _certificate(key, issuer_key, pki["name"], names, not_before=before, not_after=after)
    key_pem = _pem_key(_key() if kind == "other key" else key)
    if kind == "encrypted key":
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        ).decode()
    return _pem(certificate), key_pem


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("other CA", "not signed by the CA of pgbouncer_tls_ca_cert_file"),
        ("expired", "expired on"),
        ("not yet valid", "not valid before"),
        ("missing a name", "its subjectAltName lacks IP:10.0.0.5"),
        ("other key", "the key file does not belong to this certificate"),
        ("encrypted key", "is not an unencrypted PEM private key"),
    ],
)
def test_certificate_errors_name_what_is_wrong(pki, kind, message):
    certificate, key = _case(pki, kind)
    errors = tls.certificate_errors(
        certificate, key, _pem(pki["ca"]), REQUIRED, "pgbouncer_tls_cert_file (x)", NOW
    )
    assert len(errors) == 1, errors
    assert errors[0].startswith("pgbouncer_tls_cert_file (x): ") and message in errors[0], errors
    # The key's content never reaches a message.
    assert "PRIVATE KEY" not in errors[0]


def test_a_good_certificate_has_no_errors(pki):
    certificate, key = _case(pki, "good")
    assert tls.certificate_errors(certificate, key, _pem(pki["ca"]), REQUIRED, "x", NOW) == []


@pytest.mark.parametrize(("certificate", "ca"), [("not a certificate", None), (None, "not a certificate")])
def test_unreadable_files_are_named(pki, certificate, ca):
    good, key = _case(pki, "good")
    errors = tls.certificate_errors(certificate or good, key, ca or _pem(pki["ca"]), REQUIRED, "x", NOW)
    assert errors and "not a PEM certificate" in errors[0]
