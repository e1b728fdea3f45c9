"""Render the README's generated tables: the roles' variables (from meta/argument_specs.yml) and
PgBouncer's settings (from plugins/module_utils/pgbouncer_settings.yml).

python tests/argspec_table.py          # print the tables
python tests/argspec_table.py --write  # replace them in README.md between the markers
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
ROLES = [
    "pgbouncer",
    "pgbouncer_postgresql",
    "pgbouncer_tls",
    "pgbouncer_app_files",
    "pgbouncer_lb",
    "pgbouncer_monitoring",
]
BEGIN, END = "<!-- variables:begin -->", "<!-- variables:end -->"
SETTINGS_BEGIN, SETTINGS_END = "<!-- settings:begin -->", "<!-- settings:end -->"
SETTINGS_FILE = ROOT / "plugins" / "module_utils" / "pgbouncer_settings.yml"
SECTION_TITLES = {
    "pgbouncer": "`[pgbouncer]`: a role variable where the last column names one, else `pgbouncer_settings`",
    "databases": "`[databases]` entries: `pgbouncer_databases[].settings` (or the entry's own fields)",
    "users": "`[users]` entries: `pgbouncer_roles[].pool`",
    "peers": "`[peers]` entries: set by the role",
}


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


def _settings_rows(section: str, keys: dict, managed: dict) -> list[str]:
    rows = []
    for key, spec in keys.items():
        kind = spec["type"]
        if spec.get("choices"):
            choices = spec["choices"]
            newest = choices[max(choices)] if isinstance(choices, dict) else choices
            kind += ": " + ", ".join(newest)
        bounds = ""
        if spec.get("min") is not None or spec.get("max") is not None:
            bounds = f"{spec.get('min', '')}..{spec.get('max', '')}"
        versions = spec["since"] + (f" to before {spec['until']}" if spec.get("until") else "")
        reload = "" if section != "pgbouncer" else ("yes" if spec.get("reload", True) else "**restart**")
        where = managed.get(key, "")
        description = " ".join(str(spec.get("description", "")).split()).replace("|", "\\|")
        rows.append(f"| `{key}` | {kind} | {bounds} | {versions} | {reload} | {where} | {description} |")
    return rows


def settings_tables() -> str:
    """One table per section of the settings table, with the role variable that sets a key."""
    sys.path.insert(0, str(ROOT / "collections"))
    from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils import pgbouncer_config

    managed = {key: f"`{variable}`" for variable, key in pgbouncer_config.ROLE_VARIABLES.items()}
    managed.update({key: "(role)" for key in pgbouncer_config.MANAGED_KEYS if key not in managed})
    managed.update({"auth_user": "`pgbouncer_auth_user`", "auth_dbname": "`pgbouncer_auth_database`"})
    data = yaml.safe_load(SETTINGS_FILE.read_text())
    parts = [f"Releases covered: {', '.join(data['versions'])}.\n"]
    for section, keys in data["sections"].items():
        parts.append(f"#### {SECTION_TITLES[section]}\n")
        parts.append(
            "| key | type | bounds | PgBouncer | RELOAD applies | set by | meaning |\n|---|---|---|---|---|---|---|"
        )
        parts.extend(_settings_rows(section, keys, managed if section == "pgbouncer" else {}))
        parts.append("")
    return "\n".join(parts)


def _replace(text: str, begin: str, end: str, content: str) -> str:
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{content}{end}{tail}"


def readme_with_tables(readme: str) -> str:
    readme = _replace(readme, BEGIN, END, tables())
    return _replace(readme, SETTINGS_BEGIN, SETTINGS_END, settings_tables())


if __name__ == "__main__":
    if "--write" in sys.argv:
        path = ROOT / "README.md"
        path.write_text(readme_with_tables(path.read_text()))
    else:
        print(tables())
        print(settings_tables())
