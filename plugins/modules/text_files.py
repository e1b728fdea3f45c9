#!/usr/bin/python
"""Several small text files written in one module run: the same result as one copy task per file,
at one round trip to the host instead of two per file (copy's stat, then its file or copy)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: text_files
short_description: Write several small text files, each with its owner, group and mode, in one run
description:
  - Makes each file in I(files) hold exactly its I(content), with its owner, group and mode, as
    M(ansible.builtin.copy) with C(content) does for one file, in a single run on the host.
  - A file whose content differs is replaced atomically; the new file gets its owner, group and
    mode before it takes the old one's place, so a reader never sees it with the wrong ones (a
    file holding a secret is never readable by anyone it is not meant for, even for a moment).
  - A file whose content is right only gets its owner, group and mode put right.
  - The directories must exist (in check mode a missing one counts as a change, not an error).
version_added: "0.1.0"
author: pgbouncer-toolkit developers (@pgbouncer-toolkit)
options:
  files:
    description: The files, in the order they are written.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: The file's absolute path.
        type: path
        required: true
      content:
        description: What the file holds, exactly (no newline is added).
        type: str
        required: true
      owner:
        description: The file's owner.
        type: str
        default: root
      group:
        description: The file's group.
        type: str
        default: root
      mode:
        description: The file's mode, in octal (C("0640")).
        type: str
        required: true
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
notes:
  - Set C(no_log) on the task when a content is a secret; the module cannot tell.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Write the unit and its drop-in
  pgbouncer_toolkit.pgbouncer.text_files:
    files:
      - path: /etc/systemd/system/example.service
        content: "{{ lookup('ansible.builtin.template', 'example.service.j2') }}"
        mode: "0644"
      - path: /etc/example/secret
        content: "{{ example_secret }}"
        group: example
        mode: "0640"
  register: written
  no_log: true
"""

RETURN = r"""
changed_paths:
  description: The files whose content, owner, group or mode changed (or would, in check mode).
  returned: always
  type: list
  elements: str
  sample: [/etc/systemd/system/example.service]
"""

import os  # noqa: E402
import tempfile  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402


def current_content(path: str) -> bytes | None:
    """The file's bytes, or None when it does not exist."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def _attributes(module: AnsibleModule, path: str, spec: dict[str, Any]) -> dict[str, Any]:
    return module.load_file_common_arguments(
        {"path": path, "owner": spec["owner"], "group": spec["group"], "mode": spec["mode"]}
    )


def replace(module: AnsibleModule, spec: dict[str, Any], content: bytes) -> None:
    """Write ``content`` to a new file beside ``spec['path']``, give it its owner, group and mode,
    then rename it over the path (atomic in one directory)."""
    path = spec["path"]
    descriptor, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=f".{os.path.basename(path)}.")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        module.set_fs_attributes_if_different(_attributes(module, temporary, spec), False)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def write_files(module: AnsibleModule, files: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, str]]]:
    """(the paths that changed, their diffs); writes nothing in check mode."""
    changed: list[str] = []
    diffs: list[dict[str, str]] = []
    for spec in files:
        path = spec["path"]
        if not os.path.isabs(path):
            module.fail_json(msg=f"files: {path!r} is not an absolute path")
        wanted = spec["content"].encode("utf-8")
        try:
            before = current_content(path)
            if before == wanted:
                if module.set_fs_attributes_if_different(_attributes(module, path, spec), False):
                    changed.append(path)
                continue
            if not module.check_mode:
                replace(module, spec, wanted)
        except OSError as error:
            module.fail_json(msg=f"could not write {path}: {error.strerror}", changed_paths=changed)
        changed.append(path)
        diffs.append(
            {
                "before_header": path,
                "after_header": path,
                "before": "" if before is None else before.decode("utf-8", "replace"),
                "after": spec["content"],
            }
        )
    return changed, diffs


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "files": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "path": {"type": "path", "required": True},
                    "content": {"type": "str", "required": True},
                    "owner": {"type": "str", "default": "root"},
                    "group": {"type": "str", "default": "root"},
                    "mode": {"type": "str", "required": True},
                },
            }
        },
        supports_check_mode=True,
    )
    changed, diffs = write_files(module, module.params["files"])
    result: dict[str, Any] = {"changed": bool(changed), "changed_paths": changed}
    if module._diff and diffs:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
