"""pytest fixtures and helpers for testing onecore plugins.

The fixtures are exposed to every pytest run of an environment where onecore is installed, through
the ``pytest11`` entry point (:mod:`onecore.testing.pytest_plugin`); nothing needs importing:

- ``one_home`` — an isolated ``$ONE_HOME`` (a fresh temp folder, the environment variable set for
  the test, fast retries, and the process-wide plugin registry reset before and after);
- ``plugin_registry`` — a factory: ``plugin_registry("mylab_one.plugin", other_module_or_object)``
  builds a :class:`onecore.plugins.Registry` with the built-ins and only the named plugins (module
  names, entry-point names of the group ``onecore``, or plugin objects) and makes it the process-wide
  registry for the test (``install=False`` to only return it);
- ``alf_data_root`` — a generated ALF data root (:func:`onecore.testing.make_data_root`) in a temp
  folder.

Plain helpers for tests: :func:`configure` writes a repository into the config of a home, so that
``One(repo=name)`` and the CLI find it; :func:`build_registry` is what ``plugin_registry`` calls.

This module imports only pytest and the standard library at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import pytest

if TYPE_CHECKING:
    from onecore.config import RepoConfig
    from onecore.plugins import Registry
    from onecore.repository import Repository

__all__ = ["one_home", "plugin_registry", "alf_data_root", "configure", "build_registry"]

#: Environment set by ``one_home`` so that retries do not slow tests down.
TEST_ENV = {"ONE_RETRY_BASE_DELAY": "0.01", "ONE_RETRY_ATTEMPTS": "3"}


def build_registry(*plugins: Any, entrypoints: bool = False) -> Registry:
    """A registry with the built-ins and ``plugins`` only.

    Each plugin is a module name (``"mylab_one.plugin"``), the name of an installed entry point of
    the group ``onecore`` (``"mylab"``), or a plugin object (a module or any object with hook
    implementations). With ``entrypoints=True`` every installed plugin is loaded as well.
    """
    from importlib.metadata import entry_points

    from onecore.plugins import ENTRY_POINT_GROUP, make_plugin_manager, make_registry

    eps = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    resolved: list[Any] = []
    for p in plugins:
        if isinstance(p, str) and p in eps:
            resolved.append(eps[p].load())
        else:
            resolved.append(p)
    pm = make_plugin_manager(load_entrypoints=entrypoints, plugins=resolved)
    return make_registry(pm).load_all()


def configure(repository: Repository, *, home: str | Path | None = None, current: bool = True) -> RepoConfig:
    """Write ``repository`` (its name, type and settings) into the config of ``home`` (default
    ``$ONE_HOME``), so that ``One(repo=repository.name)`` and ``one ... --repo NAME`` open it.

    Returns the :class:`onecore.config.RepoConfig` written. Settings equal to None are left out.
    """
    from onecore.config import Config, RepoConfig

    config = Config.load(Path(home) if home is not None else repository.home)
    rc = RepoConfig(repository.name, repository.type, {k: v for k, v in repository.settings.items() if v is not None})
    config.add(rc, make_current=current)
    config.save()
    return rc


@pytest.fixture
def one_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An isolated ``$ONE_HOME`` for one test; the real ``~/.one`` is never touched.

    Also sets fast retries (``ONE_RETRY_BASE_DELAY=0.01``, ``ONE_RETRY_ATTEMPTS=3``), unsets
    ``ONE_PLUGINS`` (every installed plugin loads) and resets the process-wide plugin registry before
    and after the test. This is the one home fixture of onecore's and the shipped plugins' tests; a
    conftest makes it autouse with ``@pytest.fixture(autouse=True) def _home(one_home): ...``.
    """
    from onecore.plugins import set_registry

    home = tmp_path / "one_home"
    home.mkdir()
    monkeypatch.setenv("ONE_HOME", str(home))
    monkeypatch.delenv("ONE_PLUGINS", raising=False)
    for key, value in TEST_ENV.items():
        monkeypatch.setenv(key, value)
    set_registry(None)
    try:
        yield home
    finally:
        set_registry(None)


@pytest.fixture
def plugin_registry() -> Iterator[Callable[..., Registry]]:
    """A factory of registries holding the built-ins and only the plugins a test names.

    ``plugin_registry(*plugins, entrypoints=False, install=True)``: see :func:`build_registry`. With
    ``install`` (the default) the registry becomes the process-wide one (what ``One()`` and the CLI
    use) until the end of the test.
    """
    from onecore.plugins import set_registry

    def factory(*plugins: Any, entrypoints: bool = False, install: bool = True) -> Registry:
        reg = build_registry(*plugins, entrypoints=entrypoints)
        if install:
            set_registry(reg)
        return reg

    try:
        yield factory
    finally:
        set_registry(None)


@pytest.fixture
def alf_data_root(tmp_path: Path) -> Path:
    """A generated ALF data root (``lab/Subjects/subject/date/NNN/...``) in a temp folder.

    Two labs, two subjects each, two sessions per subject; the first session also has a second probe,
    a revision folder, a namespaced dataset, a JSON dataset and a non-ALF ``notes.txt``.
    """
    from onecore.testing.data import make_data_root

    root = tmp_path / "alf_data_root"
    make_data_root(root, n=200)
    return root
