"""containers.podman.podman with pipelining, for the test bed's containers only.

The collection's podman connection runs five `podman exec` per task (home directory, temp
directory, chmod, the module, clean-up) because it never passes stdin on. With `podman exec
--interactive` the module arrives on stdin, as it does over SSH with `pipelining = true` on a real
host, and a task costs one exec. Everything else is the collection's connection."""

from __future__ import annotations

import shlex

from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.connection import ConnectionBase
from ansible_collections.containers.podman.plugins.connection.podman import Connection as PodmanConnection

DOCUMENTATION = """
name: podman_pipelined
short_description: containers.podman.podman with pipelining (test bed only)
description:
  - Runs commands in a running podman container as containers.podman.podman does, and hands
    stdin to them (podman exec --interactive), so Ansible pipelines modules.
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
    description: Send modules on stdin (one podman exec per task) rather than as files.
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


class Connection(PodmanConnection):
    transport = "podman_pipelined"
    has_pipelining = True

    def exec_command(self, cmd, in_data=None, sudoable=False):
        if in_data is None:
            return super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        if not self._connected:
            self._connect()
        ConnectionBase.exec_command(self, cmd, in_data=in_data, sudoable=sudoable)
        exec_args = ["exec", "--interactive"]
        if self.user:
            exec_args += ["--user", self.user]
        return self._podman(exec_args, shlex.split(to_native(cmd, errors="surrogate_or_strict")), in_data)
