"""The shared name rules (module_utils/names), used by the modules and the first-play filters alike:
a name starting with '/' is refused for roles, databases and every other name, because
pg_hba.conf reads it as a regular expression on PostgreSQL 16+, quoted or not."""

from __future__ import annotations

import pytest

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils import names

RULES = [names.name_problem, names.role_name_problem, names.schema_name_problem]


@pytest.mark.parametrize("name", ["/.*", "/^(reports|postgres)$", "/app", "/", "//"])
@pytest.mark.parametrize("rule", RULES)
def test_a_leading_slash_is_refused_with_the_reason(rule, name):
    problem = rule(name)
    assert problem is not None and "must not start with '/'" in problem, problem
    assert "regular expression" in problem and "PostgreSQL 16" in problem, problem


@pytest.mark.parametrize(
    "name", ["app/reports", "app /x", "+admins", "@names.txt", "sameuser", "replication", 'O\'B "Q"', "ü"]
)
@pytest.mark.parametrize("rule", RULES)
def test_names_quoting_keeps_literal_are_accepted(rule, name):
    # Quoted, '+' (group), '@' (file) and the keywords lose their meaning in pg_hba.conf.
    assert rule(name) is None


@pytest.mark.parametrize("name", ["all", "ALL", "public", "pg_monitor"])
def test_reserved_role_names_stay_refused(name):
    assert names.role_name_problem(name) is not None
