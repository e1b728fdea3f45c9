"""Render the README's variable tables from the roles' meta/argument_specs.yml.

python tests/argspec_table.py          # print the tables
python tests/argspec_table.py --write  # replace them in README.md between the markers
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
ROLES = ["pgbouncer", "pgbouncer_postgresql"]
BEGIN, END = "<!-- variables:begin -->", "<!-- variables:end -->"


def _default(option: dict) -> str:
    if option.get("required"):
        return "**required**"
    if "default" not in option:
        return ""
    value = option["default"]
    text = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
    return f"`{text}`" if text not in ("''", "") else '`""`'


def _rows(options: dict, prefix: str = "") -> list[str]:
    rows = []
    for name, option in options.items():
        kind = option.get("type", "str")
        if option.get("elements"):
            kind += f" of {option['elements']}"
        if option.get("choices"):
            kind += ": " + ", ".join(str(choice) for choice in option["choices"])
        description = " ".join(str(option.get("description", "")).split())
        secret = " (secret: no_log)" if option.get("no_log") else ""
        rows.append(f"| `{prefix}{name}` | {kind} | {_default(option)} | {description}{secret} |")
        if option.get("options"):
            rows.extend(_rows(option["options"], prefix=f"{prefix}{name}[]."))
    return rows


def tables() -> str:
    parts = []
    for role in ROLES:
        spec = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
        main = spec["argument_specs"]["main"]
        parts.append(f"### Role `{role}`\n\n{main['short_description']}.\n")
        parts.append("| variable | type | default | meaning |\n|---|---|---|---|")
        parts.extend(_rows(main["options"]))
        parts.append("")
    return "\n".join(parts)


def readme_with_tables(readme: str) -> str:
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{tables()}{END}{tail}"


if __name__ == "__main__":
    if "--write" in sys.argv:
        path = ROOT / "README.md"
        path.write_text(readme_with_tables(path.read_text()))
    else:
        print(tables())
