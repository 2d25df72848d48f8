"""``one search``, ``one list`` and ``one download`` through the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from onecore.repository import Repository
from onecore.testing.fixtures import configure

from .base import ConformanceBase, _by_session, _scan


class CliConformance(ConformanceBase):
    """``one search``, ``one list`` and ``one download`` through the CLI."""

    # ----------------------------------------------------------------------------------------------
    # The CLI
    # ----------------------------------------------------------------------------------------------
    def test_cli_search_list_download(
        self, repository: Repository, published: Path, registry: Any, tmp_path: Path
    ) -> None:
        from click.testing import CliRunner

        from onecore.cli import cli

        configure(repository)
        runner = CliRunner()
        name = repository.name
        res = runner.invoke(cli, ["search", "--repo", name, "--json"], catch_exceptions=False)
        assert res.exit_code == 0, res.output
        sessions = _by_session(_scan(published))
        assert len(json.loads(res.stdout)) == len(sessions)
        session = next(s for s, rest in sorted(sessions.items()) if not any("#" in r for r in rest))
        res = runner.invoke(cli, ["list", session, "--repo", name, "--json"], catch_exceptions=False)
        assert res.exit_code == 0, res.output
        assert sorted(json.loads(res.stdout)) == sorted(sessions[session])
        dest = tmp_path / "cli-downloads"
        res = runner.invoke(
            cli, ["download", session, "spikes", "--repo", name, "--dir", str(dest), "-q"], catch_exceptions=False
        )
        assert res.exit_code == 0, res.output
        for rest in sessions[session]:
            if rest.split("/")[-1].startswith("spikes."):
                assert (dest / session / rest).read_bytes() == (published / session / rest).read_bytes()
        res = runner.invoke(cli, ["list", "nolab/Subjects/NOBODY/1999-01-01/001", "--repo", name])
        assert res.exit_code == 1 and "Error" in res.output and "Traceback" not in res.output
