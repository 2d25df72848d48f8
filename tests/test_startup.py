"""Start-up stays light: `one --help`, `one search --help`, `one plugins` and `import onecore` import
no transfer code (requests, urllib3, ftplib), no numpy or sqlite3 and no plugin repository module,
while the plugins stay discoverable (their commands in --help, their types in `one plugins`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("requests", "urllib3", "numpy", "sqlite3", "ftplib")
#: Not imported by --help either (`one plugins` reads the index formats, which use the engine's path checks).
HELP_HEAVY = ("yaml", "http.client", "onecore.transfer", "logging")
PLUGIN_REPOSITORY_MODULES = (
    "onelight_ftp.repository",
    "one_alyx.repository",
    "onelight_figshare.repository",
    "onecore_example.archive",
)

#: argv as a Python literal and the module list written by hand: the probe itself imports no json.
_PROBE = """
import ast, sys
sys.argv = ["one", *ast.literal_eval(sys.argv[1])]
from onecore.cli import main
try:
    main()
except SystemExit:
    pass
sys.stdout.flush()
print('\\nMODULES=["' + '", "'.join(sorted(sys.modules)) + '"]')
"""


def _run(args: list[str], home: Path, code: str = _PROBE) -> tuple[str, set[str]]:
    env = {**os.environ, "ONE_HOME": str(home)}
    env.pop("ONE_PLUGINS", None)
    p = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)], capture_output=True, text=True, env=env, timeout=120
    )
    out, _, mods = p.stdout.rpartition("\nMODULES=")
    assert mods, p.stdout + p.stderr
    return out + p.stderr, set(json.loads(mods))


def _local_repository(tmp_path: Path, data_root: Path) -> tuple[Path, str]:
    """A home whose current repository is a local one with its catalog built; and `one search`'s output."""
    home = tmp_path / "home"
    env = {**os.environ, "ONE_HOME": str(home)}
    add = ["add-repo", "loc", "--type", "local", "--set", f"root_dir={data_root}"]
    subprocess.run([sys.executable, "-m", "onecore.cli", *add], env=env, check=True, capture_output=True)
    out, _ = _run(["search"], home)  # builds the catalog
    return home, out


def _heavy(mods: set[str], extra: tuple[str, ...] = ()) -> list[str]:
    return [m for m in HEAVY + PLUGIN_REPOSITORY_MODULES + extra if m in mods]


@pytest.mark.parametrize("args", [["--help"], ["search", "--help"], ["download", "--help"], ["plugins"]])
def test_cli_start_up_imports_no_transfer_code(args: list[str], tmp_path: Path) -> None:
    out, mods = _run(args, tmp_path)
    heavy = _heavy(mods, HELP_HEAVY if "--help" in args else ())
    assert not heavy, f"`one {' '.join(args)}` imported {heavy}"
    if args == ["--help"]:
        assert "zip-root" in out  # a plugin's command is still listed
    if args == ["plugins"]:
        assert "ftp (" in out and "zipfile (" in out  # plugin types still listed, by name
        assert "FAILED" not in out


def test_import_onecore_is_bare(tmp_path: Path) -> None:
    code = "import json, sys, onecore; print('\\nMODULES=' + json.dumps(sorted(sys.modules)))"
    _, mods = _run([], tmp_path, code)
    assert not [m for m in ("pluggy", "click", *HEAVY) if m in mods]


def test_lazy_types_describe_their_class() -> None:
    """A type registered by name loads the class it names, with the same description."""
    from onecore.plugins import LazyRepositoryType, make_registry

    reg = make_registry()
    lazy = {n: e for n, (e, _) in reg.repository_types.items() if isinstance(e, LazyRepositoryType)}
    assert {"ftp", "figshare", "alyx", "zipfile", "s3"} <= set(lazy)
    for name, entry in lazy.items():
        cls = reg.repository_type(name)
        assert cls.type == name and cls.description == entry.description
        assert reg.repository_type(name) is cls


def test_lazy_type_naming_a_wrong_class_is_a_clear_error() -> None:
    from onecore.errors import PluginError
    from onecore.plugins import LazyRepositoryType

    with pytest.raises(PluginError, match="module:ClassName"):
        LazyRepositoryType("x", "no_colon")
    with pytest.raises(PluginError, match="registered as 'nas'"):
        LazyRepositoryType("nas", "onecore.builtins.local:LocalRepository").load()


