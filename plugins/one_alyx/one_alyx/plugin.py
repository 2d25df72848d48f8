"""The entry point of the one-alyx plugin: registers the ``alyx`` repository type."""

from __future__ import annotations

from typing import Callable

from onecore import hookimpl

from .repository import AlyxRepository


@hookimpl
def one_register_repository_types(register: Callable[[type], None]) -> None:
    register(AlyxRepository)
