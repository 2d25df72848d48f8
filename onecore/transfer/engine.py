"""The download engine: :func:`download` runs a batch of :class:`TransferItem` through a fetcher."""

from __future__ import annotations

import errno
import functools
import hashlib
import inspect
import logging
import os
import queue
import threading
import time
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator

from ..errors import OneError, TransferError, TransientError, UnsafePathError, VerificationError
from ..hashcache import md5_file
from ..paths import _Joiner, part_path
from .limits import StallWatch, over_cap, size_cap
from .locks import _lock_for
from .parts import discard, forget, open_part, read_meta, write_meta
from .progress import Progress, ProgressTracker, TransferReport, _ItemProgress
from .protocols import CHUNK, Fetcher, Stream, TransferItem, _short
from .retry import RetryPolicy

log = logging.getLogger("onecore.transfer")

DEFAULT_JOBS = 8
#: Files at least this large are hashed in a helper thread, overlapping hashing with the network.
THREADED_HASH_BYTES = 8 << 20


class _Cancelled(BaseException):
    """Raised inside workers when the batch was interrupted; never escapes :func:`download`."""


class _Digest:
    """md5 of a stream. For large files the hashing runs in a helper thread (hashlib releases the GIL),
    so that it overlaps reading the network and writing the disk; memory stays bounded by the queue."""

    def __init__(self, threaded: bool):
        self.h = hashlib.md5(usedforsecurity=False)
        self.q: queue.Queue[bytes | None] | None = None
        self.thread: threading.Thread | None = None
        if threaded:
            self.q = queue.Queue(maxsize=16)
            self.thread = threading.Thread(target=self._run, name="one-md5", daemon=True)
            self.thread.start()

    def _run(self) -> None:
        assert self.q is not None
        while True:
            b = self.q.get()
            if b is None:
                return
            self.h.update(b)

    def update(self, b: bytes) -> None:
        if self.q is not None:
            self.q.put(b)
        else:
            self.h.update(b)

    def finish(self) -> str:
        self.close()
        return self.h.hexdigest()

    def close(self) -> None:
        if self.thread is not None and self.q is not None:
            self.q.put(None)
            self.thread.join()
            self.thread = None


