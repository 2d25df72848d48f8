"""The structure rules of README's "Architecture" section, checked on the source (AST, no imports).

- the core never imports the CLI (its test support, onecore.testing, may) or a plugin package;
- the shipped plugins and the example import from onecore only ``onecore.sdk`` (their runtime
  packages) or ``onecore.testing`` (their ``testing/`` subpackages and tests), and no private name;
- no module of ``onecore/`` is over 600 lines, no function over 80 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "onecore"
PLUGIN_PACKAGES = sorted(
    p
    for base in (ROOT / "plugins", ROOT / "examples")
    for d in base.iterdir()
    if (d / "pyproject.toml").is_file()
    for p in d.iterdir()
    if (p / "__init__.py").is_file()
)
PLUGIN_NAMES = {p.name for p in PLUGIN_PACKAGES}


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) of every import in ``path``, function-level ones included."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module, [a.name for a in node.names]))
    return out


def _py(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def test_core_never_imports_the_cli_or_a_plugin() -> None:
    bad = []
    for path in _py(CORE):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(("onecore/cli", "onecore/testing/")) or rel == "onecore/__main__.py":
            continue
        for line, module, _ in _imports(path):
            top = module.split(".")[0]
            if module == "onecore.cli" or module.startswith("onecore.cli.") or top in PLUGIN_NAMES:
                bad.append(f"{rel}:{line} imports {module}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("package", PLUGIN_PACKAGES, ids=lambda p: p.name)
def test_plugins_import_only_the_sdk(package: Path) -> None:
    bad = []
    for path in _py(package):
        rel = path.relative_to(ROOT).as_posix()
        testing = "testing" in path.relative_to(package).with_suffix("").parts
        for line, module, names in _imports(path):
            if module != "onecore" and not module.startswith("onecore."):
                continue
            allowed = module == "onecore.sdk" or (testing and module.startswith("onecore.testing"))
            private = [n for n in names if n.startswith("_")]
            if not allowed or private:
                bad.append(f"{rel}:{line} imports {module} {names}")
    assert not bad, "plugins import only onecore.sdk (and onecore.testing in testing/):\n" + "\n".join(bad)


def test_modules_and_functions_stay_small() -> None:
    bad = []
    for path in _py(CORE):
        rel = path.relative_to(ROOT).as_posix()
        lines = path.read_text(encoding="utf-8").count("\n")
        if lines > 600:
            bad.append(f"{rel}: {lines} lines (at most 600)")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > 80:
                    bad.append(f"{rel}:{node.lineno} {node.name}() is {n} lines (at most 80)")
    assert not bad, "\n".join(bad)


def test_the_sdk_resolves_every_name() -> None:
    import onecore.sdk as sdk

    missing = []
    for name in sdk.__all__:
        try:
            getattr(sdk, name)
        except Exception as e:  # noqa: BLE001
            missing.append(f"{name}: {e}")
    assert not missing, missing
