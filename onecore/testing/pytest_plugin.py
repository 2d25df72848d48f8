"""The pytest plugin of onecore (entry point ``pytest11: onecore``), loaded by every pytest run in
an environment where onecore is installed.

It exposes the fixtures of :mod:`onecore.testing.fixtures` (``one_home``, ``plugin_registry``,
``alf_data_root``); none is autouse, so it changes nothing for tests that do not ask for them.

At the end of a run it prints one line per group of skipped tests (same reason, same folder): how
many, why, and how to run them, so that no test skips silently. :func:`skip_or_fail` skips a test
whose environment is missing — or fails it when ``ONECORE_REQUIRE_<GROUP>=1`` says that this
environment (CI) must run that group (``.ci/run`` sets ``ONECORE_REQUIRE_ALYX=1``).

Imports stay light: no numpy, requests or sqlite until a fixture is used.
"""

from __future__ import annotations

import os
from typing import Any, NoReturn

import pytest

from onecore.testing.fixtures import alf_data_root, one_home, plugin_registry

__all__ = ["alf_data_root", "one_home", "plugin_registry", "skip_or_fail", "enable_hint"]

NOT_APPLICABLE = "nothing to enable: the check does not apply to this repository type"
#: (words in a skip reason, how to enable those tests).
ENABLE_HINTS: list[tuple[tuple[str, ...], str]] = [
    (("PostgreSQL",), "install PostgreSQL: `sudo .ci/system-deps` does it with apt-get"),
    (
        ("Python 3.12",),
        "install Python 3.12 (`pyenv install 3.12` or `apt-get install python3.12`) or set ONE_ALYX_PYTHON",
    ),
    (("package index",), "run where PyPI is reachable (building needs setuptools)"),
    (("pyOpenSSL", "certificate"), "pip install 'onelight-ftp[test]' (pyOpenSSL, cryptography)"),
    (("pseudo-terminal",), "run on Linux or macOS"),
    (
        (
            "supports upload",
            "is read-only",
            "is local:",
            "cannot write a raw index",
            "has no download URLs",
            "provides no",
        ),
        NOT_APPLICABLE,
    ),
]


def enable_hint(reason: str) -> str:
    """How to run tests skipped for ``reason`` (a hint of :data:`ENABLE_HINTS`, else the reason's own)."""
    for words, hint in ENABLE_HINTS:
        if any(w in reason for w in words):
            return hint
    return "see the reason"


def skip_or_fail(reason: str, group: str) -> NoReturn:
    """Skip with ``reason``; but fail when ``ONECORE_REQUIRE_<GROUP>`` is set (CI must run the group)."""
    var = f"ONECORE_REQUIRE_{group.upper()}"
    if os.environ.get(var, "").strip() not in ("", "0", "false", "no"):
        pytest.fail(f"{var} is set, so the {group} tests must run, but they cannot: {reason}", pytrace=False)
    pytest.skip(reason)


def _reason(report: Any) -> str:
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return text.removeprefix("Skipped: ")


def _where(nodeid: str) -> str:
    parts = nodeid.split("::", 1)[0].split("/")
    return "/".join(parts[:2]) if parts[0] in ("plugins", "examples") else parts[0]


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: Any) -> None:
    """One line per group of skipped tests (count, where, reason, how to enable them); the checks
    that do not apply to a repository type (by design) are counted on one line."""
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        return
    groups: dict[tuple[str, str], int] = {}
    by_design = 0
    for report in skipped:
        reason = _reason(report)
        if enable_hint(reason) == NOT_APPLICABLE:
            by_design += 1
            continue
        key = (_where(report.nodeid), reason)
        groups[key] = groups.get(key, 0) + 1
    terminalreporter.write_sep("-", f"{len(skipped)} skipped test(s), by reason")
    for (where, reason), n in sorted(groups.items(), key=lambda kv: (-kv[1], kv[0])):
        terminalreporter.write_line(f"SKIPPED {n} in {where}: {reason} -- to run them: {enable_hint(reason)}")
    if by_design:
        terminalreporter.write_line(
            f"SKIPPED {by_design} conformance check(s) that do not apply to their repository type "
            "(read-only, local, no raw index...) -- nothing to enable"
        )
