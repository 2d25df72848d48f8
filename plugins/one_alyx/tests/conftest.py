"""Fixtures of the Alyx plugin tests: a real Alyx server (session-scoped) and an isolated ONE home."""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

from onecore.testing.pytest_plugin import skip_or_fail

sys.path.insert(0, str(Path(__file__).parent))

import alyx_server  # noqa: E402
import seed_alyx  # noqa: E402

_TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="session")
def alyx() -> Iterator[alyx_server.AlyxServer]:
    """A seeded alyx-local server on 127.0.0.1 with its file server; skipped only without PostgreSQL/3.12."""
    reason = alyx_server.unavailable_reason()
    if reason:
        skip_or_fail(reason, "alyx")  # CI sets ONECORE_REQUIRE_ALYX=1: there, a skip is a failure
    work = Path(tempfile.mkdtemp(prefix="onecore-alyx-"))
    srv = alyx_server.AlyxServer(work)
    try:
        srv.start()
        t0 = time.monotonic()
        seed_alyx.seed(srv)
        srv.timings["seed"] = time.monotonic() - t0
        _TIMINGS.update(srv.timings)
        yield srv
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(autouse=True)
def one_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own ONE_HOME (never the real ~/.one) and fast retries."""
    home = tmp_path / "one_home"
    home.mkdir()
    monkeypatch.setenv("ONE_HOME", str(home))
    monkeypatch.setenv("ONE_RETRY_BASE_DELAY", "0.01")
    return home


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001
    """How long the Alyx server took to set up (venv, PostgreSQL, migrate, runserver, seed)."""
    if _TIMINGS:
        parts = ", ".join(f"{k} {v:.1f}s" for k, v in _TIMINGS.items())
        terminalreporter.write_line(f"alyx test server: {parts} (venv: {alyx_server.venv_dir()})")
