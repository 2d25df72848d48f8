"""The ONE API modules know repository types only through the Repository contract (issue 12)."""

from __future__ import annotations

import ast
from pathlib import Path

import onecore

API_MODULES = (
    "api.py",
    "one_search.py",
    "one_list.py",
    "one_load.py",
    "one_filters.py",
    "one_errors.py",
    "alfobj.py",
    "alfpath.py",
)


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            out += [base] + [f"{base}.{a.name}" if node.module else f"{base}{a.name}" for a in node.names]
    return out


def test_api_modules_import_no_builtin_type_and_no_plugin():
    root = Path(onecore.__file__).parent
    checked = 0
    for name in API_MODULES:
        path = root / name
        if not path.exists():
            continue
        checked += 1
        for imp in _imports(path):
            bad = (
                "builtins" in imp.split(".")
                or imp.startswith(("one_alyx", "onelight_", "plugins"))
                or ".cli" in imp
                or imp == "onecore.cli"
            )
            assert not bad, f"onecore/{name} imports {imp!r}: the ONE API must use only the Repository contract"
        text = path.read_text(encoding="utf-8")
        assert '"alyx"' not in text and 'root_dir"]' not in text, f"onecore/{name} special-cases a repository type"
    assert checked >= 5


def test_api_modules_are_small():
    root = Path(onecore.__file__).parent
    for name in API_MODULES:
        path = root / name
        if path.exists():
            n = len(path.read_text(encoding="utf-8").splitlines())
            assert n < 600, f"onecore/{name} has {n} lines"
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    size = node.end_lineno - node.lineno + 1
                    assert size <= 80, f"onecore/{name}: {node.name} has {size} lines"


def test_from_url_is_the_documented_way_to_connect_by_url(one_home):
    from onecore.config import RepoConfig
    from onecore.repository import Repository
    from onecore.testing.fixtures import build_registry

    assert Repository.from_url("http://x", home=one_home) is None
    calls = []

    class ByURL(Repository):
        type = "byurl"

        @classmethod
        def from_url(cls, url, *, username=None, password=None, home, interactive=False):  # noqa: ANN001, ANN206
            calls.append((url, username))
            return RepoConfig("byurl-repo", "byurl", {})

        def fetch_index(self, state):  # noqa: ANN001, ANN201
            from onecore.repository import IndexUpdate

            return IndexUpdate(rows=[], state={})

    class Plugin:
        from onecore import hookimpl

        @hookimpl
        def one_register_repository_types(self, register):  # noqa: ANN001, ANN201
            register(ByURL)

    one = onecore.One(base_url="http://db.example:8000", username="u", home=one_home, registry=build_registry(Plugin()))
    assert calls == [("http://db.example:8000", "u")]
    assert one.repository.type == "byurl"
    one.close()
