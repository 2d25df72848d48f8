"""Issue 13 item 18: a catalog gone stale because the server's index changed is refreshed once and the
failed files fetched once more, before the server is blamed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from onecore import One
from onecore.cli import cli
from onecore.errors import TransferError
from onecore.testing import make_data_root
from onecore.testing.servers import FileServer


@pytest.fixture(autouse=True)
def _home(one_home: Path) -> Path:
    return one_home


def _index(root: Path, url: str) -> None:
    r = CliRunner().invoke(cli, ["index", str(root), "--base-url", url], catch_exceptions=False)
    assert r.exit_code == 0, r.output


def test_a_stale_catalog_is_refreshed_once_then_the_file_fetched(tmp_path: Path) -> None:
    root = tmp_path / "root"
    rels = make_data_root(root, labs=("nicklab",), subjects=1, sessions=1, n=50)
    rel = next(r for r in rels if r.endswith("alf/probe00/spikes.times.npy"))
    with FileServer(root) as server:
        _index(root, server.url)
        r = CliRunner().invoke(cli, ["add-repo", "web", "--type", "http", "--set", f"base_url={server.url}"])
        assert r.exit_code == 0, r.output
        with One(repo="web") as one:
            eid = one.search()[0]
            new = np.arange(500, dtype=float)  # the data owner replaces the file and re-indexes
            np.save(root / rel, new)
            _index(root, server.url)
            server.clear_log()
            got = one.load_dataset(eid, "spikes.times", collection="alf/probe00")
            assert np.array_equal(got, new)
            assert server.count(".one_index.tsv") == 1  # one refresh (the companion index is read first)
            assert server.count(rel) == 2  # the failed attempt with the stale size, then the good one


def test_a_server_that_differs_from_an_unchanged_index_is_blamed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    rels = make_data_root(root, labs=("nicklab",), subjects=1, sessions=1, n=50)
    rel = next(r for r in rels if r.endswith("alf/probe00/spikes.times.npy"))
    with FileServer(root) as server:
        _index(root, server.url)
        r = CliRunner().invoke(cli, ["add-repo", "web", "--type", "http", "--set", f"base_url={server.url}"])
        assert r.exit_code == 0, r.output
        with One(repo="web") as one:
            eid = one.search()[0]
            np.save(root / rel, np.arange(500, dtype=float))  # changed, but the index was not rewritten
            server.clear_log()
            with pytest.raises(TransferError, match="the server's copy differs from its index"):
                one.load_dataset(eid, "spikes.times", collection="alf/probe00")
            assert server.count(rel) == 1 and server.count(".one_index.tsv") == 1
