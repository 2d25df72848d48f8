"""Test helpers for onecore and its plugins: example data roots, isolated homes, and the repository
conformance suite (:mod:`onecore.testing.conformance`). Imports stay light: nothing heavy is loaded
until used.
"""

from __future__ import annotations

from .data import make_data_root, write_datasets

__all__ = ["make_data_root", "write_datasets"]
