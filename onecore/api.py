"""The ONE API: search sessions, list and load their datasets, from any repository type.

Method names and meanings follow the IBL's ONE-api (``search``, ``search_terms``, ``list_datasets``,
``list_collections``, ``list_revisions``, ``load_object``, ``load_dataset``, ``load_datasets``,
``load_collection``, ``eid2path``, ``path2eid``)::

    from onecore import ONE, One
    one = ONE()                          # the current configured repository
    one = ONE(repo='mylab')              # another configured repository
    one = One(cache_dir='/data/root')    # a local data root, no configuration
    one = ONE(base_url='http://alyx:8000')   # an Alyx database (needs the one-alyx plugin)
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import hashlib
import logging
import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from .catalog import Catalog, DatasetRecord
from .config import Config, RepoConfig
from .config import home as default_home
from .errors import AmbiguousError, ConfigError, LoaderError, NotFound, OneError, TransferError
from .plugins import Registry, get_registry
from .repository import Dataset, Repository

if TYPE_CHECKING:  # the transfer engine (http.client, ssl) is imported when something is transferred
    from .transfer import Progress, TransferItem, TransferReport

DEFAULT_JOBS = 8  # onecore.transfer.DEFAULT_JOBS (tests/test_startup.py checks they agree)

log = logging.getLogger(__name__)

__all__ = ["One", "ONE", "Bunch"]

#: Search terms every repository supports (``dataset`` and ``datasets`` are one term).
CORE_TERMS = ("dataset", "datasets", "lab", "subject", "date_range", "number", "collection", "revision", "namespace")
_ALIASES = {"dataset": "datasets", "project": "projects", "date": "date_range"}
MODES = ("auto", "local", "refresh", "remote")


class Bunch(dict):
    """A dict with attribute access (``spikes.times`` is ``spikes['times']``), as ONE-api's AlfBunch."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no attribute {name!r}; available: {', '.join(self)}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __dir__(self) -> list[str]:
        return [*super().__dir__(), *self.keys()]


