"""Built-in plugin: the ``.one_root`` index format."""

from __future__ import annotations

from typing import Callable

from onecore import hookimpl


@hookimpl
def one_register_index_formats(register: Callable) -> None:
    from onecore.index import ONE_ROOT

    register(ONE_ROOT)
