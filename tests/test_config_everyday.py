"""Config integrity (issue 13 items 7, 8, 10, 12): concurrent writers, comments kept, passwords in
URLs masked, oversized config files refused without being read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from onecore.config import MAX_CONFIG_BYTES, Config, RepoConfig, mask_url
from onecore.errors import ConfigError

from .conftest import run_cli

COMMENTED = """\
# my lab's onecore config: keep these notes!
current: lab
repositories:
  lab:  # the NAS
    type: local
    root_dir: {root}   # mounted at boot
  # an old mirror, kept for reference
  old: {{type: local, root_dir: /nowhere}}
"""


def test_eight_concurrent_add_repo_keep_all_eight(isolated_home: Path, data_root: Path) -> None:
    env = {**os.environ, "ONE_HOME": str(isolated_home)}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "onecore.cli",
                "add-repo",
                f"r{i}",
                "--type",
                "local",
                "--set",
                f"root_dir={data_root}",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for i in range(8)
    ]
    outs = [p.communicate(timeout=120)[0].decode() for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert set(Config.load(isolated_home).repositories) == {f"r{i}" for i in range(8)}


def test_save_applies_only_its_own_changes(isolated_home: Path) -> None:
    a, b = Config.load(), Config.load()
    a.add(RepoConfig("a", "local", {"root_dir": "/a"}))
    b.add(RepoConfig("b", "local", {"root_dir": "/b"}), make_current=False)
    a.save()
    b.save()  # loaded before a saved: must not drop 'a'
    c = Config.load()
    assert set(c.repositories) == {"a", "b"}
    d = Config.load()
    d.remove("a")
    d.save()
    assert set(Config.load().repositories) == {"b"}


def test_edits_keep_comments_and_layout(runner, isolated_home: Path, data_root: Path) -> None:
    cfg = isolated_home / "config.yaml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(COMMENTED.format(root=data_root))
    run_cli(runner, "add-repo", "two", "--type", "local", "--set", f"root_dir={data_root}", "--no-current")
    run_cli(runner, "edit-repo", "lab", "--set", f"root_dir={data_root.parent}", "--no-check")
    run_cli(runner, "repo", "two")
    run_cli(runner, "remove-repo", "two")
    text = cfg.read_text()
    for note in ("# my lab's onecore config: keep these notes!", "# the NAS", "# mounted at boot", "# an old mirror"):
        assert note in text, text
    assert "old: {type: local, root_dir: /nowhere}" in text  # an untouched entry keeps its flow style
    c = Config.load()
    assert set(c.repositories) == {"lab", "old"} and c.current is None
    assert c.get("lab").settings["root_dir"] == str(data_root.parent)


def test_password_in_base_url_is_masked_everywhere_and_warned_about(runner, isolated_home: Path) -> None:
    from onecore.cli import cli

    url = "http://alice:s3cr3tpw@127.0.0.1:9/data/"
    res = runner.invoke(cli, ["add-repo", "web", "--type", "http", "--set", f"base_url={url}", "--no-check"])
    assert res.exit_code == 0, res.output
    assert "prefer the 'password' field" in res.output and "s3cr3tpw" not in res.output
    assert Config.load().get("web").settings["base_url"] == url  # accepted as written (0600)
    out = run_cli(runner, "repos").output
    assert "http://alice:****@127.0.0.1:9/data/" in out and "s3cr3tpw" not in out
    data = json.loads(run_cli(runner, "repos", "--json").output)
    assert data[0]["settings"]["base_url"] == "http://alice:****@127.0.0.1:9/data/"
    res = runner.invoke(cli, ["search"])  # nothing listens on port 9: the error names the URL, masked
    assert res.exit_code == 1 and "s3cr3tpw" not in res.output and "Traceback" not in res.output
    res = runner.invoke(cli, ["edit-repo", "web", "--set", "base_url=ftp://bob:hunter2@x/"])
    assert res.exit_code == 1 and "hunter2" not in res.output


def test_password_in_base_url_is_masked_in_logged_warnings(runner, isolated_home, data_root, caplog) -> None:
    from onecore.cli import cli
    from onecore.testing.servers import FileServer

    with FileServer(data_root, auth=("alice", "s3cr3tpw")) as server:
        run_cli(runner, "index", data_root, "--base-url", server.url)
        url = server.url.replace("http://", "http://alice:s3cr3tpw@")
        run_cli(runner, "add-repo", "web", "--type", "http", "--set", f"base_url={url}")
        assert "8 sessions" in run_cli(runner, "search").output  # credentials from the URL work
    res = runner.invoke(cli, ["search"], env={"ONE_RETRY_ATTEMPTS": "1"})  # server down: a warning, the cache
    assert res.exit_code == 0 and "offline" in res.output and "s3cr3tpw" not in res.output
    assert "repository 'web' unreachable (connection refused)" in caplog.text and "s3cr3tpw" not in caplog.text


def test_mask_url() -> None:
    assert mask_url("see https://bob:pw@h:8/x and ftp://u:p@q/") == "see https://bob:****@h:8/x and ftp://u:****@q/"
    assert mask_url("http://h/x@y") == "http://h/x@y" and mask_url("http://alice@h/") == "http://alice@h/"


def test_oversized_config_is_a_clear_error_without_reading_it(runner, isolated_home: Path) -> None:
    cfg = isolated_home / "config.yaml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    with open(cfg, "wb") as f:
        f.truncate(300 << 20)  # 300 MB (sparse): refused at once, not parsed
    t0 = time.monotonic()
    with pytest.raises(ConfigError, match=r"larger than 1 MiB.*left untouched"):
        Config.load()
    assert time.monotonic() - t0 < 2
    from onecore.cli import cli

    res = runner.invoke(cli, ["repos"])
    assert res.exit_code == 1 and "larger than 1 MiB" in res.output and "Traceback" not in res.output
    assert cfg.stat().st_size == 300 << 20
    cfg.write_text("# padding\n" * (MAX_CONFIG_BYTES // 10 + 1))
    with pytest.raises(ConfigError, match="larger than 1 MiB"):
        Config.load()


def test_parsed_config_is_reused_only_while_the_text_is_the_same(isolated_home: Path, data_root: Path) -> None:
    from onecore.config import PARSED_NAME

    cfg = isolated_home / "config.yaml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text("current: a\nrepositories:\n  a: {type: local, root_dir: /aaa}\n")
    assert Config.load().get("a").settings["root_dir"] == "/aaa"
    cache = isolated_home / PARSED_NAME
    assert cache.is_file() and oct(cache.stat().st_mode & 0o777) == "0o600"
    code = (
        "import sys; from onecore.config import Config; c = Config.load(); "
        "assert c.get('a').settings['root_dir'] == sys.argv[1], c.get('a').settings; "
        "assert 'yaml' not in sys.modules, 'parsed again'"
    )
    env = {**os.environ, "ONE_HOME": str(isolated_home)}
    subprocess.run([sys.executable, "-c", code, "/aaa"], env=env, check=True, timeout=60)
    cfg.write_text("current: a\nrepositories:\n  a: {type: local, root_dir: /bbb}\n")  # same length, same second
    assert Config.load().get("a").settings["root_dir"] == "/bbb"
    cache.write_text("{not json")
    assert Config.load().get("a").settings["root_dir"] == "/bbb"
    cfg.write_text("current: b\nrepositories:\n  b: {type: local, root_dir: /bbb}\n")
    assert set(Config.load().repositories) == {"b"}
    cfg.write_text("current: x\nrepositories:\n  b: {type: local, root_dir: /bbb}\n")
    with pytest.raises(ConfigError, match="'x' is not defined"):  # a cached parse never hides an error
        Config.load()
