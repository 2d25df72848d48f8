"""The local catalog: every dataset of a repository in an SQLite file, for instant, offline search.

One file per repository under ``$ONE_HOME/catalog/``. Dataset names are normalised into a small
``names`` table (collection, revision, file name and its ALF parts), so a search term is matched
against the few thousand distinct names, and only then against the million-row ``datasets`` table
through an index on ``(name, session)``. A rebuild streams the index rows into a new file that
replaces the old one atomically: readers never see a half-built catalog.
"""

from __future__ import annotations

from .files import CatalogError, sweep_leftovers
from .records import DatasetRecord
from .rows import IndexLines, PathRows, lines_of
from .schema import SCHEMA_VERSION
from .store import Catalog

__all__ = [
    "SCHEMA_VERSION",
    "Catalog",
    "CatalogError",
    "DatasetRecord",
    "IndexLines",
    "PathRows",
    "lines_of",
    "sweep_leftovers",
]