def verify_file(path: Path, size: int | None, md5: str | None) -> str | None:
    """None if ``path`` has the expected size and md5 (unknown ones are not checked), else the reason."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return "missing"
    if size is not None and st.st_size != size:
        return f"size {st.st_size} instead of {size}"
    if md5:
        actual = md5_file(path)
        if actual != md5.lower():
            return f"md5 {actual} instead of {md5.lower()}"
    return None


# --------------------------------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------------------------------
def download(
    items: Iterable[TransferItem],
    dest: str | os.PathLike,
    fetcher: Fetcher,
    *,
    jobs: int = DEFAULT_JOBS,
    retry: RetryPolicy | None = None,
    progress: Callable[[Progress], None] | None = None,
    verified: Callable[[Path, TransferItem], bool] | None = None,
    on_verified: Callable[[Path, TransferItem], None] | None = None,
) -> TransferReport:
    """Download ``items`` under ``dest`` (mirroring their relative paths) and return a report.

    ``jobs`` downloads run at once (each worker thread keeps its own connection). ``progress`` is
    called with a :class:`Progress` (files and bytes done and in total; files already up to date
    count as done). ``verified(path, item)`` may say that an existing file is known good (e.g. from a
    cache of earlier checks) so that it is not hashed again; ``on_verified`` is told of every file
    checked good. Unsafe relative paths are reported as failures before anything is written; any
    other failure of one file is reported and the others go on. KeyboardInterrupt (from the user or
    raised by ``progress``) stops the batch: the partial files are kept (as ``<name>.part``, never
    under their final names) to be resumed by the next run, and the interrupt propagates.
    """
    retry = retry or RetryPolicy.from_env()
    dest_root = _destination(Path(dest))
    report = TransferReport()
    t0 = time.monotonic()
    planned: list[tuple[TransferItem, Path]] = []
    join = _Joiner(dest_root)
    for item in items:
        try:
            planned.append((item, join(_not_reserved(item.rel_path))))
        except UnsafePathError as e:
            report.failed.append((str(item.rel_path), str(e)))
    tracker = ProgressTracker(progress, len(planned), sum(i.size or 0 for i, _ in planned))
    cancel = threading.Event()

    def one(item: TransferItem, target: Path) -> tuple[str, int]:
        try:
            return _download_one(item, target, dest_root, fetcher, retry, tracker, cancel, verified, on_verified)
        except OneError:
            raise
        except OSError as e:
            raise TransferError(f"{item.rel_path}: cannot write {e.filename or target}: {e.strerror or e}") from None
        except Exception as e:  # a bug in a fetcher must not stop the batch
            log.debug("unexpected error downloading %s", item.rel_path, exc_info=True)
            raise TransferError(f"{item.rel_path}: unexpected {type(e).__name__}: {_short(e)}") from None

    results: dict[str, tuple[str, int] | BaseException] = {}
    if jobs <= 1 or len(planned) <= 1:
        for item, target in planned:
            try:
                results[item.rel_path] = one(item, target)
            except OneError as e:
                results[item.rel_path] = e
    else:
        results = _run_pool(planned, one, min(jobs, len(planned)), cancel)
    for item, target in planned:
        res = results.get(item.rel_path)
        if isinstance(res, BaseException):
            report.failed.append((item.rel_path, str(res)))
            report.errors[item.rel_path] = res
        elif res is not None:
            status, nbytes = res
            report.paths[item.rel_path] = target
            (report.skipped if status == "skipped" else report.downloaded).append(item.rel_path)
            report.bytes += nbytes
    report.seconds = time.monotonic() - t0
    return report


def _destination(dest: Path) -> Path:
    """``dest``, made if missing; a clear :class:`TransferError` when it cannot be (a file in the way,
    a read-only or full disk)."""
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise TransferError(f"cannot download into {dest}: it (or a folder above it) is a file, not a folder") from None
    except OSError as e:
        if isinstance(e, NotADirectoryError):
            raise TransferError(f"cannot download into {dest}: a folder above it is a file") from None
        raise TransferError(
            f"cannot download into {dest} ({e.strerror}); choose a writable folder (--dir, or ONE_HOME)"
        ) from None
    if not dest.is_dir():
        raise TransferError(f"cannot download into {dest}: it is not a folder")
    return dest


def _not_reserved(rel: str) -> str:
    """``rel`` unless a part of it starts with a dot: those names are the cache's own (temporary files
    ``.NAME.part``, their records, ``.one_locks``), never datasets (ALF names never start with a dot)."""
    if isinstance(rel, str) and any(p.startswith(".") and p not in (".", "..") for p in rel.split("/")):
        raise UnsafePathError(
            f"refused the path {rel!r}: names starting with a dot are reserved for temporary files in the cache"
        )
    return rel


def _run_pool(
    planned: list[tuple[TransferItem, Path]],
    one: Callable[[TransferItem, Path], tuple[str, int]],
    jobs: int,
    cancel: threading.Event,
) -> dict[str, tuple[str, int] | BaseException]:
    """Run ``one`` over ``planned`` in ``jobs`` daemon threads; results (or OneErrors) by relative path.

    Daemon threads, not a ``ThreadPoolExecutor``: after an interrupt the caller returns at once and the
    process can exit even if a worker is stuck in a slow read (it stops at its next chunk).
    """
    todo: queue.SimpleQueue[tuple[TransferItem, Path]] = queue.SimpleQueue()
    for pair in planned:
        todo.put(pair)
    done: queue.SimpleQueue[tuple[str, tuple[str, int] | BaseException]] = queue.SimpleQueue()

    def worker() -> None:
        while not cancel.is_set():
            try:
                item, target = todo.get_nowait()
            except queue.Empty:
                return
            try:
                res: tuple[str, int] | BaseException = one(item, target)
            except BaseException as e:  # handed to the caller, which decides
                res = e
            done.put((item.rel_path, res))

    threads = [threading.Thread(target=worker, name=f"one-dl-{i}", daemon=True) for i in range(jobs)]
    for t in threads:
        t.start()
    results: dict[str, tuple[str, int] | BaseException] = {}
    try:
        for _ in range(len(planned)):
            rel, res = done.get()
            if isinstance(res, BaseException) and not isinstance(res, OneError):
                raise res  # KeyboardInterrupt from a progress callback, or a bug
            results[rel] = res
    except BaseException as e:
        cancel.set()  # running workers stop at their next chunk, keeping their .part files
        deadline = time.monotonic() + 2.0
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        if isinstance(e, _Cancelled):  # pragma: no cover - defensive
            raise KeyboardInterrupt from None
        raise
    for t in threads:
        t.join()
    return results


def _download_one(
    item: TransferItem,
    target: Path,
    dest_root: Path,
    fetcher: Fetcher,
    retry: RetryPolicy,
    tracker: ProgressTracker,
    cancel: threading.Event,
    verified: Callable[[Path, TransferItem], bool] | None,
    on_verified: Callable[[Path, TransferItem], None] | None,
) -> tuple[str, int]:
    if cancel.is_set():
        raise _Cancelled
    # Fast path, no lock: an existing file that a cache of earlier checks vouches for.
    if verified is not None and target.is_file() and verified(target, item):
        tracker.add(item.size or 0, files=1)
        return "skipped", 0
    with _lock_for(dest_root, item.rel_path):
        if target.exists():
            problem = verify_file(target, item.size, item.md5)
            if problem is None:
                if on_verified:
                    on_verified(target, item)
                tracker.add(item.size or 0, files=1)
                return "skipped", 0
            log.info(
                "%s: present but fails verification (%s); removing it and downloading again", item.rel_path, problem
            )
            target.unlink()
        if not target.parent.is_dir():
            target.parent.mkdir(parents=True, exist_ok=True)
        nbytes = _fetch_verified(item, target, fetcher, retry, _ItemProgress(tracker, item.rel_path), cancel)
        os.replace(part_path(target), target)
        forget(target)
        if on_verified:
            on_verified(target, item)
        tracker.add(files=1, current=item.rel_path)
        return "downloaded", nbytes


def _fetch_verified(
    item: TransferItem,
    target: Path,
    fetcher: Fetcher,
    retry: RetryPolicy,
    counter: _ItemProgress,
    cancel: threading.Event,
) -> int:
    """Bring the partial file of ``target`` to a verified copy of ``item`` (retrying transient failures,
    restarting once from scratch after a verification failure); returns the bytes received."""
    fresh_tries = 2  # a verification failure restarts from zero once
    attempt = 0
    while True:
        attempt += 1
        if cancel.is_set():
            raise _Cancelled
        try:
            nbytes, digest = _stream_to_part(item, target, fetcher, counter, cancel)
        except TransientError as e:
            if attempt >= retry.attempts:
                raise TransferError(f"{item.rel_path}: failed after {attempt} attempts: {e}") from None
            d = retry.delay(attempt, e.retry_after)
            log.info("%s: %s; retry %d in %.1fs", item.rel_path, e, attempt + 1, d)
            retry.sleep(d)
            continue
        except _Differs as e:
            discard(target)
            raise VerificationError(
                f"{item.rel_path}: the server's copy differs from its index ({e}); {_TELL}"
            ) from None
        except TransferError as e:
            raise TransferError(f"{item.rel_path}: {e}") from None
        problem = _check_part(part_path(target), item, digest)
        if problem is None:
            return nbytes
        discard(target)
        fresh_tries -= 1
        if fresh_tries <= 0:
            raise VerificationError(
                f"{item.rel_path}: the downloaded file failed verification ({problem}); nothing was kept. "
                "The server's copy differs from its index: tell the data owner"
            )
        log.info("%s: verification failed (%s); downloading again from scratch", item.rel_path, problem)


_TELL = "nothing was kept; tell the data owner (or refresh the catalog if the index was updated)"


class _Differs(Exception):
    """The server's copy is not the one its index describes (size); never retried."""


