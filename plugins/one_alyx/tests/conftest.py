"""Fixtures of the Alyx plugin tests: a real Alyx server (session-scoped) and an isolated ONE home."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest
from one_alyx.testing import alyx_server, seed_alyx

from onecore.testing.pytest_plugin import skip_or_fail

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
def _home(one_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """onecore's ``one_home`` fixture (never the real ~/.one, fast retries), for every test of the plugin,
    with the default five attempts: the fault proxy injects bursts of three 503s in a row."""
    monkeypatch.setenv("ONE_RETRY_ATTEMPTS", "5")
    return one_home


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001
    """How long the Alyx server took to set up (venv, PostgreSQL, migrate, runserver, seed)."""
    if _TIMINGS:
        parts = ", ".join(f"{k} {v:.1f}s" for k, v in _TIMINGS.items())
        terminalreporter.write_line(f"alyx test server: {parts} (venv: {alyx_server.venv_dir()})")
