"""The download engine: :func:`download` runs a batch of :class:`TransferItem` through a fetcher."""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
import time
from pathlib import Path
from typing import Callable, Iterable

from ..errors import OneError, TransferError, TransientError, UnsafePathError, VerificationError
from ..hashcache import md5_file
from ..paths import PART_SUFFIX, _Joiner
from .locks import _lock_for
from .progress import Progress, TransferReport, _ItemProgress, _ProgressTracker
from .protocols import CHUNK, Fetcher, TransferItem, _short
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
    dest_root = Path(dest)
    dest_root.mkdir(parents=True, exist_ok=True)
    report = TransferReport()
    t0 = time.monotonic()
    planned: list[tuple[TransferItem, Path]] = []
    join = _Joiner(dest_root)
    for item in items:
        try:
            planned.append((item, join(item.rel_path)))
        except UnsafePathError as e:
            report.failed.append((str(item.rel_path), str(e)))
    tracker = _ProgressTracker(progress, len(planned), sum(i.size or 0 for i, _ in planned))
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
    tracker: _ProgressTracker,
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
        part = target.with_name(target.name + PART_SUFFIX)
        if part.is_symlink():  # never write through a link planted in the cache
            part.unlink()
        counter = _ItemProgress(tracker, item.rel_path)
        fresh_tries = 2  # a verification failure restarts from zero once
        attempt = 0
        while True:
            attempt += 1
            if cancel.is_set():
                raise _Cancelled
            try:
                nbytes, digest = _stream_to_part(item, part, fetcher, counter, cancel)
            except TransientError as e:
                if attempt >= retry.attempts:
                    raise TransferError(f"{item.rel_path}: failed after {attempt} attempts: {e}") from None
                d = retry.delay(attempt, e.retry_after)
                log.info("%s: %s; retry %d in %.1fs", item.rel_path, e, attempt + 1, d)
                retry.sleep(d)
                continue
            except TransferError as e:
                raise TransferError(f"{item.rel_path}: {e}") from None
            problem = _check_part(part, item, digest)
            if problem is None:
                os.replace(part, target)
                if on_verified:
                    on_verified(target, item)
                tracker.add(files=1, current=item.rel_path)
                return "downloaded", nbytes
            part.unlink(missing_ok=True)
            fresh_tries -= 1
            if fresh_tries <= 0:
                raise VerificationError(
                    f"{item.rel_path}: the downloaded file failed verification ({problem}); nothing was kept. "
                    "The server's copy differs from its index: tell the data owner"
                )
            log.info("%s: verification failed (%s); downloading again from scratch", item.rel_path, problem)


def _check_part(part: Path, item: TransferItem, digest: str | None) -> str | None:
    size = part.stat().st_size
    if item.size is not None and size != item.size:
        return f"expected {item.size} bytes, got {size}"
    if item.md5 and digest != item.md5.lower():
        return f"expected md5 {item.md5.lower()}, got {digest}"
    return None


def _stream_to_part(
    item: TransferItem, part: Path, fetcher: Fetcher, counter: _ItemProgress, cancel: threading.Event
) -> tuple[int, str | None]:
    """Append the missing bytes to ``part``, hashing as they arrive; returns (bytes received, md5)."""
    offset = part.stat().st_size if part.exists() else 0
    if item.size is not None and offset > item.size:
        part.unlink()
        offset = 0
    if item.size is not None and offset == item.size and offset > 0:  # complete from an earlier run
        counter.set(offset)
        return 0, _hash_existing(part, offset) if item.md5 else None
    stream = fetcher.open(item.url, offset)
    received = 0
    digest: _Digest | None = None
    try:
        resuming = offset > 0 and stream.offset == offset
        start = offset if resuming else 0
        counter.set(start)
        expected = item.size if item.size is not None else stream.total
        if item.md5:
            digest = _Digest(threaded=expected is not None and expected - start >= THREADED_HASH_BYTES)
            if resuming:
                _hash_existing(part, offset, digest)
        limit = item.size
        with open(part, "ab" if resuming else "wb", buffering=0) as f:
            for chunk in stream.chunks():
                if cancel.is_set():
                    raise _Cancelled
                if limit is not None and start + received + len(chunk) > limit:
                    f.close()
                    part.unlink(missing_ok=True)
                    raise TransientError(f"the server sent more than the expected {limit} bytes")
                f.write(chunk)
                if digest is not None:
                    digest.update(chunk)
                received += len(chunk)
                counter.add(len(chunk))
        end = start + received
        if expected is not None and end < expected:
            raise TransientError(f"short read: got {end} of {expected} bytes")
        return received, (digest.finish() if digest is not None else None)
    finally:
        if digest is not None:
            digest.close()
        stream.close()


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
