"""The ONE API's listing: ``list_datasets``, ``list_collections``, ``list_revisions``, ``list_objects``.

:class:`ListMixin` is part of :class:`onecore.api.One`; it needs ``_records`` (a session's dataset
records, refreshed from the repository when it lists sessions itself).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .catalog import DatasetRecord
from .errors import TransferError
from .one_filters import _match, _pick_revisions

if TYPE_CHECKING:
    from .catalog import Catalog
    from .repository import Repository

log = logging.getLogger("onecore.api")


class ListMixin:
    """The ``list_*`` methods of :class:`onecore.api.One`."""

    catalog: Catalog
    repository: Repository
    mode: str
    offline: bool

    def to_eid(self, id: Any) -> str:
        raise NotImplementedError

    def _records(self, eid: str) -> list[DatasetRecord]:
        recs = self.catalog.datasets(eid)  # fast path: ``eid`` is already a session id
        if not recs:
            eid = self.to_eid(eid)
            recs = self.catalog.datasets(eid)
        if self.mode != "local" and not self.offline:
            try:
                fresh = self.repository.list_session(eid)
            except TransferError as e:
                log.warning("repository unreachable (%s); listing from the cached catalog", e)
                fresh = None
            if fresh is not None:
                self.catalog.upsert(rows=fresh)
                recs = self.catalog.datasets(eid)
        return recs

    def _select(
        self, recs: list[DatasetRecord], collection: Any = None, revision: str | None = None, filename: Any = None
    ) -> list[DatasetRecord]:
        if collection is None and filename is None:
            if revision is None and not any(r.revision for r in recs):
                return list(recs)  # no revisions: one record per (collection, file name) already
            out = list(recs)
        else:
            out = [r for r in recs if _match(r.collection or "", collection) and _match(r.filename, filename)]
        return _pick_revisions(out, revision)

    def list_datasets(
        self,
        eid: str | Path | None = None,
        collection: Any = None,
        revision: str | None = None,
        filename: Any = None,
        details: bool = False,
    ) -> list[Any]:
        """Datasets of a session, as paths relative to the session folder (``alf/spikes.times.npy``).

        Without ``revision`` only the default revision of each dataset is listed (the one the
        repository marks as default, else the latest). ``collection`` and ``filename`` accept
        wildcards. Without ``eid``, every dataset of the catalog (full paths).
        """
        if eid is None:
            return [d.rel_path for d in self.catalog.all_datasets()]
        recs = self._select(self._records(str(eid)), collection, revision, filename)
        return [r.as_dict() for r in recs] if details else [r.rel_path for r in recs]

    list = list_datasets  # ONE light's name

    def list_collections(self, eid: str | Path) -> list[str]:
        """The collections of a session (``''`` is not listed)."""
        return sorted({r.collection for r in self._records(str(eid)) if r.collection})

    def list_revisions(self, eid: str | Path) -> list[str]:
        """The revisions present in a session, sorted."""
        return sorted({r.revision for r in self._records(str(eid)) if r.revision})

    def list_objects(self, eid: str | Path, collection: Any = None) -> list[str]:
        return sorted({r.object for r in self._select(self._records(str(eid)), collection)})
