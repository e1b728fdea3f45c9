"""Render the generated parts of the documentation: each role's README (its description and
variables, from roles/<role>/meta/argument_specs.yml) and the PgBouncer settings reference in
docs/settings.md (from plugins/plugin_utils/pgbouncer_settings.yml).

A generated part sits between two markers, <!-- <name>:begin --> and <!-- <name>:end -->; the text
around the markers is written by hand and left alone.

python tests/docs_tables.py          # name the files whose generated parts differ (exit status 1)
python tests/docs_tables.py --write  # rewrite every generated part (and add a missing role README)
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
ROLES_DIR = ROOT / "roles"
SETTINGS_FILE = ROOT / "plugins" / "plugin_utils" / "pgbouncer_settings.yml"
SETTINGS_DOC = ROOT / "docs" / "settings.md"
WRITE_COMMAND = "python tests/docs_tables.py --write"
SECTION_TITLES = {
    "pgbouncer": "`[pgbouncer]`: a role variable where the last column names one, else `pgbouncer_settings`",
    "databases": "`[databases]` entries: `pgbouncer_databases[].settings` (or the entry's own fields)",
    "users": "`[users]` entries: `pgbouncer_roles[].pool`",
    "peers": "`[peers]` entries: set by the role",
}


def roles() -> list[str]:
    """Every role of the collection: each needs meta/argument_specs.yml and a README made from it."""
    return sorted(path.name for path in ROLES_DIR.iterdir() if path.is_dir())


def role_readme(role: str) -> Path:
    return ROLES_DIR / role / "README.md"


def _main_spec(role: str) -> dict:
    spec = yaml.safe_load((ROLES_DIR / role / "meta" / "argument_specs.yml").read_text())
    return spec["argument_specs"]["main"]


# Table cells ----------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    """The text on one line: every run of white space that holds a line break becomes one space."""
    return re.sub(r"\s*\n\s*", " ", text.strip())


def _prose(text: object) -> str:
    """Description text for a cell or a paragraph: paragraphs (a list) joined, one line, `<` escaped
    so that `<n>` is shown instead of being read as HTML."""
    if isinstance(text, list):
        text = " ".join(str(part) for part in text)
    return " ".join(str(text or "").split()).replace("<", "&lt;")


def _code(text: str) -> str:
    """A code span that holds ``text`` as it is, whatever backticks it contains."""
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    padding = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{padding}{text}{padding}{fence}"


def _value(value: object) -> str:
    """A value as it is written in YAML or JSON: strings as they are, everything else as JSON."""
    if isinstance(value, str):
        return _one_line(value)
    return json.dumps(value, ensure_ascii=False)


def _cell(text: str) -> str:
    """A table cell: one line, `|` escaped (in code spans too, as GitHub's tables need)."""
    return _one_line(text).replace("|", "\\|")


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


# Role READMEs ---------------------------------------------------------------------------------


def _default(option: dict) -> str:
    if option.get("required"):
        return "**required**"
    if "default" not in option or option["default"] is None:
        return ""
    value = option["default"]
    return '`""`' if value == "" else _code(_value(value))


def _kind(option: dict) -> str:
    kind = option.get("type", "str")
    if option.get("elements"):
        kind += f" of {option['elements']}"
    if option.get("choices"):
        kind += ": " + ", ".join(_value(choice) for choice in option["choices"])
    return kind


def _variable_rows(options: dict, prefix: str = "") -> list[str]:
    rows = []
    for name, option in options.items():
        secret = " (secret: no_log)" if option.get("no_log") else ""
        meaning = _prose(option.get("description", "")) + secret
        rows.append(_row([_code(prefix + name), _kind(option), _default(option), meaning]))
        if option.get("options"):
            rows.extend(_variable_rows(option["options"], prefix=f"{prefix}{name}[]."))
    return rows


def role_description(role: str) -> str:
    """The role's short description and what it does, as paragraphs."""
    main = _main_spec(role)
    description = main.get("description", [])
    paragraphs = description if isinstance(description, list) else [description]
    parts = [_prose(main["short_description"]).rstrip(".") + "."]
    parts.extend(_prose(paragraph) for paragraph in paragraphs)
    return "\n\n".join(parts) + "\n"


def role_variables(role: str) -> str:
    """The role's variables table."""
    lines = [
        f"Generated from `meta/argument_specs.yml` (`{WRITE_COMMAND}`; a test fails when the two differ).",
        "",
        "| variable | type | default | meaning |",
        "|---|---|---|---|",
        *_variable_rows(_main_spec(role)["options"]),
    ]
    return "\n".join(lines) + "\n"


def role_readme_skeleton(role: str) -> str:
    """A new role README: the title and the generated parts, for the hand-written text to join."""
    return (
        f"# Role `pgbouncer_toolkit.pgbouncer.{role}`\n\n"
        "<!-- description:begin -->\n<!-- description:end -->\n\n"
        "## Variables\n\n"
        "<!-- variables:begin -->\n<!-- variables:end -->\n"
    )


# The settings reference -----------------------------------------------------------------------


def _settings_rows(section: str, keys: dict, managed: dict) -> list[str]:
    rows = []
    for key, spec in keys.items():
        kind = spec["type"]
        if spec.get("choices"):
            choices = spec["choices"]
            newest = choices[max(choices)] if isinstance(choices, dict) else choices
            kind += ": " + ", ".join(_value(choice) for choice in newest)
        bounds = ""
        if spec.get("min") is not None or spec.get("max") is not None:
            low = "" if spec.get("min") is None else spec["min"]
            high = "" if spec.get("max") is None else spec["max"]
            bounds = f"{low}..{high}"
        versions = spec["since"] + (f" to before {spec['until']}" if spec.get("until") else "")
        reload = "" if section != "pgbouncer" else ("yes" if spec.get("reload", True) else "**restart**")
        meaning = _prose(spec.get("description"))
        rows.append(_row([_code(key), kind, bounds, versions, reload, managed.get(key, ""), meaning]))
    return rows


def settings_tables() -> str:
    """One table per section of the settings table, with the role variable that sets a key."""
    sys.path.insert(0, str(ROOT / "collections"))
    from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils import pgbouncer_role

    managed = {key: f"`{variable}`" for variable, key in pgbouncer_role.role_variables().items()}
    managed.update({key: "(role)" for key in pgbouncer_role.managed_keys() if key not in managed})
    managed.update({"auth_user": "`pgbouncer_auth_user`", "auth_dbname": "`pgbouncer_auth_database`"})
    data = yaml.safe_load(SETTINGS_FILE.read_text())
    parts = [f"Releases covered: {', '.join(data['versions'])}.\n"]
    for section, keys in data["sections"].items():
        parts.append(f"## {SECTION_TITLES[section]}\n")
        parts.append(
            "| key | type | bounds | PgBouncer | RELOAD applies | set by | meaning |\n|---|---|---|---|---|---|---|"
        )
        parts.extend(_settings_rows(section, keys, managed if section == "pgbouncer" else {}))
        parts.append("")
    return "\n".join(parts)


# Files and their generated parts --------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """One generated part of a file: the text between its markers is ``render()``."""

    path: Path
    name: str
    render: Callable[[], str]

    @property
    def begin(self) -> str:
        return f"<!-- {self.name}:begin -->"

    @property
    def end(self) -> str:
        return f"<!-- {self.name}:end -->"


def blocks() -> list[Block]:
    """Every generated part of the documentation."""
    found = []
    for role in roles():
        found.append(Block(role_readme(role), "description", lambda role=role: role_description(role)))
        found.append(Block(role_readme(role), "variables", lambda role=role: role_variables(role)))
    found.append(Block(SETTINGS_DOC, "settings", settings_tables))
    return found


def replace_block(text: str, block: Block, content: str) -> str:
    """``text`` with the part between the block's markers replaced by ``content``."""
    if text.count(block.begin) != 1 or text.count(block.end) != 1:
        raise ValueError(f"{block.path}: expected one {block.begin} and one {block.end}")
    head, rest = text.split(block.begin, 1)
    _, tail = rest.split(block.end, 1)
    return f"{head}{block.begin}\n{content}{block.end}{tail}"


def generated(path: Path, text: str) -> str:
    """``text`` (the file at ``path``) with every generated part it should hold rendered now."""
    for block in blocks():
        if block.path == path:
            text = replace_block(text, block, block.render())
    return text


def documents() -> list[Path]:
    """The files that hold generated parts."""
    return sorted({block.path for block in blocks()})


def is_current(path: Path) -> bool:
    """Whether the file exists and every generated part in it is what the sources give now."""
    return path.exists() and generated(path, path.read_text()) == path.read_text()


def drift() -> list[Path]:
    """The files whose generated parts differ from what the sources give now, or that are missing."""
    return [path for path in documents() if not is_current(path)]


def write() -> list[Path]:
    """Rewrite every generated part; a missing role README is started from the skeleton."""
    written = []
    for path in documents():
        if path.exists():
            text = path.read_text()
        elif path.name == "README.md" and path.parent.parent == ROLES_DIR:
            text = role_readme_skeleton(path.parent.name)
        else:
            raise FileNotFoundError(path)
        new = generated(path, text)
        if new != text or not path.exists():
            path.write_text(new)
            written.append(path)
    return written


if __name__ == "__main__":
    if "--write" in sys.argv[1:]:
        for path in write():
            print(f"wrote {path.relative_to(ROOT)}")
    else:
        stale = drift()
        for path in stale:
            state = "out of date" if path.exists() else "missing"
            print(f"{state}: {path.relative_to(ROOT)} (run: {WRITE_COMMAND})")
        sys.exit(1 if stale else 0)
