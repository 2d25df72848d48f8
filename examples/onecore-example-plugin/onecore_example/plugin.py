"""The hook implementations: what the plugin adds to onecore.

This module is what the entry point names, so onecore imports it at start-up (``one --help`` too):
keep it light. The repository type is registered by name (:class:`onecore.plugins.LazyRepositoryType`)
and imported when a repository of that type is first used; the other hooks import their code inside.
"""

from __future__ import annotations

from typing import Any, Callable

from onecore.sdk import hookimpl


@hookimpl
def one_register_repository_types(register: Callable[[object], None]) -> None:
    from onecore.sdk import LazyRepositoryType

    register(
        LazyRepositoryType(
            "zipfile", "onecore_example.archive:ZipRepository", "a data root packed in one zip archive (read-only)"
        )
    )


@hookimpl
def one_register_loaders(register: Callable[..., None]) -> None:
    from .npz import load_npz

    register("npz", load_npz)


@hookimpl
def one_register_commands(register: Callable[[Any], None]) -> None:
    from .commands import zip_root

    register(zip_root)
