#!/usr/bin/python
"""The version apt would install from an apt source that is not added yet; changes nothing."""

from __future__ import annotations

DOCUMENTATION = r"""
module: apt_source_candidate
short_description: Read the version a package has in an apt repository before the repository is added
description:
  - Answers "which version of I(name) does this repository offer this host?" before the
    repository is added, so the first play of a run can check that version (against the
    advisories table) while no host has changed yet.
  - Fetches the repository's signing key and its package lists into a temporary directory and asks
    apt with a throwaway configuration that reads nothing else (no other source, no
    preferences); the host's apt configuration, lists and cache are neither read nor written.
    The signature of the repository's Release file is checked against the fetched key.
  - The temporary directory is removed before the module returns.
version_added: "0.1.0"
author: pgbouncer-toolkit developers (@pgbouncer-toolkit)
options:
  name:
    description: The package.
    type: str
    required: true
  url:
    description: The repository's base URL (deb822 C(URIs)).
    type: str
    required: true
  suite:
    description: The suite (deb822 C(Suites)), such as C(trixie-pgdg).
    type: str
    required: true
  components:
    description: The components (deb822 C(Components)).
    type: list
    elements: str
    default: [main]
  key_url:
    description: Where the repository's signing key (ASCII-armoured or binary) is published.
    type: str
    required: true
  timeout:
    description: Seconds for each download and for each apt command.
    type: int
    default: 120
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Runs as root on the host (apt-get update into a private directory).
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Read the PgBouncer version PGDG offers this host
  pgbouncer_toolkit.pgbouncer.apt_source_candidate:
    name: pgbouncer
    url: https://apt.postgresql.org/pub/repos/apt
    suite: "{{ ansible_facts.distribution_release }}-pgdg"
    key_url: https://www.postgresql.org/media/keys/ACCC4CF8.asc
  register: pgdg_pgbouncer
"""

RETURN = r"""
candidate:
  description: The newest version of I(name) the repository offers, or null when it has none.
  returned: always
  type: str
  sample: 1.26.1-1.pgdg13+1
"""

import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.urls import fetch_url  # noqa: E402

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.apt_policy import newest_from  # noqa: E402


def _apt_options(work: str) -> list[str]:
    """A configuration that reads only the private source and writes only under ``work``."""
    return [
        "-o", "Dir::Etc::SourceList=/dev/null",
        "-o", f"Dir::Etc::SourceParts={work}/sources.list.d",
        "-o", "Dir::Etc::Preferences=/dev/null",
        "-o", f"Dir::Etc::PreferencesParts={work}/preferences.d",
        "-o", f"Dir::State::Lists={work}/lists",
        "-o", f"Dir::Cache={work}/cache",
        "-o", "Dir::Cache::pkgcache=",
        "-o", "Dir::Cache::srcpkgcache=",
        # The private directory is root's: apt's unprivileged download user could not write it.
        "-o", "APT::Sandbox::User=root",
    ]  # fmt: skip


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "url": {"type": "str", "required": True},
            "suite": {"type": "str", "required": True},
            "components": {"type": "list", "elements": "str", "default": ["main"]},
            "key_url": {"type": "str", "required": True, "no_log": False},
            "timeout": {"type": "int", "default": 120},
        },
        supports_check_mode=True,
    )
    params = module.params
    fields = [("name", params["name"]), ("url", params["url"]), ("suite", params["suite"])]
    fields += [(f"components[{index}]", text) for index, text in enumerate(params["components"])]
    for where, text in fields:
        if not text or re.search(r"\s", text):
            module.fail_json(msg=f"{where}: {text!r} must be one word (it goes into a deb822 field)")
    work = tempfile.mkdtemp(prefix="apt-source-candidate-")
    try:
        for directory in ("sources.list.d", "preferences.d", "lists/partial", "cache/archives/partial"):
            os.makedirs(os.path.join(work, directory))
        response, info = fetch_url(module, params["key_url"], timeout=params["timeout"])
        if info["status"] != 200:
            module.fail_json(msg=f"could not fetch the signing key {params['key_url']}: {info.get('msg')}")
        key_file = os.path.join(work, "key.asc" if b"BEGIN PGP" in (key := response.read()) else "key.gpg")
        with open(key_file, "wb") as handle:
            handle.write(key)
        with open(os.path.join(work, "sources.list.d", "candidate.sources"), "w", encoding="utf-8") as handle:
            handle.write(
                f"Types: deb\nURIs: {params['url']}\nSuites: {params['suite']}\n"
                f"Components: {' '.join(params['components'])}\nSigned-By: {key_file}\n"
            )
        options = _apt_options(work)
        for command in (
            ["apt-get", *options, "-q", "update"],
            ["apt-cache", *options, "policy", params["name"]],
        ):
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=params["timeout"], check=False,
                env={**os.environ, "LC_ALL": "C"},
            )  # fmt: skip
            # apt-get update exits 0 on a failed download or signature: its warnings say so.
            if done.returncode != 0 or re.search(r"^(W|E): ", done.stderr, re.M):
                module.fail_json(
                    msg=f"{command[0]} failed for {params['url']} {params['suite']}", stderr=done.stderr
                )
        candidate = newest_from(done.stdout, params["url"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    module.exit_json(changed=False, candidate=candidate)


if __name__ == "__main__":
    main()
