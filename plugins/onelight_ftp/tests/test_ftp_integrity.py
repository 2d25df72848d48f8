"""Issue 13's upload attacks against a real pyftpdlib server: refused renames, a resumed upload of a file
that changed locally, lying MLSD sizes with ``--limit``, SIGKILL and SIGTERM/SIGHUP during an upload.

Each test failed on the main branch before the fix (noted in its docstring).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from onelight_ftp.testing import BIG

from onecore.cli import cli
from onecore.index import read_one_root
from onecore.upload import part_name


def _index(home: Path, name: str = ".one_index.tsv") -> dict:
    path = home / name
    return {d.rel_path: d for d in read_one_root(path.read_text().splitlines())} if path.exists() else {}


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _stored(server, rel: str) -> bool:
    """Whether the server received a STOR of ``rel`` (under any temporary name)."""
    folder, name = rel.rsplit("/", 1)
    prefix = str(server.home / folder) + "/"
    return any(
        p.startswith(prefix) and p[len(prefix) :] in (name, f".{name}.part", f"{name}.part")
        for p in server.stats.stored()
    )


def test_refused_rename_keeps_the_previous_file_and_index(ftp_server, data_root, make_repo):
    """Item 4. A server that refuses RNFR/RNTO: the previous version of the dataset and the previous
    index stay as they were (main deleted both: only ``.one_root.tmp`` remained)."""
    root, rels = data_root
    assert make_repo(ftp_server).upload(root, rels).failed == []
    old_bytes = (ftp_server.home / BIG).read_bytes()
    old_texts = {n: (ftp_server.home / n).read_text() for n in (".one_root", ".one_index.tsv")}
    (root / BIG).write_bytes(old_bytes + b"version 2")
    ftp_server.stats.refuse_rename = True
    report = make_repo(ftp_server).upload(root, rels)
    assert [r for r, _ in report.failed] == [BIG]
    assert "refused" in report.failed[0][1] and "previous version is kept" in report.failed[0][1]
    assert (ftp_server.home / BIG).read_bytes() == old_bytes
    assert {n: (ftp_server.home / n).read_text() for n in old_texts} == old_texts
    assert _index(ftp_server.home)[BIG].md5 == _md5(old_bytes)
    ftp_server.stats.refuse_rename = False
    assert make_repo(ftp_server).upload(root, rels).failed == []
    assert (ftp_server.home / BIG).read_bytes() == old_bytes + b"version 2"
    assert _index(ftp_server.home)[BIG].md5 == _md5(old_bytes + b"version 2")
    assert not [p for p in ftp_server.home.rglob("*") if p.name.endswith((".old", ".part", ".tmp"))]


def test_server_that_will_not_replace_gets_the_new_version_without_losing_the_old(ftp_server, data_root, make_repo):
    """Item 4. RNTO onto an existing file refused (as some servers do): the old file is moved aside,
    the new one renamed in, and only then is the old one deleted."""
    root, rels = data_root
    ftp_server.stats.no_replace = True
    assert make_repo(ftp_server).upload(root, rels).failed == []
    (root / BIG).write_bytes(b"v2" * 1000)
    report = make_repo(ftp_server).upload(root, rels)
    assert report.failed == [] and report.downloaded == [BIG]
    assert (ftp_server.home / BIG).read_bytes() == b"v2" * 1000
    assert _index(ftp_server.home)[BIG].md5 == _md5(b"v2" * 1000)
    assert not [p for p in ftp_server.home.rglob("*") if p.name.endswith((".old", ".part"))]


def test_resumed_upload_of_a_file_that_changed_locally(ftp_server, data_root, make_repo, monkeypatch):
    """Item 3. The upload of BIG is cut, then BIG changes locally (in the middle, same size): the re-run
    must not complete the old partial upload with the new file's end (main did: a splice on the server
    under the new md5, and then "up to date" for ever)."""
    root, rels = data_root
    monkeypatch.setenv("ONE_RETRY_ATTEMPTS", "1")
    ftp_server.stats.kill_upload = ("spikes.amps.npy", 1_500_000)
    report = make_repo(ftp_server).upload(root, rels, jobs=1)
    assert [r for r, _ in report.failed] == [BIG]
    assert (ftp_server.home / part_name(BIG)).stat().st_size > 1_000_000
    data = bytearray((root / BIG).read_bytes())
    data[500_000:500_100] = bytes(100)  # inside the part already sent, away from its first and last 64 KiB
    (root / BIG).write_bytes(bytes(data))
    monkeypatch.setenv("ONE_RETRY_ATTEMPTS", "3")
    report = make_repo(ftp_server).upload(root, rels)
    assert report.failed == [] and BIG in report.downloaded
    assert (ftp_server.home / BIG).read_bytes() == bytes(data)
    assert _index(ftp_server.home)[BIG].md5 == _md5(bytes(data))
    again = make_repo(ftp_server).upload(root, rels)
    assert again.downloaded == [] and again.failed == []


def test_unchanged_partial_upload_is_resumed(ftp_server, data_root, make_repo, monkeypatch):
    """Item 3, the good case: the local file did not change, so the partial upload is resumed (REST)."""
    root, rels = data_root
    monkeypatch.setenv("ONE_RETRY_ATTEMPTS", "1")
    ftp_server.stats.kill_upload = ("spikes.amps.npy", 1_500_000)
    make_repo(ftp_server).upload(root, rels, jobs=1)
    ftp_server.stats.reset()
    report = make_repo(ftp_server).upload(root, rels)
    assert report.failed == [] and report.downloaded == [BIG]
    [(cmd, path, rest)] = ftp_server.stats.stor[:1]
    assert path.endswith(part_name(BIG)) and (rest > 0 or cmd == "APPE")
    assert (ftp_server.home / BIG).read_bytes() == (root / BIG).read_bytes()
    assert _index(ftp_server.home)[BIG].md5 == _md5((root / BIG).read_bytes())


@pytest.mark.parametrize("lie", ["off_by_one", "garbage"])
def test_limit_1_never_shrinks_the_index(ftp_server, data_root, make_repo, lie):
    """Item 6. MLSD sizes off by one or unparsable, then an upload of 1 dataset: every previous row whose
    file is still there stays (main rewrote the index with 1 row where it had 19)."""
    root, rels = data_root
    assert make_repo(ftp_server).upload(root, rels).failed == []
    before = _index(ftp_server.home)
    ftp_server.stats.mlsd_size = lie
    (root / rels[0]).write_bytes(b"changed")
    report = make_repo(ftp_server).upload(root, rels[:1])
    assert report.failed == [] and report.downloaded == rels[:1]
    after = _index(ftp_server.home)
    assert sorted(after) == sorted(before)
    assert all(after[r] == before[r] for r in rels[1:])
    assert after[rels[0]].md5 == _md5(b"changed")
    assert sorted(_index(ftp_server.home, ".one_root")) == sorted(before)
    ftp_server.stats.reset()
    again = make_repo(ftp_server).upload(root, rels)  # a lying listing does not make it send again
    assert again.downloaded == [] and sorted(again.skipped) == rels


# -- real signals to a child process -------------------------------------------------------------
def _add_repo(server) -> None:
    args = ["add-repo", "lab", "--type", "ftp", "--no-check"]
    for k, v in server.settings().items():
        args += ["--set", f"{k}={str(v).lower() if isinstance(v, bool) else v}"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output


def _start_upload(root: Path, home: Path, jobs: int = 1) -> subprocess.Popen:
    env = {**os.environ, "ONE_HOME": str(home), "ONE_RETRY_ATTEMPTS": "2", "ONE_RETRY_BASE_DELAY": "0.01"}
    # SIGHUP as a terminal would deliver it, even when the tests run under nohup (which ignores it)
    code = "import signal; signal.signal(signal.SIGHUP, signal.SIG_DFL); from onecore.cli import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, "upload", str(root), "--repo", "lab", "-q", "--jobs", str(jobs)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # our signal only, not the terminal's
    )


def _complete_on_server(server, root: Path, rels: list[str]) -> set[str]:
    return {
        r for r in rels if (server.home / r).is_file() and (server.home / r).read_bytes() == (root / r).read_bytes()
    }


def _wait_for_files(server, root: Path, rels: list[str], n: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while len(_complete_on_server(server, root, rels)) < n:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the upload did not progress"
        time.sleep(0.02)


@pytest.mark.parametrize(
    "sig, jobs",
    [(signal.SIGTERM, 1), (signal.SIGHUP, 1), (signal.SIGTERM, 4)],
    ids=["SIGTERM", "SIGHUP", "SIGTERM-4-jobs"],
)
def test_sigterm_or_sighup_writes_the_index_of_what_is_complete(ftp_server, data_root, _one_home, sig, jobs):
    """Item 5. SIGTERM/SIGHUP in the middle of ``one upload``: no new transfer starts, the index lists
    every complete dataset, the exit status is not 0 (main: 0 of 2 listed)."""
    root, rels = data_root
    _add_repo(ftp_server)
    ftp_server.stats.slow_stor = 0.15
    proc = _start_upload(root, _one_home, jobs)
    try:
        _wait_for_files(ftp_server, root, rels, 2, proc)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + sig, (proc.returncode, err)
    assert b"Interrupted" in err and b"Traceback" not in err
    done = _complete_on_server(ftp_server, root, rels)
    index = _index(ftp_server.home)
    assert 2 <= len(done) < len(rels)
    assert set(index) == done  # everything complete is listed, nothing else
    assert all(index[r].md5 == _md5((root / r).read_bytes()) for r in done)


def test_rerun_after_sigkill_does_not_send_completed_files_again(ftp_server, data_root, _one_home, make_repo):
    """Item 6. ``one upload`` killed with SIGKILL (no index written): the re-run finds the completed
    files in the local journal and does not send them again (main sent them again every run)."""
    root, rels = data_root
    _add_repo(ftp_server)
    ftp_server.stats.slow_stor = 0.15
    proc = _start_upload(root, _one_home)
    try:
        _wait_for_files(ftp_server, root, rels, 4, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    time.sleep(0.5)  # the server may still be executing a command the child sent just before its death
    done = _complete_on_server(ftp_server, root, rels)
    assert 4 <= len(done) < len(rels) and _index(ftp_server.home) == {}  # killed before the index
    ftp_server.stats.slow_stor = 0
    ftp_server.stats.reset()
    report = make_repo(ftp_server, name="lab").upload(root, rels)
    assert report.failed == []
    assert not [r for r in done if _stored(ftp_server, r)], "completed files were sent again"
    assert sorted(_index(ftp_server.home)) == rels
    assert set(report.skipped) == done, (sorted(report.skipped), sorted(done), report.downloaded)


# -- item 17: no temporary index copies left in $ONE_HOME/tmp --------------------------------------
@pytest.mark.parametrize("with_http", [False, True], ids=["ftp", "http"])
def test_index_fetches_leave_no_temporary_files(ftp_server, http_over, data_root, make_repo, _one_home, with_http):
    """Index fetches (including one whose rows are never read, as ``add-repo``'s check does) leave no
    ``tmp*.one_root`` in ``$ONE_HOME/tmp``; a stale one of a dead process is swept (main left one per fetch)."""
    root, rels = data_root
    assert make_repo(ftp_server).upload(root, rels).failed == []
    tmp = _one_home / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    stale = tmp / "tmpdeadbeef.one_root"
    stale.write_text("left by a killed process")
    os.utime(stale, (1, 1))
    extra = {"base_url": http_over(ftp_server.home)} if with_http else {}
    repo = make_repo(ftp_server, **extra)
    assert repo.fetch_index(None) is not None  # rows never read
    update = repo.fetch_index(None)
    assert sorted(r.rel_path for r in update.rows) == rels
    assert all(r.md5 and r.size is not None for r in repo.fetch_index(None).rows)  # from the companion
    assert update.state["index_name"] == ".one_index.tsv"
    assert [p.name for p in tmp.iterdir()] == []


# -- issue 15: --delete, remote_root, ONE light's reader -------------------------------------------
def test_upload_delete_removes_remote_datasets_no_longer_local(ftp_server, data_root, make_repo):
    from onecore.testing.onelight import onelight_read_root_file

    root, rels = data_root
    assert make_repo(ftp_server).upload(root, rels).failed == []
    gone = rels[:2]
    for rel in gone:
        (root / rel).unlink()
    kept = rels[2:]
    report = make_repo(ftp_server).upload(root, kept)
    assert sorted(report.remote_only) == gone and report.deleted == []
    assert all((ftp_server.home / r).exists() for r in gone) and sorted(_index(ftp_server.home)) == rels
    dry = make_repo(ftp_server).upload(root, kept, dry_run=True, delete=True)
    assert sorted(dry.deleted) == gone and all((ftp_server.home / r).exists() for r in gone)
    report = make_repo(ftp_server).upload(root, kept, delete=True)
    assert report.failed == [] and sorted(report.deleted) == gone
    assert not any((ftp_server.home / r).exists() for r in gone)
    assert sorted(_index(ftp_server.home)) == kept
    text = (ftp_server.home / ".one_root").read_text()
    assert sorted(p for p, _ in onelight_read_root_file(text)) == kept  # ONE light reads it


def test_remote_root_is_created_when_missing(ftp_server, data_root, make_repo):
    root, rels = data_root
    report = make_repo(ftp_server, remote_root="/new/deep/root").upload(root, rels)
    assert report.failed == []
    assert (ftp_server.home / "new" / "deep" / "root" / BIG).read_bytes() == (root / BIG).read_bytes()
    assert sorted(_index(ftp_server.home / "new" / "deep" / "root")) == rels


def test_remote_root_that_may_not_be_created_is_one_clear_error(ftp_server, data_root, make_repo):
    from onelight_ftp.testing import READER, READER_PASSWORD

    from onecore.errors import OneError

    root, rels = data_root
    repo = make_repo(ftp_server, login=READER, password=READER_PASSWORD, remote_root="/nope")
    with pytest.raises(OneError) as e:
        repo.upload(root, rels)
    msg = str(e.value)
    assert "'/nope'" in msg and "may not create it" in msg and "'reader'" in msg
    assert not (ftp_server.home / "nope").exists()
