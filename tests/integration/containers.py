"""Throwaway podman containers for the integration tests that run the real binaries (PgBouncer,
HAProxy, keepalived): the base image of tests/lab/build-image.sh plus Debian 13 packages, built
once per base image, started with no network and removed by a finalizer (and by their own
`sleep` if the finalizer never runs)."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = os.environ.get("PGBT_IMAGE", "localhost/pgbouncer-toolkit-trixie:latest")
PODMAN_ENV = {
    **os.environ,
    "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF", str(ROOT / "tests/lab/containers.conf")),
}
# runc, and rlimits the sandbox allows (see ENVIRONMENT notes in the README's test section).
LIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=8192:8192"]


def podman(*args: str, timeout: float = 120, stdin: bytes | None = None, check: bool = True):
    done = subprocess.run(
        ["podman", *args], input=stdin, capture_output=True, timeout=timeout, env=PODMAN_ENV, check=False
    )
    if check and done.returncode != 0:
        pytest.fail(
            f"podman {' '.join(args[:4])} failed ({done.returncode}): {done.stderr.decode(errors='replace')}"
        )
    return done


def derived_image(repository: str, packages: list[str], what: str) -> str:
    """BASE_IMAGE plus ``packages`` from Debian's archive, as ``repository:<base id>``, built once
    (pytest-xdist workers take a lock, so they build it once between them)."""
    if shutil.which("podman") is None:
        pytest.fail(f"podman is not installed: these tests run {what} in a podman container")
    if podman("image", "exists", BASE_IMAGE, check=False).returncode != 0:
        pytest.fail(
            f"container image {BASE_IMAGE} is missing: run `bash tests/lab/build-image.sh` first "
            "(tests/run.sh does, before pytest), or deselect these tests with -m 'not container'"
        )
    base_id = podman("image", "inspect", "--format", "{{.Id}}", BASE_IMAGE).stdout.decode().strip()
    image = f"{repository}:{base_id[:12]}"
    lock_path = Path(tempfile.gettempdir()) / f"{repository.rsplit('/', 1)[-1]}-image.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if podman("image", "exists", image, check=False).returncode != 0:
            with tempfile.TemporaryDirectory() as context:
                (Path(context) / "Containerfile").write_text(
                    f"FROM {base_id}\n"
                    "RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "
                    f"--no-install-recommends {' '.join(packages)} && apt-get clean\n"
                )
                built = podman(
                    "build", "--runtime", "runc", *LIMITS, "-t", image, context, timeout=900, check=False
                )
            if built.returncode != 0:
                tail = "\n".join(built.stdout.decode(errors="replace").splitlines()[-20:])
                pytest.fail(f"could not add {what} to {BASE_IMAGE}:\n{tail}\n{built.stderr.decode()}")
    return image


def start_container(
    request: pytest.FixtureRequest, image: str, prefix: str, lifetime: int, *options: str
) -> str:
    """A detached container with no network that sleeps ``lifetime`` seconds; removed at the end."""
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    request.addfinalizer(lambda: podman("rm", "--force", "--time", "0", name, timeout=60, check=False))
    podman(
        "--runtime",
        "runc",
        "run",
        "--detach",
        "--rm",
        "--name",
        name,
        "--network",
        "none",
        *options,
        *LIMITS,
        image,
        "sleep",
        str(lifetime),
    )
    return name
