"""Stands in for the pip bootstrap script ansible-test downloads into its cache (its host is out
of reach here, PyPI is not): ensurepip, then the pip release asked for, from the package index."""

import subprocess
import sys

subprocess.run([sys.executable, "-m", "ensurepip", "--upgrade"], check=True, stdout=subprocess.DEVNULL)
wanted = [argument for argument in sys.argv[1:] if argument.startswith("pip")]
subprocess.run(
    [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", *wanted],
    check=bool(wanted),
)
