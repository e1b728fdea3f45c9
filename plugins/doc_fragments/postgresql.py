"""The connection options every PostgreSQL module of this collection shares."""

from __future__ import annotations


class ModuleDocFragment:
    """extends_documentation_fragment: pgbouncer_toolkit.pgbouncer.postgresql"""

    DOCUMENTATION = r"""
options:
  login_host:
    description: Host to connect to; empty means the unix socket.
    type: str
    default: ""
  login_unix_socket:
    description: Directory of the unix socket, used when I(login_host) is empty.
    type: str
    default: ""
  login_port:
    description: Port to connect to.
    type: int
    default: 5432
  login_user:
    description: Role to log in as; a superuser.
    type: str
    default: postgres
  login_password:
    description: Password of I(login_user), for TCP logins.
    type: str
    default: ""
  login_db:
    description: Database to connect to.
    type: str
    default: postgres
  login_sslmode:
    description:
      - libpq's sslmode for TCP logins; empty leaves libpq's default (prefer, which verifies nothing).
      - Use verify-full with I(login_sslrootcert) for a server reached over a network you do not own.
    type: str
    default: ""
    choices: ["", disable, allow, prefer, require, verify-ca, verify-full]
  login_sslrootcert:
    description: CA bundle that signed the server's certificate (the provider's, for a managed server).
    type: str
    default: ""
"""
