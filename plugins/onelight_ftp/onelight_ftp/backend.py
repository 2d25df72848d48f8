"""The upload side: :class:`FTPTreeBackend`, a :class:`onecore.upload.TreeBackend` over ``ftplib``.

:func:`onecore.upload.upload_tree` does the planning (incremental skip, ``.part`` names, the index
written last, a refused replace never losing the previous version); this module only speaks FTP:
``SIZE`` (binary mode), ``MLSD`` listings (a size they give is used only when it agrees; otherwise and
for unparsable facts ``SIZE`` is asked), ``MKD`` of missing folders (remembered),
``STOR``/``REST``+``STOR``/``APPE``, ``RNFR``/``RNTO``, ``DELE``, ``RETR`` of the index. Each worker
thread gets its own connection (:meth:`FTPTreeBackend.worker`).
"""

from __future__ import annotations

import contextlib
import ftplib
import io
import logging
import posixpath
import threading
from typing import IO, Callable

from onecore.sdk import TransferError

from .session import Connection, Endpoint, store

log = logging.getLogger(__name__)
#: Bytes compared at the start and at the end of a partial upload before resuming it.
CHECK_WINDOW = 64 * 1024


def remote_path(remote_root: str, rel: str) -> str:
    """The server path of ``rel`` under ``remote_root`` (an absolute path)."""
    return posixpath.join(remote_root, rel)


