"""A clean first run (issue 15): tests pass without a terminal, SPDX licenses and quiet installs,
skipped groups listed at the end with how to run them (and an error in CI for the Alyx group), test
servers that log instead of printing on the terminal."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_skipped_groups_are_listed_with_how_to_run_them(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_envs="""
        import pytest

        @pytest.mark.parametrize("i", range(3))
        def test_db(i):
            pytest.skip("PostgreSQL is missing (initdb not found)")

        def test_other():
            pytest.skip("the moon is not full")

        def test_design():
            pytest.skip("type 'http' is read-only (can_upload = False)")

        def test_ok():
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=5)
    result.stdout.fnmatch_lines(
        [
            "*5 skipped test(s), by reason*",
            "SKIPPED 3 in test_envs.py: PostgreSQL is missing (initdb not found) -- to run them: install PostgreSQL*",
            "SKIPPED 1 in test_envs.py: the moon is not full -- to run them: see the reason",
            "SKIPPED 1 conformance check(s) that do not apply to their repository type*nothing to enable",
        ]
    )


@pytest.mark.parametrize("required, outcome", [("1", "failed"), ("", "skipped")])
def test_a_required_group_that_cannot_run_fails(pytester: pytest.Pytester, monkeypatch, required, outcome) -> None:
    monkeypatch.setenv("ONECORE_REQUIRE_ALYX", required)
    pytester.makepyfile(
        test_alyx_like="""
        from onecore.testing.pytest_plugin import skip_or_fail

        def test_needs_alyx():
            skip_or_fail("PostgreSQL is missing", "alyx")
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(**{outcome: 1})
    if outcome == "failed":
        result.stdout.fnmatch_lines(["*ONECORE_REQUIRE_ALYX is set, so the alyx tests must run*PostgreSQL is missing*"])


def test_ci_requires_the_alyx_group() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    assert "export ONECORE_REQUIRE_ALYX=1" in ci and ci.index("ONECORE_REQUIRE_ALYX") < ci.index("make test")
    conftest = (REPO / "plugins" / "one_alyx" / "tests" / "conftest.py").read_text()
    assert 'skip_or_fail(reason, "alyx")' in conftest


def test_the_ctrl_c_test_passes_without_a_terminal() -> None:
    """Background jobs (`make test > log &`, nohup, CI) start with SIGINT ignored."""
    test = "tests/test_transfer_safety.py::test_ctrl_c_during_a_stalled_batch_returns_promptly"
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    p = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", test],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # noqa: PLW1509 - as a shell does
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]


def test_licenses_are_spdx_and_installs_quiet() -> None:
    import tomllib

    files = [REPO / "pyproject.toml", *REPO.glob("plugins/*/pyproject.toml"), *REPO.glob("examples/*/pyproject.toml")]
    assert len(files) >= 5
    for f in files:
        data = tomllib.loads(f.read_text())
        assert data["project"]["license"] == "MIT", f
        assert data["build-system"]["requires"] == ["setuptools>=77"], f  # the first to take SPDX strings
    make = (REPO / "Makefile").read_text()
    install = [line for line in make.splitlines() if "pip install" in line and "-e '.[test]'" in line]
    assert install and all("PYTHONWARNINGS=ignore" in line and " -q " in line for line in install)


def test_test_server_errors_go_to_the_log_not_the_terminal(tmp_path: Path, capfd, caplog) -> None:
    from onecore.testing.servers import FileServer, QuietThreadingHTTPServer

    caplog.set_level(logging.INFO, logger="onecore.testing.servers")
    with FileServer(tmp_path) as server:
        try:
            raise ConnectionResetError("the client hung up")
        except ConnectionResetError:
            server._httpd.handle_error(None, ("127.0.0.1", 4242))
    quiet = QuietThreadingHTTPServer(("127.0.0.1", 0), None)
    try:
        try:
            raise BrokenPipeError("gone")
        except BrokenPipeError:
            quiet.handle_error(None, ("127.0.0.1", 4343))
    finally:
        quiet.server_close()
    assert "Exception occurred" not in capfd.readouterr().err
    assert [r for r in caplog.records if "4242" in r.getMessage()] and "hung up" in caplog.text
    assert "gone" in caplog.text
