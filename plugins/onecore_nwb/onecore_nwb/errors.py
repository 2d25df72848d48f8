"""The exception and the warning of the NWB export (no heavy imports)."""

from __future__ import annotations

from onecore.sdk import OneError


class ExportError(OneError):
    """The session cannot be exported as asked; the message names the object or file and what to do."""


class ExportWarning(UserWarning):
    """Something the export could not fill in or convert (missing Subject fields, non-array datasets)."""
