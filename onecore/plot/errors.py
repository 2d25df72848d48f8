"""The error of :mod:`onecore.plot` (its own module, so that the figure modules need not import the package)."""

from __future__ import annotations

from ..errors import OneError


class PlotError(OneError):
    """A figure cannot be drawn: the data lack what the kind needs (the message names it)."""
