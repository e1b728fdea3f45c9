"""The options of the modules that speak to every PgBouncer process of a host over its console."""

from __future__ import annotations


class ModuleDocFragment:
    """extends_documentation_fragment: pgbouncer_toolkit.pgbouncer.pgbouncer_processes"""

    DOCUMENTATION = r"""
options:
  socket_dirs:
    description: The unix socket directory of each PgBouncer process on the host.
    type: list
    elements: path
    required: true
  port:
    description: listen_port (the sockets' port number).
    type: int
    default: 6432
  service_user:
    description: PgBouncer's OS user, whose ids the console connection uses.
    type: str
    default: postgres
"""
