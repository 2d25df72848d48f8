"""The fast paths added for speed keep the old behaviour: session listing cache, local file checks."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from onecore import One
from onecore.catalog import Catalog
from onecore.errors import NotFound, UnsafePathError
from onecore.repository import Dataset

S = "lab/Subjects/s1/2021-01-01/001"


def test_session_listing_cache_sees_every_write(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    Catalog(path).rebuild([Dataset(f"{S}/alf/a.b.npy")])
    reader, writer = Catalog(path), Catalog(path)
    assert [d.rel_path for d in reader.datasets(S)] == ["alf/a.b.npy"]
    writer.upsert([Dataset(f"{S}/alf/c.d.npy")])  # another connection commits
    assert [d.rel_path for d in reader.datasets(S)] == ["alf/a.b.npy", "alf/c.d.npy"]
    reader.upsert([Dataset(f"{S}/alf/#v2#/a.b.npy", url="http://x/y")])  # this one writes
    recs = reader.datasets(S)
    assert [d.rel_path for d in recs] == ["alf/a.b.npy", "alf/#v2#/a.b.npy", "alf/c.d.npy"]
    recs.clear()  # callers get their own list
    assert len(reader.datasets(S)) == 3
    reader.rebuild([Dataset(f"{S}/x.y.npy")])
    assert [d.rel_path for d in reader.datasets(S)] == ["x.y.npy"]
    assert reader.datasets("nope/2021-01-01/001") == []


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / S / "alf").mkdir(parents=True)
    for a in ("times", "amps"):
        np.save(root / S / "alf" / f"spikes.{a}.npy", np.arange(3.0))
    return root


def test_local_fast_path_loads_and_returns_paths(root: Path) -> None:
    with One(cache_dir=root) as one:
        paths = one.load_object(S, "spikes", download_only=True)
        assert paths == [root.resolve() / S / "alf" / n for n in ("spikes.amps.npy", "spikes.times.npy")]
        assert all(isinstance(p, Path) for p in paths)
        assert one.load_dataset(S, "spikes.times").tolist() == [0.0, 1.0, 2.0]
        (root / S / "alf" / "spikes.amps.npy").unlink()
        with pytest.raises(NotFound, match="not on disk"):
            one.load_object(S, "spikes")


def test_local_fast_path_refuses_links_leading_outside(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    np.save(outside / "secret.npy", np.zeros(1))
    with One(cache_dir=root) as one:
        assert one.load_dataset(S, "spikes.times").shape == (3,)
        # a file replaced by a link to a file outside the root
        target = root / S / "alf" / "spikes.amps.npy"
        target.unlink()
        os.symlink(outside / "secret.npy", target)
        with pytest.raises(UnsafePathError, match="symbolic link"):
            one.load_dataset(S, "spikes.amps")
    # a session folder that is a link to a folder outside the root: not even scanned (issue 13 item 15)
    shutil.move(str(root / S / "alf"), str(outside / "alf"))
    os.symlink(outside / "alf", root / S / "alf")
    with One(cache_dir=root) as one:
        with pytest.raises((UnsafePathError, NotFound)):
            one.load_dataset(S, "spikes.times")


def test_bitmap_search_agrees_with_sql(tmp_path):
    """The precomputed bitmap index and the plain SQL path return the same sessions in the same order."""
    import itertools
    import random

    from onecore.catalog import Catalog
    from onecore.repository import Dataset

    rng = random.Random(3)
    names = [
        "alf/spikes.times.npy",
        "alf/spikes.clusters.npy",
        "alf/probe00/spikes.times.npy",
        "alf/probe01/spikes.times.npy",
        "alf/#2021-01-01#/trials.intervals.npy",
        "raw/_ibl_wheel.position.npy",
    ]
    rows = []
    for lab, subj, day, num in itertools.product(("a", "b"), ("s1", "s2", "s3"), range(1, 9), (1, 2)):
        for name in rng.sample(names, rng.randint(1, len(names))):
            rows.append(Dataset(f"{lab}/Subjects/{subj}/2021-01-{day:02d}/{num:03d}/{name}"))
    cat = Catalog(tmp_path / "c.sqlite")
    cat.rebuild(rows)
    queries = [
        dict(datasets=[t])
        for t in (
            "spikes.times",
            "probe00",
            "trials",
            "_ibl_wheel.position",
            "*.npy",
            "alf/spikes.times.npy",
            "alf/probe0?/*",
        )
    ]
    queries += [
        dict(datasets=["spikes.times", "probe01"]),
        dict(datasets=["spikes"], lab=["a"]),
        dict(datasets=["spikes"], subject=["s2"], date_range=("2021-01-03", "2021-01-06")),
        dict(datasets=["spikes.times"], number=2),
        dict(datasets=["spikes"], collection="alf/probe01"),
        dict(datasets=["spikes"], subject=["s*"], limit=5),
        dict(revision="2021-01-01"),
    ]
    fast = [cat.search(**q) for q in queries]
    assert cat._ordered() is not None
    assert any(fast) and all(isinstance(r, list) for r in fast)
    cat.upsert(rows=[])  # any write invalidates the bitmap index: the SQL path answers
    assert cat._ordered() is None
    slow = [cat.search(**q) for q in queries]
    assert fast == slow
