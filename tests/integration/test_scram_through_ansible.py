"""The SCRAM filter called the way the roles call it: values from an inventory file, through
ansible-playbook, where Ansible hands the filter its own tagged str and int subclasses."""

from __future__ import annotations

import json

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.filter.scram import (
    scram_sha256_verifier,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.scram import saslprep
from tests.playbooks import run_playbook

SALT = "MDEyMzQ1Njc4OWFiY2RlZg=="
PASSWORDS = {
    "nbsp": "pass\u00a0word",
    "ligature": "\ufb01le",
    "soft_hyphen": "pass\u00adword",
    "fullwidth": "\uff30\uff21\uff33\uff33",
    "emoji": "key🔑",
}


PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Make a verifier per password, and check each against its password
      ansible.builtin.set_fact:
        made: "{{ made | default({}) | combine({item.key: {'verifier': verifier, 'matches': matches}}) }}"
      loop: "{{ scram_passwords | dict2items }}"
      vars:
        verifier: >-
          {{ item.value | pgbouncer_toolkit.pgbouncer.scram_sha256_verifier(salt=salt, iterations=scram_iterations) }}
        matches: >-
          {{ item.value | pgbouncer_toolkit.pgbouncer.scram_sha256_verifier(iterations=scram_iterations)
             | pgbouncer_toolkit.pgbouncer.scram_sha256_verifier_matches(item.value) }}

    - name: Write them out
      ansible.builtin.copy:
        dest: "{{ output }}"
        mode: "0600"
        content: "{{ made | to_json }}"
"""


def test_inventory_values_get_saslprep_and_match(tmp_path):
    output = tmp_path / "verifiers.json"
    host_vars = {"scram_iterations": 4096, "scram_passwords": PASSWORDS, "output": str(output), "salt": SALT}
    result = run_playbook(tmp_path, host_vars, PLAYBOOK)
    assert result.returncode == 0, result.stdout + result.stderr
    made = json.loads(output.read_text())
    for name, password in PASSWORDS.items():
        prepared = saslprep(password)
        # What PostgreSQL hashes: the SASLprep form, or the raw text where SASLprep refuses it.
        expected = scram_sha256_verifier(password if prepared is None else prepared, salt=SALT)
        assert made[name]["verifier"] == expected, name
        assert made[name]["matches"] is True, name
    # The SASLprep forms really differ from the raw text for the first four (the test can fail).
    assert all(saslprep(PASSWORDS[name]) != PASSWORDS[name] for name in ("nbsp", "ligature", "soft_hyphen"))
