"""Secrets: 0600 files, masked in repr/CLI/JSON, never printed or logged; the leak check itself works."""

from __future__ import annotations

import json
import logging
import os
import stat

from onecore.builtins.http import HTTPRepository
from onecore.testing.secrets import PASSWORD

from .conftest import run_cli


def test_secrets_masked_everywhere(runner, isolated_home, caplog):
    caplog.set_level(logging.DEBUG)
    out = run_cli(
        runner,
        "add-repo",
        "web",
        "--type",
        "http",
        "--set",
        "base_url=http://127.0.0.1:9/",
        "--set",
        "login=me",
        "--set",
        f"password={PASSWORD}",
        "--no-check",
    ).output
    out += run_cli(runner, "repos").output + run_cli(runner, "repos", "--json").output
    assert PASSWORD not in out
    assert json.loads(run_cli(runner, "repos", "--json").output)[0]["settings"]["password"] == "****"
    assert stat.S_IMODE(os.stat(isolated_home / "config.yaml").st_mode) == 0o600
    repo = HTTPRepository("web", {"base_url": "http://127.0.0.1:9/", "login": "me", "password": PASSWORD})
    assert PASSWORD not in repr(repo) and "****" in repr(repo)
    # a failing request does not reveal the password either
    from onecore.cli import cli

    res = runner.invoke(cli, ["search"])
    assert res.exit_code == 1 and PASSWORD not in res.output
    print(res.output)  # captured: the session-wide leak check sees it too


def test_redaction_of_urls():
    from onecore.transfer import _redact

    assert _redact(f"http://me:{PASSWORD}@h/x?token={PASSWORD}") == "http://****@h/x?token=****"


def test_leak_check_detects_a_leak(pytester):
    pytester.makeconftest(open(os.path.join(os.path.dirname(__file__), "..", "conftest.py")).read())
    pytester.makepyfile(f"def test_leaky():\n    print('oops {PASSWORD}')\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*SECRET LEAK CHECK FAILED*", "*test_leaky*"])
    assert result.ret == 1


def test_read_only_home_is_one_clear_error(tmp_path):
    import pytest

    from onecore.errors import OneError
    from onecore.hashcache import HashCache
    from onecore.testing.disk import read_only_dir

    f = tmp_path / "x.bin"
    f.write_bytes(b"abc")
    with read_only_dir(tmp_path / "home") as home:
        with pytest.raises(OneError, match="hash cache .*writable"):
            HashCache(home / "hashes.sqlite").md5(f)
