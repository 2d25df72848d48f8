"""The repository contract: what a repository type (built in or from a plugin) implements.

A repository type is a subclass of :class:`Repository` registered through the
``one_register_repository_types`` hook. The core asks it for three things:

- its **index** (:meth:`Repository.fetch_index`): the datasets it holds, as :class:`Dataset` rows,
  and a validator (ETag, size, hash...) so an unchanged index is not downloaded again;
- a **fetcher** (:meth:`Repository.fetcher`) that opens a byte stream for a dataset's URL; the core's
  transfer engine does the rest (parallelism, temp files, verification, resume, retries);
- optionally **upload** (:meth:`Repository.upload`) of a data root, **publish**, remote **search**
  and per-session listing (for database-backed types such as Alyx).

Settings are declared with :class:`Field`; ``one add-repo`` prompts for them and validates them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Iterator, Mapping, Sequence

from .config import home as _home
from .config import mask
from .errors import ConfigError, UnsupportedOperation

if TYPE_CHECKING:
    from .config import RepoConfig
    from .transfer.progress import TransferReport
    from .transfer.protocols import Fetcher

__all__ = ["Field", "Dataset", "SessionRecord", "IndexUpdate", "Repository", "md5_file"]  # noqa: F822 (lazy)


@dataclass(frozen=True)
class Field:
    """A setting of a repository type.

    ``type`` is ``str``, ``int`` or ``bool``; ``secret`` fields are prompted hidden, stored 0600 and
    masked everywhere; ``env`` names an environment variable that supplies the value when the config
    does not.
    """

    name: str
    help: str = ""
    default: Any = None
    required: bool = False
    secret: bool = False
    type: type = str
    env: str | None = None

    def convert(self, value: Any, repo: str) -> Any:
        if value is None:
            return None
        try:
            if self.type is bool:
                if isinstance(value, bool):
                    return value
                text = str(value).strip().lower()
                if text in ("true", "yes", "1", "on"):
                    return True
                if text in ("false", "no", "0", "off"):
                    return False
                raise ValueError(f"expected true or false, got {value!r}")
            if self.type is int:
                if isinstance(value, bool):
                    raise ValueError("expected an integer")
                return int(value)
            return str(value)
        except ValueError as e:
            raise ConfigError(f"repository {repo!r}: field {self.name!r}: {e}") from None


@dataclass
class Dataset:
    """One dataset of an index: its path relative to the data root (starting at the lab folder).

    ``url`` is where to get it (None: the repository knows how), ``size``/``md5`` verify it when known.
    ``eid`` is the session id for repositories whose sessions are not identified by path (Alyx UUIDs);
    ``default`` marks the default revision when the repository says so; ``id`` is a dataset UUID;
    ``qc`` is the dataset's QC level (an int of :class:`onecore.qc.QC`) where the repository knows it
    (Alyx), None (unknown) elsewhere.
    """

    rel_path: str
    url: str | None = None
    size: int | None = None
    md5: str | None = None
    eid: str | None = None
    default: bool | None = None
    id: str | None = None
    qc: int | None = None


@dataclass
class SessionRecord:
    """A session known to a repository; path-based repositories derive these from dataset paths."""

    eid: str
    lab: str | None
    subject: str
    date: str
    number: int
    projects: list[str] = field(default_factory=list)
    task_protocol: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class IndexUpdate:
    """A fresh index: rows (iterated once, streamed into the catalog) and the validator to store.

    ``unchanged=True`` means the content is the same as before but the validator moved (e.g. a new
    ETag on identical bytes): the catalog is kept and only ``state`` is stored.
    """

    rows: Iterable[Dataset]
    state: dict[str, Any]
    sessions: Iterable[SessionRecord] = ()
    problems: list[Any] = field(default_factory=list)
    unchanged: bool = False


class Repository:
    """Base class of repository types. Subclasses set :attr:`type` and :attr:`fields`."""

    #: The name users write in the config (``type: ftp``).
    type: ClassVar[str] = ""
    #: One-line description shown by ``one add-repo`` and ``one plugins``.
    description: ClassVar[str] = ""
    #: The settings this type takes.
    fields: ClassVar[tuple[Field, ...]] = ()
    #: Search terms this type adds to the core ones (e.g. ``project``).
    extra_search_terms: ClassVar[tuple[str, ...]] = ()
    #: Whether :meth:`upload` is implemented.
    can_upload: ClassVar[bool] = False
    #: True when files are already local: :meth:`local_path` gives them and nothing is downloaded.
    is_local: ClassVar[bool] = False

    def __init__(self, name: str, settings: Mapping[str, Any], *, home: Path | None = None):
        self.name = name
        self.home = Path(home) if home is not None else _home()
        self.settings = self.normalize_settings(settings, name)

    # -- settings ------------------------------------------------------------------------------
    @classmethod
    def normalize_settings(cls, settings: Mapping[str, Any], name: str = "?") -> dict[str, Any]:
        """Apply defaults, environment fallbacks and type conversion; refuse unknown or missing fields."""
        known = {f.name: f for f in cls.fields}
        extra = set(settings) - set(known)
        if extra:
            raise ConfigError(
                f"repository {name!r} (type {cls.type}): unknown field(s) {', '.join(sorted(extra))}; "
                f"valid fields: {', '.join(known) or 'none'}"
            )
        out: dict[str, Any] = {}
        for f in cls.fields:
            value = settings.get(f.name)
            if (value is None or value == "") and f.env and os.environ.get(f.env):
                value = os.environ[f.env]
            if value is None or value == "":
                value = f.default
            if f.required and (value is None or value == ""):
                raise ConfigError(
                    f"repository {name!r} (type {cls.type}): the field {f.name!r} is required"
                    + (f" ({f.help})" if f.help else "")
                )
            out[f.name] = f.convert(value, name)
        return cls.validate_settings(out, name)

    @classmethod
    def validate_settings(cls, settings: dict[str, Any], name: str) -> dict[str, Any]:
        """Hook for subclasses: check or rewrite settings (e.g. parse an article id from a URL)."""
        return settings

    @classmethod
    def secret_fields(cls) -> set[str]:
        return {f.name for f in cls.fields if f.secret}

    def __repr__(self) -> str:
        shown = mask(self.settings, self.secret_fields())
        return f"<{type(self).__name__} {self.name!r} {shown}>"

    # -- places --------------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        """Where downloads go: ``$ONE_HOME/data/<repository name>``."""
        return self.home / "data" / self.name

    def local_path(self, dataset: Dataset) -> Path | None:
        """For local types, the file on disk; None means it must be downloaded."""
        return None

    def local_paths(self, rel_paths: Sequence[str]) -> list[Path | None]:
        """For local types, the files on disk of several datasets (paths from the lab folder).

        An item is None when that file is not on disk (or this type is not local). The default asks
        :meth:`local_path` for each; a local type may override it with a faster equivalent (the
        built-in ``local`` type checks each folder once).
        """
        out: list[Path | None] = []
        for rel in rel_paths:
            p = self.local_path(Dataset(rel))
            out.append(p if p is not None and p.exists() else None)
        return out

    @property
    def local_root(self) -> Path:
        """The folder holding this repository's session folders on this computer.

        The data root itself for local types, else the download cache (:attr:`data_dir`).
        """
        return self.data_dir

    # -- connecting by URL ----------------------------------------------------------------------
    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        home: Path,
        interactive: bool = False,
    ) -> RepoConfig | None:
        """Connect to a server given only its URL, for ``ONE(base_url=url, username=..., password=...)``.

        A type that supports it authenticates (prompting only when ``interactive``), caches what it
        needs under ``home`` and returns the repository configuration to save and open (the password
        is never part of it). The default returns None: this type does not connect by URL.
        """
        return None

    # -- the index -----------------------------------------------------------------------------
    def fetch_index(self, state: Mapping[str, Any] | None) -> IndexUpdate | None:
        """Return the current index, or None if it has not changed since ``state`` (the last validator).

        ``state`` is what a previous :class:`IndexUpdate` returned (None on first use). Raise
        :class:`onecore.errors.TransferError` when the index cannot be reached (the catalog then stays
        usable offline).
        """
        raise NotImplementedError

    # -- downloading ---------------------------------------------------------------------------
    def fetcher(self) -> Fetcher:
        """The fetcher the transfer engine uses for this repository's URLs (default: plain HTTP)."""
        from .transfer.http import HTTPFetcher

        return HTTPFetcher()

    # -- optional operations -------------------------------------------------------------------
    def check(self) -> None:
        """Verify the settings against the server (called once by ``one add-repo``)."""

    def upload(
        self,
        root: Path,
        datasets: list[str],
        *,
        dry_run: bool = False,
        jobs: int = 4,
        progress: Callable[..., None] | None = None,
    ) -> TransferReport:
        """Upload ``datasets`` (relative paths from the lab folder) of the data root ``root``.

        Must be incremental (skip what is already there and unchanged), resumable, and write the index
        last so that a reader never sees an index that lists what is not there.
        """
        raise UnsupportedOperation(f"repository {self.name!r} (type {self.type}) does not support upload")

    def publish(self) -> str:
        """Make the uploaded data public; returns a message for the user."""
        raise UnsupportedOperation(f"repository {self.name!r} (type {self.type}) has nothing to publish")

    def describe(self, root: Path, datasets: list[str]) -> str:
        """Write a short summary of ``datasets`` (of the data root ``root``) where visitors see it (e.g.
        a figshare article's description: ``one upload --describe``); returns a message for the user."""
        raise UnsupportedOperation(f"repository {self.name!r} (type {self.type}) has no description to write")

    def search(self, filters: Mapping[str, Any]) -> list[SessionRecord] | None:
        """Search on the server. None (the default) means: search the local catalog instead."""
        return None

    def has_qc(self) -> bool:
        """Whether this repository's datasets carry a QC level (Alyx): then ``search(dataset_qc_lte=)``
        checks the sessions a server :meth:`search` found on the client. The default: False."""
        return False

    def list_session(self, eid: str) -> list[Dataset] | None:
        """The datasets of one session from the server, or None if the index already has them."""
        return None

    def resolve_session(self, eid: str) -> SessionRecord | None:
        """Look a session up on the server by id (database-backed types); None if not supported."""
        return None

    def close(self) -> None:
        """Release connections."""

    def __enter__(self) -> Repository:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def iter_files(root: Path) -> Iterator[tuple[str, os.DirEntry]]:
    """Walk ``root`` with ``os.scandir`` yielding (relative POSIX path, entry) for files (no symlinked dirs)."""
    stack = [("", str(root))]
    while stack:
        prefix, folder = stack.pop()
        try:
            it = os.scandir(folder)
        except (PermissionError, FileNotFoundError, NotADirectoryError):
            continue
        with it:
            for entry in it:
                rel = f"{prefix}{entry.name}"
                if entry.is_dir(follow_symlinks=False):
                    stack.append((rel + "/", entry.path))
                elif entry.is_file(follow_symlinks=False):
                    yield rel, entry


def __getattr__(name: str) -> Any:
    """``md5_file`` (from :mod:`onecore.hashcache`), imported on first use: opening a catalog needs no hashlib."""
    if name == "md5_file":
        from .hashcache import md5_file

        return md5_file
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
