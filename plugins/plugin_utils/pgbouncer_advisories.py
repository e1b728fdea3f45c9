"""PgBouncer's security advisories against the package a pooler host will run.

The table (``pgbouncer_advisories.yml`` beside this file) lists each CVE with the upstream releases
it affects, the distribution package versions that backport its fix, who can use it and, where
PgBouncer's NEWS limits it to a configuration, the condition (a function here, by name). The
first play refuses a release with an open CVE that an unauthenticated client can use, unless the
inventory accepts it by id; every other open CVE is reported.

Controller-only code (it reads the table with PyYAML): filters import it, modules never do.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

TABLE_FILE = Path(__file__).with_name("pgbouncer_advisories.yml")
REACHES = ("unauthenticated_client", "password", "console", "server")
REACH_TEXT = {
    "unauthenticated_client": "any client that reaches a listener, before it logs in",
    "password": "a client that knows a password",
    "console": "a user of the admin console",
    "server": "a PostgreSQL server PgBouncer connects to",
}
_CVE = re.compile(r"CVE-[0-9]{4}-[0-9]{4,}")
# The auth_query the toolkit renders: its function by quoted, schema-qualified name, no operator.
_TOOLKIT_AUTH_QUERY = re.compile(r'SELECT username, password FROM "(?:[^"]|"")+"\."(?:[^"]|"")+"\(\$1\)')
PACKET_LENGTH_LIMIT = 2**31


@dataclass(frozen=True)
class Advisory:
    """One CVE as the table describes it."""

    id: str
    summary: str
    affected: str
    fixed: str
    backports: tuple[str, ...]
    reach: str
    applies_when: str | None = None
    mitigation: str = ""


# --------------------------------------------------------------------------------------------
# Debian package versions (deb-version(7)): [epoch:]upstream[-revision]


def _order(character: str) -> int:
    """dpkg's order of a non-digit character: '~' before the end, letters before the rest."""
    if character == "~":
        return -1
    if character.isalpha():
        return ord(character)
    return ord(character) + 256


def _compare_part(left: str, right: str) -> int:
    """dpkg's comparison of an upstream version or a revision: non-digit runs character by
    character, digit runs as numbers, alternately."""
    while left or right:
        left_text = re.match(r"[^0-9]*", left).group()
        right_text = re.match(r"[^0-9]*", right).group()
        for index in range(max(len(left_text), len(right_text))):
            a = _order(left_text[index]) if index < len(left_text) else 0
            b = _order(right_text[index]) if index < len(right_text) else 0
            if a != b:
                return -1 if a < b else 1
        left, right = left[len(left_text) :], right[len(right_text) :]
        left_digits = re.match(r"[0-9]*", left).group()
        right_digits = re.match(r"[0-9]*", right).group()
        if int(left_digits or 0) != int(right_digits or 0):
            return -1 if int(left_digits or 0) < int(right_digits or 0) else 1
        left, right = left[len(left_digits) :], right[len(right_digits) :]
    return 0


def _split(version: str) -> tuple[int, str, str]:
    epoch, _colon, rest = version.rpartition(":") if ":" in version else ("0", "", version)
    upstream, _dash, revision = rest.rpartition("-") if "-" in rest else (rest, "", "")
    return int(epoch or 0), upstream, revision


def compare_versions(left: str, right: str) -> int:
    """-1, 0 or 1 as dpkg --compare-versions orders two package versions."""
    left_epoch, left_upstream, left_revision = _split(left)
    right_epoch, right_upstream, right_revision = _split(right)
    if left_epoch != right_epoch:
        return -1 if left_epoch < right_epoch else 1
    return _compare_part(left_upstream, right_upstream) or _compare_part(left_revision, right_revision)


def upstream_release(package_version: str) -> str:
    """'1:1.24.1-1+deb13u2' -> '1.24.1': the upstream release a package version ships."""
    match = re.match(r"(?:[0-9]+:)?([0-9]+\.[0-9]+(?:\.[0-9]+)?)", str(package_version).strip())
    if match is None:
        raise ValueError(f"{package_version!r} is not a PgBouncer package version")
    return match.group(1)


# --------------------------------------------------------------------------------------------
# The table


@functools.cache
def load_advisories(path: str = str(TABLE_FILE)) -> tuple[Advisory, ...]:
    """Read the table (once per process), refusing a row that the checks could misread."""
    rows = yaml.safe_load(Path(path).read_text(encoding="utf-8"))["advisories"]
    advisories = []
    for row in rows:
        advisory = Advisory(
            id=str(row["id"]),
            summary=" ".join(str(row["summary"]).split()),
            affected=str(row["affected"]),
            fixed=str(row["fixed"]),
            backports=tuple(str(version) for version in row.get("backports") or ()),
            reach=str(row["reach"]),
            applies_when=row.get("applies_when"),
            mitigation=" ".join(str(row.get("mitigation") or "").split()),
        )
        if not _CVE.fullmatch(advisory.id) or advisory.reach not in REACHES:
            raise ValueError(f"advisories table: bad id or reach in {row!r}")
        if advisory.applies_when is not None and advisory.applies_when not in CONDITIONS:
            raise ValueError(f"advisories table: {advisory.id}: unknown condition {advisory.applies_when!r}")
        advisories.append(advisory)
    return tuple(advisories)


