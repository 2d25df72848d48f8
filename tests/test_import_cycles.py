"""The core's import graph has no cycle, counting imports inside functions (lazy ones) too.

Every ``import`` and ``from ... import`` in every module of ``onecore/`` (at any depth of the syntax
tree, so a function-level import counts like a top-level one; only ``if TYPE_CHECKING:`` blocks, which
never run, are left out) is an edge; ``from pkg import name``
is an edge to ``pkg.name`` when that is a module, and to ``pkg`` itself. The root package ``onecore``
is left out as a target: its ``__init__`` imports nothing at import time (``ONE`` is resolved lazily by
a module ``__getattr__`` for users, never by the core), and every submodule import runs it anyway.
"""

from __future__ import annotations

import ast
from pathlib import Path

import onecore

ROOT = Path(onecore.__file__).parent


def _modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for p in ROOT.rglob("*.py"):
        parts = ("onecore", *p.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = p
    return mods


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:`` (imports for type hints only,
    never executed)."""
    out: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        out.append(node)
        for child in ast.iter_child_nodes(node):
            if (
                isinstance(child, ast.If)
                and getattr(child.test, "id", getattr(child.test, "attr", "")) == "TYPE_CHECKING"
            ):
                todo.extend(child.orelse)
                continue
            todo.append(child)
    return out


def import_graph() -> dict[str, set[str]]:
    """Module name -> the onecore modules it imports (anywhere in its code)."""
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                deps.add(mod)
                deps.update(f"{mod}.{a.name}" for a in node.names)
        graph[name] = {d for d in deps if d in mods and d not in (name, "onecore")}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(v: str) -> list[str] | None:
        state[v] = 1
        path.append(v)
        for w in sorted(graph[v]):
            if state.get(w) == 1:
                return path[path.index(w) :] + [w]
            if w not in state:
                found = visit(w)
                if found:
                    return found
        path.pop()
        state[v] = 2
        return None

    for v in sorted(graph):
        if v not in state:
            found = visit(v)
            if found:
                return found
    return None


def test_no_import_cycle_among_core_modules() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_scan_finds_lazy_imports() -> None:
    """The scan sees function-level imports (repository -> transfer.http) and the package split."""
    graph = import_graph()
    assert "onecore.transfer.http" in graph["onecore.repository"]
    assert "onecore.hashcache" in graph["onecore.transfer.engine"]
    assert not any(d.startswith("onecore.transfer") for d in graph["onecore.scan"])
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
