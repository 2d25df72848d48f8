"""The built-in ``local`` repository type, a data root on a local or mounted disk.

Its index is built by scanning ``root_dir``; files are loaded in place (nothing is copied). As an
upload target it copies a data root into ``root_dir`` (incremental, resumable) and writes a
``.one_root`` there, so the folder can also be served by any web server as an ``http`` repository.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

from onecore.errors import ConfigError, OneError, TransientError
from onecore.paths import check_relpath, safe_join
from onecore.repository import Dataset, Field, IndexUpdate, Repository

if TYPE_CHECKING:  # the transfer engine is imported when used: `one --help` stays fast
    from onecore.transfer import Progress, TransferReport


class LocalRepository(Repository):
    """A folder holding ``lab/Subjects/...`` data."""

    type = "local"
    description = "a data root on this computer or a mounted disk"
    fields = (Field("root_dir", "the data root folder (holding lab/Subjects/...)", required=True),)
    can_upload = True
    is_local = True

    @classmethod
    def validate_settings(cls, settings: dict[str, Any], name: str) -> dict[str, Any]:
        settings["root_dir"] = str(Path(settings["root_dir"]).expanduser().resolve())
        return settings

    @property
    def root(self) -> Path:
        return Path(self.settings["root_dir"])

    def _check_root(self) -> None:
        if not self.root.is_dir():
            raise ConfigError(f"repository {self.name!r}: root_dir {str(self.root)!r} is not a folder")

    def check(self) -> None:
        self._check_root()

    def fetch_index(self, state: Mapping[str, Any] | None) -> IndexUpdate | None:
        from onecore.catalog import PathRows
        from onecore.scan import scan

        self._check_root()
        paths = list(scan(self.root))

        import hashlib

        sig = hashlib.sha1("\n".join(paths).encode()).hexdigest()
        if state and state.get("signature") == sig:
            return None
        return IndexUpdate(rows=PathRows(paths), state={"signature": sig})  # the catalog's bulk path

    def local_path(self, dataset: Dataset) -> Path:
        return safe_join(self.root, dataset.rel_path)

    @property
    def local_root(self) -> Path:
        return self.root

    def local_paths(self, rel_paths: Sequence[str]) -> list[Path | None]:
        """:meth:`local_path` of many files at once: a fast path for regular files that exist.

        Same safety as :func:`onecore.transfer.safe_join` (checked path, no symbolic link leading out
        of the root) with one ``lstat`` per file and one ``realpath`` per folder (remembered by this
        repository object). Anything else (a symbolic link, a missing file) takes ``local_path``.
        """
        safe = self.__dict__.get("_safe_dirs")
        if safe is None:
            safe = self.__dict__["_safe_dirs"] = {"": os.path.realpath(self.root)}
        out: list[Path | None] = []
        for rel in rel_paths:
            p = _fast_local(safe, rel)
            if p is None:
                p = self.local_path(Dataset(rel))  # refuses unsafe paths with a clear error
                if not p.exists():
                    p = None
            out.append(p)
        return out

    def fetcher(self) -> FileFetcher:
        """Copies from this data root into another folder (``file://`` URLs)."""
        return FileFetcher()

    def upload(
        self,
        root: Path,
        datasets: list[str],
        *,
        dry_run: bool = False,
        jobs: int = 4,
        progress: Callable[[Progress], None] | None = None,
        delete: bool = False,
    ) -> TransferReport:
        from onecore.upload_home import upload_with_home

        self.root.mkdir(parents=True, exist_ok=True)
        return upload_with_home(
            self,
            lambda hashes: _FolderBackend(self.root),
            root,
            datasets,
            dry_run=dry_run,
            jobs=jobs,
            progress=progress,
            delete=delete,
        )


def _fast_local(safe: dict[str, str], rel: str) -> Path | None:
    root = safe[""]
    try:
        check_relpath(rel)
        folder, _, name = rel.rpartition("/")
        if not stat.S_ISREG(os.lstat(f"{root}/{rel}").st_mode):
            return None
    except (OneError, OSError):
        return None
    parent = safe.get(folder)
    if parent is None:
        if not os.path.realpath(f"{root}/{folder}").startswith(root + "/"):
            return None
        safe[folder] = parent = Path(root, folder)  # type: ignore[assignment]
    return Path(parent, name)


class FileFetcher:
    """Fetcher for ``file://`` URLs (copying from a local repository into another folder)."""

    def open(self, url: str, offset: int = 0) -> Any:
        from urllib.parse import unquote, urlparse

        path = Path(unquote(urlparse(url).path))
        return _FileStream(path, offset)

    def close(self) -> None:
        pass


class _FileStream:
    def __init__(self, path: Path, offset: int) -> None:
        self._f = open(path, "rb")
        self._f.seek(offset)
        self.offset, self.total = offset, path.stat().st_size

    def chunks(self) -> Iterator[bytes]:
        while True:
            b = self._f.read(1 << 20)
            if not b:
                return
            yield b

    def close(self) -> None:
        self._f.close()


class _FolderBackend:
    """:class:`onecore.upload.TreeBackend` over a local folder; files are opened without following
    symlinks (a planted ``.NAME.part`` link is never written through)."""

    def __init__(self, root: Path):
        self.root = root
        self.key = f"local:{root}"

    def _path(self, rel: str) -> Path:
        """The path of ``rel``; its folders may not lead out of the root, its last part is not resolved
        (a symlink there is replaced or refused, never followed)."""
        folder, _, name = rel.rpartition("/")
        return (safe_join(self.root, folder) if folder else self.root) / name

    def size(self, rel: str) -> int | None:
        try:
            return os.lstat(self._path(rel)).st_size
        except FileNotFoundError:
            return None

    def put(self, src: IO[bytes], rel: str, offset: int, progress: Callable[[int], None]) -> None:
        dst = self._path(rel)
        dst.parent.mkdir(parents=True, exist_ok=True)
        nofollow = getattr(os, "O_NOFOLLOW", 0)
        if offset:
            fd = os.open(dst, os.O_WRONLY | os.O_APPEND | nofollow)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(dst)
            fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | nofollow, 0o644)
        with os.fdopen(fd, "wb") as out:
            if offset and os.fstat(fd).st_size != offset:
                raise TransientError(f"{dst} changed while resuming")
            src.seek(offset)
            while True:
                b = src.read(1 << 20)
                if not b:
                    break
                out.write(b)
                progress(len(b))

    def rename(self, src: str, dst: str) -> None:
        os.replace(self._path(src), self._path(dst))

    def delete(self, rel: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(rel))

    def remote_md5(self, rel: str) -> str | None:
        """The md5 of what was written (a local disk can give it)."""
        from onecore.repository import md5_file

        return md5_file(self._path(rel))

    def read_text(self, rel: str) -> str | None:
        try:
            return self._path(rel).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def url_for(self, rel: str) -> str:
        return ""

    def worker(self) -> _FolderBackend:
        return self


def copy_tree(src: Path, dst: Path) -> None:  # pragma: no cover - convenience for demos

    import shutil

    shutil.copytree(src, dst, dirs_exist_ok=True)
