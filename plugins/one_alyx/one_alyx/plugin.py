"""The entry point of the one-alyx plugin: registers the ``alyx`` repository type.

onecore imports this module whenever it builds its registry (``one --help`` too), so it imports
nothing of the plugin: the type is registered by name and imported when first used.
"""

from __future__ import annotations

from typing import Callable

from onecore.sdk import hookimpl


@hookimpl
def one_register_repository_types(register: Callable[[object], None]) -> None:
    """Register the ``alyx`` type (imported from :mod:`one_alyx.repository` when used)."""
    from onecore.sdk import LazyRepositoryType

    register(
        LazyRepositoryType(
            "alyx",
            "one_alyx.repository:AlyxRepository",
            "Alyx database (IBL Alyx or alyx-local): search, list, download, register",
        )
    )
