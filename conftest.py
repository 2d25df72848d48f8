"""Repository-wide pytest hooks: the whole test suite (core and plugins) is checked for leaked secrets.

Every captured stdout, stderr and log record of every test, and every failure report, is searched for
the fake secrets of :mod:`onecore.testing.secrets`. Finding one fails the run, naming the test.
"""

from __future__ import annotations

import pytest

from onecore.testing.secrets import ALL as SECRETS

_leaks: list[str] = []
_checked = {"reports": 0}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _checked["reports"] += 1
    texts = [content for _, content in report.sections]
    if report.longrepr is not None:
        texts.append(str(report.longrepr))
    for text in texts:
        for secret in SECRETS:
            if secret in text:
                _leaks.append(f"{report.nodeid} ({report.when}): a test secret appeared in captured output")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _leaks:
        tr = session.config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            tr.write_line("SECRET LEAK CHECK FAILED:", red=True)
            for leak in dict.fromkeys(_leaks):
                tr.write_line(f"  {leak}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ANN001
    if not _leaks and _checked["reports"]:
        terminalreporter.write_line(
            f"secret leak check: {len(SECRETS)} test secrets searched in the captured output of "
            f"{_checked['reports']} test phases: none found"
        )