def _check_part(part: Path, item: TransferItem, digest: str | None) -> str | None:
    size = part.stat().st_size
    if item.size is not None and size != item.size:
        return f"expected {item.size} bytes, got {size}"
    if item.md5 and digest != item.md5.lower():
        return f"expected md5 {item.md5.lower()}, got {digest}"
    return None


def _resumable(item: TransferItem, target: Path) -> tuple[int, str | None]:
    """(offset, validator) to resume the partial file of ``target`` from: only with a proof that its
    bytes are of the version being fetched (an md5 to verify the result, or a recorded validator for
    ``If-Range``); otherwise the partial file is dropped and the download starts over."""
    part = part_path(target)
    try:
        offset = part.stat().st_size if not part.is_symlink() else 0
    except FileNotFoundError:
        return 0, None
    meta = read_meta(target) or {}
    validator = meta.get("validator") if meta.get("url") == item.url else None
    if offset and not item.md5 and not validator:
        log.info("%s: a partial file of unknown version; starting over", item.rel_path)
        discard(target)
        return 0, None
    if item.size is not None and offset > item.size:
        discard(target)
        return 0, None
    return offset, validator


def _open(fetcher: Fetcher, url: str, offset: int, validator: str | None, need_proof: bool) -> Stream:
    """``fetcher.open``, with the validator (``If-Range``) and ``need_proof`` (the index gives no md5: the
    stream should carry a validator) for the fetchers that take them."""
    takes = _takes(type(fetcher))
    kwargs: dict[str, object] = {}
    if validator and offset and "validator" in takes:
        kwargs["validator"] = validator
    if need_proof and "need_proof" in takes:
        kwargs["need_proof"] = True
    return fetcher.open(url, offset, **kwargs)  # type: ignore[call-arg]


@functools.lru_cache(maxsize=64)
def _takes(cls: type) -> frozenset[str]:
    try:
        return frozenset(inspect.signature(cls.open).parameters)
    except (TypeError, ValueError):  # pragma: no cover
        return frozenset()


