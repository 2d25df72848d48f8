"""The plugin joins onecore through its entry point; settings are validated and secrets hidden."""

from __future__ import annotations

import pytest
from onelight_ftp import FTPRepository

from onecore.errors import ConfigError
from onecore.plugins import make_registry


def test_entry_point_registers_the_ftp_type(monkeypatch):
    monkeypatch.delenv("ONE_PLUGINS", raising=False)
    registry = make_registry()
    assert registry.repository_type("ftp") is FTPRepository
    assert FTPRepository.can_upload


def test_defaults_and_normalisation():
    repo = FTPRepository("r", {"host": " ftp.example.org "})
    s = repo.settings
    assert s["host"] == "ftp.example.org" and s["port"] == 21 and s["login"] == "anonymous"
    assert s["remote_root"] == "/" and s["tls"] is False and s["timeout"] == 30 and s["base_url"] is None
    repo = FTPRepository(
        "r",
        {
            "host": "h",
            "port": "2121",
            "tls": "yes",
            "remote_root": "data/one//",
            "base_url": "https://data.example.org/one",
        },
    )
    assert repo.settings["port"] == 2121 and repo.settings["tls"] is True
    assert repo.settings["remote_root"] == "/data/one"
    assert repo.settings["base_url"] == "https://data.example.org/one/"


@pytest.mark.parametrize(
    "bad, match",
    [
        ({}, "host"),
        ({"host": "ftp://ftp.example.org"}, "no ftp://"),
        ({"host": "h", "port": 0}, "between 1 and 65535"),
        ({"host": "h", "port": "x"}, "port"),
        ({"host": "h", "remote_root": "/a/../b"}, r"'\.' or '\.\.'"),
        ({"host": "h", "base_url": "ftp://h/"}, "http:// or https://"),
        ({"host": "h", "passive": True}, "unknown field"),
    ],
)
def test_bad_settings_are_refused_clearly(bad, match):
    with pytest.raises(ConfigError, match=match):
        FTPRepository("r", bad)


def test_urls_never_hold_credentials():
    repo = FTPRepository(
        "r", {"host": "ftp.example.org", "port": 2121, "login": "bob", "password": "hunter2", "remote_root": "/pub"}
    )
    rel = "lab/Subjects/m/2020-01-01/001/alf/#2020-02-02#/spikes.times.npy"
    assert repo.url_for(rel) == (
        "ftp://ftp.example.org:2121/pub/lab/Subjects/m/2020-01-01/001/alf/%232020-02-02%23/spikes.times.npy"
    )
    with_http = FTPRepository("r", {**repo.settings, "base_url": "https://h.org/d"})
    assert with_http.url_for(rel).startswith("https://h.org/d/lab/Subjects/")
    assert "hunter2" not in repr(repo) and "hunter2" not in repr(repo.endpoint)
    assert "hunter2" not in repo.publish()
