"""The advisories table and its checks: dpkg version order, which package carries which fix, the
conditions NEWS gives, and the verdict the first play turns into a refusal."""

from __future__ import annotations

import pytest

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils import pgbouncer_advisories as adv

TRIXIE = "1.24.1-1+deb13u2"
FORKY = "1.26.1-1"
# The [pgbouncer] keys the role renders that the conditions read, as the lab has them.
SETTINGS = {
    "auth_user": "pgbouncer_auth",
    "auth_query": 'SELECT username, password FROM "pgbouncer"."lookup"($1)',
    "ignore_startup_parameters": "extra_float_digits,options",
}


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("1.24.1-1", "1.24.1-1", 0),
        ("1.24.1-1+deb13u2", "1.24.1-1+deb13u1", 1),
        ("1.24.1-1+deb13u1", "1.24.1-1", 1),
        ("1.24.1-1", "1.24.1-1+deb13u1", -1),
        ("1.24.1-1+deb13u10", "1.24.1-1+deb13u9", 1),
        ("1.26.1-1", "1.24.1-1+deb13u2", 1),
        ("1.26.1~rc1-1", "1.26.1-1", -1),
        ("1.26.1-1.pgdg13+1", "1.26.1-1", 1),
        ("1:1.22.0-1", "1.26.1-1", 1),
        ("1.26.0", "1.26", 1),
        ("1.9", "1.10", -1),
        ("1.24.1a-1", "1.24.1-1", 1),
        ("1.24.1+b1-1", "1.24.1a-1", 1),
    ],
)
def test_compare_versions_orders_like_dpkg(left, right, expected):
    assert adv.compare_versions(left, right) == expected
    assert adv.compare_versions(right, left) == -expected


@pytest.mark.parametrize(
    ("package", "release"),
    [(TRIXIE, "1.24.1"), (FORKY, "1.26.1"), ("1:1.25.2-1.pgdg13+1", "1.25.2"), ("1.22", "1.22")],
)
def test_upstream_release(package, release):
    assert adv.upstream_release(package) == release


@pytest.mark.parametrize("package", ["", "garbage", "v1.2.3", "1"])
def test_upstream_release_refuses_what_is_no_package_version(package):
    with pytest.raises(ValueError, match="not a PgBouncer package version"):
        adv.upstream_release(package)


def advisory(cve: str) -> adv.Advisory:
    return next(a for a in adv.load_advisories() if a.id == cve)


@pytest.mark.parametrize(
    ("package", "cve", "fixed"),
    [
        # Debian 13's revisions carry the backports their changelogs name, nothing else.
        ("1.24.1-1", "CVE-2025-12819", False),
        ("1.24.1-1+deb13u1", "CVE-2025-12819", True),
        (TRIXIE, "CVE-2025-12819", True),
        ("1.24.1-1+deb13u1", "CVE-2026-6664", False),
        (TRIXIE, "CVE-2026-6664", True),
        (TRIXIE, "CVE-2026-19888", False),
        (TRIXIE, "CVE-2026-6668", False),
        (TRIXIE, "CVE-2026-107350", False),
        # A backport is for its own upstream release only.
        ("1.23.1-1", "CVE-2025-12819", False),
        # The fixed upstream release, from any packager.
        ("1.26.0-1", "CVE-2026-19888", True),
        ("1.26.0-1", "CVE-2026-107349", False),
        (FORKY, "CVE-2026-107350", True),
        ("1.26.1-1.pgdg13+1", "CVE-2026-107348", True),
        ("1.27.0-1", "CVE-2026-6668", True),
    ],
)
def test_carries_fix(package, cve, fixed):
    assert adv.carries_fix(package, advisory(cve)) is fixed


def test_affects_only_from_the_first_affected_release():
    assert not adv.affects("1.20.0-1", advisory("CVE-2026-107348"))
    assert adv.affects("1.21.0-1", advisory("CVE-2026-107348"))


TRIXIE_OPEN = {"CVE-2026-19888", "CVE-2026-6668", "CVE-2026-6669", "CVE-2026-107350"}
# 1.24.1-1 lacks Debian 13's backports too.
PLAIN_1_24_1_OPEN = TRIXIE_OPEN | {"CVE-2026-6664", "CVE-2026-6665", "CVE-2026-6666", "CVE-2026-6667"}
UNQUALIFIED_AUTH_QUERY = "SELECT usename, passwd FROM pg_shadow WHERE usename=$1"