class One:
    """A connection to one repository and its local catalog.

    ``mode``: ``auto`` refreshes the catalog when the repository's index changed (a cheap conditional
    check when opening) and falls back to the cached catalog when offline; ``local`` never contacts
    the repository; ``refresh`` forces a full rebuild; ``remote`` is ``auto`` for database-backed types.
    """

    def __init__(
        self,
        cache_dir: str | Path | None = None,
        *,
        repo: str | None = None,
        base_url: str | None = None,
        username: str | None = None,
        password: str | None = None,
        mode: str = "auto",
        home: str | Path | None = None,
        registry: Registry | None = None,
        jobs: int = DEFAULT_JOBS,
        progress: Callable[[Progress], None] | None = None,
    ):
        if mode not in MODES:
            raise OneError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        self.mode = mode
        self.home = Path(home) if home is not None else default_home()
        self.registry = registry or get_registry()
        self.jobs = jobs
        self.progress = progress
        self.index_problems: list[Any] = []
        self.offline = False
        self._hashes: Any = None
        self._safe_dirs: dict[str, Any] | None = None  # see _local_file
        if cache_dir is not None:
            root = Path(cache_dir).expanduser().resolve()
            name = "local-" + hashlib.sha1(str(root).encode()).hexdigest()[:12]
            cls = self.registry.repository_type("local")
            self.repository: Repository = cls(name, {"root_dir": str(root)}, home=self.home)
        elif base_url is not None:
            self.repository = self._connect_alyx(base_url, username, password)
        else:
            config = Config.load(self.home)
            rc = config.get(repo)
            self.repository = self._open(rc)
        self.catalog = Catalog(self.home / "catalog" / f"{self.repository.name}.sqlite")
        if mode != "local" or not self.catalog.exists():
            self.refresh(force=(mode == "refresh"))

    # -- opening -------------------------------------------------------------------------------
    def _open(self, rc: RepoConfig) -> Repository:
        cls = self.registry.repository_type(rc.type)
        return cls(rc.name, rc.resolved(), home=self.home)

    def _connect_alyx(self, base_url: str, username: str | None, password: str | None) -> Repository:
        try:
            cls = self.registry.repository_type("alyx")
        except ConfigError as e:
            raise ConfigError(f"ONE(base_url=...) connects to an Alyx database: {e}") from None
        setup = getattr(cls, "setup", None)
        if setup is None:
            raise ConfigError("the installed 'alyx' repository type has no setup(); upgrade one-alyx")
        rc: RepoConfig = setup(
            base_url, username=username, password=password, home=self.home, interactive=sys.stdin.isatty()
        )
        config = Config.load(self.home)
        config.add(rc, make_current=True)
        config.save()
        return self._open(rc)

    def __repr__(self) -> str:
        return f"<One {self.repository!r} mode={self.mode}{' offline' if self.offline else ''}>"

    def close(self) -> None:
        self.repository.close()
        self.catalog.close()
        if self._hashes is not None:
            self._hashes.close()

    def __enter__(self) -> One:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- catalog -------------------------------------------------------------------------------
    def refresh(self, force: bool = True) -> bool:
        """Bring the catalog up to date with the repository's index; True if it was rebuilt.

        When the repository cannot be reached and a catalog exists, it is used as is (offline).
        """
        state = None if force or not self.catalog.exists() else self.catalog.get_meta("state")
        try:
            update = self.repository.fetch_index(state)
        except TransferError as e:
            if self.catalog.exists():
                from .transfer.protocols import unreachable_line

                log.warning("%s", unreachable_line(self.repository.name, e, self.catalog.path))
                self.offline = True
                return False
            raise
        self.offline = False
        if update is None:
            return False
        if update.unchanged and self.catalog.exists():
            self.catalog.set_meta("state", update.state)
            return False
        self.catalog.rebuild(update.rows, update.sessions, state=update.state)
        self.index_problems = list(update.problems)
        for p in self.index_problems:
            log.warning("index problem: %s", p)
        return True

    refresh_cache = refresh

    # -- search --------------------------------------------------------------------------------
    def search_terms(self) -> list[str]:
        """The search terms this repository supports."""
        return [*CORE_TERMS, *[t for t in self.repository.extra_search_terms if t not in CORE_TERMS]]

    def _canonical_terms(self) -> dict[str, str]:
        terms = {t: _ALIASES.get(t, t) for t in self.search_terms()}
        for alias, canon in _ALIASES.items():
            if canon in terms.values():
                terms.setdefault(alias, canon)
        return terms

    def _normalize(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        terms = self._canonical_terms()
        out: dict[str, Any] = {}
        for key, value in kwargs.items():
            if key in terms:
                canon = terms[key]
            else:
                hits = {c for t, c in terms.items() if t.startswith(key)}
                if len(hits) != 1:
                    what = "ambiguous" if hits else "unknown"
                    raise OneError(f"{what} search term {key!r}; valid terms: {', '.join(self.search_terms())}")
                canon = hits.pop()
            if value is None:
                continue
            if canon in out:
                raise OneError(f"search term {canon!r} given twice (as {key!r})")
            out[canon] = _normalize_value(canon, value)
        return out

    def search(self, details: bool = False, **filters: Any) -> list[Any]:
        """Session ids matching all filters, newest first (records with ``details=True``).

        Filters: ``dataset``/``datasets`` (object, object.attribute, file name, collection folder, or
        wildcard; several are AND-ed per session), ``lab``, ``subject``, ``date_range`` (``'2021-01-01'``
        that day, ``['2021-01-01']`` from that day on, ``[a, b]`` inclusive, ``None`` for an open end),
        ``number``, ``collection``, ``revision``, ``namespace``, plus the repository's own terms. Terms
        may be abbreviated to an unambiguous prefix (``subj=``, ``data=``, ``date=``).
        """
        f = self._normalize(filters)
        if self.mode != "local":
            try:
                remote = self.repository.search(f)
            except TransferError as e:
                log.warning("repository %r unreachable (%s); searching the cached catalog", self.repository.name, e)
                self.offline = True
                remote = None
            if remote is not None:
                self.catalog.upsert(sessions=remote)
                if details:
                    return [self.catalog.session(r.eid) for r in remote]
                return [r.eid for r in remote]
        extra = set(f) - set(_CATALOG_ARGS)
        if extra:
            raise OneError(
                f"search term(s) {', '.join(sorted(extra))} need the server; "
                f"the local catalog supports {', '.join(CORE_TERMS)}"
            )
        return self.catalog.search(details=details, **f)

    # -- sessions ------------------------------------------------------------------------------
    def to_eid(self, id: str | Path | Mapping[str, Any]) -> str:
        """The session id of a session id, a session path, or any path inside a session."""
        if isinstance(id, Mapping):
            id = id.get("eid") or id.get("id") or ""
        text = str(id).replace("\\", "/") if isinstance(id, Path) else str(id)
        if self.catalog.session(text) is not None:
            return text
        m = None
        import re

        for m in re.finditer(
            r"(?:(?:^|/)([\w]+)/Subjects/)?(?:^|/)?([\w.-]+)/(\d{4}-\d{2}-\d{2})/(\d{1,3})(?=/|$)", text
        ):
            lab, subject, date, number = m.groups()
            eid = self.catalog.find_session(lab, subject, date, int(number))
            if eid is not None:
                return eid
        if m is None and self.mode != "local":
            rec = self.repository.resolve_session(text)
            if rec is not None:
                self.catalog.upsert(sessions=[rec])
                return rec.eid
        raise NotFound(f"no session {text!r} in repository {self.repository.name!r}; find sessions with search()")

    def path2eid(self, path: str | Path) -> str:
        """The session id of a local path (inside a session folder)."""
        return self.to_eid(path)

    def eid2path(self, eid: str) -> Path:
        """The local folder of a session (in the data root for local repositories, else in the cache)."""
        s = self.catalog.session(self.to_eid(eid))
        assert s is not None
        base = Path(self.repository.settings["root_dir"]) if self.repository.is_local else self.repository.data_dir
        return base.joinpath(*s["path"].split("/"))

    def list_subjects(self) -> list[str]:
        """Every subject in the catalog."""
        return self.catalog.subjects()

    def list_labs(self) -> list[str]:
        return self.catalog.labs()

    # -- listing -------------------------------------------------------------------------------
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

    # -- local files ---------------------------------------------------------------------------
    @property
    def hashes(self) -> Any:
        if self._hashes is None:
            from .hashcache import HashCache

            self._hashes = HashCache(self.home / "hashes.sqlite")
        return self._hashes

    def _ensure_local(
        self, recs: Sequence[DatasetRecord], dest: Path | None = None, jobs: int | None = None
    ) -> list[Path]:
        if self.repository.is_local and dest is None:
            paths = []
            for r in recs:
                p = self._local_file(r.full_path)
                if p is not None:
                    paths.append(p)
                    continue
                p = self.repository.local_path(Dataset(r.full_path))
                if p is None or not p.exists():
                    raise NotFound(f"{r.full_path} is in the catalog but not on disk; refresh the catalog")
                paths.append(p)
            return paths
        report = self.fetch(recs, dest=dest, jobs=jobs)
        report.raise_for_failures()
        return [report.paths[r.full_path] for r in recs]

    def _local_file(self, rel: str) -> Path | None:
        """Fast path of the built-in ``local`` type's ``local_path`` for a regular file that exists.

        Same safety as :func:`onecore.transfer.safe_join` (checked path, no symbolic link leading out
        of the root) with one ``lstat`` per file and one ``realpath`` per folder (remembered by this
        ``One``). None means "take the slow path" (a symbolic link, a missing file, another type).
        """
        safe = self._safe_dirs
        if safe is None:
            from .builtins.local import LocalRepository

            if type(self.repository).local_path is not LocalRepository.local_path:
                return None
            root = os.path.realpath(self.repository.settings["root_dir"])
            self._safe_dirs = safe = {"": root}
        root = safe[""]
        from .transfer import check_relpath

        try:
            check_relpath(rel)
            folder, _, name = rel.rpartition("/")
            path = f"{root}/{rel}"
            if not stat.S_ISREG(os.lstat(path).st_mode):
                return None
        except (OneError, OSError):
            return None
        parent = safe.get(folder)
        if parent is None:
            if not os.path.realpath(f"{root}/{folder}").startswith(root + "/"):
                return None
            safe[folder] = parent = Path(root, folder)
        return parent / name

    def fetch(
        self,
        recs: Sequence[DatasetRecord],
        dest: Path | None = None,
        jobs: int | None = None,
        progress: Callable[[Progress], None] | None = None,
        _stale: bool = False,
    ) -> TransferReport:
        """Download dataset records into ``dest`` (default: the repository's cache) through the engine."""
        from .transfer import TransferItem, TransferReport, download

        if self.repository.is_local and dest is None:  # already on disk: nothing to transfer
            rep = TransferReport()
            for path, r in zip(self._ensure_local(recs), recs):
                rep.skipped.append(r.full_path)
                rep.paths[r.full_path] = path
            return rep
        dest = Path(dest) if dest is not None else self.repository.data_dir
        items = []
        for r in recs:
            if self.repository.is_local:
                src = self.repository.local_path(Dataset(r.full_path))
                url = src.as_uri() if src is not None else None
            else:
                url = r.url
            if not url:
                raise TransferError(f"{r.full_path}: the repository gives no download URL for it")
            items.append(TransferItem(r.full_path, url, r.size, r.md5))
        hashes = self.hashes

        def verified(path: Path, item: TransferItem) -> bool:
            if item.md5:
                return hashes.lookup(path) == item.md5
            return item.size is not None and path.stat().st_size == item.size

        def on_verified(path: Path, item: TransferItem) -> None:
            if item.md5:
                hashes.remember(path, item.md5)

        # Fast path: everything already here and known good — no pool, no lock, no network.
        if items and all(safe_exists(dest, i) and verified(dest / i.rel_path, i) for i in items):
            rep = TransferReport(skipped=[i.rel_path for i in items])
            rep.paths = {i.rel_path: dest / i.rel_path for i in items}
            return rep
        fetcher = self.repository.fetcher() if not self.repository.is_local else _FileFetcher()
        report = download(
            items,
            dest,
            fetcher,
            jobs=jobs or self.jobs,
            progress=progress or self.progress,
            verified=verified,
            on_verified=on_verified,
        )
        if self.mode == "local" or self.offline or _stale:
            return report
        from .transfer.stale import retry_if_stale

        return retry_if_stale(  # a stale catalog: refresh once, fetch once more, then blame the server
            report,
            recs,
            lambda: self.refresh(force=False),
            lambda old: [r for eid in dict.fromkeys(o.eid for o in old) for r in self.catalog.datasets(eid)],
            lambda new: self.fetch(new, dest=dest, jobs=jobs, progress=progress, _stale=True),
        )

    def download(
        self,
        eid: str | Path,
        objects: Iterable[str] | None = None,
        *,
        collection: Any = None,
        revision: str | None = None,
        dest: str | Path | None = None,
        jobs: int | None = None,
        dry_run: bool = False,
        progress: Callable[[Progress], None] | None = None,
    ) -> TransferReport | list[DatasetRecord]:
        """Download a session's datasets (optionally only some objects); ``dry_run`` lists them."""
        recs = self._select(self._records(str(eid)), collection, revision)
        if objects:
            wanted = list(objects)
            recs = [r for r in recs if any(_dataset_match(r, o) for o in wanted)]
            if not recs:
                raise NotFound(
                    f"none of {', '.join(wanted)} in session {eid}; objects: {', '.join(self.list_objects(eid))}"
                )
        if dry_run:
            return recs
        return self.fetch(recs, dest=Path(dest) if dest else None, jobs=jobs, progress=progress)

    # -- loading -------------------------------------------------------------------------------
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


ONE = One
"""``ONE(...)`` is :class:`One`: the name data users know from ONE-api."""

_CATALOG_ARGS = (
    "datasets",
    "lab",
    "subject",
    "date_range",
    "number",
    "collection",
    "revision",
    "namespace",
    "projects",
    "task_protocol",
)


def safe_exists(dest: Path, item: TransferItem) -> bool:
    from .transfer import check_relpath

    try:
        check_relpath(item.rel_path)
    except OneError:
        return False
    return (dest / item.rel_path).is_file()


class _FileFetcher:
    """Fetcher for ``file://`` URLs (copying from a local repository into another folder)."""

    def open(self, url: str, offset: int = 0) -> Any:
        from urllib.parse import unquote, urlparse

        path = Path(unquote(urlparse(url).path))
        f = open(path, "rb")
        f.seek(offset)
        total = path.stat().st_size

        class _S:
            def __init__(self) -> None:
                self.offset, self.total = offset, total

            def chunks(self) -> Any:
                while True:
                    b = f.read(1 << 20)
                    if not b:
                        return
                    yield b

            def close(self) -> None:
                f.close()

        return _S()

    def close(self) -> None:
        pass


def _to_date(value: Any, term: str = "date_range") -> str | None:
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        return value.date().isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    text = str(value).strip()[:10]
    try:
        return _dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise OneError(f"{term}: {value!r} is not a date (expected yyyy-mm-dd)") from None


def _normalize_value(term: str, value: Any) -> Any:
    if term == "datasets":
        vals = [value] if isinstance(value, str) else list(value)
        if not all(isinstance(v, str) and v for v in vals):
            raise OneError(f"dataset terms must be non-empty strings, got {value!r}")
        return vals
    if term in ("lab", "subject", "projects", "task_protocol"):
        return [str(value)] if isinstance(value, str) else [str(v) for v in value]
    if term == "date_range":
        if isinstance(value, (str, _dt.date)):
            d = _to_date(value)
            return (d, d)
        vals = list(value)
        if len(vals) == 1:
            return (_to_date(vals[0]), None)
        if len(vals) == 2:
            start, end = _to_date(vals[0]), _to_date(vals[1])
            if start and end and start > end:
                raise OneError(f"date_range: the start {start} is after the end {end}")
            return (start, end)
        raise OneError(f"date_range takes a date, [start] or [start, end]; got {value!r}")
    if term == "number":
        try:
            return int(str(value))
        except ValueError:
            raise OneError(f"number: {value!r} is not a session number") from None
    return value


def _match(value: str, wanted: Any) -> bool:
    if wanted is None:
        return True
    for w in [wanted] if isinstance(wanted, str) else list(wanted):
        w = "" if w is None else str(w)
        if value == w or (any(c in w for c in "*?[") and fnmatch.fnmatchcase(value, w)):
            return True
    return False


def _key(r: DatasetRecord) -> str:
    """The key of a dataset in a loaded object: attribute, then ``_timescale`` and ``.extra`` if any."""
    return r.attribute + (f"_{r.timescale}" if r.timescale else "") + (f".{r.extra}" if r.extra else "")


def _object_match(r: DatasetRecord, obj: str) -> bool:
    return r.object == obj or (r.namespace is not None and obj == f"_{r.namespace}_{r.object}")


def _dataset_match(r: DatasetRecord, wanted: str) -> bool:
    """Whether ``wanted`` names ``r``: its object, object.attribute, file name or path in the session."""
    if _object_match(r, wanted) or _match(r.filename, wanted) or _match(r.rel_path, wanted):
        return True
    name = f"{r.object}.{r.attribute}" if r.namespace is None else f"_{r.namespace}_{r.object}.{r.attribute}"
    return _match(name, wanted)


def _pick_revisions(recs: list[DatasetRecord], revision: str | None) -> list[DatasetRecord]:
    """One record per (collection, file name): the asked revision (or latest before it), else the default."""
    groups: dict[tuple[str, str], list[DatasetRecord]] = {}
    for r in recs:
        groups.setdefault((r.collection or "", r.filename), []).append(r)
    out = []
    for group in groups.values():
        if revision is not None:
            cands = [r for r in group if (r.revision or "") <= revision]
            if not cands:
                continue
            pick = max(cands, key=lambda r: r.revision or "")
        else:
            flagged = [r for r in group if r.default]
            pick = flagged[0] if flagged else max(group, key=lambda r: r.revision or "")
        out.append(pick)
    return out
