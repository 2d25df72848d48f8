"""onecore: the Open Neurophysiology Environment (ONE) as a small plugin framework.

>>> from onecore import ONE
>>> one = ONE()                                   # the current configured repository
>>> eids = one.search(dataset='spikes.times', subject='Cori')
>>> spikes = one.load_object(eids[0], 'spikes')

Plugins implement the hooks of :mod:`onecore.hookspecs` with :data:`hookimpl`.
"""

from __future__ import annotations

from typing import Any

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("onecore")
"""Decorator that marks a plugin function as a hook implementation."""

__all__ = ["ONE", "One", "hookimpl", "__version__"]


def __getattr__(name: str) -> Any:  # lazy: keeps `import onecore` fast (no numpy, sqlite, requests)
    if name in ("ONE", "One"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'onecore' has no attribute {name!r}")
