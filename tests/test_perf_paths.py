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
    # a session folder that is a link to a folder outside the root
    shutil.move(str(root / S / "alf"), str(outside / "alf"))
    os.symlink(outside / "alf", root / S / "alf")
    with One(cache_dir=root) as one:
        with pytest.raises(UnsafePathError, match="symbolic link"):
            one.load_dataset(S, "spikes.times")
