"""The plugin's .npz loader is what One.load_dataset / load_object use for .npz datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onecore_example.archive import ZipRepository, make_archive

from onecore import One
from onecore.testing.fixtures import configure

SESSION = "nicklab/Subjects/NICK_001/2021-01-04/001"


@pytest.fixture
def zipped(alf_data_root: Path, one_home: Path, tmp_path: Path) -> ZipRepository:
    np.savez(
        alf_data_root / SESSION / "alf" / "clusters.waveforms.npz",
        mean=np.arange(12.0).reshape(3, 4),
        channels=np.array([3, 1, 2], dtype=np.int16),
    )
    archive = tmp_path / "data.zip"
    make_archive(alf_data_root, archive)
    repo = ZipRepository("zipped", {"archive": str(archive)}, home=one_home)
    configure(repo)
    return repo


def test_load_dataset_uses_the_npz_loader(zipped: ZipRepository, plugin_registry) -> None:
    registry = plugin_registry("onecore_example.plugin")  # built-ins + this plugin only
    with One(repo="zipped", registry=registry) as one:
        eid = one.path2eid(SESSION)
        waveforms = one.load_dataset(eid, "clusters.waveforms", collection="alf")
    assert set(waveforms) == {"mean", "channels"}
    np.testing.assert_array_equal(waveforms["mean"], np.arange(12.0).reshape(3, 4))
    assert waveforms["channels"].dtype == np.int16


def test_load_object_mixes_npz_and_npy(zipped: ZipRepository, plugin_registry) -> None:
    registry = plugin_registry("example")  # the same plugin, by its entry-point name
    with One(repo="zipped", registry=registry) as one:
        clusters = one.load_object(one.path2eid(SESSION), "clusters", collection="alf")
    assert set(clusters) == {"depths", "waveforms"}
    assert isinstance(clusters.depths, np.ndarray) and set(clusters.waveforms) == {"mean", "channels"}


def test_without_the_plugin_npz_uses_the_builtin_loader(zipped: ZipRepository, plugin_registry) -> None:
    from onecore.errors import UnknownRepositoryType

    with pytest.raises(UnknownRepositoryType, match="zipfile"):
        One(repo="zipped", registry=plugin_registry())
    local = One(cache_dir=Path(zipped.home).parent / "alf_data_root", registry=plugin_registry())
    with local:  # issue 14: .npz is a built-in (ONE-api's); the plugin's loader replaces it when installed
        got = local.load_dataset(local.path2eid(SESSION), "clusters.waveforms", collection="alf")
    assert not isinstance(got, dict) and set(got.files) == {"mean", "channels"}
    got.close()