def test_fast_entry_points_agree_with_importlib_metadata() -> None:
    import importlib.metadata as md

    from onecore.entrypoints import entry_points

    def key(e):  # noqa: ANN001, ANN202
        return (e.name, e.value, e.dist.metadata["name"], e.dist.version)

    for group in ("onecore", "console_scripts", "pytest11"):
        assert sorted(map(key, entry_points(group))) == sorted(map(key, md.entry_points(group=group)))


def test_api_default_jobs_is_the_engine_default() -> None:
    from onecore import api, transfer

    assert api.DEFAULT_JOBS == transfer.DEFAULT_JOBS


def test_search_with_the_server_down_falls_back_without_the_http_stack(tmp_path: Path, data_root: Path) -> None:
    """A refused connection is found by a bare TCP probe: the cached catalog is used at once, in one line,
    and neither requests nor the transfer engine is imported (half of the command's time before)."""
    from onecore.testing.servers import FileServer

    home = tmp_path / "home"
    with FileServer(data_root) as server:
        env = {**os.environ, "ONE_HOME": str(home)}
        one = [sys.executable, "-m", "onecore.cli"]
        for args in (["index", str(data_root), "--base-url", server.url], ["add-repo", "web", "--type", "http"]):
            extra = ["--set", f"base_url={server.url}"] if args[0] == "add-repo" else []
            subprocess.run([*one, *args, *extra], env=env, check=True, capture_output=True)
        out, mods = _run(["search"], home)
        assert "unreachable" not in out and "requests" in mods  # online: the usual path
    out, mods = _run(["search"], home)
    assert "repository 'web' unreachable (connection refused); using the catalog cached" in out
    assert "sessions (offline: cached catalog)" in out
    assert "Traceback" not in out
    assert not [m for m in ("requests", "urllib3", "onecore.transfer") if m in mods]


def test_probe_reports_refusal_and_leaves_the_rest_to_the_http_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from onecore.errors import UnreachableError
    from onecore.netprobe import probe

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        assert probe(f"http://127.0.0.1:{port}/root/", "fetching the index") is None  # it answers
    finally:
        listener.close()
    err = probe(f"http://127.0.0.1:{port}/root/", "fetching the index")  # nobody listens there now
    assert isinstance(err, UnreachableError) and err.reason == "connection refused"
    assert str(err) == "fetching the index: unreachable (connection refused)"
    assert probe("ftp://127.0.0.1:1/", "x") is None  # not an HTTP URL: not probed
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:1")
    assert probe(f"http://127.0.0.1:{port}/", "x") is None  # through a proxy the host is not ours to probe


def test_search_in_local_mode_imports_no_transfer_or_hash_code(tmp_path: Path, data_root: Path) -> None:
    home, out = _local_repository(tmp_path, data_root)
    out2, mods = _run(["search", "--mode", "local"], home)
    assert out2.splitlines()[-1] == out.splitlines()[-1] and "sessions" in out2
    light = ("requests", "urllib3", "ftplib", "numpy", "hashlib", "onecore.transfer", "onecore.scan")
    light += ("onecore.catalog.bulk", "onecore.catalog.build", "onecore.catalog.prebuilt")
    assert not [m for m in light + PLUGIN_REPOSITORY_MODULES if m in mods]


def test_a_catalog_emptied_by_a_schema_upgrade_is_rebuilt_even_in_local_mode(tmp_path: Path, data_root: Path) -> None:
    """An older catalog is replaced by an empty one; local mode must rebuild it, not answer 0 sessions."""
    import sqlite3

    from onecore import One

    home = tmp_path / "home"
    with One(cache_dir=data_root, home=home) as one:
        n = len(one.search())
        path = one.catalog.path
    assert n > 0
    path.unlink()
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT); INSERT INTO meta VALUES ('schema', '\"1\"');"
    )
    db.close()
    with One(cache_dir=data_root, home=home, mode="local") as one:
        assert len(one.search()) == n


def test_probe_tries_every_address_of_a_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """``localhost`` may resolve to ::1 first while the server listens on 127.0.0.1 only: a refusal on
    one address is not the server being down (the HTTP stack would try the next one)."""
    import socket

    from onecore import netprobe

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead = closed.getsockname()[1]
    closed.close()
    answers = [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", dead)),  # refuses
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),  # answers
    ]
    monkeypatch.setattr(netprobe.socket, "getaddrinfo", lambda *a, **k: answers)
    try:
        assert netprobe.probe("http://example.test/", "x") is None
        answers.pop()
        err = netprobe.probe("http://example.test/", "x")
        assert err is not None and err.reason == "connection refused"
    finally:
        listener.close()