class _Shared:
    """State shared by a backend and its workers.

    - ``dirs``: folders known to exist (no second ``MKD``);
    - ``listings``: folder -> {file name: size} from one ``MLSD`` (or ``{}`` for a folder we created),
      so that checking many files of a folder costs one listing instead of one ``SIZE`` each;
      ``None`` means "cannot list, ask ``SIZE``";
    - ``dirty``: paths this upload writes or renames; their sizes are always asked for (``SIZE``), so a
      listing never answers for a file that changed since (paths are added *before* the change);
    - ``connections``: every connection opened, to close them all at the end.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.dirs: set[str] = set()
        self.listings: dict[str, dict[str, int] | None] = {}
        self.dirty: set[str] = set()
        self.mlsd = True
        self.connections: list[Connection] = []

    def mark_dirty(self, *paths: str) -> None:
        with self.lock:
            self.dirty.update(paths)


class FTPTreeBackend:
    """A remote file tree under ``remote_root`` on one FTP server; one connection per instance."""

    #: With one job, :func:`onecore.upload.upload_tree` sends the next file on one connection while it
    #: checks and renames the previous one on another (the per-file commands cost no extra wait).
    pipeline = True

    def __init__(
        self, endpoint: Endpoint, remote_root: str, url_for: Callable[[str], str], shared: _Shared | None = None
    ):
        self.endpoint = endpoint
        self.remote_root = remote_root
        self._url_for = url_for
        self.shared = shared or _Shared()
        self.key = f"ftp://{endpoint.where}{remote_root}"
        self.conn = Connection(endpoint)
        with self.shared.lock:
            self.shared.connections.append(self.conn)

    def _path(self, rel: str) -> str:
        return remote_path(self.remote_root, rel)

    # -- TreeBackend ---------------------------------------------------------------------------
    def size(self, rel: str) -> int | None:
        """The remote size (from the folder's listing when it is known good, else ``SIZE`` in binary
        mode); None when the file is absent."""
        path = self._path(rel)
        folder, name = posixpath.split(path)
        listing = self._listing(folder, path)
        if listing is not None:
            with self.shared.lock:
                if path not in self.shared.dirty:
                    got = listing.get(name)
                    if got is None or got >= 0:  # -1: listed, but its size fact was unusable
                        return got
        return self.exact_size(rel)

    def exact_size(self, rel: str) -> int | None:
        """The size from ``SIZE`` (``MLST`` when the server has no ``SIZE``), never from a listing."""
        path = self._path(rel)

        def size(ftp: ftplib.FTP) -> int | None:
            try:
                return ftp.size(path)
            except ftplib.error_perm as e:
                code = str(e)[:3]
                if code == "550":
                    return None
                if code in ("500", "502", "504"):
                    return _mlst_size(ftp, path)
                raise

        return self.conn.run(size, f"checking the size of {_shown(rel)}")  # type: ignore[return-value]

    def put(self, src: IO[bytes], rel: str, offset: int, progress: Callable[[int], None]) -> None:
        """Send the bytes of ``src`` to ``rel``, resuming at ``offset``; creates the folders on the way."""
        path = self._path(rel)
        self._ensure_dir(posixpath.dirname(path), _shown(rel))
        self.shared.mark_dirty(path)
        if offset and not self.conn.run(
            lambda ftp: _same_start(ftp, path, src, offset), f"checking the partial upload of {_shown(rel)}"
        ):
            log.info("%s: the partial upload on the server is of another version; sending it whole", rel)
            offset = 0
        what = f"uploading {_shown(rel)}" + (f" (resuming at byte {offset})" if offset else "")
        self.conn.run(lambda ftp: store(ftp, path, src, offset, progress), what, write=True)

    def rename(self, src: str, dst: str) -> None:
        """``RNFR``/``RNTO``; a refusal (e.g. a server that will not replace ``dst``) is a TransferError
        (:func:`onecore.upload.replace_into` then keeps the previous version safe)."""
        a, b = self._path(src), self._path(dst)
        self.shared.mark_dirty(a, b)
        self.conn.run(lambda ftp: ftp.rename(a, b), f"renaming {src} to {dst}", write=True)

    def delete(self, rel: str) -> None:
        """``DELE``; a file that is already absent is fine."""
        path = self._path(rel)
        self.shared.mark_dirty(path)

        def dele(ftp: ftplib.FTP) -> None:
            try:
                ftp.delete(path)
            except ftplib.error_perm as e:
                if str(e)[:3] != "550" or _exists(ftp, path):
                    raise

        self.conn.run(dele, f"deleting {rel}", write=True)

    def ensure_root(self) -> None:
        """Create ``remote_root`` when it is missing; a clear error when the server refuses."""
        root = self.remote_root

        def check(ftp: ftplib.FTP) -> None:
            try:
                ftp.cwd(root)
                return
            except ftplib.error_perm:
                pass
            parts = [p for p in root.split("/") if p]
            for i in range(len(parts)):
                try:
                    ftp.mkd("/" + "/".join(parts[: i + 1]))
                except ftplib.error_perm:
                    pass
            try:
                ftp.cwd(root)
            except ftplib.error_perm as e:
                raise TransferError(
                    f"remote_root {root!r} does not exist on {self.endpoint.where} and user "
                    f"{self.endpoint.login!r} may not create it ({str(e).strip()}); create it on the server "
                    "or fix remote_root"
                ) from None
            finally:
                with _suppress_perm():
                    ftp.cwd("/")

        self.conn.run(check, f"opening {root}", write=True)

    def read_text(self, rel: str) -> str | None:
        """The remote text file ``rel`` (``RETR``), or None when it is absent."""
        path = self._path(rel)

        def read(ftp: ftplib.FTP) -> str | None:
            buf = io.BytesIO()
            try:
                ftp.retrbinary(f"RETR {path}", buf.write)
            except ftplib.error_perm as e:
                if str(e)[:3] == "550":
                    return None
                raise
            try:
                return buf.getvalue().decode("utf-8")
            except UnicodeDecodeError:
                raise TransferError(
                    f"the remote file {path} on {self.endpoint.where} is not UTF-8 text; delete or fix it"
                ) from None

        return self.conn.run(read, f"reading {rel}")  # type: ignore[return-value]

    def url_for(self, rel: str) -> str:
        return self._url_for(rel)

    def worker(self) -> FTPTreeBackend:
        """A backend with its own connection, sharing the known folders."""
        return FTPTreeBackend(self.endpoint, self.remote_root, self._url_for, self.shared)

    # -- helpers -------------------------------------------------------------------------------
    def _ensure_dir(self, folder: str, rel: str) -> None:
        """``MKD`` each missing folder of ``folder`` once (a refused MKD of an existing one is fine)."""
        if folder in self.shared.dirs or folder in ("", "/"):
            return
        parts = [p for p in folder.split("/") if p]
        prefix = "/" if folder.startswith("/") else ""
        todo = []
        for i in range(len(parts)):
            d = prefix + "/".join(parts[: i + 1])
            if d not in self.shared.dirs:
                todo.append(d)

        created = []

        def mkdirs(ftp: ftplib.FTP) -> None:
            for d in todo:
                try:
                    ftp.mkd(d)
                    created.append(d)
                except ftplib.error_perm:
                    pass  # exists already, or may not be created: STOR will say which

        self.conn.run(mkdirs, f"creating the folders of {rel}", write=True)
        with self.shared.lock:
            self.shared.dirs.update(todo)
            for d in created:  # new, so empty but for what this upload writes (which is dirty)
                self.shared.listings[d] = {}

    def _listing(self, folder: str, path: str) -> dict[str, int] | None:
        """The cached listing of ``folder`` (one ``MLSD`` the first time); None: ask ``SIZE``."""
        sh = self.shared
        with sh.lock:
            if not sh.mlsd or path in sh.dirty:
                return None
            if folder in sh.listings:
                return sh.listings[folder]

        def mlsd(ftp: ftplib.FTP) -> dict[str, int] | None:
            try:
                return {  # a size fact that is not a number: -1, "ask SIZE"
                    name: int(facts["size"]) if facts.get("size", "").isdigit() else -1
                    for name, facts in ftp.mlsd(folder, facts=["type", "size"])
                    if facts.get("type", "file") == "file"
                }
            except ftplib.error_perm as e:
                if str(e)[:3] in ("500", "501", "502", "504"):
                    sh.mlsd = False  # the server cannot list: SIZE from now on
                return None  # 550: missing or unlistable folder: SIZE says which, file by file
            finally:
                ftp.voidcmd("TYPE I")  # ftplib lists in ASCII mode: back to binary for SIZE and STOR

        listing = self.conn.run(mlsd, f"listing {folder}")
        with sh.lock:
            sh.listings.setdefault(folder, listing)  # type: ignore[arg-type]
            return sh.listings[folder]

    def close_all(self) -> None:
        """Close the connections of this backend and of all its workers."""
        with self.shared.lock:
            conns, self.shared.connections = list(self.shared.connections), []
        for c in conns:
            c.close()


def _read_range(ftp: ftplib.FTP, path: str, start: int, length: int) -> bytes:
    """``length`` bytes of the remote file ``path`` from ``start`` (``REST`` + ``RETR``, closed early)."""
    out = bytearray()
    with ftp.transfercmd(f"RETR {path}", rest=start or None) as conn:
        while len(out) < length:
            block = conn.recv(min(1 << 16, length - len(out)))
            if not block:
                break
            out += block
    try:
        ftp.voidresp()  # "226" when it was all sent, "426"/"451" when we closed before the end
    except (ftplib.error_temp, ftplib.error_perm):
        pass
    return bytes(out)


def _same_start(ftp: ftplib.FTP, path: str, f: IO[bytes], offset: int) -> bool:
    """Whether the ``offset`` bytes already on the server (a partial upload) are the start of ``f``.

    Compares the first and the last :data:`CHECK_WINDOW` bytes of the partial file: a ``.part`` left by an
    interrupted upload of *another version* of the file must not be completed with this version's end.
    """
    windows = {(0, min(offset, CHECK_WINDOW)), (max(0, offset - CHECK_WINDOW), min(offset, CHECK_WINDOW))}
    for start, length in sorted(windows):
        f.seek(start)
        if _read_range(ftp, path, start, length) != f.read(length):
            return False
    return True


def _shown(rel: str) -> str:
    """The dataset a temporary name ``dir/.NAME.part`` (or ``.old``) stands for, as messages name it."""
    folder, name = posixpath.split(rel)
    for suffix in (".part", ".old"):
        if name.startswith(".") and name.endswith(suffix) and len(name) > len(suffix) + 1:
            return posixpath.join(folder, name[1 : -len(suffix)])
    return rel


def _exists(ftp: ftplib.FTP, path: str) -> bool:
    try:
        ftp.size(path)
        return True
    except ftplib.error_perm:
        return False


def _suppress_perm() -> contextlib.AbstractContextManager:
    return contextlib.suppress(ftplib.error_perm)


def _mlst_size(ftp: ftplib.FTP, path: str) -> int | None:
    """The size from ``MLST`` facts, for servers without ``SIZE``."""
    try:
        resp = ftp.sendcmd(f"MLST {path}")
    except ftplib.error_perm as e:
        if str(e)[:3] == "550":
            return None
        raise TransferError(
            f"the FTP server supports neither SIZE nor MLST ({e}); it cannot be used for incremental uploads"
        ) from None
    for line in resp.splitlines()[1:]:
        facts = line.strip().split(" ", 1)[0]
        for fact in facts.split(";"):
            key, _, value = fact.partition("=")
            if key.lower() == "size" and value.isdigit():
                return int(value)
    return None
