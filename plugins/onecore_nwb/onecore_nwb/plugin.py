"""The hook implementation: adds ``one export-nwb``. Imported at start-up, so it imports nothing heavy."""

from __future__ import annotations

from typing import Any, Callable

from onecore.sdk import hookimpl


@hookimpl
def one_register_commands(register: Callable[[Any], None]) -> None:
    from .commands import export_nwb

    register(export_nwb)
