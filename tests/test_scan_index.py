"""Scanning a data root, checking it, and the .one_root index format."""

from __future__ import annotations

import io
import json

import pytest

from onecore.errors import IndexFormatError
from onecore.index import COMPANION_HEADER, IndexProblem, read_index_file, read_one_root, write_index_file
from onecore.repository import Dataset
from onecore.scan import check, scan, sessions

from .conftest import run_cli


def test_scan_finds_every_collection_and_skips_non_alf(data_root):
    paths = list(scan(data_root))
    assert "nicklab/Subjects/NICK_001/2021-01-04/001/alf/probe00/spikes.times.npy" in paths
    assert "nicklab/Subjects/NICK_001/2021-01-04/001/alf/#2021-06-01#/spikes.times.npy" in paths
    assert not any(p.endswith("notes.txt") for p in paths)
    assert len(sessions(iter(paths))) == 8
    problems = dict(check(data_root))
    assert list(problems) == ["nicklab/Subjects/NICK_001/2021-01-04/001/notes.txt"]
    assert "two dots" in problems["nicklab/Subjects/NICK_001/2021-01-04/001/notes.txt"]


def test_scan_ignores_hidden_and_partial_files(data_root):
    sess = data_root / "nicklab/Subjects/NICK_001/2021-01-04/001/alf"
    (sess / ".DS_Store").write_text("x")
    (sess / "spikes.depths.npy.part").write_text("x")
    (data_root / ".one_root").write_text("")
    assert not [p for p in scan(data_root) if ".DS_Store" in p or p.endswith(".part")]
    assert not [p for p, _ in check(data_root) if ".DS_Store" in p or p.endswith(".part")]


def test_check_reports_misplaced_files(tmp_path):
    (tmp_path / "lab/Subjects/s/2020-01-01").mkdir(parents=True)
    (tmp_path / "lab/Subjects/s/2020-01-01/spikes.times.npy").write_text("x")
    (tmp_path / "README.md").write_text("x")
    (tmp_path / "lab/Subjects/s/2020-01-01/001/alf/a b").mkdir(parents=True)
    (tmp_path / "lab/Subjects/s/2020-01-01/001/alf/a b/spikes.times.npy").write_text("x")
    got = dict(check(tmp_path))
    assert set(got) == {
        "README.md",
        "lab/Subjects/s/2020-01-01/spikes.times.npy",
        "lab/Subjects/s/2020-01-01/001/alf/a b/spikes.times.npy",
    }
    assert list(scan(tmp_path)) == []


def test_cli_scan_and_check(data_root, runner):
    out = json.loads(run_cli(runner, "scan", data_root, "--json").output)
    assert out == list(scan(data_root))
    sess = json.loads(run_cli(runner, "scan", data_root, "--sessions-only", "--json").output)
    assert sess[0] == "haisslab/Subjects/HAIS_001/2021-01-04/001" and len(sess) == 8
    res = run_cli(runner, "check", data_root, "--json", code=1)
    assert json.loads(res.output) == [
        {
            "path": "nicklab/Subjects/NICK_001/2021-01-04/001/notes.txt",
            "reason": "'notes.txt' is not an ALF file name: needs at least object.attribute.extension (two dots)",
        }
    ]
    (data_root / "nicklab/Subjects/NICK_001/2021-01-04/001/notes.txt").unlink()
    assert "follow the ALF convention" in run_cli(runner, "check", data_root).output


GOOD = "lab/Subjects/s/2020-01-01/001/alf/spikes.times.npy"


def test_read_legacy_forms_and_crlf():
    text = (
        f"{GOOD}\thttps://ndownloader.figshare.com/files/1\r\nlab/Subjects/s/2020-01-01/001/alf/spikes.clusters.npy\r\n"
    )
    rows = list(read_one_root(io.StringIO(text), base_url="http://h/data/"))
    assert rows[0] == Dataset(GOOD, "https://ndownloader.figshare.com/files/1")
    assert rows[1].url == "http://h/data/lab/Subjects/s/2020-01-01/001/alf/spikes.clusters.npy"


