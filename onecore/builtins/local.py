"""Built-in plugin: the ``local`` repository type, a data root on a local or mounted disk.

Its index is built by scanning ``root_dir``; files are loaded in place (nothing is copied). As an
upload target it copies a data root into ``root_dir`` (incremental, resumable) and writes a
``.one_root`` there, so the folder can also be served by any web server as an ``http`` repository.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from pathlib import Path
from typing import IO, Any, Callable, Mapping

from onecore import hookimpl
from onecore.errors import ConfigError, TransientError
from onecore.repository import Dataset, Field, IndexUpdate, Repository
from onecore.transfer import Progress, TransferReport, safe_join


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
        from onecore.scan import scan

        self._check_root()
        paths = list(scan(self.root))
        sig = hashlib.sha1("\n".join(paths).encode()).hexdigest()
        if state and state.get("signature") == sig:
            return None
        return IndexUpdate(rows=(Dataset(p) for p in paths), state={"signature": sig})

    def local_path(self, dataset: Dataset) -> Path:
        return safe_join(self.root, dataset.rel_path)

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
        from onecore.hashcache import HashCache
        from onecore.upload import upload_tree

        self.root.mkdir(parents=True, exist_ok=True)
        hashes = HashCache(self.home / "hashes.sqlite")
        try:
            return upload_tree(
                _FolderBackend(self.root),
                Path(root),
                datasets,
                hashes=hashes,
                dry_run=dry_run,
                jobs=jobs,
                progress=progress,
                delete=delete,
            )
        finally:
            hashes.close()


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
    shutil.copytree(src, dst, dirs_exist_ok=True)


@hookimpl
def one_register_repository_types(register: Callable) -> None:
    register(LocalRepository)
