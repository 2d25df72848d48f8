"""Start-up work deferred to first use: loggers, a log filter, regular expressions.

:class:`LazyLogger` stands for ``logging.getLogger(name)`` and imports :mod:`logging` (~3 ms, a tenth
of ``one search``) when a method is first called; :func:`when_imported` runs a function once a module
is imported (at once if it already is) — the CLI installs its log filter that way, so it covers
every logger, ours or a library's; :class:`LazyPattern` is ``re.compile(...)`` compiled on first use
(0.1–0.3 ms each, for patterns most commands never use).
"""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import logging


class LazyLogger:
    """``logging.getLogger(name)``, looked up (and :mod:`logging` imported) on first attribute use."""

    __slots__ = ("name", "_logger")

    def __init__(self, name: str):
        self.name = name
        self._logger: Any = None

    def __getattr__(self, attr: str) -> Any:
        logger = self._logger
        if logger is None:
            import logging

            logger = self._logger = logging.getLogger(self.name)
        return getattr(logger, attr)

    def __repr__(self) -> str:
        return f"<LazyLogger {self.name}>"


def lazy_logger(name: str) -> logging.Logger:
    """A :class:`LazyLogger` for ``name``, typed as the logger it stands for."""
    return LazyLogger(name)  # type: ignore[return-value]


def when_imported(name: str, callback: Callable[[Any], None]) -> None:
    """Call ``callback(module)`` once the top-level module ``name`` is imported: now if it is already.

    Otherwise a finder at the front of :data:`sys.meta_path` waits for that import, lets the usual
    finders find the module, and runs ``callback`` right after the module's code (before the importer
    gets the module), then removes itself.
    """
    module = sys.modules.get(name)
    if module is not None:
        callback(module)
        return
    if not any(isinstance(f, _AfterImport) and f.name == name and f.callback == callback for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport(name, callback))


class _AfterImport:
    """A meta-path finder that hooks ``callback`` onto the loading of one module (see :func:`when_imported`)."""

    def __init__(self, name: str, callback: Callable[[Any], None]):
        self.name = name
        self.callback = callback

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                break
        else:
            return None
        loader, callback = spec.loader, self.callback
        run = getattr(loader, "exec_module", None)
        if run is None:  # a loader of the old protocol (load_module): nothing to hook onto
            return spec

        def exec_module(module: Any) -> None:
            if not isinstance(loader, type):
                del loader.exec_module  # the loader's own method again (a reload runs only that)
            run(module)
            callback(module)

        if isinstance(loader, type):  # a loader shared by many modules (built-in, frozen): wrap it instead
            spec.loader = _Loader(loader, exec_module)
        else:
            loader.exec_module = exec_module
        return spec


class _Loader:
    """A shared loader with another ``exec_module`` for one module (see :class:`_AfterImport`)."""

    def __init__(self, loader: Any, exec_module: Callable[[Any], None]):
        self.loader = loader
        self.exec_module = exec_module

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.loader, attr)


class LazyPattern:
    """``re.compile(pattern, flags)``, compiled when an attribute (``match``, ``sub``...) is first used.

    Each attribute is then kept on the instance: later uses cost what they cost on the pattern.
    """

    def __init__(self, pattern: str, flags: int = 0):
        self._args = (pattern, flags)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        value = getattr(re.compile(*self._args), name)
        setattr(self, name, value)
        return value

    def __repr__(self) -> str:
        return f"LazyPattern({self._args[0]!r}, {self._args[1]!r})"


_frozen = False


def freeze_startup() -> None:
    """:func:`gc.freeze` once per process: what start-up made (modules, classes, the plugin registry)
    is left out of every later garbage collection.

    Those objects live until the process ends; the collector walking them again and again, and
    tearing them all down at exit, cost a command such as ``one search`` ~7 ms (a tenth of it).
    Objects made afterwards (a connection and its catalog) are collected and finalized as before.
    """
    global _frozen
    if not _frozen:
        import gc

        gc.freeze()
        _frozen = True
