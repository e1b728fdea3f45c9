"""Markers of the integration tests (pyproject.toml runs pytest with --strict-markers)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "container: runs PgBouncer in a podman container built from the image of "
        "tests/lab/build-image.sh (deselect with -m 'not container')",
    )
