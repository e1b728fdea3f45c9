"""Throwaway podman containers for the integration tests that run the real binaries (PgBouncer,
HAProxy, keepalived): the base image of tests/lab/build-image.sh plus Debian 13 packages (from
Debian's archive, or local .deb files such as the test bed's apt repository holds), built once per
base image and set of files, started with no network and removed by a finalizer (and by their own
`sleep` if the finalizer never runs)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = os.environ.get("PGBT_IMAGE", "localhost/pgbouncer-toolkit-trixie:latest")
PODMAN_ENV = {
    **os.environ,
    "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF", str(ROOT / "tests/lab/containers.conf")),
}
# runc, and rlimits the sandbox allows.
LIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=8192:8192"]
# The test bed's apt repository (Debian forky's PgBouncer, for Debian 13's libraries): the script
# builds it once and prints its directory, the .deb files are under pool/.
REPO_SCRIPT = ROOT / "tests/lab/build-repo.sh"


def podman(*args: str, timeout: float = 120, stdin: bytes | None = None, check: bool = True):
    done = subprocess.run(
        ["podman", *args], input=stdin, capture_output=True, timeout=timeout, env=PODMAN_ENV, check=False
    )
    if check and done.returncode != 0:
        pytest.fail(
            f"podman {' '.join(args[:4])} failed ({done.returncode}): {done.stderr.decode(errors='replace')}"
        )
    return done


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    """An exclusive lock named ``name``: pytest-xdist workers take it, so one of them builds."""
    with open(Path(tempfile.gettempdir()) / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def repository_debs(package: str, version: str) -> list[Path]:
    """The .deb files of ``package`` ``version`` (any Debian revision) in the test bed's apt
    repository; tests/lab/build-repo.sh runs first, under a lock (quick when the repository is
    there, a download from Debian forky when not)."""
    with _locked("pgbouncer-toolkit-apt-repo"):
        done = subprocess.run(
            ["bash", str(REPO_SCRIPT)], capture_output=True, timeout=900, env=PODMAN_ENV, check=False
        )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.decode(errors="replace").splitlines()[-20:])
        pytest.fail(
            f"the test bed's apt repository is missing and {REPO_SCRIPT.relative_to(ROOT)} could not build "
            f"it ({done.returncode}); run `bash tests/lab/build-repo.sh` (tests/run.sh does, before "
            f"pytest), or deselect these tests with -m 'not container':\n{tail}"
        )
    pool = Path(done.stdout.decode().strip().splitlines()[-1]) / "pool"
    debs = sorted(pool.glob(f"{package}_{version}-*.deb"))
    if not debs:
        found = sorted(path.name for path in pool.glob(f"{package}_*.deb"))
        pytest.fail(
            f"the apt repository {pool.parent} holds no {package} {version} (found: {found or 'no .deb'}), "
            "which these tests run: remove the directory and run `bash tests/lab/build-repo.sh` again"
        )
    return debs


def derived_image(repository: str, packages: list[str], what: str, debs: Sequence[Path] = ()) -> str:
    """BASE_IMAGE plus ``packages`` from Debian's archive and the local ``debs`` (installed by apt
    with their dependencies), as ``repository:<base id>`` (``-<digest of the debs>`` after it when
    there are some), built once (pytest-xdist workers take a lock, so they build it once between
    them)."""
    if shutil.which("podman") is None:
        pytest.fail(f"podman is not installed: these tests run {what} in a podman container")
    if podman("image", "exists", BASE_IMAGE, check=False).returncode != 0:
        pytest.fail(
            f"container image {BASE_IMAGE} is missing: run `bash tests/lab/build-image.sh` first "
            "(tests/run.sh does, before pytest), or deselect these tests with -m 'not container'"
        )
    base_id = podman("image", "inspect", "--format", "{{.Id}}", BASE_IMAGE).stdout.decode().strip()
    image = f"{repository}:{base_id[:12]}"
    if debs:
        digest = hashlib.sha256()
        for deb in sorted(debs, key=lambda path: path.name):
            digest.update(deb.name.encode() + b"\0" + hashlib.sha256(deb.read_bytes()).digest())
        image += f"-{digest.hexdigest()[:12]}"
    with _locked(f"{repository.rsplit('/', 1)[-1]}-image"):
        if podman("image", "exists", image, check=False).returncode != 0:
            with tempfile.TemporaryDirectory() as context:
                for deb in debs:
                    (Path(context) / "debs").mkdir(exist_ok=True)
                    shutil.copyfile(deb, Path(context) / "debs" / deb.name)
                local = [f"/tmp/debs/{deb.name}" for deb in debs]
                (Path(context) / "Containerfile").write_text(
                    f"FROM {base_id}\n"
                    + ("COPY debs /tmp/debs\n" if debs else "")
                    + "RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "
                    f"--no-install-recommends {' '.join([*local, *packages])} && apt-get clean"
                    + (" && rm -rf /tmp/debs" if debs else "")
                    + "\n"
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
