"""The figshare repository type runs onecore's repository conformance suite against the emulator."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Iterator

import pytest
from onelight_figshare.repository import FigshareRepository
from onelight_figshare.testing.emulator import FigshareEmulator

from onecore.testing.conformance import RepositoryConformance
from onecore.testing.secrets import TOKEN


class TestFigshareConformance(RepositoryConformance):
    data_root_options = {"n": 100}

    @pytest.fixture
    def repository(self, one_home: Path) -> Iterator[FigshareRepository]:
        with FigshareEmulator(tokens={TOKEN: "alice"}, part_size=64 * 1024) as emu:
            article = emu.create_article("alice", title="Conformance", description="onecore conformance suite")
            settings = {"article": str(article), "api_url": emu.api_url, "token": TOKEN}
            with FigshareRepository("conformance", settings, home=one_home) as repo:
                yield repo

    @pytest.fixture
    def unreachable_repository(self, one_home: Path) -> FigshareRepository:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        return FigshareRepository(
            "gone", {"article": "1", "api_url": f"http://127.0.0.1:{port}/v2", "token": TOKEN}, home=one_home
        )
