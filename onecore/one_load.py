"""The ONE API's loading: ``load_object``, ``load_dataset``, ``load_datasets``, ``load_collection``.

:class:`LoadMixin` is part of :class:`onecore.api.One`; it needs the listing methods,
``_ensure_local`` (the local files of dataset records, downloaded when needed) and ``registry``.
Signatures and meanings are ONE-api's (3.6): revisions follow ``revision_last_before`` (the asked
revision or the latest before it; the default one when None); filters take shell wildcards, or
regular expressions when ``one.wildcards`` is False; an object gathers its attributes from every
namespace unless ``namespace=`` is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from .alfobj import Bunch, assemble
from .alfpath import ALFPath
from .catalog import DatasetRecord
from .errors import LoaderError, OneError
from .one_errors import MultipleCollectionsFound, MultipleObjectsFound, ObjectNotFound
from .one_filters import FILE_PART_KEYS, _key, filter_records, pattern_match
from .one_list import ListMixin

if TYPE_CHECKING:
    from .plugins import Registry

_OBJECT_OPTIONS = ("mmap", "check_dimensions")


class LoadMixin(ListMixin):
    """The ``load_*`` methods of :class:`onecore.api.One`."""

    registry: Registry

    def _ensure_local(self, recs: Sequence[DatasetRecord]) -> list[Path]:
        raise NotImplementedError

    def _local(self, recs: Sequence[DatasetRecord]) -> list[ALFPath]:
        return [ALFPath(p) for p in self._ensure_local(recs)]

    def _load_file(self, path: Path, **options: Any) -> Any:
        """A file's content through its extension's loader; an empty file is None; no loader: its path."""
        ext = path.name.rsplit(".", 1)[-1]
        loader = self.registry.loader(ext)
        if loader is None:
            return ALFPath(path)  # as ONE-api: .cbin, .mp4, ... come back as their local path
        try:
            if path.stat().st_size == 0:
                return None
            return loader(path, **options)
        except OneError:
            raise
        except Exception as e:
            raise LoaderError(f"{path}: the '.{ext}' loader failed: {type(e).__name__}: {e}") from None

    # -- objects -------------------------------------------------------------------------------
    def _object_records(
        self, eid: Any, obj: str, collection: Any, revision: str | None, parts: Mapping[str, Any]
    ) -> list[DatasetRecord]:
        recs = self._loadable(eid)
        wild = self.wildcards
        found = [
            r
            for r in filter_records(recs, dict(parts), collection, revision, wild, revision_last_before=True)
            if pattern_match(r.object, obj, wild)
            or (r.namespace is not None and pattern_match(f"_{r.namespace}_{r.object}", obj, wild))
        ]
        if not found:
            objects = sorted({r.object for r in self._select(recs, collection, revision)})
            where = f" in collection {collection!r}" if collection is not None else ""
            raise ObjectNotFound(
                f"no object {obj!r}{where} in session {eid}; objects there: {', '.join(objects) or 'none'}"
            )
        objects = sorted({r.object for r in found})
        if len(objects) > 1:
            raise MultipleObjectsFound(f"{obj!r} matches several objects in session {eid}: {', '.join(objects)}")
        collections = sorted({r.collection or "" for r in found})
        if len(collections) > 1:
            raise MultipleCollectionsFound(
                f"object {obj!r} is in several collections of session {eid}: "
                f"{', '.join(repr(c) for c in collections)}; pass collection=..."
            )
        return found

    def _assemble(self, found: list[DatasetRecord], paths: list[ALFPath], **options: Any) -> Bunch:
        keys: dict[str, DatasetRecord] = {}
        for r in found:
            k = _key(r)
            if k in keys:
                raise MultipleObjectsFound(
                    f"attribute {k!r} of object {r.object!r} is in several namespaces "
                    f"({keys[k].filename}, {r.filename}); pass namespace=..."
                )
            keys[k] = r
        check = bool(options.pop("check_dimensions", False))
        loaded = {_key(r): self._load_file(p, **options) for r, p in zip(found, paths)}
        try:
            return assemble(loaded, check=check, name=f"object {found[0].object!r}")
        except ValueError as e:
            raise LoaderError(f"object {found[0].object!r}: {e}") from None

    def load_object(
        self,
        eid: str | Path | Mapping[str, Any],
        obj: str,
        collection: Any = None,
        revision: str | None = None,
        query_type: str | None = None,
        download_only: bool = False,
        check_hash: bool = True,
        **kwargs: Any,
    ) -> Any:
        """Load all attributes of an ALF object as a :class:`~onecore.alfobj.Bunch` (``download_only``: paths).

        ``obj`` may hold wildcards (or be ``_ns_obj``); keyword filters ``attribute=``, ``namespace=``
        (``'ibl'`` means ``_ibl_obj.*``), ``timescale=``, ``extra=``, ``extension=`` take a value or a
        list. Without ``namespace=`` the object's attributes come from every namespace; one attribute
        in two namespaces is an error asking for ``namespace=``. Keys are the attribute, then
        ``_timescale`` and ``.extra`` when present; tables, ``x_0``/``x_1`` pairs, metadata columns and
        timestamps are assembled as ONE-api does (:func:`onecore.alfobj.assemble`). Options:
        ``mmap=True`` (memory-mapped ``.npy``), ``check_dimensions=True`` (unequal lengths are an
        error). ``check_hash`` and ``query_type`` are accepted for ONE-api scripts (downloads are
        always verified).
        """
        parts, options = _split_kwargs(kwargs, "load_object")
        found = self._object_records(eid, obj, collection, revision, parts)
        paths = self._local(found)
        if download_only:
            return paths
        return self._assemble(found, paths, **options)

    # -- datasets ------------------------------------------------------------------------------
    def _find_dataset(
        self, recs: list[DatasetRecord], dataset: Any, eid: Any, collection: Any, revision: str | None
    ) -> DatasetRecord:
        if isinstance(dataset, Mapping):
            found = filter_records(recs, dict(dataset), collection, revision, self.wildcards, revision_last_before=True)
            return _one(found, dataset, eid, recs, collection)
        if not isinstance(dataset, str) or not dataset:
            raise OneError(f"a dataset is a name, a relative path or a dict of ALF parts, got {dataset!r}")
        if "/" in dataset and collection is None:
            collection, dataset = dataset.rsplit("/", 1)
            if collection.endswith("#") and "#" in collection[:-1]:
                head, _, rev = collection[:-1].rpartition("#")
                collection, revision = head.rstrip("/"), rev
            collection = collection or ""
        sel = filter_records(recs, None, collection, revision, self.wildcards, revision_last_before=True)
        for level in _NAME_LEVELS:
            found = [r for r in sel if level(r, dataset, self.wildcards)]
            if found:
                return _one(found, dataset, eid, sel, collection)
        return _one([], dataset, eid, sel, collection)

    def load_dataset(
        self,
        eid: str | Path | Mapping[str, Any],
        dataset: Any,
        collection: Any = None,
        revision: str | None = None,
        query_type: str | None = None,
        download_only: bool = False,
        check_hash: bool = True,
        mmap: bool = False,
    ) -> Any:
        """Load one dataset; ``download_only`` returns its local path (an :class:`~onecore.alfpath.ALFPath`).

        ``dataset``: a file name (``spikes.times.npy``), ``object.attribute`` (extension, extras and
        namespace may be left out when the match is unique: ``trials.choice`` reaches
        ``_ibl_trials.choice.npy``), a path relative to the session (``alf/probe00/#2023-01-01#/x.y.npy``:
        every path :meth:`list_datasets` returns loads), a wildcard, or a dict of ALF parts.
        """
        rec = self._find_dataset(self._loadable(eid), dataset, eid, collection, revision)
        path = self._local([rec])[0]
        return path if download_only else self._load_file(path, mmap=mmap)

    def load_datasets(
        self,
        eid: str | Path | Mapping[str, Any],
        datasets: Sequence[Any],
        collections: Any = None,
        revisions: Any = None,
        query_type: str | None = None,
        assert_present: bool = True,
        download_only: bool = False,
        check_hash: bool = True,
        mmap: bool = False,
    ) -> tuple[list[Any], list[dict[str, Any] | None]]:
        """Load several datasets; returns ``(data or paths, records)`` as ONE-api does.

        ``collections``/``revisions``: one value for all, or a list as long as ``datasets``. With
        ``assert_present=False`` a missing dataset gives ``None`` (data and record) instead of an error.
        """
        if isinstance(datasets, (str, Mapping)):
            raise OneError("load_datasets takes a list of datasets; use load_dataset for one")
        recs = self._loadable(eid)
        n = len(datasets)
        colls = collections if isinstance(collections, (list, tuple)) else [collections] * n
        revs = revisions if isinstance(revisions, (list, tuple)) else [revisions] * n
        if len(colls) != n or len(revs) != n:
            raise OneError("collections and revisions must be single values or lists as long as datasets")
        found: list[DatasetRecord | None] = []
        for d, c, r in zip(datasets, colls, revs):
            try:
                found.append(self._find_dataset(recs, d, eid, c, r))
            except ObjectNotFound:
                if assert_present:
                    raise
                found.append(None)
        present = [r for r in found if r is not None]
        paths = dict(zip((r.full_path for r in present), self._local(present)))
        data = [None if r is None else paths[r.full_path] for r in found]
        if not download_only:
            data = [None if p is None else self._load_file(p, mmap=mmap) for p in data]
        return data, [None if r is None else r.as_dict() for r in found]

    def load_collection(
        self,
        eid: str | Path | Mapping[str, Any],
        collection: str,
        object: Any = None,
        revision: str | None = None,
        query_type: str | None = None,
        download_only: bool = False,
        check_hash: bool = True,
        **kwargs: Any,
    ) -> Any:
        """Load every object of a collection as ``{object: Bunch}`` (``download_only``: their paths).

        ``object`` and ``kwargs`` (``attribute=``, ``namespace=``, ...) filter as in :meth:`load_object`.
        One object name in two matching collections is an error, never a silent merge.
        """
        parts, options = _split_kwargs(kwargs, "load_collection")
        if object is not None:
            parts["object"] = object
        recs = self._loadable(eid)
        sel = filter_records(recs, parts or None, collection, revision, self.wildcards, revision_last_before=True)
        if not sel:
            raise ObjectNotFound(
                f"no datasets in collection {collection!r} of session {eid}; collections: "
                f"{', '.join(c for c in self.list_collections(eid) if c) or 'none'}"
            )
        by_object: dict[str, list[DatasetRecord]] = {}
        for r in sel:
            by_object.setdefault(r.object, []).append(r)
        for name, group in by_object.items():
            colls = sorted({r.collection or "" for r in group})
            if len(colls) > 1:
                raise MultipleCollectionsFound(
                    f"object {name!r} is in several collections matching {collection!r}: {', '.join(colls)}"
                )
        paths = self._local(sel)
        if download_only:
            return paths
        where = dict(zip((r.full_path for r in sel), paths))
        out = Bunch()
        for name, group in sorted(by_object.items()):
            out[name] = self._assemble(group, [where[r.full_path] for r in group], **options)
        return out


def _split_kwargs(kwargs: Mapping[str, Any], method: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(ALF part filters, loading options); an unknown keyword is a ``TypeError``, never ignored."""
    parts: dict[str, Any] = {}
    options: dict[str, Any] = {}
    for k, v in kwargs.items():
        if k in FILE_PART_KEYS and k != "object":
            parts[k] = v
        elif k in _OBJECT_OPTIONS:
            options[k] = v
        else:
            valid = ", ".join([*[p for p in FILE_PART_KEYS if p != "object"], *_OBJECT_OPTIONS])
            raise TypeError(f"{method}() got an unexpected keyword argument {k!r}; filters and options: {valid}")
    return parts, options


