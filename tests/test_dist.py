"""Packaging as users install it: build sdists and wheels of onecore and of every plugin, install the
wheels (not editable checkouts) into a fresh virtual environment, and smoke-test them there.

The builds go through ``python -m build`` (sdist first, then the wheel *from the sdist*, so a file
missing from the sdist fails here), in a builder venv holding the build backends the projects
declare. Dependencies (numpy, requests...) come from the package index, as for a user.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


def _projects() -> list[Path]:
    """onecore, every plugins/*, and the example plugins: each folder with a pyproject.toml."""
    return [
        REPO,
        *sorted(p.parent for p in REPO.glob("plugins/*/pyproject.toml")),
        *sorted(p.parent for p in REPO.glob("examples/*/pyproject.toml")),
    ]


def _meta(project: Path) -> dict:
    with open(project / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:  # noqa: ANN003
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ONE_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", **kwargs.pop("env", {}))
    res = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600, **kwargs)
    if res.returncode != 0:
        pytest.fail(
            f"command failed ({res.returncode}): {' '.join(map(str, args))}\n"
            f"--- stdout\n{res.stdout[-4000:]}\n--- stderr\n{res.stderr[-4000:]}"
        )
    return res


def _index_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
        return True
    except OSError:
        return False


def _venv(path: Path) -> Path:
    base = getattr(sys, "_base_executable", None) or sys.executable
    _run([base, "-m", "venv", str(path)])
    return path / "bin" / "python"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    if not _index_reachable() and not os.environ.get("PIP_FIND_LINKS"):
        pytest.skip("no package index reachable: building needs setuptools and installing needs numpy etc.")
    tmp = tmp_path_factory.mktemp("dist")
    builder = _venv(tmp / "builder")
    requires = {r for p in _projects() for r in _meta(p).get("build-system", {}).get("requires", [])}
    _run([str(builder), "-m", "pip", "install", "-q", "build", *sorted(requires)])
    out: dict[str, list[Path]] = {}
    for project in _projects():
        name = _meta(project)["project"]["name"]
        dest = tmp / "dist" / name
        _run([str(builder), "-m", "build", "-q", "--no-isolation", "--outdir", str(dest), str(project)])
        out[name] = sorted(dest.iterdir())
    return out


def test_each_project_has_a_wheel_and_an_sdist(built: dict[str, list[Path]]) -> None:
    for name, files in built.items():
        kinds = sorted(f.suffix for f in files)
        assert kinds == [".gz", ".whl"], f"{name}: {files}"


def test_wheels_installed_in_a_fresh_venv(built: dict[str, list[Path]], tmp_path: Path) -> None:
    python = _venv(tmp_path / "user-venv")
    wheels = [str(f) for files in built.values() for f in files if f.suffix == ".whl"]
    _run([str(python), "-m", "pip", "install", "-q", *wheels])
    _run([str(python), "-m", "pip", "check"])  # dependency ranges are consistent
    one = str(python.with_name("one"))
    home = tmp_path / "home"
    env = {"ONE_HOME": str(home)}
    cwd = tmp_path  # not the checkout: what runs is what was installed

    res = _run([one, "plugins", "--json"], env=env, cwd=cwd)
    found = {p["distribution"]: p for p in json.loads(res.stdout)}
    for project in _projects()[1:]:
        meta = _meta(project)["project"]
        assert meta["name"] in found, f"{meta['name']} is not listed by `one plugins`: {res.stdout}"
        assert found[meta["name"]]["version"] == meta["version"]
        assert "error" not in found[meta["name"]], found[meta["name"]]

    root = tmp_path / "root"
    script = textwrap.dedent(f"""
        import importlib.metadata as md, json, onecore, sys
        from pathlib import Path
        from onecore.testing import make_data_root
        assert Path(onecore.__file__).is_relative_to(Path(sys.prefix)), onecore.__file__  # not editable
        assert any(ep.value == "onecore.testing.pytest_plugin" for ep in md.entry_points(group="pytest11"))
        make_data_root({str(root)!r}, subjects=1, sessions=1)
    """)
    _run([str(python), "-c", script], env=env, cwd=cwd)
    res = _run([one, "scan", str(root), "--json"], env=env, cwd=cwd)
    paths = json.loads(res.stdout)
    assert len(paths) == 25 and all(p.count("/") >= 5 for p in paths)

    load = textwrap.dedent(f"""
        from onecore import One
        one = One(cache_dir={str(root)!r})
        eid = one.search(dataset="spikes.times", subject="NICK_001")[0]
        spikes = one.load_object(eid, "spikes", collection="alf/probe00")
        print(sorted(spikes), len(spikes.times))
    """)
    res = _run([str(python), "-c", load], env=env, cwd=cwd)
    assert res.stdout.split() == ["['clusters',", "'times']", "1000"]
