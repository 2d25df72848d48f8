"""Fixtures of the figshare plugin tests: a running emulator, an article, a data root, repositories."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from onelight_figshare.repository import FigshareRepository
from onelight_figshare.testing.emulator import FigshareEmulator

from onecore.testing.data import write_datasets
from onecore.testing.secrets import TOKEN as GOOD  # noqa: E402  (the suite-wide leak check greps for it)

OTHER = "bob-token-456"
PART = 64 * 1024


@pytest.fixture(autouse=True)
def _isolated(one_home, monkeypatch):
    """onecore's ``one_home`` fixture, with no figshare token from the environment, and five attempts
    instead of three: the emulator's fault bursts (test_bursts_of_429_and_500_are_absorbed) are longer."""
    monkeypatch.delenv("FIGSHARE_TOKEN", raising=False)
    monkeypatch.setenv("ONE_RETRY_ATTEMPTS", "5")


@pytest.fixture
def emu():
    with FigshareEmulator(tokens={GOOD: "alice", OTHER: "bob"}, part_size=PART) as e:
        yield e


@pytest.fixture
def article(emu) -> int:
    return emu.create_article("alice", title="Spikes", description="Some spikes.")


def make_repo(emu: FigshareEmulator, article: int | str, **settings) -> FigshareRepository:
    s = {"article": str(article), "api_url": emu.api_url}
    s.update(settings)
    return FigshareRepository("fs", s, home=Path(os.environ["ONE_HOME"]))


@pytest.fixture
def repo(emu, article):
    r = make_repo(emu, article, token=GOOD)
    yield r
    r.close()


SESSION = "mylab/Subjects/mouse1/2020-01-01/001"


def write_root(root: Path, n_small: int = 11, big: int = 3 * PART + 1234, seed: int = 0) -> list[str]:
    """A data root of ``n_small`` small .npy datasets plus one larger than three parts; returns the paths."""
    spec = {}
    for i in range(n_small):
        sess = SESSION if i % 2 == 0 else "mylab/Subjects/mouse2/2020-02-03/002"
        rel = f"{sess}/alf/obj{i}.values.npy" if i % 3 else f"{sess}/alf/probe00/spikes.attr{i}.npy"
        spec[rel] = 10 + i
    spec[f"{SESSION}/alf/spikes.times.npy"] = big // 8  # a real .npy larger than three upload parts
    return write_datasets(root, spec, kind="npy", seed=seed)


class Helpers:
    """Constants and helpers for the tests (conftest is not importable with --import-mode=importlib)."""

    GOOD = GOOD
    OTHER = OTHER
    PART = PART
    SESSION = SESSION
    make_repo = staticmethod(make_repo)
    write_root = staticmethod(write_root)


@pytest.fixture
def fx() -> type[Helpers]:
    return Helpers
