"""A real ONE-api client unchanged: brainbox's SessionLoader (PyPI ``ibllib``) on onecore's ``One``.

The same calls run with ONE-api's local ``One`` and with onecore's on one generated IBL-like session
(``onecore.testing.ibl_tree.make_session_loader_tree``), in a venv of their own holding ``ibllib``
(built once in ``~/.cache`` or ``$ONECORE_IBLLIB_VENV``); skipped, with the reason printed, only
when the package index cannot be reached.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import onecore
from onecore.testing import brainbox_calls, oneapi_calls
from onecore.testing.ibl_tree import make_session_loader_tree
from onecore.testing.venvs import cached_venv


def _venv() -> Path:
    return Path(os.environ.get("ONECORE_IBLLIB_VENV", Path.home() / ".cache" / "onecore-ibllib-venv"))


@pytest.fixture(scope="session")
def ibllib_python() -> Path:
    probe = "import brainbox.io.one, brainbox.behavior.training, one.api, pluggy, click, yaml, requests"
    return cached_venv(_venv(), ["ibllib", "pluggy", "click"], probe, "ibllib", "test_oneapi_brainbox")


def _answers(py: Path, folder: Path, root: Path, side: str, home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env.update(HOME=str(folder), ONE_HOME=str(home), PYTHONPATH=str(Path(onecore.__file__).parent.parent))
    if side == "oneapi":
        env.pop("PYTHONPATH")
    run = subprocess.run(
        [py, str(folder / "brainbox_calls.py"), str(root), str(folder / "tables"), side],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_session_loader_agrees_with_oneapi(ibllib_python: Path, tmp_path: Path, one_home: Path, capsys) -> None:
    root = tmp_path / "root"
    make_session_loader_tree(root)
    for module in (brainbox_calls, oneapi_calls):  # a folder of their own (onecore/testing shadows stdlib)
        shutil.copy(module.__file__, tmp_path / Path(module.__file__).name)
    theirs = _answers(ibllib_python, tmp_path, root, "oneapi", one_home)
    ours = _answers(ibllib_python, tmp_path, root, "onecore", one_home)
    errors = {k: v for k, v in theirs.items() if isinstance(v, str) and v.startswith("error:")}
    assert not errors, f"the calls must work with ONE-api itself: {errors}"
    agree = [k for k in theirs if ours.get(k) == theirs[k]]
    with capsys.disabled():
        what = "SessionLoader, SpikeSortingLoader, channel locations, passive RF map, training metrics"
        print(f"\nbrainbox {what}: {len(agree)} of {len(theirs)} calls agree with ONE-api")
    differ = {k: (str(ours.get(k))[:300], str(theirs[k])[:300]) for k in theirs if k not in agree}
    assert not differ, "answers differ from ONE-api's:\n" + "\n".join(
        f"{k}:\n  onecore: {a}\n  ONE-api: {b}" for k, (a, b) in differ.items()
    )
