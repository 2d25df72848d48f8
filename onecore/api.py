"""The ONE API: search sessions, list and load their datasets, from any repository type.

Method names and meanings follow the IBL's ONE-api (``search``, ``search_terms``, ``list_datasets``,
``list_collections``, ``list_revisions``, ``load_object``, ``load_dataset``, ``load_datasets``,
``load_collection``, ``eid2path``, ``path2eid``)::

    from onecore import ONE, One
    one = ONE()                          # the current configured repository
    one = ONE(repo='mylab')              # another configured repository
    one = One(cache_dir='/data/root')    # a local data root, no configuration
    one = ONE(base_url='http://alyx:8000')   # an Alyx database (needs the one-alyx plugin)

The methods live in :mod:`onecore.one_search`, :mod:`onecore.one_list` and :mod:`onecore.one_load`;
this module holds the connection (opening, catalog refresh, sessions, downloads). It knows repository
types only through the :class:`~onecore.repository.Repository` contract.
"""

from __future__ import annotations

import datetime as _dt
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from .alfobj import Bunch
from .alfpath import ALFPath
from .catalog import Catalog, DatasetRecord
from .config import Config, RepoConfig
from .config import home as default_home
from .errors import ConfigError, NotFound, OneError, TransferError
from .lazy import lazy_logger
from .one_filters import _match, _object_match
from .one_load import LoadMixin
from .one_search import CORE_TERMS, SearchMixin, session_details
from .plugins import Registry, get_registry
from .repository import Dataset, Repository

if TYPE_CHECKING:  # the transfer engine (http.client, ssl) is imported when something is transferred
    from .transfer import Progress, TransferItem, TransferReport

DEFAULT_JOBS = 8  # onecore.transfer.DEFAULT_JOBS (tests/test_startup.py checks they agree)

log = lazy_logger(__name__)  # logging is imported when something is logged

__all__ = ["One", "ONE", "Bunch", "CORE_TERMS"]

MODES = ("auto", "local", "refresh", "remote")


