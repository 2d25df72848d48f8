"""The catalog's bulk paths give exactly what the reference reader gives: IndexLines (a ``.one_root``
parsed as it streams in) against ``read_one_root``, PathRows against Dataset rows."""

from __future__ import annotations

from onecore.catalog import Catalog, IndexLines, PathRows
from onecore.index import read_one_root
from onecore.repository import Dataset

BASE = "https://data.example.org/root/"
S1 = "lab/Subjects/S1/2021-01-04/001"
S2 = "lab/Subjects/S2/2021-01-05/002"
MD5 = "0123456789abcdef0123456789ABCDEF"

LINES = [
    f"{S1}/alf/spikes.times.npy\t{BASE}{S1}/alf/spikes.times.npy\t100\t{MD5}",
    f"{S1}/alf/spikes.clusters.npy\t\t200\t",
    f"{S1}/alf/#2022-01-01#/spikes.clusters.npy\t{BASE}{S1}/alf/%232022-01-01%23/spikes.clusters.npy\t201\t",
    f"{S1}/alf/probe00/spikes.times.npy\thttps://mirror.example.org/x.npy\t\t",
    f"{S1}/alf/spikes.amps.npy",
    f"{S1}/alf/spikes.depths.npy\tftp://ftp.example.org/d.npy",
    "",
    "   ",
    f"{S1}/alf/spikes.times.npy\t\t1\t",  # duplicate
    f"{S1}/alf/bad.size.npy\t\t-5\t",
    f"{S1}/alf/bad.md5.npy\t\t5\tnothex",
    f"{S1}/alf/three.cols.npy\ta\tb",
    f"{S1}/alf/bad url.npy\t\t\t",
    f"{S1}/alf/wheel.position.npy\tnot-a-url\t\t",
    f"{S1}/../etc/passwd.txt\t\t\t",
    "not/an/alf/path.txt",
    f"{S2}/raw_video_data/_iblrig_leftCamera.raw.mp4\t\t 7 \t",
    f"{S2}/alf/trials.intervals.npy\r",
    f"{S2}/alf/trials.choice.npy   ",
    f"{S2}/alf/{'x' * 9000}.npy",
    f"{S2}/alf/trials.choice.npy",  # duplicate of the stripped row above
    # new sessions made of known parts but one bad one: the reference reader's reasons
    f"lab/Subjects/S1/2021-02-30/001/alf/spikes.times.npy\t\t1\t{MD5}",
    f"bad-lab/Subjects/S1/2021-01-04/001/alf/spikes.times.npy\t\t1\t{MD5}",
    f"lab/Subjects/S 1/2021-01-04/001/alf/spikes.times.npy\t\t1\t{MD5}",
    f"lab/Subjects/S1/2021-01-04/1234/alf/spikes.times.npy\t\t1\t{MD5}",
    f"lab/Subjects/S2/2021-01-04/001/alf/spikes.times.npy\t\t1\t{MD5}",  # new session, all parts known
    f"{S2}/alf/trials.goCue_times.npy\t\t3\t{MD5.lower()}\n",
]


def _dump(cat: Catalog) -> list[dict]:
    out = []
    for eid in sorted(cat.search()):
        out += [r.as_dict() for r in cat.datasets(eid)]
    return out


def test_index_lines_load_exactly_what_the_reference_reader_reads(tmp_path):
    ref_problems: list = []
    ref = Catalog(tmp_path / "ref.sqlite")
    n_ref = ref.rebuild(list(read_one_root(LINES, base_url=BASE, source="idx", problems=ref_problems)))
    data = "".join(line + "\n" for line in LINES).encode()
    sources = [
        lambda p: IndexLines(iter(LINES), base_url=BASE, source="idx", problems=p),
        lambda p: IndexLines(iter([line.encode() for line in LINES]), base_url=BASE, source="idx", problems=p),
        lambda p: IndexLines.from_chunks(iter([data[:100], data[100:101], data[101:]]), BASE, "idx", p),
        lambda p: IndexLines.from_chunks(iter([data.replace(b"\n", b"\r\n")]), BASE, "idx", p),
    ]
    for make in sources:
        problems: list = []
        cat = Catalog(tmp_path / "fast.sqlite")
        n = cat.rebuild(make(problems))
        assert n == n_ref == 11
        assert _dump(cat) == _dump(ref)
        assert [(p.source, p.line, p.text, p.reason) for p in problems] == [
            (p.source, p.line, p.text, p.reason) for p in ref_problems
        ]
        assert [p.line for p in problems] == [9, 10, 11, 12, 13, 14, 15, 16, 20, 21, 22, 23, 24, 25]
        assert cat.count() == ref.count() == (3, 11)
        assert list(cat.all_datasets()) == list(ref.all_datasets())
        cat.close()
    ref.close()
    urls = {d["rel_path"]: d["url"] for d in _dump(ref)}
    assert urls["alf/#2022-01-01#/spikes.clusters.npy"] == f"{BASE}{S1}/alf/%232022-01-01%23/spikes.clusters.npy"
    assert urls["alf/probe00/spikes.times.npy"] == "https://mirror.example.org/x.npy"


