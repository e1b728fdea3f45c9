"""The Grafana dashboard and the Prometheus console shipped in the collection: every expression
parses (promtool, as a recording rule), every panel reads the data source chosen on import. That
each returns data from a live Prometheus is proven in molecule (dashboard_queries_return_data.yml)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
FILES = ROOT / "roles/pgbouncer_monitoring/files"
DASHBOARD = json.loads((ROOT / "templates/monitoring/pgbouncer-toolkit-dashboard.json").read_text())
CONSOLE = (FILES / "consoles/pgbouncer-toolkit.html").read_text()


def expressions() -> list[str]:
    return [target["expr"] for panel in DASHBOARD["panels"] for target in panel["targets"]] + re.findall(
        r"query `([^`]+)`", CONSOLE
    )


def test_every_expression_parses(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: tests/bootstrap.sh installs it into .venv/bin"
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"check:expression_{n}", "expr": expr} for n, expr in enumerate(expressions())
                ],
            }
        ]
    }
    path = tmp_path / "expressions.yml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(expressions()) >= 15


def test_panels_use_the_chosen_data_source_and_unique_ids() -> None:
    panels = DASHBOARD["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    assert {panel["datasource"]["uid"] for panel in panels} == {"${datasource}"}
    assert [variable["name"] for variable in DASHBOARD["templating"]["list"]] == ["datasource"]
    assert all(target["expr"] for panel in panels for target in panel["targets"])


def test_the_console_queries_are_raw_strings_only() -> None:
    """Every static query is a raw string the tests can read; the two built with printf look up
    one series of a recording rule the static ones already cover."""
    actions = [
        action
        for action in re.findall(r"\{\{(.*?)\}\}", CONSOLE, re.S)
        if re.search(r"\bquery\b", action) and not action.startswith("/*")
    ]
    assert all("query `" in action or action.rstrip().endswith("| query") for action in actions), actions
    assert [action for action in actions if action.rstrip().endswith("| query")] == [
        ' with printf "pgbouncer:database_pool_size{host=%q,process=%q,database=%q}" .Labels.host .Labels.process '
        ".Labels.database | query ",
        ' with printf "postgresql:connections_allowed{instance=%q}" .Labels.instance | query ',
    ]
