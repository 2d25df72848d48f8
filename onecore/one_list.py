"""The ONE API's listing: ``list_datasets``, ``list_collections``, ``list_revisions``, ``list_objects``.

:class:`ListMixin` is part of :class:`onecore.api.One`; it needs ``_records`` (a session's dataset
records, refreshed from the repository when it lists sessions itself).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from .catalog import DatasetRecord
from .errors import TransferError
from .lazy import lazy_logger
from .one_filters import _pick_revisions, filter_qc, filter_records
from .qc import QC, qc_keep

if TYPE_CHECKING:
    from .catalog import Catalog
    from .repository import Repository

log = lazy_logger("onecore.api")  # logging is imported when something is logged


class ListMixin:
    """The ``list_*`` methods of :class:`onecore.api.One`."""

    catalog: Catalog
    repository: Repository
    mode: str
    offline: bool

    def _eid(self, id: Any) -> str:
        raise NotImplementedError

    def _records(self, eid: Any) -> list[DatasetRecord]:
        if not isinstance(eid, str):
            eid = self._eid(eid)
        recs = self.catalog.datasets(eid)  # fast path: ``eid`` is already a session id
        if not recs:
            eid = self._eid(eid)
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

    def _loadable(self, eid: Any) -> list[DatasetRecord]:
        """The records loading and downloading choose from: QC at most ``FAIL`` where QC is known
        (``CRITICAL`` datasets are never loaded, as ONE-api's ``load_*``), all of them elsewhere."""
        return filter_qc(self._records(eid))

    wildcards: bool

    def _select(
        self, recs: list[DatasetRecord], collection: Any = None, revision: str | None = None, filename: Any = None
    ) -> list[DatasetRecord]:
        """Loading's selection: the filters, then one revision per dataset (``revision_last_before``)."""
        if collection is None and filename is None and revision is None and not any(r.revision for r in recs):
            return list(recs)  # no revisions: one record per (collection, file name) already
        return filter_records(recs, filename, collection, revision, self.wildcards, revision_last_before=True)

    def _listed(
        self,
        eid: Any,
        filename: Any,
        collection: Any,
        revision: Any,
        default_revisions_only: bool = False,
        qc: Any = QC.FAIL,
        ignore_qc_not_set: bool = False,
    ) -> list[DatasetRecord]:
        """Listing's selection (ONE-api's): every revision, unless ``default_revisions_only``; QC at
        most ``qc`` where it is known."""
        recs = filter_qc(self._records(eid), qc, ignore_qc_not_set)
        if default_revisions_only:
            recs = _pick_revisions(recs, None)
        return filter_records(recs, filename, collection, revision, self.wildcards)

    def list_datasets(
        self,
        eid: str | Path | Mapping[str, Any] | None = None,
        filename: Any = None,
        collection: Any = None,
        revision: Any = None,
        qc: Any = QC.FAIL,
        ignore_qc_not_set: bool = False,
        details: bool = False,
        query_type: str | None = None,
        default_revisions_only: bool = False,
        keep_eid_index: bool = False,
    ) -> Any:
        """Datasets of a session, as sorted paths relative to the session folder (``alf/spikes.times.npy``).

        As ONE-api: every revision is listed unless ``default_revisions_only`` (the revision the
        repository marks as default, else the latest); ``revision='X'`` keeps only datasets of
        revision X. ``filename`` is a pattern, a list (OR) or a dict of ALF parts
        (``{'object': 'spikes', 'attribute': ['times', 'clusters']}``); ``filename``, ``collection``
        and ``revision`` take shell wildcards (regular expressions when ``one.wildcards`` is False);
        ``''`` means "none". ``details=True``: a pandas DataFrame (rel_path, file_size, hash, exists,
        default_revision, qc, ... indexed by dataset id, with the session id too if
        ``keep_eid_index``) when pandas is installed, else a list of dicts.

        ``qc`` (a name such as ``'WARNING'``, an int, or ONE-api's ``QC``; default ``FAIL`` as
        ONE-api) keeps the datasets of QC at most that level, and ``ignore_qc_not_set=True`` also
        drops those whose QC is ``NOT_SET``, where the repository knows QC (Alyx; the ``qc`` column
        of ``details`` shows it). Elsewhere (local, HTTP, FTP, figshare, S3) no dataset has a QC:
        both are accepted and change nothing. ``query_type`` is accepted for ONE-api scripts (the
        catalog is the local cache). Without ``eid``: every dataset of the catalog, as paths from
        the data root.
        """
        if eid is None:
            level = int(QC.validate(qc))
            return [d.rel_path for d in self.catalog.all_datasets() if qc_keep(d.qc, level, ignore_qc_not_set)]
        recs = self._listed(eid, filename, collection, revision, default_revisions_only, qc, ignore_qc_not_set)
        if not details:
            return sorted(r.rel_path for r in recs)
        return records_table(self._with_sizes(recs), keep_eid_index)

    def _with_sizes(self, recs: list[DatasetRecord]) -> list[DatasetRecord]:
        """For local repositories, the sizes the index does not give, from the files (ONE-api's file_size)."""
        missing = [r for r in recs if r.size is None]
        if not missing or not self.repository.is_local:
            return recs
        import dataclasses

        paths = dict(zip((r.full_path for r in missing), self.repository.local_paths([r.full_path for r in missing])))
        out = []
        for r in recs:
            p = paths.get(r.full_path) if r.size is None else None
            out.append(dataclasses.replace(r, size=p.stat().st_size) if p is not None else r)
        return out

    list = list_datasets  # ONE light's name

    def list_collections(
        self,
        eid: str | Path | Mapping[str, Any] | None = None,
        filename: Any = None,
        collection: Any = None,
        revision: Any = None,
        details: bool = False,
        query_type: str | None = None,
    ) -> Any:
        """The collections holding the matching datasets, sorted; ``''`` for datasets in the session folder.

        Filters as :meth:`list_datasets`; ``details=True``: ``{collection: datasets table}``.
        """
        if eid is None:
            return sorted({_split_collection(d.rel_path) for d in self.catalog.all_datasets()})
        recs = self._listed(eid, filename, collection, revision)
        return _grouped(recs, lambda r: r.collection or "", details)

    def list_revisions(
        self,
        eid: str | Path | Mapping[str, Any] | None = None,
        filename: Any = None,
        collection: Any = None,
        revision: Any = None,
        details: bool = False,
        query_type: str | None = None,
    ) -> Any:
        """The revisions of the matching datasets, sorted; ``''`` where datasets have none (as ONE-api).

        Filters as :meth:`list_datasets`; ``details=True``: ``{revision: datasets table}``.
        """
        if eid is None:
            return sorted({_split_revision(d.rel_path) for d in self.catalog.all_datasets()})
        recs = self._listed(eid, filename, collection, revision)
        return _grouped(recs, lambda r: r.revision or "", details)

    def list_objects(self, eid: str | Path, collection: Any = None) -> list[str]:
        """The ALF objects of a session (optionally of one collection), sorted."""
        return sorted({r.object for r in self._select(self._records(eid), collection)})


def _split_collection(rel: str) -> str:
    folders = rel.split("/")[:-1]
    if folders and folders[-1].startswith("#"):
        folders.pop()
    start = 5 if len(folders) > 1 and folders[1] == "Subjects" else 3
    return "/".join(folders[start:])


def _split_revision(rel: str) -> str:
    folders = rel.split("/")[:-1]
    return folders[-1].strip("#") if folders and folders[-1].startswith("#") else ""


def _grouped(recs: list[DatasetRecord], key: Any, details: bool) -> Any:
    names = sorted({key(r) for r in recs})
    if not details:
        return names
    return {n: records_table([r for r in recs if key(r) == n]) for n in names}


def _row(r: DatasetRecord) -> dict[str, Any]:
    d = r.as_dict()
    d.update(file_size=r.size, hash=r.md5, exists=True, session_path=r.session_path)
    return d


def records_table(recs: list[DatasetRecord], keep_eid_index: bool = False) -> Any:
    """Dataset records as ONE-api's datasets table (a pandas DataFrame), or dicts without pandas."""
    rows = [_row(r) for r in sorted(recs, key=lambda r: r.rel_path)]
    try:
        import pandas as pd
    except ImportError:
        return rows
    cols = ["rel_path", "file_size", "hash", "exists", "default_revision", "qc"]
    df = pd.DataFrame(rows, columns=[*cols, *[k for k in (rows[0] if rows else {}) if k not in cols]])
    ids = [r["id"] or r["full_path"] for r in rows]
    if keep_eid_index:
        df.index = pd.MultiIndex.from_arrays([[r["eid"] for r in rows], ids], names=["eid", "id"])
    else:
        df.index = pd.Index(ids, name="id")
    return df.drop(columns=["id"])
