"""The hook implementations: what the plugin adds to onecore.

This module is what the entry point names, so onecore imports it at start-up: keep it light and
import the real code inside the hooks.
"""

from __future__ import annotations

from typing import Any, Callable

from onecore import hookimpl


@hookimpl
def one_register_repository_types(register: Callable[[type], None]) -> None:
    from .archive import ZipRepository

    register(ZipRepository)


@hookimpl
def one_register_loaders(register: Callable[..., None]) -> None:
    from .npz import load_npz

    register("npz", load_npz)


@hookimpl
def one_register_commands(register: Callable[[Any], None]) -> None:
    from .commands import zip_root

    register(zip_root)
