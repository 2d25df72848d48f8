"""The upload side: :class:`S3TreeBackend`, a :class:`onecore.upload.TreeBackend` over boto3.

:func:`onecore.upload.upload_tree` plans (incremental skip, index written last, parallel jobs) and names
what it sends ``dir/.NAME.part`` (:func:`onecore.upload.part_name`) then renames it into place. An S3 ``PUT``
and a multipart ``Complete`` are atomic, so this backend writes the final key directly and the rename is
a no-op: a reader never sees an object under its final key with other bytes than the local file, because

- a single ``PUT`` carries the ``Content-MD5`` of the bytes read for it (the server refuses other bytes,
  and its ETag is checked against it);
- each part of a multipart upload carries ``Content-MD5`` and a CRC32 (S3's ``x-amz-checksum-crc32``, as
  boto3's own ``upload_file`` sends; ``ONE_S3_CHECKSUM=md5`` for a store that refuses it), its ETag is
  checked, and before ``CompleteMultipartUpload`` every part listed by the server (``ListParts``) is
  checked against those sent. The whole file's md5 (kept in the object's metadata, needed before the
  upload starts) and every part's md5 and CRC32 come from one read of the file before it is sent (the
  parts hashed in a second thread); a part read again for sending must have the same CRC32, so the
  parts stored are the bytes that were hashed. When the hash cache already knows the file's md5, the
  parts are instead hashed as they are sent, in order, and the upload is completed only when they are
  the bytes of that md5.

The engine does not hash what this backend sends (``verified_put``): :meth:`S3TreeBackend.remote_md5`
gives the md5 of what was stored.

Objects carry their md5 and size in metadata (``x-amz-meta-md5``/``x-amz-meta-size``): an object whose
size and md5 match the local file is not sent again even when the index does not list it. Large files
go up in parts; an interrupted multipart upload is resumed by the next run (the upload id is kept in
``$ONE_HOME/s3-uploads``, the parts already there are listed with ``ListParts`` and checked).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import posixpath
import threading
import time
from pathlib import Path
from typing import IO, Any, Callable, Iterator

from onecore.sdk import COMPANION_NAME, HashCache, TransferError, TransientError

from .client import Store, error_code
from .multipart import Multipart, clean_etag, hash_parts, md5_pair

log = logging.getLogger(__name__)
MiB = 1 << 20
#: Files at least this large go up in parts (``ONE_S3_MULTIPART_THRESHOLD``, bytes).
MULTIPART_THRESHOLD = 64 * MiB
#: The size of each part (``ONE_S3_PART_SIZE``, bytes; S3 wants at least 5 MiB).
PART_SIZE = 16 * MiB
#: Parts of one file sent at once (``ONE_S3_PART_JOBS``).
PART_JOBS = 4
INDEX_NAME = ".one_root"
#: The index files (the companion with sizes and md5s, and ``.one_root``): always written when asked.
INDEX_NAMES = (COMPANION_NAME, INDEX_NAME)
BLOCK = 1 << 20


def _env_bytes(name: str, default: int, minimum: int = 1) -> int:
    try:
        return max(minimum, int(os.environ.get(name, default)))
    except ValueError:
        return default


def final_name(rel: str) -> str | None:
    """The final name of the temporary name ``dir/.NAME.part`` (:func:`onecore.upload.part_name`), else
    None (a dataset's own name never starts with a dot, so ``raw.data.part`` is a dataset)."""
    folder, name = posixpath.split(rel)
    if name.startswith(".") and name.endswith(".part") and len(name) > len(".part") + 1:
        return posixpath.join(folder, name[1 : -len(".part")])
    return None


def _source_path(src: IO[bytes]) -> str | None:
    """The path of the local file behind ``src`` when it has one (to use the hash cache)."""
    for f in (src, getattr(src, "f", None)):
        name = getattr(f, "name", None)
        if isinstance(name, str) and os.path.isfile(name):
            return name
    return None


def _stream_size(src: IO[bytes]) -> int:
    end = src.seek(0, os.SEEK_END)
    src.seek(0)
    return end


class _Shared:
    """State shared by a backend's workers: folder listings, keys written by this upload (``dirty``:
    always asked for again), and the temporary names whose final keys this upload completed, with the
    size and md5 of what was stored (``done``, until renamed)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.listings: dict[str, dict[str, tuple[int, str]]] = {}  # folder -> key -> (size, etag)
        self.folder_locks: dict[str, threading.Lock] = {}
        self.can_list = True
        self.dirty: set[str] = set()
        self.done: dict[str, tuple[int, str]] = {}


class S3TreeBackend:
    """The data root under ``prefix`` in one bucket (thread-safe: :meth:`worker` returns itself)."""

    #: :meth:`put` hashes what it stores and the server checks it: the upload engine does not hash again.
    verified_put = True

    def __init__(self, store: Store, hashes: HashCache | None, uploads_dir: Path, shared: _Shared | None = None):
        self.store = store
        self.hashes = hashes
        self.uploads_dir = uploads_dir
        self.shared = shared or _Shared()
        self.threshold = _env_bytes("ONE_S3_MULTIPART_THRESHOLD", MULTIPART_THRESHOLD, 5 * MiB)
        self.part_size = _env_bytes("ONE_S3_PART_SIZE", PART_SIZE, 5 * MiB)
        self.part_jobs = _env_bytes("ONE_S3_PART_JOBS", PART_JOBS)
        #: How each part of a multipart upload is checked by the server (``ONE_S3_CHECKSUM``): ``crc32``
        #: (S3's additional checksums, as boto3's own upload_file does) or ``md5`` (``Content-MD5``).
        self.checksum = "md5" if os.environ.get("ONE_S3_CHECKSUM", "").lower() == "md5" else "crc32"
        endpoint = store.settings.get("endpoint_url") or "aws"
        #: Identifies this bucket and prefix in the local upload journal.
        self.key = f"s3+{endpoint}/{store.bucket}/{store.prefix}"

    @property
    def client(self) -> Any:
        return self.store.client

    # -- TreeBackend ---------------------------------------------------------------------------
    def size(self, rel: str) -> int | None:
        """The object's size (from one bucket listing when it is known good, else ``HeadObject``); for a
        temporary name that :meth:`put` completed (``dir/.NAME.part``), the size of what it stored under
        ``dir/NAME``. Other names are taken literally (a dataset named ``raw.data.part`` is itself)."""
        with self.shared.lock:
            if rel in self.shared.done:
                return self.shared.done[rel][0]
        got = self._known(rel)
        return None if got is None else got[0]

    def exact_size(self, rel: str) -> int | None:
        """The size from ``HeadObject`` (never from a listing), or that of a completed temporary name."""
        with self.shared.lock:
            if rel in self.shared.done:
                return self.shared.done[rel][0]
        head = self._head(rel)
        return None if head is None else int(head["ContentLength"])

    def remote_md5(self, rel: str) -> str | None:
        """The md5 of what :meth:`put` stored for the temporary name ``rel`` (the server checked it with
        Content-MD5; for a multipart object, the md5 of all its parts, read in order), else None."""
        with self.shared.lock:
            got = self.shared.done.get(rel)
        return None if got is None else got[1]

    def put(self, src: IO[bytes], rel: str, offset: int, progress: Callable[[int], None]) -> None:
        """Upload the bytes of ``src`` to the final key of the temporary name ``rel`` (``dir/.NAME.part`` ->
        ``dir/NAME``, written atomically); ``offset`` is ignored: a multipart upload resumes from the parts
        the server has that match the local bytes (an S3 object cannot be appended to)."""
        final = final_name(rel) or rel
        size = _stream_size(src)
        if size < self.threshold:
            md5 = self._put_single(src, final, size, progress)
        else:
            md5 = self._put_multipart(src, final, size, progress)
        with self.shared.lock:
            self.shared.done[rel] = (size, md5)

    def rename(self, src: str, dst: str) -> None:
        """Nothing to do for ``dir/.NAME.part`` -> ``dir/NAME`` once ``put`` completed ``dir/NAME`` (S3
        writes are atomic); after it, the temporary name is absent again."""
        with self.shared.lock:
            done = src in self.shared.done and (final_name(src) or src) == dst
            if done:
                del self.shared.done[src]
        if not done:
            raise TransferError(f"{self.store.where(dst)}: was not uploaded by this run; run the upload again")

    def read_text(self, rel: str) -> str | None:
        """The object ``rel`` as UTF-8 text, or None when there is none."""
        key = self.store.key(rel)
        try:
            body = self.client.get_object(Bucket=self.store.bucket, Key=key)["Body"].read()
        except Exception as e:  # noqa: BLE001
            if error_code(e) in ("NoSuchKey", "404"):
                return None
            raise self.store.error(e, f"reading {self.store.where(rel)} (s3:GetObject)") or e from None
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise TransferError(f"{self.store.where(rel)} is not UTF-8 text; delete or fix it") from None

    def url_for(self, rel: str) -> str:
        """Empty: the index names no URL, so a bucket mirrored elsewhere (or served over HTTP) reads it too."""
        return ""

    def worker(self) -> S3TreeBackend:
        """The same backend (boto3 clients are thread-safe)."""
        return self

    def delete(self, rel: str) -> None:
        """Delete the object ``rel`` (for ``one upload --delete``; needs s3:DeleteObject)."""
        self._dirty(rel)
        key = self.store.key(rel)
        self.store.call(
            lambda: self.client.delete_object(Bucket=self.store.bucket, Key=key),
            f"deleting {self.store.where(rel)} (s3:DeleteObject)",
        )

    def list_files(self) -> Iterator[tuple[str, int]]:
        """(relative path, size) of every object under the prefix (but the index files), from a listing."""
        head = self.store.key("")
        for key, (size, _) in sorted(self._list(head, recursive=True).items()):
            rel = key[len(head) :]
            if rel and rel not in INDEX_NAMES and _safe(rel):  # a hostile key ('..', '%2e%2e') is never touched
                yield rel, size

    def close_all(self) -> None:
        """Nothing to close (the client belongs to the repository)."""

    # -- what is there -------------------------------------------------------------------------
    def _folder(self, key: str) -> dict[str, tuple[int, str]]:
        """The objects directly in ``key``'s folder (one listing per folder, remembered): checking the
        files of a session costs one request, not one ``HeadObject`` each, whatever the bucket's size."""
        folder = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
        sh = self.shared
        with sh.lock:
            if folder in sh.listings:
                return sh.listings[folder]
            folder_lock = sh.folder_locks.setdefault(folder, threading.Lock())
        with folder_lock:  # workers checking files of one folder at once list it once
            with sh.lock:
                if folder in sh.listings:
                    return sh.listings[folder]
            listing = self._list(folder, recursive=False)
            with sh.lock:
                return sh.listings.setdefault(folder, listing)

    def _list(self, prefix: str, recursive: bool) -> dict[str, tuple[int, str]]:
        listing: dict[str, tuple[int, str]] = {}
        paginator = self.client.get_paginator("list_objects_v2")
        kwargs = {"Bucket": self.store.bucket, "Prefix": prefix, **({} if recursive else {"Delimiter": "/"})}

        def walk() -> None:
            for page in paginator.paginate(**kwargs):
                for obj in page.get("Contents", ()):
                    listing[obj["Key"]] = (int(obj["Size"]), clean_etag(obj.get("ETag")))

        self.store.call(walk, f"listing s3://{self.store.bucket}/{prefix} (s3:ListBucket)")
        return listing

    def _known(self, rel: str) -> tuple[int, str] | None:
        """(size, etag) of the object ``rel``, or None when absent."""
        key = self.store.key(rel)
        sh = self.shared
        with sh.lock:
            use_listing = sh.can_list and rel not in sh.dirty
        if use_listing:
            try:
                return self._folder(key).get(key)
            except TransferError as e:
                if "access denied" not in str(e):
                    raise
                with sh.lock:
                    sh.can_list = False  # no s3:ListBucket: one HeadObject per file instead
        head = self._head(rel)
        return None if head is None else (int(head["ContentLength"]), clean_etag(head.get("ETag")))

    def _head(self, rel: str) -> dict[str, Any] | None:
        key = self.store.key(rel)
        try:
            return self.client.head_object(Bucket=self.store.bucket, Key=key)
        except Exception as e:  # noqa: BLE001
            if error_code(e) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self.store.error(e, f"checking {self.store.where(rel)} (s3:GetObject)") or e from None

    def _same(self, rel: str, size: int, md5: str) -> bool:
        """Whether the object ``rel`` already has these bytes: same size, and an md5 that matches (the
        ETag of a single-part object, else the ``md5`` kept in its metadata)."""
        known = self._known(rel)
        if known is None or known[0] != size:
            return False
        if known[1] == md5:
            return True
        if "-" not in known[1]:  # a single-part object whose md5 is another one
            return False
        head = self._head(rel)
        return bool(head and head.get("Metadata", {}).get("md5") == md5 and int(head["ContentLength"]) == size)

    # -- sending -------------------------------------------------------------------------------
    def _dirty(self, rel: str) -> None:
        """From now on ``rel`` may change: its size is asked for again, not taken from the listing."""
        with self.shared.lock:
            self.shared.dirty.add(rel)

    def _put_single(self, src: IO[bytes], rel: str, size: int, progress: Callable[[int], None]) -> str:
        src.seek(0)
        data = src.read(size + 1)
        if len(data) != size:
            raise TransientError(f"the local file of {rel} changed while it was read")
        md5, b64 = md5_pair(data)  # of the very bytes sent: the server checks them (and its ETag is compared)
        if rel not in INDEX_NAMES and self._same(rel, size, md5):  # (the index is only written when it changed)
            progress(size)
            return md5
        self._dirty(rel)
        key = self.store.key(rel)
        resp = self.store.call(
            lambda: self.store.upload_client.put_object(
                Bucket=self.store.bucket,
                Key=key,
                Body=data,
                ContentMD5=b64,
                Metadata={"md5": md5, "size": str(size)},
            ),
            f"uploading {rel} (s3:PutObject)",
        )
        etag = clean_etag(resp.get("ETag"))
        if len(etag) == 32 and etag != md5:  # (KMS-encrypted objects have other ETags: Content-MD5 vouches)
            raise TransferError(f"{self.store.where(rel)}: the server stored other bytes (ETag {etag}, md5 {md5})")
        progress(size)
        return md5

    def _cached_md5(self, path: str | None) -> str | None:
        """The md5 the hash cache has for the local file (checked later: the parts are hashed in order)."""
        if path is None or self.hashes is None:
            return None
        lookup = getattr(self.hashes, "lookup", None)
        return lookup(Path(path)) if lookup is not None else None

    def _prehash(
        self, src: IO[bytes], path: str | None, size: int, part_size: int
    ) -> tuple[str, list[tuple[int, str, str]]]:
        """The md5 of the whole file and the CRC32 and md5 of each of its parts, from one read (the md5 is
        remembered in the cache when the file did not change meanwhile)."""
        st = os.stat(path) if path is not None else None
        started = time.time_ns()
        md5, parts = hash_parts(src, size, part_size, rel_shown=path or "the upload")
        if path is not None and st is not None and self.hashes is not None and _version(os.stat(path)) == _version(st):
            remember = getattr(self.hashes, "remember", None)
            if remember is not None:
                remember(Path(path), md5, st, started)
        return md5, parts

    def _put_multipart(self, src: IO[bytes], rel: str, size: int, progress: Callable[[int], None]) -> str:
        path = _source_path(src)
        record = self.read_record(rel)
        part_size = self.part_size
        if record is not None and isinstance(record.get("part_size"), int) and record["part_size"] >= 5 * MiB:
            part_size = record["part_size"]  # (a resumed upload keeps its part size)
        md5 = self._cached_md5(path)
        parts = None
        if md5 is None:
            md5, parts = self._prehash(src, path, size, part_size)
        if self._same(rel, size, md5):
            progress(size)
            return md5
        self._dirty(rel)
        upload = Multipart(self, rel, src, size, md5, part_size, parts)
        upload.run(progress)
        return md5

    # -- the records of multipart uploads --------------------------------------------------------
    def record_path(self, rel: str) -> Path:
        s = self.store.settings
        ident = f"{s.get('endpoint_url') or 'aws'}|{self.store.bucket}|{self.store.key(rel)}"
        return self.uploads_dir / (hashlib.sha1(ident.encode()).hexdigest() + ".json")

    def read_record(self, rel: str) -> dict[str, Any] | None:
        try:
            record = json.loads(self.record_path(rel).read_text())
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) and record.get("key") == self.store.key(rel) else None

    def write_record(self, rel: str, record: dict[str, Any]) -> None:
        path = self.record_path(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)

    def drop_record(self, rel: str) -> None:
        self.record_path(rel).unlink(missing_ok=True)


def _version(st: os.stat_result) -> tuple[int, int, int, int]:
    """What changes with any write to a file (as the hash cache's ``signature``)."""
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _safe(rel: str) -> bool:
    from onecore.sdk import UnsafePathError, check_relpath

    try:
        check_relpath(rel)
    except UnsafePathError:
        return False
    return True