def test_write_then_read_round_trip(tmp_path):
    rows = [
        Dataset(GOOD, "http://h/x", 10, "0" * 32),
        Dataset("lab/Subjects/s/2020-01-01/001/alf/#rev 1#/a.b.npy".replace(" ", ""), None, None, None),
    ]
    write_index_file(rows, tmp_path / ".one_root")
    text = (tmp_path / ".one_root").read_text()
    assert text.splitlines()[0] == f"{GOOD}\thttp://h/x"  # ONE light's form
    companion = (tmp_path / ".one_index.tsv").read_text().splitlines()
    assert companion[0] == COMPANION_HEADER and companion[1] == f"{GOOD}\thttp://h/x\t10\t{'0' * 32}"
    assert list(read_index_file(tmp_path / ".one_index.tsv")) == rows
    assert [(r.rel_path, r.url) for r in read_index_file(tmp_path / ".one_root")] == [(r.rel_path, r.url) for r in rows]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "one_home") == [".one_index.tsv", ".one_root"]


@pytest.mark.parametrize(
    "row, reason",
    [
        (f"{GOOD}\turl\t1", "1, 2 or 4"),
        ("lab/Subjects/s/2020-01-01/001/alf/notalf.npy", "not an ALF"),
        ("lab/Subjects/s/2020-01-01/001/../../../../etc/passwd.x.y", "refused"),
        ("/etc/Subjects/s/2020-01-01/001/a.b.c", "refused"),
        ("C:/lab/Subjects/s/2020-01-01/001/a.b.c", "refused"),
        ("lab\\Subjects\\s\\2020-01-01\\001\\a.b.c", "refused"),
        ("lab/Subjects/s/2020-01-01/001/%2e%2e/a.b.c", "refused"),
        (f"{GOOD}\thttp://h/x\t-5\t", "size"),
        (f"{GOOD}\thttp://h/x\t12\tnothex", "md5"),
        (f"{GOOD}\tjavascript:alert(1)", "URL"),
    ],
)
def test_bad_rows_are_reported_with_line_numbers_and_others_kept(row, reason):
    text = f"{GOOD}\n{row}\nlab/Subjects/s/2020-01-01/001/alf/spikes.amps.npy\n"
    problems: list[IndexProblem] = []
    rows = list(read_one_root(io.StringIO(text), source="idx", problems=problems))
    assert len(rows) == 2
    assert len(problems) == 1 and problems[0].line == 2 and reason in problems[0].reason
    assert str(problems[0]).startswith("idx:2: ")
    with pytest.raises(IndexFormatError, match="idx:2"):
        list(read_one_root(io.StringIO(text), source="idx", strict=True))


def test_undecodable_index_is_a_clear_problem(tmp_path):
    p = tmp_path / ".one_root"
    p.write_bytes(GOOD.encode() + b"\n\xff\xfe garbage\n")
    problems: list[IndexProblem] = []
    rows = list(read_index_file(p, problems=problems))
    assert [r.rel_path for r in rows] == [GOOD]
    assert "not UTF-8" in problems[0].reason


def test_cli_index_and_check_index(data_root, runner):
    out = run_cli(runner, "index", data_root, "--base-url", "http://example.org/share").output
    assert "Wrote" in out
    rows = list(read_index_file(data_root / ".one_index.tsv"))
    assert len(rows) == len(list(scan(data_root)))
    assert all(r.url.startswith("http://example.org/share/") and r.size and len(r.md5) == 32 for r in rows)
    assert [(r.rel_path, r.url) for r in read_index_file(data_root / ".one_root")] == [
        (r.rel_path, r.url) for r in rows
    ]
    rev = [r for r in rows if "#" in r.rel_path][0]
    assert "%232021-06-01%23" in rev.url
    assert "0 bad rows" in run_cli(runner, "check", data_root / ".one_root").output
    with open(data_root / ".one_root", "a") as f:
        f.write("bad/row\n")
    res = json.loads(run_cli(runner, "check", data_root / ".one_root", "--json", code=1).output)
    assert res[0]["path"].endswith(f".one_root:{len(rows) + 1}")
    run_cli(runner, "index", data_root, "--base-url", "ftp://nope", code=2)
