"""Plugin loading: built-ins through the hooks, entry points, broken plugins, ONE_PLUGINS, duplicates."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
from pathlib import Path

import pytest

from onecore import hookspecs
from onecore.errors import PluginError, UnknownRepositoryType
from onecore.plugins import make_plugin_manager, make_registry

from .conftest import run_cli


def make_dist(
    site: Path, dist: str, module: str, code: str, ep_name: str | None = None, version: str = "1.2.3"
) -> None:
    """Install a tiny distribution the way pip would (a module + a .dist-info with entry points)."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(code))
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[onecore]\n{ep_name or module} = {module}\n")


THIRD_PARTY = '''
from onecore import hookimpl
from onecore.repository import Field, Repository, IndexUpdate, Dataset

class NasRepository(Repository):
    type = "nas"
    description = "a lab NAS"
    fields = (Field("share", required=True), Field("secret", secret=True))
    def fetch_index(self, state):
        return None if state else IndexUpdate(rows=[], state={"v": 1})

def load_txt(path, **options):
    return path.read_text()

@hookimpl
def one_register_repository_types(register):
    register(NasRepository)

@hookimpl
def one_register_loaders(register):
    register("txt", load_txt)

@hookimpl
def one_register_commands(register):
    import click

    @click.command("nas-hello")
    def hello():
        """Say hello from the NAS plugin."""
        click.echo("hello from nas")
    register(hello)
'''


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    yield site
    for mod in ("nas_plugin", "broken_plugin", "dup_plugin"):
        sys.modules.pop(mod, None)


def test_builtins_register_through_the_hooks():
    reg = make_registry(make_plugin_manager(load_entrypoints=False))
    assert {"local", "http"} <= set(reg.repository_types)
    assert {"npy", "csv", "tsv", "json"} <= set(reg.loaders)
    assert reg.repository_types["local"][1] == "onecore.builtins.types"


def test_every_hook_is_documented_in_hookspecs():
    specs = [n for n in dir(hookspecs) if n.startswith("one_")]
    assert set(specs) == {
        "one_register_repository_types",
        "one_register_loaders",
        "one_register_commands",
    }
    for name in specs:
        assert getattr(hookspecs, name).__doc__, name


def test_third_party_plugin_found_through_entry_point(site, runner):
    make_dist(site, "lab-nas", "nas_plugin", THIRD_PARTY, ep_name="nas")
    reg = make_registry()
    assert reg.repository_types["nas"][1] == "nas"
    assert reg.loaders["txt"][1] == "nas"
    info = [p for p in reg.plugins() if p.name == "nas"][0]
    assert (info.distribution, info.version) == ("lab-nas", "1.2.3")
    assert info.hooks == ["one_register_commands", "one_register_loaders", "one_register_repository_types"]
    out = run_cli(runner, "plugins", "--json").output
    data = {p["name"]: p for p in json.loads(out)}
    assert data["nas"] == {"name": "nas", "distribution": "lab-nas", "version": "1.2.3", "hooks": info.hooks}
    assert "onecore.builtins.types" not in data
    allp = {p["name"] for p in json.loads(run_cli(runner, "plugins", "--all", "--json").output)}
    assert "onecore.builtins.types" in allp and "nas" in allp
    # the command hook: a plugin's command is part of the CLI
    assert "hello from nas" in run_cli(runner, "nas-hello").output
    assert "nas-hello" in run_cli(runner, "--help").output


def test_third_party_loader_is_used_by_load_dataset(site, tmp_path):
    make_dist(site, "lab-nas", "nas_plugin", THIRD_PARTY, ep_name="nas")
    root = tmp_path / "r"
    f = root / "lab/Subjects/s1/2020-01-01/001/alf/notes.text.txt"
    f.parent.mkdir(parents=True)
    f.write_text("hello")
    from onecore import One

    one = One(cache_dir=root)
    assert one.load_dataset("lab/Subjects/s1/2020-01-01/001", "notes.text.txt") == "hello"


def test_broken_plugin_is_reported_by_name_and_others_still_work(site, runner, caplog):
    make_dist(site, "lab-broken", "broken_plugin", "raise ImportError('missing dependency foo')\n", ep_name="broken")
    make_dist(site, "lab-nas", "nas_plugin", THIRD_PARTY, ep_name="nas")
    reg = make_registry()
    assert "nas" in reg.repository_types
    [fail] = [f for f in reg.failures if f.name == "broken"]
    assert fail.distribution == "lab-broken" and "missing dependency foo" in fail.error
    out = run_cli(runner, "plugins").output
    assert "broken (lab-broken 1.2.3): FAILED TO LOAD: ImportError: missing dependency foo" in out
    assert json.loads(run_cli(runner, "plugins", "--json").output)


def test_plugin_raising_inside_a_hook_is_reported_not_fatal(site):
    make_dist(
        site,
        "lab-dup",
        "dup_plugin",
        """
        from onecore import hookimpl
        @hookimpl
        def one_register_loaders(register):
            raise RuntimeError("boom")
        """,
        ep_name="dup",
    )
    reg = make_registry()
    assert "npy" in reg.loaders
    assert any(f.name == "dup" and "boom" in f.error for f in reg.failures)


