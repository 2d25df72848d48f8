"""`one --help` from the help cache: the same text click renders, without importing click, and never
stale: a plugin installed, removed or edited, another ONE_PLUGINS, another width each render anew."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from onecore import helpcache

_RUN = """
import json, sys
sys.argv = ["one", *json.loads(sys.argv[1])]
from onecore.console import main
code = 0
try:
    main()
except SystemExit as e:
    code = e.code or 0
sys.stdout.flush()
print("\\nMODULES=" + json.dumps(sorted(sys.modules)))
sys.exit(code)
"""


def _one(args: list[str], home: Path, **env: str) -> tuple[int, str, str, set[str]]:
    full = {**os.environ, "ONE_HOME": str(home), "COLUMNS": "100", **env}
    full.pop("ONE_PLUGINS", None) if "ONE_PLUGINS" not in env else None
    full.pop("ONE_HELP_CACHE", None) if "ONE_HELP_CACHE" not in env else None
    p = subprocess.run(
        [sys.executable, "-c", _RUN, json.dumps(args)], capture_output=True, text=True, env=full, timeout=120
    )
    out, _, mods = p.stdout.rpartition("\nMODULES=")
    assert mods, p.stdout + p.stderr
    return p.returncode, out, p.stderr, set(json.loads(mods))


def _kept(home: Path) -> list[Path]:
    folder = home / "helpcache"
    return sorted(folder.glob("*.txt")) if folder.exists() else []


def _click_help(args: list[str], home: Path, **env: str) -> str:
    full = {**os.environ, "ONE_HOME": str(home), "COLUMNS": "100", **env}
    full.pop("ONE_PLUGINS", None) if "ONE_PLUGINS" not in env else None
    p = subprocess.run([sys.executable, "-m", "onecore.cli", *args], capture_output=True, text=True, env=full)
    assert p.returncode == 0, p.stderr
    return p.stdout


@pytest.mark.parametrize("args", [["--help"], ["search", "--help"], ["download", "-h"]])
def test_second_help_is_the_same_text_without_click(args: list[str], tmp_path: Path) -> None:
    code, first, err, mods = _one(args, tmp_path)
    assert code == 0 and not err and "click" in mods
    assert len(_kept(tmp_path)) == 1
    code, second, err, mods = _one(args, tmp_path)
    assert code == 0 and not err
    assert second == first == _click_help(args, tmp_path)
    assert not [m for m in ("click", "pluggy", "typing", "sqlite3", "onecore.cli") if m in mods]


def _plugin(site: Path, command: str, doc: str) -> Path:
    """A distribution on its own sys.path folder whose entry-point module adds one command."""
    dist = site / "helpplug-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: helpplug\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[onecore]\nhelpplug = helpplug_cmds\n")
    module = site / "helpplug_cmds.py"
    module.write_text(
        "from onecore.sdk import hookimpl\n\n\n@hookimpl\ndef one_register_commands(register):\n"
        "    import click\n\n"
        f"    @click.command({command!r})\n    def cmd():\n        {doc!r}\n\n    register(cmd)\n"
    )
    return module


def test_a_plugin_installed_edited_or_removed_is_seen(tmp_path: Path) -> None:
    home, site = tmp_path / "home", tmp_path / "site"
    site.mkdir()
    _, before, _, _ = _one(["--help"], home, PYTHONPATH=str(site))
    assert "say-hello" not in before
    module = _plugin(site, "say-hello", "Greets the lab.")
    _, out, err, _ = _one(["--help"], home, PYTHONPATH=str(site))
    assert "say-hello" in out and "Greets the lab." in out, err
    _, again, _, mods = _one(["--help"], home, PYTHONPATH=str(site))
    assert again == out and "click" not in mods
    time.sleep(0.01)  # another mtime even on coarse clocks
    module.write_text(module.read_text().replace("Greets the lab.", "Waves at the rig."))
    _, edited, _, mods = _one(["--help"], home, PYTHONPATH=str(site))
    assert "Waves at the rig." in edited and "Greets the lab." not in edited and "click" in mods
    st = module.stat()
    module.write_text(module.read_text().replace("Waves at the rig.", "Sleeps in the rig"))  # same size
    os.utime(module, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the old modification time
    _, restored, _, _ = _one(["--help"], home, PYTHONPATH=str(site))
    assert "Sleeps in the rig" in restored
    shutil.rmtree(site / "helpplug-0.1.dist-info")
    _, removed, _, _ = _one(["--help"], home, PYTHONPATH=str(site))
    assert "say-hello" not in removed and removed == before


def test_environment_and_width_give_their_own_text(tmp_path: Path) -> None:
    _, all_plugins, _, _ = _one(["--help"], tmp_path)
    assert "zip-root" in all_plugins
    _, no_plugins, _, _ = _one(["--help"], tmp_path, ONE_PLUGINS="")
    assert "zip-root" not in no_plugins
    assert no_plugins == _click_help(["--help"], tmp_path, ONE_PLUGINS="")
    _, narrow, _, _ = _one(["search", "--help"], tmp_path, COLUMNS="60")
    assert narrow == _click_help(["search", "--help"], tmp_path, COLUMNS="60")
    assert max(len(line) for line in narrow.splitlines()) <= 60
    _, cached_narrow, _, mods = _one(["search", "--help"], tmp_path, COLUMNS="60")
    assert cached_narrow == narrow and "click" not in mods
    _, wide, _, _ = _one(["search", "--help"], tmp_path)
    assert wide != narrow


def test_errors_and_warnings_are_never_kept(tmp_path: Path) -> None:
    code, out, err, _ = _one(["no-such-command", "--help"], tmp_path)
    assert code == 2 and "No such command" in err
    _, _, err2, _ = _one(["no-such-command", "--help"], tmp_path)
    assert "No such command" in err2
    code, _, err, _ = _one(["--help"], tmp_path, ONE_PLUGINS="nonexistent-plugin")
    assert code == 0 and "nonexistent-plugin" in err  # the warning is shown every time, nothing kept
    _, _, err2, _ = _one(["--help"], tmp_path, ONE_PLUGINS="nonexistent-plugin")
    assert "nonexistent-plugin" in err2
    assert _kept(tmp_path) == []


def test_off_switch_secrets_damage_and_unwritable_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _one(["--help"], home, ONE_HELP_CACHE="0")
    assert _kept(home) == []
    _, first, _, _ = _one(["--help"], home, ONE_ALYX_PASSWORD="hunter2-secret")
    (kept,) = _kept(home)
    assert "hunter2-secret" not in kept.read_text() and "ONE_ALYX_PASSWORD=(set)" in kept.read_text()
    kept.write_text(kept.read_text()[:200])  # damaged: no text part, key cut
    _, out, _, mods = _one(["--help"], home, ONE_ALYX_PASSWORD="hunter2-secret")
    assert out == first and "click" in mods
    ro = tmp_path / "ro"
    ro.write_text("a file where the home folder should be")
    code, out, err, _ = _one(["--help"], ro)
    assert code == 0 and out == first and not err


def test_only_plain_help_requests_take_the_cache() -> None:
    assert helpcache.help_request(["--help"]) and helpcache.help_request(["search", "-h"])
    assert helpcache.help_request(["repo", "add", "--help"])
    for args in ([], ["search"], ["--mode", "local", "--help"], ["search", "x y", "--help"], ["a", "b", "c", "-h"]):
        assert not helpcache.help_request(args), args


@pytest.mark.parametrize("columns", ["40", "100", "250", "junk", ""])
def test_columns_are_what_shutil_reports(monkeypatch: pytest.MonkeyPatch, columns: str) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    assert helpcache.terminal_columns() == shutil.get_terminal_size().columns


def test_home_is_the_config_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from onecore.config import home

    monkeypatch.setenv("ONE_HOME", str(tmp_path / "h"))
    assert helpcache.home() == str(home())
    monkeypatch.delenv("ONE_HOME")
    assert helpcache.home() == str(home())


def test_a_link_planted_at_the_temporary_name_is_not_followed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ONE_HOME", str(tmp_path / "home"))
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    path = Path(helpcache._cache_path(helpcache.request_key(["--help"])))
    path.parent.mkdir(parents=True)
    Path(f"{path}.{os.getpid()}.tmp").symlink_to(victim)
    helpcache.store(["--help"], "Usage: one\n")
    assert victim.read_text() == "untouched" and not path.exists()
    assert helpcache.lookup(["--help"]) is None


def test_a_text_cut_short_is_not_shown_and_old_temporary_files_go(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ONE_HOME", str(tmp_path / "home"))
    helpcache.store(["--help"], "Usage: one [OPTIONS] COMMAND\n\nCommands:\n  search\n")
    assert helpcache.lookup(["--help"]) == "Usage: one [OPTIONS] COMMAND\n\nCommands:\n  search\n"
    path = Path(helpcache._cache_path(helpcache.request_key(["--help"])))
    path.write_text(path.read_text()[:-8])  # the end of the text never reached the disk
    assert helpcache.lookup(["--help"]) is None
    stale, fresh = path.parent / "x.txt.1.tmp", path.parent / "y.txt.2.tmp"  # left by killed processes
    stale.write_text("half")
    os.utime(stale, (time.time() - 120, time.time() - 120))
    fresh.write_text("being written")
    helpcache.store(["search", "--help"], "Usage: one search\n")
    assert not stale.exists() and fresh.exists()
