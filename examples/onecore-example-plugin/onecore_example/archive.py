"""The ``zipfile`` repository type: a whole data root stored as one zip archive (read-only).

Handy to hand a small data set to a colleague as one file: ``one zip-root ROOT data.zip``, then
``one add-repo shared --type zipfile --set archive=data.zip``. Files are extracted into the cache by
onecore's transfer engine, through :class:`ZipFetcher`, exactly as a remote type downloads them.

The index lists every member of the archive that is an ALF dataset path; members with unsafe names
(``../``, absolute paths) are reported as index problems and never listed.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path
from typing import Any, Iterator, Mapping
from urllib.parse import quote, unquote, urlsplit

from onecore.sdk import ConfigError, Dataset, Field, IndexUpdate, Repository, TransferError, UnsafePathError

SCHEME = "zip:"


class ZipRepository(Repository):
    """A data root packed in one zip archive."""

    type = "zipfile"
    description = "a data root packed in one zip archive (read-only)"
    fields = (
        Field("archive", "path of the .zip file", required=True),
        Field("prefix", "folder inside the archive that holds the lab folders (default: the top)", default=""),
    )
    can_upload = False

    @classmethod
    def validate_settings(cls, settings: dict[str, Any], name: str) -> dict[str, Any]:
        settings["archive"] = str(Path(settings["archive"]).expanduser().resolve())
        prefix = (settings.get("prefix") or "").strip("/")
        if prefix and any(p in ("", ".", "..") for p in prefix.split("/")):
            raise ConfigError(f"repository {name!r}: prefix {prefix!r} must be a plain relative folder")
        settings["prefix"] = prefix
        return settings

    @property
    def archive(self) -> Path:
        return Path(self.settings["archive"])

    def _member(self, rel: str) -> str:
        return f"{self.settings['prefix']}/{rel}" if self.settings["prefix"] else rel

    def _open(self) -> zipfile.ZipFile:
        try:
            return zipfile.ZipFile(self.archive)
        except FileNotFoundError:
            raise TransferError(
                f"repository {self.name!r}: the archive {self.archive} does not exist (is the disk mounted?)"
            ) from None
        except (zipfile.BadZipFile, OSError) as e:
            raise TransferError(f"repository {self.name!r}: cannot read the archive {self.archive}: {e}") from None

    def check(self) -> None:
        if not self.archive.is_file():
            raise ConfigError(f"repository {self.name!r}: archive {str(self.archive)!r} is not a file")
        if not zipfile.is_zipfile(self.archive):
            raise ConfigError(f"repository {self.name!r}: {str(self.archive)!r} is not a zip archive")

    def fetch_index(self, state: Mapping[str, Any] | None) -> IndexUpdate | None:
        from onecore.sdk import IndexProblem, alf, check_relpath

        with self._open() as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
        h = hashlib.sha1()
        for i in infos:
            h.update(f"{i.filename}\0{i.file_size}\0{i.CRC}\n".encode())
        signature = h.hexdigest()
        if state and state.get("signature") == signature:
            return None
        start = f"{self.settings['prefix']}/" if self.settings["prefix"] else ""
        rows: list[Dataset] = []
        problems: list[IndexProblem] = []
        for n, info in enumerate(infos, 1):
            if not info.filename.startswith(start):
                continue
            rel = info.filename[len(start) :]
            try:
                check_relpath(rel)
            except UnsafePathError as e:
                problems.append(IndexProblem(str(self.archive), n, info.filename, str(e)))
                continue
            if not alf.is_valid(rel):
                continue  # non-ALF files (notes, READMEs) are not datasets
            rows.append(Dataset(rel, url=SCHEME + quote(rel), size=info.file_size))
        return IndexUpdate(rows=rows, state={"signature": signature}, problems=problems)

    def fetcher(self) -> ZipFetcher:
        return ZipFetcher(self.archive, self.settings["prefix"])


class _MemberStream:
    def __init__(self, zf: zipfile.ZipFile, f: Any, offset: int, total: int):
        self._zf, self._f = zf, f
        self.offset, self.total = offset, total

    def chunks(self) -> Iterator[bytes]:
        while True:
            b = self._f.read(1 << 20)
            if not b:
                return
            yield b

    def close(self) -> None:
        self._f.close()
        self._zf.close()


class ZipFetcher:
    """Opens ``zip:<path>`` URLs as streams of the member's bytes (the transfer engine's protocol)."""

    def __init__(self, archive: Path, prefix: str = ""):
        self.archive = archive
        self.prefix = prefix

    def open(self, url: str, offset: int = 0) -> _MemberStream:
        if not url.startswith(SCHEME):
            raise TransferError(f"{url!r} is not a zip: URL of the archive {self.archive}")
        rel = unquote(urlsplit(url).path)
        member = f"{self.prefix}/{rel}" if self.prefix else rel
        try:
            zf = zipfile.ZipFile(self.archive)
        except (OSError, zipfile.BadZipFile) as e:
            raise TransferError(f"cannot read the archive {self.archive}: {e}") from None
        try:
            info = zf.getinfo(member)
            f = zf.open(info)
            f.seek(offset)
        except KeyError:
            zf.close()
            raise TransferError(f"{member} is not in the archive {self.archive}") from None
        except (OSError, zipfile.BadZipFile) as e:
            zf.close()
            raise TransferError(f"cannot read {member} from {self.archive}: {e}") from None
        return _MemberStream(zf, f, offset, info.file_size)

    def close(self) -> None:
        pass


def make_archive(root: str | os.PathLike, archive: str | os.PathLike) -> int:
    """Write the ALF datasets of the data root ``root`` into the zip ``archive``; returns their number.

    The archive is written to a temporary name beside it, then renamed: a reader never sees half of it.
    """
    from onecore.sdk import scan

    root, archive = Path(root), Path(archive)
    archive.parent.mkdir(parents=True, exist_ok=True)
    tmp = archive.with_name(archive.name + ".tmp")
    n = 0
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for rel in scan(root):
                zf.write(root / rel, rel)
                n += 1
        os.replace(tmp, archive)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return n