class One(SearchMixin, LoadMixin):
    """A connection to one repository and its local catalog.

    The first parameters are ONE-api's ``One(cache_dir, mode, wildcards, tables_dir)``: ``cache_dir`` a
    local data root, ``wildcards`` ONE-api's flag (shell wildcards in filters; regular expressions when
    False), ``tables_dir`` accepted for ONE-api scripts (the catalog lives in ``$ONE_HOME/catalog``).
    ``silent`` never prompts (ONE-api's name).

    ``mode``: ``auto`` refreshes the catalog when the repository's index changed (a cheap conditional
    check when opening) and falls back to the cached catalog when offline; ``local`` never contacts
    the repository; ``refresh`` forces a full rebuild; ``remote`` is ``auto`` for database-backed types.
    """

    def __init__(
        self,
        cache_dir: str | Path | None = None,
        mode: str = "auto",
        wildcards: bool = True,
        tables_dir: str | Path | None = None,
        *,
        repo: str | None = None,
        base_url: str | None = None,
        username: str | None = None,
        password: str | None = None,
        home: str | Path | None = None,
        registry: Registry | None = None,
        jobs: int = DEFAULT_JOBS,
        progress: Callable[[Progress], None] | None = None,
        silent: bool = False,
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
        self.silent = silent
        #: ONE-api's flag: True (default) reads filters as shell wildcards, False as regular expressions
        #: (and search's text terms as regular expressions when True, plain substrings when False).
        self.wildcards = wildcards
        self._hashes: Any = None
        if base_url is not None:  # ONE-api's ONE(base_url=...); cache_dir does not move the cache
            self.repository = self._connect_url(base_url, username, password, interactive=not silent)
        elif cache_dir is not None:
            root = Path(cache_dir).expanduser().resolve()
            import hashlib

            name = "local-" + hashlib.sha1(str(root).encode()).hexdigest()[:12]
            cls = self.registry.repository_type("local")
            self.repository: Repository = cls(name, {"root_dir": str(root)}, home=self.home)  # ONE-api's form
        else:
            config = Config.load(self.home)
            rc = config.get(repo)
            self.repository = self._open(rc)
        self.catalog = Catalog(self.home / "catalog" / f"{self.repository.name}.sqlite")
        # A catalog never built (none yet, or emptied because it had an older schema) is built even in
        # local mode: an upgrade must not turn every search into "0 sessions".
        if mode != "local" or not self.catalog.exists() or self.catalog.get_meta("built") is None:
            self.refresh(force=(mode == "refresh"))

    # -- opening -------------------------------------------------------------------------------
    def _open(self, rc: RepoConfig) -> Repository:
        cls = self.registry.repository_type(rc.type)
        return cls(rc.name, rc.resolved(), home=self.home)

    @property
    def cache_dir(self) -> Path:
        """Where this repository's session folders are on this computer (ONE-api's ``one.cache_dir``)."""
        return self.repository.local_root

    def _connect_url(
        self, base_url: str, username: str | None, password: str | None, interactive: bool = True
    ) -> Repository:
        """``ONE(base_url=...)``: the first repository type whose :meth:`Repository.from_url` connects."""
        rc: RepoConfig | None = None
        for name in list(self.registry.repository_types):
            cls = self.registry.repository_type(name)  # a lazily registered type is imported here
            if getattr(cls.from_url, "__func__", None) is Repository.from_url.__func__:
                continue
            rc = cls.from_url(
                base_url,
                username=username,
                password=password,
                home=self.home,
                interactive=interactive and sys.stdin.isatty(),
            )
            if rc is not None:
                break
        if rc is None:
            raise ConfigError(
                f"ONE(base_url={base_url!r}) connects to an Alyx database, and no installed repository type "
                "connects by URL; install it with: pip install one-alyx"
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
                from .netprobe import unreachable_line

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

    # -- sessions ------------------------------------------------------------------------------
    def _eid(self, id: str | Path | Mapping[str, Any]) -> str:
        """The session id of a session id, a session path, or any path inside a session; else NotFound."""
        if isinstance(id, Mapping):
            id = id.get("eid") or id.get("id") or ""
        text = str(id).replace("\\", "/") if isinstance(id, Path) else str(id)
        if self.catalog.session(text) is not None:
            return text
        m = None
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

    def to_eid(self, id: str | Path | Mapping[str, Any] | None) -> str | None:
        """The session id of a session id, a session path, any path inside a session or a details dict.

        None when it is not a known session (ONE-api's contract).
        """
        if id is None:
            return None
        try:
            return self._eid(id)
        except NotFound:
            return None

    def path2eid(self, path: str | Path) -> str | None:
        """The session id of a local path (inside a session folder); None if it is not a known session."""
        return self.to_eid(path)

    def eid2path(self, eid: str | Path | Mapping[str, Any]) -> ALFPath | None:
        """The local folder of a session (the data root for local repositories, else the cache).

        None when the session is unknown (ONE-api's contract).
        """
        e = self.to_eid(eid)
        s = self.catalog.session(e) if e is not None else None
        if s is None:
            return None
        return ALFPath(self.repository.local_root.joinpath(*s["path"].split("/")))

    def eid2ref(self, eid: str | Path | Mapping[str, Any], as_dict: bool = True, parse: bool = True) -> Any:
        """A session's reference: ``{'subject', 'date', 'sequence'}`` (a ``Bunch``), or ``'2023-02-01_2_KS002'``.

        As ONE-api's ``eid2ref``: ``date`` is a ``datetime.date`` and ``sequence`` an int when ``parse``.
        """
        s = self.catalog.session(self._eid(eid))
        assert s is not None
        if not as_dict:
            return f"{s['date']}_{int(s['number'])}_{s['subject']}"
        date: Any = _dt.date.fromisoformat(s["date"]) if parse else s["date"]
        number: Any = int(s["number"]) if parse else f"{int(s['number']):03d}"
        return Bunch(subject=s["subject"], date=date, sequence=number)

    def get_details(self, eid: str | Path | Mapping[str, Any], full: bool = False) -> dict[str, Any]:
        """A session's details (lab, subject, date, number, projects, task_protocol, ...) as ONE-api's.

        ``full`` is accepted for ONE-api scripts; the catalog holds what the repository gives.
        """
        s = self.catalog.session(self._eid(eid))
        assert s is not None
        return session_details(s)

    def list_subjects(self) -> list[str]:
        """Every subject in the catalog."""
        return self.catalog.subjects()

    def list_labs(self) -> list[str]:
        return self.catalog.labs()

    # -- local files ---------------------------------------------------------------------------
    @property
    def hashes(self) -> Any:
        if self._hashes is None:
            from .hashcache import HashCache

            self._hashes = HashCache(self.home / "hashes.sqlite")
        return self._hashes

    def _on_disk(self, recs: Sequence[DatasetRecord]) -> list[Path]:
        """The files of a local repository's records, in place (nothing is copied)."""
        paths = self.repository.local_paths([r.full_path for r in recs])
        for p, r in zip(paths, recs):
            if p is None:
                raise NotFound(f"{r.full_path} is in the catalog but not on disk; refresh the catalog")
        return paths  # type: ignore[return-value]

    def _ensure_local(
        self, recs: Sequence[DatasetRecord], dest: Path | None = None, jobs: int | None = None
    ) -> list[Path]:
        """The local files of dataset records: in place for local types, else downloaded (verified)."""
        if self.repository.is_local and dest is None:
            return self._on_disk(recs)
        report = self.fetch(recs, dest=dest, jobs=jobs)
        report.raise_for_failures()
        return [report.paths[r.full_path] for r in recs]

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
            for path, r in zip(self._on_disk(recs), recs):
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
        report = download(
            items,
            dest,
            self.repository.fetcher(),
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
        recs = self._select(self._loadable(eid), collection, revision)
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


ONE = One
"""``ONE(...)`` is :class:`One`: the name data users know from ONE-api."""


def _dataset_match(r: DatasetRecord, wanted: str) -> bool:
    """Whether ``wanted`` names ``r``: its object, object.attribute, file name or path in the session."""
    if _object_match(r, wanted) or _match(r.filename, wanted) or _match(r.rel_path, wanted):
        return True
    name = f"{r.object}.{r.attribute}" if r.namespace is None else f"_{r.namespace}_{r.object}.{r.attribute}"
    return _match(name, wanted)


def safe_exists(dest: Path, item: TransferItem) -> bool:
    """True if ``item`` is a regular file under ``dest`` (its relative path checked first)."""
    from .paths import check_relpath

    try:
        check_relpath(item.rel_path)
    except OneError:
        return False
    return (dest / item.rel_path).is_file()
