"""The documentation is complete and in sync with the code.

- every hook of onecore/hookspecs.py has a section in docs/hooks.md and is exercised by a test;
- docs/cli.md and docs/repositories.md are what docs/gen_docs.py generates from the code;
- the conformance kit's fixtures are documented in docs/plugins.md;
- relative links between the docs resolve.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from onecore import hookspecs

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
PAGES = ("alf.md", "one_root.md", "repositories.md", "hooks.md", "plugins.md", "cli.md")


def _hook_names() -> list[str]:
    return sorted(name for name, f in vars(hookspecs).items() if callable(f) and hasattr(f, "onecore_spec"))


def _test_files() -> list[Path]:
    files = [*REPO.glob("tests/**/*.py"), *REPO.glob("plugins/*/tests/**/*.py"), *REPO.glob("examples/*/tests/**/*.py")]
    return [f for f in files if f.resolve() != Path(__file__).resolve()]


def _gen_docs():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("gen_docs", DOCS / "gen_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hookspecs_are_found() -> None:
    assert len(_hook_names()) >= 3  # repository types, loaders, commands
    assert "one_register_repository_types" in _hook_names()


@pytest.mark.parametrize("hook", _hook_names())
def test_every_hook_is_documented(hook: str) -> None:
    text = (DOCS / "hooks.md").read_text(encoding="utf-8")
    assert re.search(rf"^## {re.escape(hook)}\s*$", text, re.M), (
        f"docs/hooks.md has no '## {hook}' section: document the hook (what register takes, the rules)"
    )


@pytest.mark.parametrize("hook", _hook_names())
def test_every_hook_has_a_test(hook: str) -> None:
    users = [f for f in _test_files() if hook in f.read_text(encoding="utf-8")]
    assert users, f"no test mentions the hook {hook}: add one under tests/, plugins/*/tests or examples/*/tests"


def test_hooks_md_documents_no_unknown_hook() -> None:
    text = (DOCS / "hooks.md").read_text(encoding="utf-8")
    sections = set(re.findall(r"^## (one_\w+)\s*$", text, re.M))
    assert sections <= set(_hook_names()), f"docs/hooks.md documents hooks that do not exist: {sections}"


@pytest.mark.parametrize("page", ["cli.md", "repositories.md"])
def test_generated_pages_are_in_sync(page: str, one_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ONE_PLUGINS", raising=False)
    expected = _gen_docs().PAGES[page]()
    actual = (DOCS / page).read_text(encoding="utf-8")
    assert actual == expected, f"docs/{page} is out of date with the code: run  python docs/gen_docs.py"


def test_cli_md_covers_every_builtin_command() -> None:
    from onecore.cli import cli

    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    for name, cmd in cli.commands.items():
        if name == cmd.name:
            assert f"## one {name}\n" in text


def test_plugins_md_documents_the_kit() -> None:
    from onecore.testing import conformance, fixtures

    text = (DOCS / "plugins.md").read_text(encoding="utf-8")
    overridable = ["repository", "publish_root", "publish_index_text", "unreachable_repository"]
    for name in overridable:
        assert hasattr(conformance.RepositoryConformance, name)
        assert f"`{name}`" in text and f"``{name}``" in conformance.__doc__
    for name in ["expected_unreachable_error", "data_root_options", "missing_url"]:
        assert hasattr(conformance.RepositoryConformance, name)
        assert f"`{name}" in text
    for name in ["one_home", "plugin_registry", "alf_data_root", "configure"]:
        assert hasattr(fixtures, name) and re.search(rf"\b{name}\b", text)


@pytest.mark.parametrize("page", PAGES)
def test_links_resolve(page: str) -> None:
    text = (DOCS / page).read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" in target:
            continue
        assert (DOCS / target).exists(), f"docs/{page} links to {target}, which does not exist"
