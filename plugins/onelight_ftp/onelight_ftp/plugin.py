"""The hook implementation that registers the ``ftp`` repository type (entry point ``ftp``)."""

from __future__ import annotations

from typing import Callable

from onecore import hookimpl

from .repository import FTPRepository


@hookimpl
def one_register_repository_types(register: Callable[[type], None]) -> None:
    register(FTPRepository)
