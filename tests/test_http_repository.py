"""The built-in ``http`` repository end to end: a data root prepared with ``one index ROOT --base-url URL``,
served by a loopback server, used through ``onecore.One(repo=...)`` and the ``one`` command line."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from onecore import One
from onecore.builtins.http import HTTPRepository
from onecore.catalog import Catalog
from onecore.cli import _Bar, cli
from onecore.errors import TransferError
from onecore.testing import make_data_root
from onecore.testing.secrets import PASSWORD as SECRET  # noqa: E402  (checked by the leak check)
from onecore.testing.servers import FileServer


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    make_data_root(root, labs=("nicklab",), subjects=1, sessions=2, n=300)
    return root


def run(*args: str) -> object:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


def index(root: Path, url: str) -> None:
    r = run("index", str(root), "--base-url", url)
    assert r.exit_code == 0, r.output
    assert (root / ".one_root").is_file()


def add_repo(url: str, *sets: str, name: str = "web") -> None:
    args = ["add-repo", name, "--type", "http", "--set", f"base_url={url}"]
    for s in sets:
        args += ["--set", s]
    r = run(*args)
    assert r.exit_code == 0, r.output


@pytest.fixture
def served(root: Path):
    with FileServer(root) as server:
        index(root, server.url)
        add_repo(server.url)
        server.clear_log()
        yield server


def data_requests(server: FileServer) -> list:
    return [r for r in server.requests_for() if r.path not in (".one_root", ".one_index.tsv")]


def first_session(one: One) -> str:
    return sorted(one.search())[0]


# ------------------------------------------------------------------------------------------------
def test_search_list_load_through_one(served: FileServer, root: Path) -> None:
    with One(repo="web") as one:
        assert not one.offline
        eids = one.search()
        assert len(eids) == 2
        eid = first_session(one)
        assert one.search(dataset="spikes.times", subject=eid.split("/")[2]) != []
        listed = one.list_datasets(eid)
        assert "alf/#2021-06-01#/spikes.times.npy" in listed  # the latest revision by default
        spikes = one.load_object(eid, "spikes", collection="alf")
        assert np.array_equal(spikes.times, np.load(root / eid / "alf" / "#2021-06-01#" / "spikes.times.npy"))
        assert np.array_equal(spikes.amps, np.load(root / eid / "alf" / "spikes.amps.npy"))
        assert len(data_requests(served)) == len(spikes)
        assert any("/%232021-06-01%23/" in r.raw_path for r in data_requests(served))
        # loading again: no request at all
        served.clear_log()
        one.load_object(eid, "spikes", collection="alf")
        assert served.count(method=None) == 0
    cache = Path(os.environ["ONE_HOME"]) / "data" / "web"
    rel = f"{eid}/alf/spikes.amps.npy"
    assert (cache / rel).read_bytes() == (root / rel).read_bytes()


def test_cli_download_to_a_folder(served: FileServer, root: Path, tmp_path: Path) -> None:
    with One(repo="web") as one:
        eid = first_session(one)
        expected = one.list_datasets(eid, default_revisions_only=True)  # issue 14: every revision listed
    dest = tmp_path / "dl"
    r = run("download", eid, "--dir", str(dest))
    assert r.exit_code == 0, r.output
    assert f"{len(expected)} transferred" in r.stderr and "0 failed" in r.stderr
    assert "\r" not in r.output and "downloading:" not in r.output  # no progress bar when not a terminal
    for rel in expected:
        assert (dest / eid / rel).read_bytes() == (root / eid / rel).read_bytes()
    served.clear_log()
    r = run("download", eid, "--dir", str(dest), "--quiet")
    assert r.exit_code == 0 and f"{len(expected)} already up to date" in r.stderr
    assert data_requests(served) == []
    assert "\r" not in r.output


def test_cli_download_reports_failures(served: FileServer, root: Path, tmp_path: Path) -> None:
    with One(repo="web") as one:
        eid = first_session(one)
    bad = f"{eid}/alf/spikes.amps.npy"
    served.inject(bad, "wrong_bytes", times=None)
    r = run("download", eid, "spikes", "--dir", str(tmp_path / "dl"))
    assert r.exit_code == 1
    assert "FAILED" in r.stderr and "spikes.amps.npy" in r.stderr and "1 failed" in r.stderr
    assert not (tmp_path / "dl" / bad).exists() and (tmp_path / "dl" / eid / "alf" / "spikes.clusters.npy").is_file()


def test_progress_bar_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from onecore.transfer import Progress

    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    bar = _Bar(quiet=False)
    assert bar.enabled
    bar(Progress(files_total=3, bytes_total=3000, files_done=1, bytes_done=1000))
    bar.done()
    err = capsys.readouterr().err
    assert "1/3 files" in err and "\r" in err
    assert not _Bar(quiet=True).enabled
    monkeypatch.setattr("sys.stderr.isatty", lambda: False, raising=False)
    assert not _Bar(quiet=False).enabled


def test_catalog_rebuilt_only_when_the_index_changes(
    served: FileServer, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rebuilds = []
    original = Catalog.rebuild

    def counting(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        rebuilds.append(self.path)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Catalog, "rebuild", counting)
    with One(repo="web") as one:
        assert len(rebuilds) == 1
    served.clear_log()
    with One(repo="web") as one:  # unchanged: a conditional GET answered 304
        assert len(rebuilds) == 1
        [rec] = served.requests_for(".one_index.tsv")  # the companion is read first
        assert rec.status == 304 and rec.header("If-None-Match")
        # same content, new date: downloaded (200) but not rebuilt (same hash)
        os.utime(root / ".one_index.tsv", (1, 1))
        assert one.refresh(force=False) is False and len(rebuilds) == 1
        assert served.requests_for(".one_index.tsv")[-1].status == 200
        # ... and its new validator was stored: the next check is a 304 again, not a new download
        assert one.refresh(force=False) is False
        assert served.requests_for(".one_index.tsv")[-1].status == 304
        # a new dataset: rebuilt
        eid = first_session(one)
        (root / eid / "alf" / "licks.times.npy").parent.mkdir(exist_ok=True)
        np.save(root / eid / "alf" / "licks.times.npy", np.arange(5.0))
        index(root, served.url)
        assert one.refresh(force=False) is True and len(rebuilds) == 2
        assert "alf/licks.times.npy" in one.list_datasets(eid)
        assert np.array_equal(one.load_dataset(eid, "licks.times"), np.arange(5.0))


def test_offline_use_of_downloaded_data(served: FileServer, root: Path) -> None:
    with One(repo="web") as one:
        eid = first_session(one)
        one.load_object(eid, "spikes", collection="alf")
        other = sorted(one.search())[1]
    served.stop()
    with One(repo="web") as one:
        assert one.offline is True
        assert sorted(one.search()) == sorted([eid, other])
        assert "alf/spikes.amps.npy" in one.list_datasets(eid)
        spikes = one.load_object(eid, "spikes", collection="alf")
        assert np.array_equal(spikes.amps, np.load(root / eid / "alf" / "spikes.amps.npy"))
        with pytest.raises(TransferError) as e:  # not downloaded: a clear error naming the file
            one.load_dataset(other, "spikes.amps.npy", collection="alf")
        assert f"{other}/alf/spikes.amps.npy" in str(e.value)


def test_hostile_index_rows_are_reported_and_never_written(root: Path, tmp_path: Path) -> None:
    with FileServer(root) as server:
        index(root, server.url)
        good = (root / ".one_root").read_text().splitlines()
        hostile = [
            "../../evil.npy",
            "/tmp/evil.npy",
            "C:\\evil.npy",
            "lab\\..\\evil.npy",
            "%2e%2e/evil.npy",
            "~/evil.npy",
            "\u2024\u2024/evil.npy",
            "nicklab\uff0f..\uff0fevil.npy",
            "nicklab/Subjects/NICK_001/2021-01-04/001/alf/../../../../../../evil.npy",
        ]
        rows = [f"{h}\t{server.url}payload\t\t" for h in hostile]
        (root / ".one_root").write_text("\n".join(rows + good) + "\n")
        (root / ".one_index.tsv").unlink()  # .one_root alone (as ONE light wrote it) is read too
        add_repo(server.url)
        before = sorted(p for p in tmp_path.rglob("*") if "one_home" not in p.parts)
        with One(repo="web") as one:
            assert len(one.index_problems) == len(hostile)
            assert all(str(p).startswith(f"{server.url}.one_root:") for p in one.index_problems)
            assert [p.line for p in one.index_problems] == list(range(1, len(hostile) + 1))
            for eid in one.search():
                assert one.download(eid).ok
        after = sorted(p for p in tmp_path.rglob("*") if "one_home" not in p.parts)
        assert after == before
        assert not any("evil" in r.path for r in server.requests)
        assert not list(Path(os.environ["ONE_HOME"]).rglob("evil*"))


# ------------------------------------------------------------------------------------------------
# Authentication
# ------------------------------------------------------------------------------------------------
def test_basic_auth_sent_only_when_login_is_set(root: Path, home: Path, capsys: pytest.CaptureFixture) -> None:
    with FileServer(root, auth=("alice", SECRET)) as server:
        index(root, server.url)
        r = CliRunner().invoke(cli, ["add-repo", "anon", "--type", "http", "--set", f"base_url={server.url}"])
        assert r.exit_code == 1 and "401" in r.output and "access refused" in r.output
        assert server.requests and not any(x.authorized for x in server.requests)
        r = CliRunner().invoke(
            cli,
            [
                "add-repo",
                "empty",
                "--type",
                "http",
                "--set",
                f"base_url={server.url}",
                "--set",
                "login=",
                "--set",
                "password=",
            ],
        )
        assert r.exit_code == 1 and not any(x.authorized for x in server.requests)
        server.clear_log()
        add_repo(server.url, "login=alice", f"password={SECRET}", name="private")
        with One(repo="private") as one:
            eid = first_session(one)
            assert one.load_dataset(eid, "spikes.times.npy", collection="alf").size == 300
            assert SECRET not in repr(one) and SECRET not in repr(one.repository)
            assert SECRET not in repr(one.repository.fetcher())
        assert server.requests and all(x.authorized for x in server.requests)
        r = run("repos")
        assert SECRET not in r.output and "****" in r.output
    config = home / "config.yaml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert SECRET not in capsys.readouterr().out


def test_wrong_password_is_a_clear_error_without_the_secret(root: Path) -> None:
    with FileServer(root, auth=("alice", SECRET)) as server:
        index(root, server.url)
        repo = HTTPRepository("w", {"base_url": server.url, "login": "alice", "password": "nope-" + SECRET})
        with pytest.raises(TransferError) as e:
            repo.check()
        assert "401" in str(e.value) and SECRET not in str(e.value)
        assert server.count() == 1  # a 401 is not retried
        repo.close()


def test_base_url_is_validated() -> None:
    from onecore.errors import ConfigError

    with pytest.raises(ConfigError, match="base_url"):
        HTTPRepository("w", {"base_url": "ftp://example.org/"})
    assert HTTPRepository("w", {"base_url": "http://127.0.0.1:1/data"}).settings["base_url"].endswith("/data/")


def _run_on_a_terminal(args: list[str]) -> tuple[int, str]:
    """Run ``one ARGS`` in a subprocess whose stderr is a pseudo-terminal; returns (exit code, stderr)."""
    import pty
    import subprocess
    import sys

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "onecore.cli", *args], stdout=subprocess.PIPE, stderr=follower, stdin=subprocess.DEVNULL
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            b = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not b:
            break
        chunks.append(b)
    proc.communicate(timeout=60)
    os.close(leader)
    return proc.returncode, b"".join(chunks).decode(errors="replace")


@pytest.mark.skipif(os.name != "posix", reason="needs a pseudo-terminal")
def test_progress_bar_on_a_real_terminal_and_quiet(served: FileServer, tmp_path: Path) -> None:
    with One(repo="web") as one:
        eid = first_session(one)
    code, err = _run_on_a_terminal(["download", eid, "--dir", str(tmp_path / "a")])
    assert code == 0 and "downloading:" in err and "files" in err and "\r" in err
    code, err = _run_on_a_terminal(["download", eid, "--dir", str(tmp_path / "b"), "--quiet"])
    assert code == 0 and "downloading:" not in err and "transferred" in err