def carries_fix(package_version: str, advisory: Advisory) -> bool:
    """Whether ``package_version`` has ``advisory``'s fix: a fixed upstream release, or a backport
    revision (or a later one) of the same upstream release."""
    release = upstream_release(package_version)
    if compare_versions(release, advisory.fixed) >= 0:
        return True
    return any(
        upstream_release(backport) == release and compare_versions(package_version, backport) >= 0
        for backport in advisory.backports
    )


def affects(package_version: str, advisory: Advisory) -> bool:
    """Whether the release of ``package_version`` has the issue and the package lacks its fix."""
    release = upstream_release(package_version)
    return compare_versions(release, advisory.affected) >= 0 and not carries_fix(package_version, advisory)


# --------------------------------------------------------------------------------------------
# Conditions: NEWS limits some issues to a configuration; each reads the rendered [pgbouncer]
# section (the text each key will have in pgbouncer.ini; a missing key is PgBouncer's default).


def _items(settings: Mapping[str, str], key: str) -> list[str]:
    return [item.strip().lower() for item in str(settings.get(key, "")).split(",") if item.strip()]


def _default_auth_query(settings: Mapping[str, str]) -> bool:
    """CVE-2025-2291 is in the compiled default auth_query: only it ignores VALID UNTIL."""
    return not settings.get("auth_query")


def _search_path_tracked_with_unqualified_auth_query(settings: Mapping[str, str]) -> bool:
    """CVE-2025-12819 needs all three: search_path tracked, an auth_user, an auth_query that is
    not fully qualified (anything but the toolkit's own form counts as not qualified)."""
    return (
        "search_path" in _items(settings, "track_extra_parameters")
        and bool(settings.get("auth_user"))
        and not _TOOLKIT_AUTH_QUERY.fullmatch(str(settings.get("auth_query", "")))
    )


def _max_packet_size_above_2_31(settings: Mapping[str, str]) -> bool:
    """CVE-2026-107348 needs max_packet_size of 2^31 + 1 or more (the default is 2^31 - 1)."""
    return int(settings.get("max_packet_size", PACKET_LENGTH_LIMIT - 1)) > PACKET_LENGTH_LIMIT


def _ignore_startup_parameters_without_options(settings: Mapping[str, str]) -> bool:
    """CVE-2026-107349 needs ignore_startup_parameters set, without options."""
    parameters = _items(settings, "ignore_startup_parameters")
    return bool(parameters) and "options" not in parameters


CONDITIONS: dict[str, Callable[[Mapping[str, str]], bool]] = {
    "default_auth_query": _default_auth_query,
    "search_path_tracked_with_unqualified_auth_query": _search_path_tracked_with_unqualified_auth_query,
    "max_packet_size_above_2_31": _max_packet_size_above_2_31,
    "ignore_startup_parameters_without_options": _ignore_startup_parameters_without_options,
}


def open_advisories(package_version: str, settings: Mapping[str, str]) -> list[Advisory]:
    """The advisories that affect ``package_version`` and whose condition ``settings`` meet."""
    return [
        advisory
        for advisory in load_advisories()
        if affects(package_version, advisory)
        and (advisory.applies_when is None or CONDITIONS[advisory.applies_when](settings))
    ]


# --------------------------------------------------------------------------------------------
# The verdict for one host


@dataclass(frozen=True)
class Verdict:
    """What the first play says about one host's PgBouncer package."""

    errors: list[str]
    # Open advisories the run goes on with: accepted ones and those no unauthenticated client
    # can use, one line each.
    notes: list[str]


def _line(advisory: Advisory) -> str:
    return f"{advisory.id} ({advisory.summary}; usable by {REACH_TEXT[advisory.reach]}; fixed in {advisory.fixed})"


def verdict(
    package_version: str,
    settings: Mapping[str, str],
    accepted: Iterable[object],
    reachable_from: str,
    variable: str = "pgbouncer_accept_advisories",
) -> Verdict:
    """Refuse ``package_version`` when an open advisory is usable by an unauthenticated client and
    not in ``accepted``; ``reachable_from`` says where this host listens, for the message."""
    errors: list[str] = []
    known = {advisory.id for advisory in load_advisories()}
    accepted_ids: set[str] = set()
    for index, item in enumerate(accepted or ()):
        if not isinstance(item, str) or item not in known:
            errors.append(
                f"{variable}[{index}]: {item!r} is not a CVE of the advisories table "
                f"(known: {', '.join(sorted(known))})"
            )
        else:
            accepted_ids.add(item)
    found = open_advisories(package_version, settings)
    refused = [a for a in found if a.reach == "unauthenticated_client" and a.id not in accepted_ids]
    if refused:
        fixed = max((a.fixed for a in refused), key=functools.cmp_to_key(compare_versions))
        errors.append(
            f"PgBouncer {package_version} has open CVEs that any client reaching it can use before "
            f"logging in, and this host listens {reachable_from}: "
            + "; ".join(_line(a) for a in refused)
            + f". PgBouncer {fixed} or newer fixes them. With pgbouncer_install_source auto (the "
            "default) or pgdg the toolkit installs it from the PostgreSQL project's repository "
            "(pgbouncer_pgdg_repo_url); a host that runs an older release already is upgraded by "
            "playbooks/rolling_restart.yml -e pgbouncer_rolling_upgrade=true. To run this release "
            f"anyway, list these ids in {variable}."
        )
    notes = [
        ("accepted by the inventory: " if a.id in accepted_ids else "open, not usable before login: ")
        + _line(a)
        for a in found
        if a not in refused
    ]
    return Verdict(errors=errors, notes=notes)