def test_index_lines_not_utf8_and_iterated_as_datasets(tmp_path):
    lines = [f"{S1}/alf/spikes.times.npy\n".encode(), b"\xff\xfe bad\n", f"{S2}/alf/x.y.npy\n".encode()]
    problems: list = []
    rows = list(IndexLines(iter(lines), base_url=None, source="idx", problems=problems))
    assert [r.rel_path for r in rows] == [f"{S1}/alf/spikes.times.npy", f"{S2}/alf/x.y.npy"]
    assert [(p.line, p.reason.split(" (")[0]) for p in problems] == [(2, "not UTF-8 text")]
    problems.clear()
    cat = Catalog(tmp_path / "c.sqlite")
    assert cat.rebuild(IndexLines(iter(lines), source="idx", problems=problems)) == 2
    assert [p.line for p in problems] == [2]
    problems.clear()
    assert cat.rebuild(IndexLines.from_chunks([b"".join(lines)], source="idx", problems=problems)) == 2
    assert [p.line for p in problems] == [2]
    assert list(IndexLines.from_chunks([b"".join(lines)])) == rows
    assert [r.url for r in cat.datasets(S1)] == [None]
    cat.close()


def test_path_rows_same_catalog_as_dataset_rows(tmp_path):
    paths = [f"{s}/{c}/{n}" for s in (S1, S2) for c in ("alf", "alf/probe00") for n in ("a.b.npy", "c.d.npy")]
    a, b = Catalog(tmp_path / "a.sqlite"), Catalog(tmp_path / "b.sqlite")
    assert a.rebuild(PathRows(paths)) == b.rebuild([Dataset(p) for p in paths]) == 8
    assert _dump(a) == _dump(b) and a.count() == b.count() == (2, 8)
    assert sorted(a.search(datasets=["probe00"])) == [S1, S2]
    assert [d.rel_path for d in PathRows(paths)] == paths
    a.close()
    b.close()


def test_lines_of_chunks_cut_anywhere_then_streamed_into_the_catalog(tmp_path):
    import random

    from onecore.catalog import lines_of

    data = "".join(line + "\n" for line in LINES).encode()
    rng = random.Random(7)
    for _ in range(30):
        cuts = sorted(rng.sample(range(1, len(data)), 25))
        chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
        assert list(lines_of(iter(chunks))) == data.splitlines(keepends=True)
    assert list(lines_of([b"a\nb", b"", b"c"])) == [b"a\n", b"bc"]
    problems: list = []
    cat = Catalog(tmp_path / "s.sqlite")
    assert cat.rebuild(IndexLines(lines_of(iter(chunks)), base_url=BASE, source="idx", problems=problems)) == 11
    assert cat.rebuild(IndexLines.from_chunks(iter(chunks), base_url=BASE, problems=problems)) == 11
    assert len(problems) == 28
    cat.close()


def _peak_rss_growth(fn) -> tuple[object, int]:  # noqa: ANN001
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = fn()
    return out, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024


def test_a_huge_single_line_streamed_in_is_cut_not_held(tmp_path) -> None:
    """A 300 MB line without a newline (a hostile or broken index served over HTTP) costs bounded
    memory on the catalog's streaming path: it is reported as too long, and the rows after it load."""
    good = f"{S1}/alf/spikes.times.npy\t\t100\t{MD5}"

    def chunks():
        block = b"x" * (1 << 20)
        for _ in range(300):
            yield block
        yield b"\n" + good.encode() + b"\n"

    problems: list = []
    cat = Catalog(tmp_path / "c.sqlite")
    _, growth = _peak_rss_growth(lambda: cat.rebuild(IndexLines.from_chunks(chunks(), problems=problems)))
    assert cat.count() == (1, 1) and growth < 100 * 2**20, growth
    assert [p.line for p in problems] == [1] and "longer than" in problems[0].reason
    cat.close()
    rows = list(IndexLines.from_chunks(chunks(), problems=(ref := [])))  # the slow (Dataset) path too
    assert [r.rel_path for r in rows] == [f"{S1}/alf/spikes.times.npy"] and [p.line for p in ref] == [1]


def test_the_companion_header_is_not_a_bad_row(tmp_path) -> None:
    from onecore.index import COMPANION_HEADER

    text = f"{COMPANION_HEADER}\n{LINES[0]}\n".encode()
    problems: list = []
    cat = Catalog(tmp_path / "c.sqlite")
    cat.rebuild(IndexLines.from_chunks([text], problems=problems))
    assert cat.count() == (1, 1) and problems == []
    future = IndexLines.from_chunks([text.replace(b"#one_index 1", b"#one_index 9")], problems=(later := []))
    cat.rebuild(future)
    assert cat.count() == (1, 1) and [p.reason for p in later] == ["unknown index format version '9'"]
    cat.close()