def test_search_in_local_mode_imports_no_logging_or_json(tmp_path: Path, data_root: Path) -> None:
    """Both are imported on demand (a warning logged, a JSON value read that the C scanner cannot take)."""
    home, out = _local_repository(tmp_path, data_root)
    for args in (["search", "--mode", "local"], ["search", "--mode", "local", "--lab", "lab"]):
        out2, mods = _run(args, home, _PROBE)
        assert out2.splitlines()[-1] == out.splitlines()[-1] and "sessions" in out2
        assert not [m for m in ("logging", "json") if m in mods], args
    out3, mods = _run(["search", "--mode", "local", "--json"], home, _PROBE)  # JSON out: json is imported
    assert "json" in mods and json.loads(out3) == out.splitlines()[:-1]


def test_search_freezes_start_up_objects_and_still_closes_its_catalog(tmp_path: Path, data_root: Path) -> None:
    """Start-up's objects are left out of garbage collection (gc.freeze), the connection made after
    them is not: the catalog is closed at exit as before (no -wal/-shm files left beside it)."""
    home, _ = _local_repository(tmp_path, data_root)
    frozen = "import gc; print('FROZEN', gc.get_freeze_count()); print('\\nMODULES="
    code = _PROBE.replace("print('\\nMODULES=", frozen)
    assert "FROZEN" in code
    out, _ = _run(["search", "--mode", "local"], home, code)
    assert "sessions" in out and int(out.split("FROZEN ")[1].split()[0]) > 10000
    assert sorted(p.name for p in (home / "catalog").iterdir()) == ["loc.sqlite", "loc.sqlite.lock"]


def test_url_mask_is_installed_when_logging_is_imported_later(tmp_path: Path) -> None:
    """A command that has not imported logging yet still masks passwords in whatever is logged later."""
    code = """
import sys
from onecore.cli import _mask_logged_urls
_mask_logged_urls()
_mask_logged_urls()
assert "logging" not in sys.modules
import logging
assert len(logging.lastResort.filters) == 1
logging.getLogger("onecore.transfer").warning("GET http://alice:s3cr3tpw@127.0.0.1:1/x failed")
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "GET http://alice:****@127.0.0.1:1/x failed" in p.stderr and "s3cr3tpw" not in p.stderr


def test_when_imported_calls_back_after_the_module_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    from onecore.lazy import LazyLogger, when_imported

    (tmp_path / "lazylog_probe_mod.py").write_text("VALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    seen: list[int] = []
    when_imported("lazylog_probe_mod", lambda m: seen.append(m.VALUE))
    assert seen == []
    mod = importlib.import_module("lazylog_probe_mod")
    try:
        assert seen == [42]  # once the module's code ran
        assert type(mod.__loader__).__name__ == "SourceFileLoader" and "exec_module" not in vars(mod.__loader__)
        assert not [f for f in sys.meta_path if type(f).__name__ == "_AfterImport"]
        importlib.reload(mod)
        when_imported("lazylog_probe_mod", lambda m: seen.append(-m.VALUE))  # already imported: at once
        assert seen == [42, -42]
    finally:
        sys.modules.pop("lazylog_probe_mod", None)
    log = LazyLogger("onecore.api")
    assert log.name == "onecore.api" and log.getEffectiveLevel() == log._logger.getEffectiveLevel()


@pytest.mark.parametrize(
    "text",
    ['"4"', "null", "false", "[18, 185]", '{"signature": "92d1", "a": [1.5e3, -0, null]}', '"\\u00e9\\n"', "NaN"]
    + [" 1", "1 ", "\ufeff1", "[1,", "", "01", '"a\nb"', '{"x": 1}x', "12345678901234567890", '{"a": 1, "a": 2}'],
)
def test_jsontext_loads_is_json_loads(text: str) -> None:
    """The same value, or the same error, as json.loads (white space, BOM and errors go through json)."""
    from onecore.jsontext import loads

    try:
        expected: object = json.loads(text)
    except ValueError as e:
        with pytest.raises(type(e)) as got:
            loads(text)
        assert str(got.value) == str(e)
        return
    value = loads(text)
    assert repr(value) == repr(expected) and type(value) is type(expected)