def test_duplicate_registration_names_both_plugins(site):
    make_dist(
        site,
        "lab-dup",
        "dup_plugin",
        """
        from onecore import hookimpl
        from onecore.builtins.local import LocalRepository
        class Again(LocalRepository):
            pass
        @hookimpl
        def one_register_repository_types(register):
            register(Again)
        """,
        ep_name="dup",
    )
    reg = make_registry()  # the registry still builds: only the conflicting name is disabled
    with pytest.raises(PluginError, match="'local' is registered by both 'onecore.builtins.types' and 'dup'"):
        reg.repository_type("local")
    assert "http" in reg.repository_types and "npy" in reg.loaders


def test_conflicting_loaders_disable_only_that_extension_and_show_in_one_plugins(site, monkeypatch):
    for dist, mod, ep in (("lab-a", "npz_a", "npza"), ("lab-b", "npz_b", "npzb")):
        make_dist(
            site,
            dist,
            mod,
            f"""
            from onecore import hookimpl
            @hookimpl
            def one_register_loaders(register):
                register("xyz", lambda path, **o: "mine")
                register("{mod}", lambda path, **o: "only mine")
            """,
            ep_name=ep,
        )
    reg = make_registry()
    assert "xyz" not in reg.loaders and reg.loader("npz_a") and reg.loader("npz_b") and reg.loader("npy")
    with pytest.raises(PluginError, match="loader .xyz. is registered by both 'npza' and 'npzb'"):
        reg.loader("xyz")
    from click.testing import CliRunner

    runner = CliRunner()
    out = run_cli(runner, "plugins").output
    assert "CONFLICT: loader 'xyz' is registered by 'npza' and 'npzb' (disabled)" in out
    infos = {i["name"]: i for i in json.loads(run_cli(runner, "plugins", "--json").output)}
    assert infos["npza"]["conflicts"] == ["loader xyz"]
    for mod in ("npz_a", "npz_b"):
        sys.modules.pop(mod, None)


def test_hooks_are_called_through_pluggy_wrappers_and_argument_subsets():
    from onecore import hookimpl

    calls = []

    class NoArgs:  # an implementation may take fewer arguments than the spec (legal in pluggy)
        @staticmethod
        @hookimpl
        def one_register_repository_types():
            calls.append("no-args")

    class Wrapper:
        @staticmethod
        @hookimpl(wrapper=True)
        def one_register_loaders(register):
            calls.append("before")
            result = yield
            calls.append("after")
            return result

    reg = make_registry(make_plugin_manager(load_entrypoints=False, plugins=[NoArgs, Wrapper])).load_all()
    assert "no-args" in calls and not reg.failures
    assert calls.count("before") == calls.count("after") >= 1  # the wrapper ran around each plugin's call
    assert "npy" in reg.loaders


def test_unknown_name_in_one_plugins_warns_with_the_installed_ones(site, monkeypatch, caplog):
    make_dist(site, "lab-nas", "nas_plugin", THIRD_PARTY, ep_name="nas")
    monkeypatch.setenv("ONE_PLUGINS", "nas,nsa")
    with caplog.at_level("WARNING", logger="onecore.plugins"):
        reg = make_registry()
    assert "nas" in reg.repository_types
    assert "ONE_PLUGINS names 'nsa', which no installed plugin is called" in caplog.text
    assert "nas" in caplog.text.split("installed plugins:")[1]


def test_one_plugins_env_restricts_or_disables(site, monkeypatch):
    make_dist(site, "lab-nas", "nas_plugin", THIRD_PARTY, ep_name="nas")
    monkeypatch.setenv("ONE_PLUGINS", "none")
    assert "nas" not in make_registry().repository_types
    monkeypatch.setenv("ONE_PLUGINS", "other")
    assert "nas" not in make_registry().repository_types
    monkeypatch.setenv("ONE_PLUGINS", "nas")
    assert "nas" in make_registry().repository_types
    monkeypatch.setenv("ONE_PLUGINS", "none")
    reg = make_registry()
    assert "local" in reg.repository_types  # built-ins always load


def test_hook_without_spec_fails_loudly():
    class Bad:
        @staticmethod
        def one_register_typo(register):  # noqa: ANN001
            pass

    from onecore import hookimpl

    Bad.one_register_typo = hookimpl(Bad.one_register_typo)
    with pytest.raises(PluginError, match="does not exist"):
        make_plugin_manager(load_entrypoints=False, plugins=[Bad])


def test_missing_type_says_what_to_install(monkeypatch):
    monkeypatch.setenv("ONE_PLUGINS", "none")
    reg = make_registry()
    with pytest.raises(UnknownRepositoryType, match="pip install onelight-figshare") as e:
        reg.repository_type("figshare")
    assert "pip install " + str(Path(__file__).resolve().parent.parent / "plugins" / "onelight_figshare") in str(
        e.value
    )
    with pytest.raises(UnknownRepositoryType, match="Known types: http, local"):
        reg.repository_type("weird")


def test_import_onecore_is_light():
    import subprocess

    code = (
        "import sys, onecore; print(','.join(m for m in ('numpy', 'requests', 'sqlite3', 'yaml') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