def _strip_ns(r: DatasetRecord) -> str:
    return r.filename[len(r.namespace) + 2 :] if r.namespace else r.filename


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0]


_NAME_LEVELS = (
    lambda r, d, w: r.filename == d or pattern_match(r.filename, d, w),  # the file name (or a pattern)
    lambda r, d, w: _stem(r.filename) == d,  # no extension
    lambda r, d, w: _strip_ns(r) == d or _stem(_strip_ns(r)) == d,  # no namespace
    lambda r, d, w: (
        d in (f"{r.object}.{r.attribute}", f"{r.object}.{r.attribute}_{r.timescale}")
        or (r.namespace is not None and d.startswith("_") and d == f"_{r.namespace}_{r.object}.{r.attribute}")
    ),
)


def _one(
    found: list[DatasetRecord], dataset: Any, eid: Any, sel: list[DatasetRecord], collection: Any
) -> DatasetRecord:
    if not found:
        names = sorted({r.rel_path for r in sel})
        raise ObjectNotFound(
            f"no dataset {dataset!r} in session {eid}"
            + (f" (collection {collection!r})" if collection is not None else "")
            + f"; datasets there: {', '.join(names[:30]) or 'none'}"
            + (" ..." if len(names) > 30 else "")
        )
    if len(found) > 1:
        several = MultipleCollectionsFound if len({r.collection for r in found}) > 1 else MultipleObjectsFound
        raise several(
            f"{dataset!r} matches several datasets in session {eid}: "
            f"{', '.join(r.rel_path for r in found)}; pass collection=... or the full name"
        )
    return found[0]
