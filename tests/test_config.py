"""Config and homes: $ONE_HOME, config.yaml errors, secrets 0600, env references."""

from __future__ import annotations

import os
import stat

import pytest

from onecore.config import Config, RepoConfig, home
from onecore.errors import ConfigError


def test_home_comes_from_environment(isolated_home):
    assert home() == isolated_home


def test_missing_config_is_empty_and_errors_name_what_to_do(isolated_home):
    c = Config.load()
    assert c.repositories == {}
    with pytest.raises(ConfigError, match="one add-repo"):
        c.get()


def test_save_is_0600_and_round_trips(isolated_home):
    c = Config.load()
    c.add(RepoConfig("lab", "http", {"base_url": "http://x/", "password": "s3cret"}))
    c.save()
    mode = stat.S_IMODE(os.stat(isolated_home / "config.yaml").st_mode)
    assert mode == 0o600
    c2 = Config.load()
    assert c2.current == "lab" and c2.get("lab").settings["password"] == "s3cret"


@pytest.mark.parametrize(
    "text, needle",
    [
        ("repositories: [unclosed", "line 1"),
        ("current: x\nrepositories:\n  a: {type: local, root_dir: /}\n", "'x' is not defined"),
        ("repositories:\n  a: {root_dir: /}\n", "needs a 'type'"),
        ("- a\n- b\n", "must be a mapping"),
        ("repositories:\n  a:\n    type: local\n   bad_indent: 1\n", "line"),
        ("colour: blue\n", "unknown keys"),
        ("repositories:\n  'bad name!': {type: local}\n", "invalid repository name"),
    ],
)
def test_malformed_config_names_file_and_is_never_overwritten(isolated_home, text, needle):
    isolated_home.mkdir(parents=True, exist_ok=True)
    path = isolated_home / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        Config.load()
    assert str(path) in str(e.value) and needle in str(e.value)
    assert path.read_text() == text


def test_unknown_repository_is_an_error_never_a_fallback(isolated_home):
    c = Config.load()
    c.add(RepoConfig("a", "local", {"root_dir": "/"}))
    with pytest.raises(ConfigError, match="unknown repository 'b'.*defined.*a"):
        c.get("b")
    with pytest.raises(ConfigError):
        c.select("b")


def test_env_reference(monkeypatch):
    rc = RepoConfig("a", "http", {"password": "${MY_PW}"})
    with pytest.raises(ConfigError, match="MY_PW"):
        rc.resolved()
    monkeypatch.setenv("MY_PW", "pw")
    assert rc.resolved()["password"] == "pw"


def test_unreadable_config(isolated_home):
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "config.yaml").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ConfigError, match="config.yaml"):
        Config.load()