@pytest.mark.parametrize(
    ("package", "settings", "expected"),
    [
        (TRIXIE, SETTINGS, TRIXIE_OPEN),
        (FORKY, SETTINGS, set()),
        # Conditions: each opens its CVE on an affected release, and only then.
        (
            TRIXIE,
            {**SETTINGS, "ignore_startup_parameters": "extra_float_digits"},
            TRIXIE_OPEN | {"CVE-2026-107349"},
        ),
        (TRIXIE, {**SETTINGS, "ignore_startup_parameters": ""}, TRIXIE_OPEN),
        (FORKY, {**SETTINGS, "ignore_startup_parameters": "extra_float_digits"}, set()),
        (TRIXIE, {**SETTINGS, "max_packet_size": "2147483649"}, TRIXIE_OPEN | {"CVE-2026-107348"}),
        (TRIXIE, {**SETTINGS, "max_packet_size": "2147483648"}, TRIXIE_OPEN),
        ("1.24.1-1", {**SETTINGS, "track_extra_parameters": "IntervalStyle,search_path"}, PLAIN_1_24_1_OPEN),
        (
            "1.24.1-1",
            {**SETTINGS, "track_extra_parameters": "search_path", "auth_query": UNQUALIFIED_AUTH_QUERY},
            PLAIN_1_24_1_OPEN | {"CVE-2025-12819"},
        ),
        (
            TRIXIE,
            {**SETTINGS, "track_extra_parameters": "search_path", "auth_query": UNQUALIFIED_AUTH_QUERY},
            TRIXIE_OPEN,
        ),
        (
            "1.24.0-1",
            {key: value for key, value in SETTINGS.items() if key != "auth_query"},
            PLAIN_1_24_1_OPEN | {"CVE-2025-2291"},
        ),
        ("1.24.0-1", SETTINGS, PLAIN_1_24_1_OPEN),
    ],
)
def test_open_advisories(package, settings, expected):
    assert {a.id for a in adv.open_advisories(package, settings)} == expected


REACH = "on 10.0.0.5 (reachable from the network) and a unix socket"


def test_verdict_refuses_trixie_naming_the_cves_the_fix_and_the_way_out():
    verdict = adv.verdict(TRIXIE, SETTINGS, [], REACH)
    (error,) = verdict.errors
    for text in ("CVE-2026-19888", "CVE-2026-6668", "PgBouncer 1.26.0 or newer", "pgbouncer_install_source",
                 "rolling_restart.yml", "pgbouncer_accept_advisories", REACH):  # fmt: skip
        assert text in error
    # Not usable before login: reported, not refused.
    assert "CVE-2026-6669" not in error and "CVE-2026-107350" not in error
    assert [note.split(" (")[0].rsplit(" ", 1)[-1] for note in verdict.notes] == [
        "CVE-2026-6669",
        "CVE-2026-107350",
    ]


def test_verdict_accepts_named_cves_and_prints_them():
    verdict = adv.verdict(TRIXIE, SETTINGS, ["CVE-2026-19888", "CVE-2026-6668"], REACH)
    assert verdict.errors == []
    assert any(note.startswith("accepted by the inventory: CVE-2026-19888") for note in verdict.notes)
    assert any(note.startswith("accepted by the inventory: CVE-2026-6668") for note in verdict.notes)


def test_verdict_refuses_when_one_unauthenticated_cve_is_left():
    (error,) = adv.verdict(TRIXIE, SETTINGS, ["CVE-2026-19888"], REACH).errors
    assert "CVE-2026-6668" in error and "CVE-2026-19888" not in error


@pytest.mark.parametrize("accepted", [["CVE-2099-0001"], ["cve-2026-19888"], [7], ["CVE-2026-19888\n"]])
def test_verdict_refuses_an_unknown_accepted_id_by_name(accepted):
    errors = adv.verdict(FORKY, SETTINGS, accepted, REACH).errors
    assert errors and errors[0].startswith("pgbouncer_accept_advisories[0]: ")
    assert "is not a CVE of the advisories table" in errors[0]


def test_the_fixed_release_passes_with_nothing_to_say():
    assert adv.verdict(FORKY, SETTINGS, [], REACH) == adv.Verdict(errors=[], notes=[])


def test_every_row_is_complete():
    rows = adv.load_advisories()
    assert len({a.id for a in rows}) == len(rows)
    for row in rows:
        assert adv.compare_versions(row.affected, row.fixed) < 0, row.id
        assert all(adv.upstream_release(b) and adv.compare_versions(b, row.fixed) < 0 for b in row.backports)
        assert row.summary and (row.applies_when is None or row.mitigation), row.id
