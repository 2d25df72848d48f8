"""The ONE API's loading: ``load_object``, ``load_dataset``, ``load_datasets``, ``load_collection``.

:class:`LoadMixin` is part of :class:`onecore.api.One`; it needs the listing methods,
``_ensure_local`` (the local files of dataset records, downloaded when needed) and ``registry``.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from .alfobj import Bunch
from .catalog import DatasetRecord
from .errors import AmbiguousError, LoaderError, NotFound, OneError
from .one_filters import _key, _match, _object_match
from .one_list import ListMixin

if TYPE_CHECKING:
    from .plugins import Registry


class LoadMixin(ListMixin):
    """The ``load_*`` methods of :class:`onecore.api.One`."""

    registry: Registry

    def _ensure_local(self, recs: Sequence[DatasetRecord]) -> list[Path]:
        raise NotImplementedError

    def _load_file(self, path: Path, **options: Any) -> Any:
        ext = path.name.rsplit(".", 1)[-1]
        loader = self.registry.loader(ext)
        if loader is None:
            known = ", ".join(sorted(self.registry.loaders))
            raise LoaderError(
                f"{path}: no loader for '.{ext}' files (loaders: {known}); "
                "use download_only=True to get the path, or install a plugin that reads them"
            )
        try:
            return loader(path, **options)
        except OneError:
            raise
        except Exception as e:
            raise LoaderError(f"{path}: the '.{ext}' loader failed: {type(e).__name__}: {e}") from None

    def load_object(
        self,
        eid: str | Path,
        obj: str,
        collection: Any = None,
        revision: str | None = None,
        attribute: Any = None,
        download_only: bool = False,
        mmap: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Load all attributes of an ALF object as a :class:`Bunch` (``download_only``: their paths).

        Keys are attribute names, with ``_timescale`` and ``.extra`` appended when present.
        """
        recs = self._records(str(eid))
        found = [r for r in self._select(recs, collection, revision) if _object_match(r, obj)]
        if not obj.startswith("_") and any(r.namespace is None for r in found):
            found = [r for r in found if r.namespace is None]  # 'wheel' means wheel.*, not _ibl_wheel.*
        if attribute is not None:
            found = [r for r in found if _match(r.attribute, attribute)]
        if not found:
            objects = sorted({r.object for r in self._select(recs, collection, revision)})
            where = f" in collection {collection!r}" if collection is not None else ""
            raise NotFound(f"no object {obj!r}{where} in session {eid}; objects there: {', '.join(objects) or 'none'}")
        collections = sorted({r.collection or "" for r in found})
        if len(collections) > 1:
            raise AmbiguousError(
                f"object {obj!r} is in several collections of session {eid}: "
                f"{', '.join(repr(c) for c in collections)}; pass collection=..."
            )
        paths = self._ensure_local(found)
        if download_only:
            return paths
        out = Bunch()
        for r, p in zip(found, paths):
            out[_key(r)] = self._load_file(p, mmap=mmap)
        return out

    def _find_dataset(
        self, recs: list[DatasetRecord], dataset: str, eid: Any, collection: Any, revision: str | None
    ) -> DatasetRecord:
        if "/" in dataset and collection is None:
            collection, dataset = dataset.rsplit("/", 1)
        sel = self._select(recs, collection, revision)
        found = [r for r in sel if r.filename == dataset]
        if not found:
            found = [
                r for r in sel if r.filename.rsplit(".", 1)[0] == dataset or fnmatch.fnmatchcase(r.filename, dataset)
            ]
        if not found:
            names = sorted({r.rel_path for r in sel})
            raise NotFound(
                f"no dataset {dataset!r} in session {eid}"
                + (f" (collection {collection!r})" if collection is not None else "")
                + f"; datasets there: {', '.join(names[:30]) or 'none'}"
                + (" ..." if len(names) > 30 else "")
            )
        if len(found) > 1:
            raise AmbiguousError(
                f"{dataset!r} matches several datasets in session {eid}: "
                f"{', '.join(r.rel_path for r in found)}; pass collection=... or the full name"
            )
        return found[0]

    def load_dataset(
        self,
        eid: str | Path,
        dataset: str,
        collection: Any = None,
        revision: str | None = None,
        download_only: bool = False,
        mmap: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Load one dataset (the name may omit its extension); ``download_only`` returns its path."""
        rec = self._find_dataset(self._records(str(eid)), dataset, eid, collection, revision)
        path = self._ensure_local([rec])[0]
        return path if download_only else self._load_file(path, mmap=mmap)

    def load_datasets(
        self,
        eid: str | Path,
        datasets: Sequence[str],
        collections: Any = None,
        revisions: Any = None,
        download_only: bool = False,
        mmap: bool = False,
        **kwargs: Any,
    ) -> tuple[list[Any], list[dict[str, Any]]]:
        """Load several datasets; returns (data or paths, records), as ONE-api does."""
        recs = self._records(str(eid))
        n = len(datasets)
        colls = collections if isinstance(collections, (list, tuple)) else [collections] * n
        revs = revisions if isinstance(revisions, (list, tuple)) else [revisions] * n
        if len(colls) != n or len(revs) != n:
            raise OneError("collections and revisions must be single values or lists as long as datasets")
        found = [self._find_dataset(recs, d, eid, c, r) for d, c, r in zip(datasets, colls, revs)]
        paths = self._ensure_local(found)
        data = paths if download_only else [self._load_file(p, mmap=mmap) for p in paths]
        return data, [r.as_dict() for r in found]

    def load_collection(
        self,
        eid: str | Path,
        collection: str,
        object: Any = None,
        revision: str | None = None,
        download_only: bool = False,
        mmap: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Load every object of a collection as ``{object: Bunch}`` (``download_only``: paths)."""
        recs = [
            r
            for r in self._select(self._records(str(eid)), collection, revision)
            if (r.collection or "") == collection or (collection and _match(r.collection or "", collection))
        ]
        if object is not None:
            recs = [r for r in recs if _match(r.object, object)]
        if not recs:
            raise NotFound(
                f"no datasets in collection {collection!r} of session {eid}; collections: "
                f"{', '.join(self.list_collections(eid)) or 'none'}"
            )
        paths = self._ensure_local(recs)
        if download_only:
            return paths
        out = Bunch()
        for r, p in zip(recs, paths):
            out.setdefault(r.object, Bunch())[_key(r)] = self._load_file(p, mmap=mmap)
        return out