def _open_checked(item: TransferItem, target: Path, fetcher: Fetcher) -> tuple[Stream, int, bool]:
    """Open the stream for ``item``: (stream, offset asked, resuming)."""
    offset, validator = _resumable(item, target)
    if item.size is not None and offset == item.size and offset > 0:
        return _Complete(offset), offset, True
    stream = _open(fetcher, item.url, offset, validator, not item.md5)
    resuming = offset > 0 and stream.offset == offset
    if resuming and not item.md5 and getattr(stream, "validator", None) != validator:
        # The server answered the range for another version (or proved nothing): start over.
        stream.close()
        discard(target)
        offset, resuming = 0, False
        stream = _open(fetcher, item.url, 0, None, not item.md5)
    if item.size is not None and stream.total is not None and stream.total != item.size:
        stream.close()
        more = "more than the expected" if stream.total > item.size else "fewer than the expected"
        raise _Differs(f"the server announces {stream.total} bytes, {more} {item.size} bytes")
    if not resuming and not item.md5:  # with an md5, the result is its own proof: nothing to record
        write_meta(target, item.url, getattr(stream, "validator", None))
    return stream, offset, resuming


class _Complete:
    """A stream with nothing left to read: the partial file is complete from an earlier run."""

    total = None

    def __init__(self, offset: int):
        self.offset = offset

    def chunks(self) -> Iterator[bytes]:
        return iter(())

    def close(self) -> None:
        pass


def _stream_to_part(
    item: TransferItem, target: Path, fetcher: Fetcher, counter: _ItemProgress, cancel: threading.Event
) -> tuple[int, str | None]:
    """Append the missing bytes to the partial file, hashing as they arrive; returns (bytes received, md5)."""
    stream, offset, resuming = _open_checked(item, target, fetcher)
    received = 0
    digest: _Digest | None = None
    try:
        start = offset if resuming else 0
        counter.set(start)
        expected = item.size if item.size is not None else stream.total
        if item.md5:
            digest = _Digest(threaded=expected is not None and expected - start >= THREADED_HASH_BYTES)
            if resuming:
                _hash_existing(part_path(target), offset, digest)
        if isinstance(stream, _Complete):
            return 0, (digest.finish() if digest is not None else None)
        limit, how = (item.size, "") if item.size is not None else size_cap(target.parent)
        stall = StallWatch()
        try:
            with open_part(target, append=resuming) as f:
                for chunk in stream.chunks():
                    if cancel.is_set():
                        raise _Cancelled
                    if start + received + len(chunk) > limit:
                        f.close()
                        discard(target)
                        if item.size is None:
                            raise over_cap(limit, how)
                        raise _Differs(f"the server sent more than the expected {limit} bytes")
                    _write_all(f, chunk)
                    if digest is not None:
                        digest.update(chunk)
                    received += len(chunk)
                    counter.add(len(chunk))
                    stall.add(len(chunk))
        except OSError as e:
            discard(target)  # a full or read-only disk: remove what was written
            raise TransferError(_write_problem(e, target)) from None
        end = start + received
        if expected is not None and end < expected:
            raise TransientError(f"short read: got {end} of {expected} bytes")
        return received, (digest.finish() if digest is not None else None)
    finally:
        if digest is not None:
            digest.close()
        stream.close()


def _write_all(f: IO[bytes], data: bytes) -> None:
    """Write all of ``data`` to an unbuffered file: a raw write may take only part of it (a disk filling
    up), and the next write then raises the error (``ENOSPC``)."""
    view = memoryview(data)
    while view:
        n = f.write(view)
        if not n:
            raise OSError(errno.EIO, "the disk took no bytes")
        view = view[n:]


def _write_problem(e: OSError, target: Path) -> str:
    """One clear sentence for a failed write into the cache."""
    folder = target.parent
    if e.errno == errno.ENOSPC:
        return f"no space left on the disk of {folder} ({e.strerror}): nothing was kept; free some space"
    if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"cannot write into {folder} ({e.strerror}); choose a writable folder (--dir, or ONE_HOME)"
    if e.errno == errno.ELOOP:
        return f"refused to write {part_path(target)}: it is a symbolic link"
    return f"cannot write {e.filename or target}: {e.strerror or e}"


def _hash_existing(part: Path, length: int, digest: _Digest | None = None) -> str:
    """Feed the first ``length`` bytes of ``part`` to ``digest`` (a new one if None); returns the md5 so far."""
    h = digest.h if digest is not None else hashlib.md5(usedforsecurity=False)
    with open(part, "rb") as f:
        remaining = length
        while remaining > 0:
            b = f.read(min(CHUNK, remaining))
            if not b:
                break
            h.update(b)
            remaining -= len(b)
    return h.hexdigest()
