"""Filters over the toolkit's TLS certificates (plugin_utils/tls)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils import tls
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.tls_files import tls_file
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import ConfigError


def subject_alt_names(sources: Mapping[str, Iterable[object]]) -> list[str]:
    """subjectAltName entries (DNS:..., IP:...) for {where: names}; a bad name fails, by name."""
    try:
        return tls.subject_alt_names(sources)
    except ConfigError as exc:
        raise AnsibleFilterError(str(exc)) from None


def tls_name_errors(sources: Mapping[str, Iterable[object]]) -> list[str]:
    """[] or why a name of {where: names} cannot go into a certificate."""
    try:
        tls.subject_alt_names(sources)
    except ConfigError as exc:
        return [str(exc)]
    return []


def certificate_errors(
    certificate_pem: str, key_pem: str, ca_pem: str, required: Iterable[str], where: str
) -> list[str]:
    """Why the operator's certificate cannot be deployed (plugin_utils/tls.certificate_errors)."""
    return tls.certificate_errors(str(certificate_pem), str(key_pem), str(ca_pem), list(required), str(where))


class FilterModule:
    """TLS filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "certificate_errors": certificate_errors,
            "host_names": tls.host_names,
            "subject_alt_names": subject_alt_names,
            "tls_file": tls_file,
            "tls_name_errors": tls_name_errors,
        }
