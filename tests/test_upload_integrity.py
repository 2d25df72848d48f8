"""Issue 13's attacks on the upload/index side, through the ``local`` type and the ``one`` CLI: temp names
that collide with datasets, a resumed copy of a changed file, planted symlinks (index temp files, the
copy's temp files, links out of the data root, loops), a huge single-line index; and issue 15's
``upload --delete``, the companion index and ONE light's reader.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from onecore.builtins.local import LocalRepository
from onecore.index import COMPANION_HEADER, read_index_file
from onecore.scan import check, scan
from onecore.testing.onelight import onelight_read_root_file
from onecore.upload import part_name

from .conftest import run_cli

SESSION = "lab/Subjects/s1/2020-01-01/001"


def _write(root: Path, rel: str, data: bytes) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _target(tmp_path: Path, home: Path) -> LocalRepository:
    return LocalRepository("dest", {"root_dir": str(tmp_path / "dest")}, home=home)


def _rows(folder: Path) -> dict:
    return {d.rel_path: d for d in read_index_file(folder / ".one_index.tsv")}


def _add_local(runner, name: str, folder: Path) -> None:  # noqa: ANN001
    folder.mkdir(parents=True, exist_ok=True)
    run_cli(runner, "add-repo", name, "--type", "local", "--set", f"root_dir={folder}", "--no-check")


# -- item 2: temp names never collide with a dataset ---------------------------------------------
def test_a_dataset_named_like_the_temp_file_of_another(tmp_path, isolated_home):
    """``X`` and ``X.part`` uploaded together with 8 jobs: both arrive intact (on main the temp file of
    ``X`` was the dataset ``X.part``)."""
    root = tmp_path / "root"
    a = f"{SESSION}/alf/spikes.times.npy"
    rels = [a, a + ".part"]
    _write(root, rels[0], b"A" * 300_000)
    _write(root, rels[1], b"B" * 200_000)
    report = _target(tmp_path, isolated_home).upload(root, rels, jobs=8)
    assert report.failed == []
    for rel in rels:
        assert (tmp_path / "dest" / rel).read_bytes() == (root / rel).read_bytes()
        assert _rows(tmp_path / "dest")[rel].md5 == _md5((root / rel).read_bytes())
    assert part_name(a) == f"{SESSION}/alf/.spikes.times.npy.part"


# -- item 3: a resumed copy of a file that changed --------------------------------------------------
def test_resumed_copy_of_a_file_that_changed_locally(tmp_path, isolated_home):
    """Ctrl-C in the middle of a copy, then the file changes (same size): the re-run sends it again from
    the start (main appended the new end to the old start, under the new md5)."""
    root = tmp_path / "root"
    rel = f"{SESSION}/alf/spikes.amps.npy"
    data = os.urandom(5 << 20)
    _write(root, rel, data)

    def stop(p) -> None:  # noqa: ANN001
        if p.bytes_done >= 1 << 20:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _target(tmp_path, isolated_home).upload(root, [rel], jobs=1, progress=stop)
    assert not (tmp_path / "dest" / rel).exists()
    new = bytearray(data)
    new[100_000:100_010] = b"0123456789"
    _write(root, rel, bytes(new))
    for stale in (tmp_path / "dest").rglob("*.part"):  # main's and ours
        assert stale.stat().st_size >= 1 << 20
    report = _target(tmp_path, isolated_home).upload(root, [rel], jobs=1)
    assert report.failed == []
    assert (tmp_path / "dest" / rel).read_bytes() == bytes(new)
    assert _rows(tmp_path / "dest")[rel].md5 == _md5(bytes(new))


# -- item 14: planted symlinks at temporary names -------------------------------------------------
def test_one_index_never_follows_a_planted_temp_symlink(tmp_path, runner):
    """``.one_root.tmp`` (and ``.one_root`` itself) planted as symlinks to a victim file: ``one index``
    leaves the victim alone and writes regular files (main overwrote the victim and left ``.one_root`` a
    symlink)."""
    root = tmp_path / "root"
    _write(root, f"{SESSION}/alf/spikes.times.npy", b"x" * 100)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (root / ".one_root.tmp").symlink_to(victim)
    (root / ".one_index.tsv.tmp").symlink_to(victim)
    run_cli(runner, "index", root, "--base-url", "http://example.org/")
    assert victim.read_text() == "precious"
    for name in (".one_root", ".one_index.tsv"):
        assert (root / name).is_file() and not (root / name).is_symlink()
    assert [p for p, _ in onelight_read_root_file((root / ".one_root").read_text())] == [
        f"{SESSION}/alf/spikes.times.npy"
    ]


def test_copy_never_writes_through_a_planted_part_symlink(tmp_path, isolated_home):
    """Symlinks planted in the target folder at the temporary names of a dataset: never followed."""
    root, dest = tmp_path / "root", tmp_path / "dest"
    rel = f"{SESSION}/alf/spikes.times.npy"
    _write(root, rel, b"new data")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (dest / SESSION / "alf").mkdir(parents=True)
    for name in (part_name(rel), rel + ".part"):
        (dest / name).symlink_to(victim)
    assert _target(tmp_path, isolated_home).upload(root, [rel]).failed == []
    assert victim.read_text() == "precious"
    assert (dest / rel).read_bytes() == b"new data" and not (dest / rel).is_symlink()


# -- item 15: symlinks out of the data root, and loops --------------------------------------------
@pytest.fixture
def linked_root(tmp_path: Path) -> tuple[Path, Path]:
    root, outside = tmp_path / "root", tmp_path / "outside"
    _write(root, f"{SESSION}/alf/spikes.times.npy", b"t" * 10)
    _write(root, f"{SESSION}/alf/spikes.clusters.npy", b"c" * 10)
    _write(outside, "id_rsa.key.txt", b"SECRET KEY")
    (root / SESSION / "extra").symlink_to(outside, target_is_directory=True)
    (root / SESSION / "alf" / "loop").symlink_to("..", target_is_directory=True)  # back to the session
    (root / SESSION / "alf" / "self.link.npy").symlink_to("self.link.npy")  # a link to itself
    return root, outside


def test_scan_skips_links_out_of_the_root_and_survives_loops(linked_root):
    root, _ = linked_root
    problems: list[tuple[str, str]] = []
    found = list(scan(root, problems=problems))
    assert found == [f"{SESSION}/alf/spikes.clusters.npy", f"{SESSION}/alf/spikes.times.npy"]
    reasons = dict(problems)
    assert "outside the data root" in reasons[f"{SESSION}/extra"]
    assert "loop" in reasons[f"{SESSION}/alf/loop"] and "loop" in reasons[f"{SESSION}/alf/self.link.npy"]
    assert len(problems) == 3  # each link reported once
    followed = list(scan(root, follow_symlinks=True))
    assert f"{SESSION}/extra/id_rsa.key.txt" in followed
    assert {p for p, _ in check(root)} >= {f"{SESSION}/extra", f"{SESSION}/alf/loop"}


def test_cli_scan_check_upload_and_one_with_links(linked_root, tmp_path, runner):
    """``one scan``/``check``/``upload`` and ``One(cache_dir=)``: the key outside the root is never
    uploaded, each link is reported, the loop does not crash anything (main: uploaded the key, and
    ``OSError: Too many levels of symbolic links``)."""
    from onecore import One

    root, _ = linked_root
    res = run_cli(runner, "scan", root)
    assert "id_rsa" not in res.stdout and "outside the data root" in res.stderr
    res = run_cli(runner, "check", root, code=1)
    assert "loop" in res.output
    _add_local(runner, "dest", tmp_path / "dest")
    res = run_cli(runner, "upload", root, "--repo", "dest", "-q")
    assert "2 transferred" in res.stdout and "outside the data root" in res.stderr
    assert not list((tmp_path / "dest").rglob("id_rsa*"))
    assert "id_rsa" not in (tmp_path / "dest" / ".one_root").read_text()
    res = run_cli(runner, "scan", root, "--follow-symlinks")
    assert "extra/id_rsa.key.txt" in res.stdout
    with One(cache_dir=root) as one:
        [eid] = one.search()
        assert sorted(one.list_datasets(eid)) == ["alf/spikes.clusters.npy", "alf/spikes.times.npy"]


# -- item 12: a huge single-line index costs bounded memory ---------------------------------------
def test_a_600_mb_single_line_index_is_read_in_bounded_memory(tmp_path):
    """A valid row, then one 600 MB line (a sparse file: no disk used): reported as too long, the valid
    row kept, and less than 50 MB of memory more than before reading (main: 1.2 GB)."""
    path = tmp_path / ".one_root"
    with open(path, "wb") as f:
        f.write(f"{SESSION}/alf/spikes.times.npy\thttp://h/x\n".encode())
        f.truncate(600 << 20)
    code = textwrap.dedent(
        f"""
        import resource
        from onecore.index import read_index_file
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        problems = []
        rows = list(read_index_file({str(path)!r}, problems=problems))
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(len(rows), len(problems), problems[0].reason, (after - before) // 1024)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    n_rows, n_problems, *reason, grown_mb = out.stdout.split()
    assert (n_rows, n_problems) == ("1", "1") and "longer than" in " ".join(reason)
    assert int(grown_mb) < 50, f"reading cost {grown_mb} MB"


# -- issue 15: --delete, the companion index, ONE light's reader ---------------------------------
def test_upload_delete_and_the_summary_of_remote_only_datasets(tmp_path, runner):
    root, dest = tmp_path / "root", tmp_path / "dest"
    rels = [f"{SESSION}/alf/{n}.times.npy" for n in ("a", "b", "c")]
    for rel in rels:
        _write(root, rel, rel.encode())
    _add_local(runner, "dest", dest)
    run_cli(runner, "upload", root, "--repo", "dest", "-q")
    (root / rels[0]).unlink()
    out = run_cli(runner, "upload", root, "--repo", "dest", "-q").stdout
    assert "1 remote dataset(s) no longer present locally" in out
    assert (dest / rels[0]).exists() and rels[0] in _rows(dest)  # kept without --delete
    out = run_cli(runner, "upload", root, "--repo", "dest", "--delete", "--dry-run").stdout
    assert f"would delete {rels[0]}" in out and (dest / rels[0]).exists()
    out = run_cli(runner, "upload", root, "--repo", "dest", "--delete", "-q").stdout
    assert "1 remote dataset(s) deleted" in out
    assert not (dest / rels[0]).exists() and sorted(_rows(dest)) == rels[1:]
    res = run_cli(runner, "upload", root, "--repo", "dest", "--delete", "--limit", "1", code=2)
    assert "--limit" in res.output


def test_everything_written_is_readable_by_one_light(tmp_path, runner, isolated_home):
    """``one index`` and a local upload write ``.one_root`` in ONE light's form (1 or 2 columns) and the
    sizes and md5s in ``.one_index.tsv`` after its versioned header (main wrote 4 columns: ONE light
    failed with AssertionError on the first row)."""
    root = tmp_path / "root"
    rels = [f"{SESSION}/alf/spikes.times.npy", f"{SESSION}/alf/#2021-01-01#/spikes.times.npy"]
    for rel in rels:
        _write(root, rel, rel.encode())
    run_cli(runner, "index", root, "--base-url", "http://example.org/data/")
    read = onelight_read_root_file((root / ".one_root").read_text(), "http://example.org/data/")
    assert sorted(p for p, _ in read) == sorted(rels)
    assert all(u.startswith("http://example.org/data/") for _, u in read)
    assert (root / ".one_index.tsv").read_text().splitlines()[0] == COMPANION_HEADER
    assert all(r.md5 == _md5(r.rel_path.encode()) for r in _rows(root).values())
    _target(tmp_path, isolated_home).upload(root, rels)
    dest = tmp_path / "dest"
    assert sorted(p for p, _ in onelight_read_root_file((dest / ".one_root").read_text(), "http://h/")) == sorted(rels)
    assert sorted(_rows(dest)) == sorted(rels)
    (dest / ".one_index.tsv").unlink()  # readers accept .one_root alone
    assert sorted(r.rel_path for r in read_index_file(dest / ".one_root")) == sorted(rels)


def test_upload_to_a_read_only_type_says_so_first(tmp_path, runner):
    root = tmp_path / "root"
    _write(root, f"{SESSION}/alf/spikes.times.npy", b"x")
    _write(root, f"{SESSION}/notes.txt", b"not ALF")
    run_cli(runner, "add-repo", "web", "--type", "http", "--set", "base_url=http://127.0.0.1:9/", "--no-check")
    res = run_cli(runner, "upload", root, "--repo", "web", code=1)
    assert "read-only" in res.output and "skipped" not in res.output
