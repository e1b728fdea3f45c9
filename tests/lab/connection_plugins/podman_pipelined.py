"""containers.podman.podman with pipelining, for the test bed's containers only.

The collection's podman connection runs a `podman mount` and five `podman exec` per task (home
directory, temp directory, chmod, the module, clean-up), because it never passes stdin on. Here the
module arrives on stdin, as it does over SSH with `pipelining = true` on a real host, and a task
costs one command in the container.

That command enters the container's namespaces with nsenter (run as root on the controller, as
rootful podman is) rather than through `podman exec`: each podman command costs about 0.2 s of
wall time and a conmon and runc start, nsenter a few milliseconds. The command gets the
container's own environment (its image's, as `podman exec` gives it), and its PID 1's root and
working directory. The container's PID and environment are read with `podman inspect` once per
container and kept in a file beside the controller's other temporary files, checked against the
process's cgroup before each use (a container made again under the same name has another ID).
A remote user, extra podman arguments or a controller not running as root fall back to
`podman exec`."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import tempfile
from pathlib import Path

from ansible.errors import AnsibleError
from ansible.module_utils.common.process import get_bin_path
from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible.plugins.connection import ConnectionBase, ensure_connect
from ansible_collections.containers.podman.plugins.connection.podman import Connection as PodmanConnection

DOCUMENTATION = """
name: podman_pipelined
short_description: containers.podman.podman with pipelining (test bed only)
description:
  - Runs commands in a running podman container, in its namespaces (nsenter) with its
    environment, and hands stdin to them, so Ansible pipelines modules. Falls back to
    podman exec as containers.podman.podman does for a remote user or extra podman arguments.
author: pgbouncer-toolkit
options:
  remote_addr:
    description: The name or ID of the container.
    default: inventory_hostname
    vars:
      - name: ansible_host
      - name: inventory_hostname
  remote_user:
    description: The user commands run as inside the container (the container's default if unset).
    vars:
      - name: ansible_user
  podman_extra_args:
    description: Extra arguments for podman, before its subcommand.
    default: ""
    vars:
      - name: ansible_podman_extra_args
  pipelining:
    description: Send modules on stdin (one command per task) rather than as files.
    type: bool
    default: true
    vars:
      - name: ansible_pipelining
  podman_executable:
    description: The podman executable.
    default: podman
    vars:
      - name: ansible_podman_executable
"""

CACHE_DIR = Path(tempfile.gettempdir()) / f"podman-pipelined-{os.getuid()}"


def _cached_target(name: str) -> dict | None:
    """The cached PID, ID and environment of container ``name``, if its PID is still that container's."""
    try:
        target = json.loads((CACHE_DIR / f"{name}.json").read_text())
        cgroups = Path(f"/proc/{int(target['pid'])}/cgroup").read_text()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return target if target.get("id") and target["id"] in cgroups else None


def _inspect_target(podman: str, name: str) -> dict:
    """Read the PID, ID and environment of running container ``name`` with podman, and cache them."""
    result = subprocess.run(
        [podman, "inspect", "--type", "container", "--format", "json", name],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        raise AnsibleError(f"podman inspect {name} failed: {to_native(result.stderr).strip()}")
    state = json.loads(result.stdout)[0]
    if not state["State"].get("Running") or not state["State"].get("Pid"):
        raise AnsibleError(f"container {name} is not running")
    target = {"pid": state["State"]["Pid"], "id": state["Id"], "env": state["Config"].get("Env") or []}
    CACHE_DIR.mkdir(mode=0o700, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=CACHE_DIR, delete=False) as handle:
        json.dump(target, handle)
    os.replace(handle.name, CACHE_DIR / f"{name}.json")
    return target


class Connection(PodmanConnection):
    transport = "podman_pipelined"
    has_pipelining = True

    def _entering(self) -> bool:
        return not self.user and not self.get_option("podman_extra_args") and os.geteuid() == 0

    def _connect(self):
        if not self._entering():
            return super()._connect()
        ConnectionBase._connect(self)
        if not self._connected:
            name = to_native(self._container_id)
            podman = get_bin_path(self.get_option("podman_executable"))
            self._target = _cached_target(name) or _inspect_target(podman, name)
            self._connected = True
        return self

    def _enter(self, args: list[str], in_data: bytes | None) -> tuple[int, bytes, bytes]:
        """Run ``args`` in the container's namespaces with its environment, ``in_data`` on stdin."""
        command = ["nsenter", "--target", str(self._target["pid"]), "--all", "--", "/usr/bin/env", "-i"]
        command += [*self._target["env"], *args]
        process = subprocess.run(
            [to_bytes(part, errors="surrogate_or_strict") for part in command],
            input=in_data,
            capture_output=True,
            check=False,
        )
        return process.returncode, process.stdout, process.stderr

    def _enter_checked(self, args: list[str], in_data: bytes | None, failure: str) -> bytes:
        """``_enter``'s output, or an error starting with ``failure`` and ending with its stderr."""
        rc, stdout, stderr = self._enter(args, in_data)
        if rc != 0:
            raise AnsibleError(f"{failure} in {self._container_id}: {to_native(stderr).strip()}")
        return stdout

    @ensure_connect
    def exec_command(self, cmd, in_data=None, sudoable=False):
        args = shlex.split(to_native(cmd, errors="surrogate_or_strict"))
        if self._entering():
            ConnectionBase.exec_command(self, cmd, in_data=in_data, sudoable=sudoable)
            return self._enter(args, in_data)
        if in_data is None:
            return super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        ConnectionBase.exec_command(self, cmd, in_data=in_data, sudoable=sudoable)
        exec_args = ["exec", "--interactive"]
        if self.user:
            exec_args += ["--user", self.user]
        return self._podman(exec_args, args, in_data)

    @ensure_connect
    def put_file(self, in_path, out_path):
        if not self._entering():
            return super().put_file(in_path, out_path)
        ConnectionBase.put_file(self, in_path, out_path)
        with open(to_bytes(in_path, errors="surrogate_or_strict"), "rb") as source:
            content = source.read()
        self._enter_checked(
            ["/bin/sh", "-c", 'cat > "$1"', "sh", out_path], content, f"could not write {out_path}"
        )

    @ensure_connect
    def fetch_file(self, in_path, out_path):
        if not self._entering():
            return super().fetch_file(in_path, out_path)
        ConnectionBase.fetch_file(self, in_path, out_path)
        content = self._enter_checked(["/bin/cat", in_path], None, f"could not read {in_path}")
        with open(to_bytes(out_path, errors="surrogate_or_strict"), "wb") as target:
            target.write(content)
