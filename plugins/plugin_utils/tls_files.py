"""Where the toolkit's TLS files live on every host: one CA certificate, and one certificate and
key per host, read by the services the host runs (PostgreSQL, PgBouncer). One home for the paths:
the pgbouncer_tls role writes them, the renderer and the PostgreSQL side point the services at
them (the tls_file filter)."""

from __future__ import annotations

TLS_DIR = "/etc/ssl/pgbouncer-toolkit"
# The key's own directory, root and the services' group only: a key file is never readable by others,
# not even for the moment between its creation and its mode being set.
TLS_PRIVATE_DIR = f"{TLS_DIR}/private"
TLS_FILES = {
    "ca": f"{TLS_DIR}/ca.crt",
    "cert": f"{TLS_DIR}/host.crt",
    "key": f"{TLS_PRIVATE_DIR}/host.key",
    # The CA that signed PostgreSQL's certificate, where it is not the toolkit's (a managed server).
    "server_ca": f"{TLS_DIR}/postgresql-ca.crt",
}


def tls_file(kind: str) -> str:
    """The path of the TLS file ``kind``: 'dir', 'private_dir', 'ca', 'cert', 'key' or 'server_ca'."""
    if kind == "dir":
        return TLS_DIR
    if kind == "private_dir":
        return TLS_PRIVATE_DIR
    return TLS_FILES[kind]
