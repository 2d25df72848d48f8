"""The pytest plugin of onecore (entry point ``pytest11: onecore``), loaded by every pytest run in
an environment where onecore is installed.

It only exposes the fixtures of :mod:`onecore.testing.fixtures` (``one_home``, ``plugin_registry``,
``alf_data_root``); none is autouse, so it changes nothing for tests that do not ask for them.
Imports stay light: no numpy, requests or sqlite until a fixture is used.
"""

from __future__ import annotations

from onecore.testing.fixtures import alf_data_root, one_home, plugin_registry

__all__ = ["alf_data_root", "one_home", "plugin_registry"]
