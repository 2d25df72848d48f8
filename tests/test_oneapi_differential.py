"""The same calls through ONE-api 3.6.1 (its own venv, built here) and onecore, on one IBL-like tree.

Answers must be identical apart from the differences docs/alf.md documents (listed with their reason in
``onecore.testing.oneapi_calls.DOCUMENTED``). The venv is built once in ``~/.cache`` (or
``$ONECORE_ONEAPI_VENV``); the test is skipped, with the reason printed, only when the package index
cannot be reached.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from onecore import One
from onecore.testing import oneapi_calls
from onecore.testing.fixtures import build_registry
from onecore.testing.ibl_tree import make_ibl_tree
from onecore.testing.venvs import cached_venv

ONEAPI = "ONE-api==3.6.1"


def _venv() -> Path:
    default = Path.home() / ".cache" / "onecore-oneapi-venv-3.6.1"
    return Path(os.environ.get("ONECORE_ONEAPI_VENV", default))


@pytest.fixture(scope="session")
def oneapi_python() -> Path:
    probe = "import one, one.api, pyarrow; assert one.__version__ == '3.6.1'"
    return cached_venv(_venv(), [ONEAPI, "pyarrow"], probe, ONEAPI, "test_oneapi_differential", timeout=1500)


@pytest.fixture(scope="module")
def oneapi_answers(oneapi_python: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """ONE-api's answers on a fresh tree (the tree is then copied for each onecore repository type)."""
    tmp_path = tmp_path_factory.mktemp("oneapi")
    root = tmp_path / "root"
    make_ibl_tree(root)
    script = tmp_path / "calls.py"  # run from a folder of its own (onecore/testing shadows stdlib names)
    shutil.copy(oneapi_calls.__file__, script)
    run = subprocess.run(
        [oneapi_python, str(script), str(root), str(tmp_path / "tables")],
        capture_output=True,
        text=True,
        timeout=600,
        env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ONE_HOME")} | {"HOME": str(tmp_path)},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return root, json.loads(run.stdout.strip().splitlines()[-1])


def _through_ftp(root: Path, tmp_path: Path, one_home: Path) -> dict:
    """Upload the tree to a loopback FTP server (the onelight-ftp plugin), then ask through it."""
    pytest.importorskip("onelight_ftp", reason="the onelight-ftp plugin is not installed")
    from onelight_ftp.repository import FTPRepository
    from onelight_ftp.testing import FTPTestServer

    from onecore.config import Config, RepoConfig
    from onecore.scan import scan

    with FTPTestServer(tmp_path / "ftp_home") as server:
        with FTPRepository("ftptest", server.settings(), home=one_home) as repo:
            report = repo.upload(root, list(scan(root)))
            assert not report.failed, report.failed
        config = Config.load(one_home)
        config.add(RepoConfig("ftptest", "ftp", server.settings()))
        config.save()
        with One(repo="ftptest", home=one_home, registry=build_registry("ftp")) as one:
            return oneapi_calls.run(one, root)


def _through_figshare(root: Path, one_home: Path) -> dict:
    """Upload the tree to the figshare emulator (the onelight-figshare plugin), publish, ask the public version."""
    pytest.importorskip("onelight_figshare", reason="the onelight-figshare plugin is not installed")
    from onelight_figshare.repository import FigshareRepository
    from onelight_figshare.testing.emulator import FigshareEmulator

    from onecore.config import Config, RepoConfig
    from onecore.scan import scan
    from onecore.testing.secrets import TOKEN

    with FigshareEmulator(tokens={TOKEN: "alice"}) as emu:
        article = emu.create_article("alice", title="IBL-like", description="The differential test's tree.")
        settings = {"article": str(article), "api_url": emu.api_url}
        with FigshareRepository("fs-up", {**settings, "token": TOKEN}, home=one_home) as repo:
            report = repo.upload(root, list(scan(root)))
            assert not report.failed, report.failed
            repo.publish()
        config = Config.load(one_home)
        config.add(RepoConfig("fs", "figshare", {**settings, "public": True}))
        config.save()
        with One(repo="fs", home=one_home, registry=build_registry("figshare")) as one:
            return oneapi_calls.run(one, root)


@pytest.mark.parametrize("repo_type", ["local", "http", "ftp", "figshare"])
def test_answers_agree_with_oneapi(oneapi_answers, repo_type: str, tmp_path: Path, one_home: Path, capsys) -> None:
    from click.testing import CliRunner

    from onecore.cli import cli
    from onecore.testing.servers import FileServer

    pristine, theirs = oneapi_answers
    root = tmp_path / "root"
    shutil.copytree(pristine, root)
    if repo_type == "local":
        with One(cache_dir=root, home=one_home, registry=build_registry()) as one:
            ours = oneapi_calls.run(one, root)
    elif repo_type == "ftp":
        ours = _through_ftp(root, tmp_path, one_home)
    elif repo_type == "figshare":
        ours = _through_figshare(root, one_home)
    else:
        with FileServer(root) as server:
            for args in (
                ["index", str(root), "--base-url", server.url],
                ["add-repo", "web", "--type", "http", "--set", f"base_url={server.url}"],
            ):
                r = CliRunner().invoke(cli, args, catch_exceptions=False)
                assert r.exit_code == 0, r.output
            with One(repo="web", home=one_home, registry=build_registry()) as one:
                ours = oneapi_calls.run(one, root)
    agree = [k for k in ours if ours[k] == theirs.get(k)]
    documented = [k for k in ours if k not in agree and k in oneapi_calls.DOCUMENTED]
    unexpected = {k: (ours[k], theirs.get(k)) for k in ours if k not in agree and k not in documented}
    with capsys.disabled():
        print(
            f"\nONE-api 3.6.1 differential ({repo_type}): {len(agree)} of {len(ours)} calls agree; "
            f"{len(documented)} differ as documented ({', '.join(documented)})"
        )
    assert not unexpected, "answers differ from ONE-api's:\n" + "\n".join(
        f"{k}:\n  onecore: {json.dumps(a)[:500]}\n  ONE-api: {json.dumps(b)[:500]}" for k, (a, b) in unexpected.items()
    )
    assert len(agree) >= 80
