"""onecore: the Open Neurophysiology Environment (ONE) as a small plugin framework.

>>> from onecore import ONE
>>> one = ONE()                                   # the current configured repository
>>> eids = one.search(dataset='spikes.times', subject='Cori')
>>> spikes = one.load_object(eids[0], 'spikes')

Plugins implement the hooks of :mod:`onecore.hookspecs` with :data:`hookimpl`.

Everything here is imported on first use, so ``import onecore`` costs almost nothing: no pluggy,
numpy, sqlite3 or requests until they are needed.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (2-3 ms)
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"

__all__ = ["ONE", "One", "hookimpl", "__version__"]

_hookimpl: Any = None


def __getattr__(name: str) -> Any:  # lazy: keeps `import onecore` fast (no pluggy, numpy, sqlite, requests)
    global _hookimpl
    if name in ("ONE", "One"):
        from . import api

        return getattr(api, name)
    if name == "hookimpl":  # the decorator that marks a plugin function as a hook implementation
        if _hookimpl is None:
            import pluggy

            _hookimpl = pluggy.HookimplMarker("onecore")
        return _hookimpl
    raise AttributeError(f"module 'onecore' has no attribute {name!r}")
