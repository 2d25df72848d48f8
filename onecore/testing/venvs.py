"""Cached virtual environments with third-party packages, for tests that compare onecore with them.

The ONE-api differential test and the brainbox test each run another package (ONE-api, ibllib) in
an environment of its own, built once under ``~/.cache`` and reused while its probe still imports::

    py = cached_venv(Path.home() / ".cache" / "onecore-oneapi-venv-3.6.1", ["ONE-api==3.6.1", "pyarrow"],
                     probe="import one.api", what="ONE-api==3.6.1", test="test_oneapi_differential")

When the package index cannot be reached, the test is skipped with the reason printed (the README's
rule for skips); any other install failure fails the test with pip's output.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["cached_venv", "venv_python"]

#: What pip says when the package index cannot be reached.
OFFLINE_MARKERS = (
    "Could not find a version",
    "No matching distribution",
    "NewConnectionError",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "Connection refused",
    "ConnectTimeout",
    "ReadTimeoutError",
)


def venv_python(venv: Path) -> Path:
    """The interpreter of the environment ``venv``."""
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def cached_venv(venv: Path, packages: list[str], probe: str, what: str, test: str, timeout: float = 3000) -> Path:
    """The interpreter of ``venv``, (re)built with ``packages`` unless the code ``probe`` already runs."""
    import pytest

    py = venv_python(venv)
    if py.exists() and subprocess.run([py, "-c", probe], capture_output=True, timeout=300).returncode == 0:
        return py
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    cmd = [py, "-m", "pip", "install", "-q", "--disable-pip-version-check", *packages]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        if any(s in done.stderr for s in OFFLINE_MARKERS):
            reason = f"the package index cannot be reached to install {what}: {done.stderr.strip()[-300:]}"
            print(f"\nSKIPPED {test}: {reason}", file=sys.stderr)
            pytest.skip(reason)
        pytest.fail(f"installing {what} into {venv} failed:\n{done.stderr[-2000:]}")
    return py
