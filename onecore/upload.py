"""Uploading a data root to a file-tree repository (local folder, FTP, ...), shared by those types.

A type implements :class:`TreeBackend` (stat, put with resume, rename, delete, read the index) and
calls :func:`upload_tree`, which:

- hashes the local datasets (cached, so an unchanged root is not read again);
- skips datasets that the previous index (or the local journal of completed uploads, after a crash)
  lists with the same size and md5 *and* that are really there with that size (a size from a listing
  that disagrees is checked again with an exact query);
- sends each changed dataset to ``dir/.NAME.part`` (:func:`part_name`: a leading dot, so never a valid
  ALF dataset name), hashing the bytes as they are sent (in a helper thread for big files) unless the
  hash cache holds the md5 of this very version of the file (:meth:`HashCache.trusted`; the file's
  :func:`~onecore.hashcache.signature` is then checked unchanged after the send) or the backend hashes
  and verifies what it stores itself (``verified_put``); resumes a partial one only when the local
  file has the size and mtime recorded when that partial upload began; checks the remote size (and
  md5 when the server can give it) and that the local file did not change, then renames it into place
  without ever deleting the previous version first (:func:`replace_into`);
- on Ctrl-C, ``SIGTERM`` or ``SIGHUP`` stops starting transfers, aborts the running ones, writes the
  index of everything complete, and re-raises (:class:`UploadInterrupted`, a ``KeyboardInterrupt``);
- writes the index **last** (``.one_index.tsv`` then ``.one_root``, each to a temporary name then
  renamed): this run's datasets plus every row of the previous index whose file is still on the server
  (a partial upload never shrinks the index), minus the datasets removed with ``delete=True``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import posixpath
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Protocol

from .errors import OneError, TransferError, TransientError
from .hashcache import HashCache, signature
from .index import COMPANION_NAME, ONE_ROOT, IndexProblem, index_texts, read_one_root
from .repository import Dataset
from .transfer import Progress, RetryPolicy, TransferReport, check_relpath
from .transfer.progress import ProgressTracker
from .upload_signals import UploadInterrupted, signals_as_interrupts
from .uploadio import THREADED_HASH_BYTES, HashingReader, summary_lines
from .uploadjournal import JOURNAL_NAME, UploadJournal, upload_lock

__all__ = [
    "HashingReader",
    "ProgressTracker",
    "TreeBackend",
    "UploadInterrupted",
    "UploadReport",
    "backup_name",
    "part_name",
    "replace_into",
    "summary_lines",
    "upload_tree",
]
log = logging.getLogger(__name__)
INDEX_NAME = ONE_ROOT.filename
#: Index files, in the order they are read (the companion first) and written (the companion first).
INDEX_FILES = (COMPANION_NAME, INDEX_NAME)
BLOCK = 1 << 20


def part_name(rel: str) -> str:
    """The temporary name of ``dir/NAME`` while it is being sent: ``dir/.NAME.part``.

    The leading dot makes it hidden and never a valid ALF dataset, so no dataset can collide with it
    (the download engine uses the same scheme)."""
    folder, name = posixpath.split(rel)
    return posixpath.join(folder, f".{name}.part")


def backup_name(rel: str) -> str:
    """Where the previous version of ``dir/NAME`` waits while a server that will not replace a file on
    rename gets the new one: ``dir/.NAME.old``."""
    folder, name = posixpath.split(rel)
    return posixpath.join(folder, f".{name}.old")


class TreeBackend(Protocol):
    """A remote file tree. Paths are relative POSIX paths under the repository's root.

    Optional methods, used when present: ``exact_size(rel)`` (a size that does not come from a cached
    listing), ``remote_md5(rel)`` (the md5 the server computes, or None), ``delete(rel)``. Optional
    attributes: ``pipeline = True`` (one job sends the next file while another connection renames the
    previous one), ``verified_put = True`` (``put`` hashes the bytes it stores, the server checks them,
    and ``remote_md5`` of the temporary name returns that md5: the engine does not hash them too)."""

    #: Identifies the remote tree in the local journal (e.g. ``ftp://host:21/root``).
    key: str

    def size(self, rel: str) -> int | None:
        """Size of the remote file, None if absent."""

    def put(self, src: IO[bytes], rel: str, offset: int, progress: Callable[[int], None]) -> None:
        """Write the bytes of ``src`` to ``rel``, from byte ``offset`` on (append) when ``offset`` > 0."""

    def rename(self, src: str, dst: str) -> None:
        """Rename ``src`` to ``dst`` (replacing ``dst`` if the server allows); raise OneError if refused."""

    def read_text(self, rel: str) -> str | None:
        """The remote text file ``rel``, or None if absent."""

    def url_for(self, rel: str) -> str:
        """The download URL written in the index for ``rel``."""

    def worker(self) -> TreeBackend:
        """A backend for one worker thread (its own connection); may return self if thread-safe."""


@dataclass
class UploadReport(TransferReport):
    """A :class:`TransferReport` with what the remote side holds that the local root does not."""

    #: Datasets of the remote index that are not among the uploaded root's datasets.
    remote_only: list[str] = field(default_factory=list)
    #: Those removed from the repository (``delete=True``; with ``dry_run``: would be removed).
    deleted: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Sent:
    """What :meth:`_UploadRun.transmit` sent: the local file's size, mtime and :func:`signature` before
    it was read, the md5 of its bytes, and when they began to be hashed (None: not hashed here)."""

    size: int
    mtime: int
    md5: str
    signature: tuple[int, int, int, int]
    hashed_ns: int | None


class _Stopped(BaseException):
    """Raised inside a transfer (from its progress callback) when the upload is being stopped."""


def exact_size(backend: TreeBackend, rel: str) -> int | None:
    """The size of ``rel`` asked of the server itself (not from a listing that may be wrong)."""
    fn = getattr(backend, "exact_size", None)
    return fn(rel) if fn is not None else backend.size(rel)


def trusted_size(backend: TreeBackend, rel: str, expected: int | None) -> int | None:
    """The size of ``rel``: the listing's when it agrees with ``expected`` (or there is no expectation),
    else (a size that disagrees, or a file the listing says is absent) the exact one."""
    got = backend.size(rel)
    if got is not None and (expected is None or got == expected):
        return got
    return exact_size(backend, rel)


def replace_into(backend: TreeBackend, src: str, dst: str) -> None:
    """Rename ``src`` over ``dst`` without ever deleting ``dst`` before the new version is in place.

    When the server will not replace an existing file, ``dst`` is first renamed to
    :func:`backup_name`, then ``src`` to ``dst``; if that fails the backup is renamed back; the backup
    is deleted last. If the server refuses renames, both files stay as they were."""
    try:
        backend.rename(src, dst)
        return
    except OneError as e:
        if exact_size(backend, dst) is None:
            raise TransferError(f"the server refused to rename {src} to {dst} ({e})") from None
        first = e
    old = backup_name(dst)
    try:
        backend.rename(dst, old)
    except OneError:
        raise TransferError(
            f"the server refused to replace {dst} ({first}); the previous version is kept and the new one "
            f"stays as {src}: allow renames (RNFR/RNTO) for this user on the server"
        ) from None
    try:
        backend.rename(src, dst)
    except BaseException:
        backend.rename(old, dst)  # put the previous version back
        raise
    delete = getattr(backend, "delete", None)
    if delete is not None:
        with contextlib.suppress(OneError):
            delete(old)


def upload_tree(
    backend: TreeBackend,
    root: Path,
    datasets: list[str],
    *,
    hashes: HashCache,
    dry_run: bool = False,
    jobs: int = 4,
    progress: Callable[[Progress], None] | None = None,
    retry: RetryPolicy | None = None,
    delete: bool = False,
) -> UploadReport:
    """Upload ``datasets`` (paths relative to ``root``) to ``backend`` (see the module docstring).

    ``delete``: remove from the repository the datasets of its index that are not in ``datasets``
    (after the new index is written); without it they are kept and listed in ``report.remote_only``.
    The journal and lock files live next to the hash cache (``$ONE_HOME``)."""
    run = _UploadRun(backend, Path(root), hashes, retry or RetryPolicy.from_env(), jobs, progress)
    try:
        return run.run(datasets, dry_run=dry_run, delete=delete)
    finally:
        run.journal.close()


class _UploadRun:
    """One call of :func:`upload_tree`."""

    def __init__(
        self,
        backend: TreeBackend,
        root: Path,
        hashes: HashCache,
        retry: RetryPolicy,
        jobs: int,
        progress: Callable[[Progress], None] | None,
    ):
        self.backend, self.root, self.hashes, self.retry, self.jobs = backend, root, hashes, retry, jobs
        self.progress = progress
        self.key = str(getattr(backend, "key", "") or backend.url_for(""))
        self.journal = UploadJournal(hashes.path.parent / JOURNAL_NAME, self.key)
        self.lock_dir = hashes.path.parent / "locks"
        self.report = UploadReport()
        self.present: dict[str, tuple[int, str | None]] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.tls = threading.local()
        self.tracker = ProgressTracker(None, 0, 0)
        self.todo: list[str] = []

    # -- planning ------------------------------------------------------------------------------
    def read_previous(self) -> tuple[dict[str, str | None], dict[str, Dataset]]:
        """The remote index files' texts and rows (the companion's when there is one).

        ``texts[name + ".old"]`` is set when only the backup of an index file is there (a run killed
        between the two renames of :func:`replace_into`): it is then the previous index."""
        texts: dict[str, str | None] = {}
        source = None
        for name in INDEX_FILES:
            text = self.retry.call(lambda n=name: self.backend.read_text(n), "reading the remote index")
            texts[name] = text
            if text is None:
                text = self.retry.call(lambda n=name: self.backend.read_text(backup_name(n)), "reading the index")
                texts[name + ".old"] = text
            if source is None and text is not None:
                source = text
        problems: list[IndexProblem] = []
        rows = {d.rel_path: d for d in read_one_root(io.StringIO(source or ""), None, INDEX_NAME, problems)}
        return texts, rows

    def plan(self, datasets: list[str], previous: dict[str, Dataset]) -> list[str]:
        """The datasets to send; the others are recorded as skipped and present."""
        todo = []
        for rel in datasets:
            size = os.stat(self.root / rel).st_size
            old = previous.get(rel)
            if old is not None and old.size == size and old.md5 and self.hashes.md5(self.root / rel) == old.md5:
                remote = self.retry.call(
                    lambda rel=rel, size=size: trusted_size(self.backend, rel, size), f"checking {rel}"
                )
                if remote == size:
                    self.report.skipped.append(rel)
                    self.present[rel] = (size, old.md5)
                    continue
            done = self.retry.call(lambda rel=rel: self._journal_done(rel), f"checking {rel}")
            if done is not None:  # sent by a run that ended before writing the index
                st = os.stat(self.root / rel)
                if done[:2] == (st.st_size, st.st_mtime_ns):
                    remote = self.retry.call(lambda rel=rel: exact_size(self.backend, rel), f"checking {rel}")
                    if remote == st.st_size:
                        self.report.skipped.append(rel)
                        self.present[rel] = (st.st_size, done[2])
                        continue
            todo.append(rel)
        return todo

    # -- the run -------------------------------------------------------------------------------
    def run(self, datasets: list[str], *, dry_run: bool, delete: bool) -> UploadReport:
        t0 = time.monotonic()
        for rel in datasets:
            check_relpath(rel)
        texts, previous = self.read_previous()
        local = set(datasets)
        self.report.remote_only = sorted(r for r in previous if r not in local)
        todo = self.todo = self.plan(datasets, previous)
        if dry_run:
            self.report.downloaded = todo  # "would send"
            self.report.bytes = sum(os.stat(self.root / r).st_size for r in todo)
            self.report.deleted = list(self.report.remote_only) if delete else []
            return self.report
        self.tracker = ProgressTracker(self.progress, len(todo), sum(os.stat(self.root / r).st_size for r in todo))
        with signals_as_interrupts() as deferred:
            try:
                self.send_all(todo)
            finally:
                deferred.hold()  # a signal now waits until the index is written
                removed = set(self.report.remote_only) if delete else set()
                self.write_index(texts, previous, removed)
                if removed:
                    self.delete_remote(sorted(removed))
        self.report.seconds = time.monotonic() - t0
        return self.report

    def send_all(self, todo: list[str]) -> None:
        if self.jobs <= 1 and len(todo) > 1 and getattr(self.backend, "pipeline", False):
            return self.send_pipelined(todo)
        if self.jobs <= 1 or len(todo) <= 1:
            try:
                for rel in todo:
                    self.run_one(rel)
            except BaseException:
                self.stop.set()
                raise
            return
        pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="one-up")
        futures: list[Future] = [pool.submit(self.run_one, rel) for rel in todo]
        try:
            for f in futures:
                f.result()
        except BaseException:
            self.stop.set()  # no new transfer starts; running ones stop at their next block
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def send_pipelined(self, todo: list[str]) -> None:
        """One job over two connections: this thread sends the next file while a helper thread, on its
        own connection, checks and renames the previous one (for backends with ``pipeline = True``)."""
        finisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="one-up-finish")
        pending: list[Future] = []
        try:
            for rel in todo:
                if self.stop.is_set():
                    break
                if len(pending) >= 2:
                    pending.pop(0).result()  # at most one file waits for its rename
                f = self._transmit_then_hand_over(rel, finisher)
                if f is not None:
                    pending.append(f)
            for f in pending:
                f.result()
        except BaseException:
            self.stop.set()
            raise
        finally:
            finisher.shutdown(wait=True)

    def _transmit_then_hand_over(self, rel: str, finisher: ThreadPoolExecutor) -> Future | None:
        lock = upload_lock(self.lock_dir, self.key, rel)
        lock.__enter__()
        try:
            sent = self._retrying(lambda be: self.transmit(be, rel))
        except BaseException as e:
            lock.__exit__(None, None, None)
            if self._record_failure(rel, e):
                return None
            raise
        return finisher.submit(self._finish_job, rel, sent, lock)

    def _finish_job(self, rel: str, sent: _Sent, lock: Any) -> None:
        try:
            try:
                size, md5 = self.finish(self._worker(), rel, sent)
            except TransientError:  # e.g. the size on the server is wrong: send it again, whole
                self.tls.backend = self.backend.worker()
                size, md5 = self.send(rel)
        except BaseException as e:
            if not self._record_failure(rel, e):
                raise
            return
        finally:
            lock.__exit__(None, None, None)
        self._succeeded(rel, size, md5)

    def run_one(self, rel: str) -> None:
        if self.stop.is_set():
            return
        try:
            with upload_lock(self.lock_dir, self.key, rel):
                size, md5 = self.send(rel)
        except BaseException as e:
            if not self._record_failure(rel, e):
                raise
            return
        self._succeeded(rel, size, md5)

    def _record_failure(self, rel: str, e: BaseException) -> bool:
        """Record an expected failure of ``rel`` (True), or say it must propagate (False)."""
        if isinstance(e, _Stopped):
            return True
        if isinstance(e, OneError):
            why = str(e)
        elif isinstance(e, OSError):
            why = f"cannot read {self.root / rel}: {e.strerror or e}"
        else:
            return False
        with self.lock:
            self.report.failed.append((rel, why))
        return True

    def _succeeded(self, rel: str, size: int, md5: str) -> None:
        with self.lock:
            self.report.downloaded.append(rel)
            self.report.bytes += size
            self.present[rel] = (size, md5)

    def _worker(self) -> TreeBackend:
        be = getattr(self.tls, "backend", None)
        if be is None:
            be = self.tls.backend = self.backend.worker()
        return be

    def _count(self, n: int) -> None:
        if self.stop.is_set():
            raise _Stopped
        self.tracker.add(n)

    def _retrying(self, fn: Callable[[TreeBackend], Any]) -> Any:
        for attempt in range(1, self.retry.attempts + 1):
            try:
                return fn(self._worker())
            except TransientError as e:
                if attempt >= self.retry.attempts:
                    raise TransferError(f"failed after {attempt} attempts: {e}") from None
                self.retry.sleep(self.retry.delay(attempt, e.retry_after))
                self.tls.backend = self.backend.worker()
        raise AssertionError("unreachable")

    def send(self, rel: str) -> tuple[int, str]:
        """Send one dataset (with retries); returns its size and the md5 of the bytes sent."""
        return self._retrying(lambda be: self.finish(be, rel, self.transmit(be, rel)))

    def transmit(self, be: TreeBackend, rel: str) -> _Sent:
        """Send the bytes of ``rel`` to its temporary name; returns what was sent (:class:`_Sent`).

        The md5 is that of the bytes as they are read for sending (hashed in a helper thread for big
        files), unless the hash cache holds it for this very version of the file (:meth:`HashCache.trusted`:
        then the file is sent without hashing, and :meth:`finish` checks it kept that version) or the
        backend computes and checks it itself (``verified_put``)."""
        path, part = self.root / rel, part_name(rel)
        st = os.stat(path)
        size, mtime = st.st_size, st.st_mtime_ns
        offset = 0
        if self.journal.partial(rel) == (size, mtime):  # the partial upload is of this very version
            got = exact_size(be, part)
            offset = got if got is not None and got <= size else 0
        if offset == 0:
            self.journal.started(rel, size, mtime)
        by_backend = bool(getattr(be, "verified_put", False))
        known = None if by_backend else self._trusted_md5(path, st)
        started = time.time_ns()
        with HashingReader(path, threaded=size > THREADED_HASH_BYTES, hashing=not (by_backend or known)) as src:
            src.hash_through(offset)
            if offset < size or size == 0:
                be.put(src, part, offset, self._count)
            src.hash_through(size)
            md5 = src.md5() or known
        if by_backend:
            md5 = be.remote_md5(part)  # type: ignore[attr-defined]
            if md5 is None:
                raise TransferError(f"{rel}: the repository did not say what it stored; run the upload again")
        return _Sent(size, mtime, md5 or "", signature(st), started if src.hashing else None)

    def _trusted_md5(self, path: Path, st: os.stat_result) -> str | None:
        trusted = getattr(self.hashes, "trusted", None)
        try:
            return trusted(path, st) if trusted is not None else None
        except OneError:  # an unusable cache: hash as the bytes are sent
            return None

    def finish(self, be: TreeBackend, rel: str, sent: _Sent) -> tuple[int, str]:
        """Check what arrived (size, md5 where the server gives it, the local file unchanged), then
        rename it into place."""
        path, part = self.root / rel, part_name(rel)
        size, mtime, md5 = sent.size, sent.mtime, sent.md5
        got = exact_size(be, part)
        if got != size:
            raise TransientError(f"the server has {got} bytes of {size} after sending")
        remote_md5 = getattr(be, "remote_md5", None)
        theirs = remote_md5(part) if remote_md5 is not None else None
        if theirs is not None and theirs != md5:
            self.journal.forget(rel, "partial")
            raise TransientError(f"the server computed md5 {theirs} for the bytes it received, not {md5}")
        st = os.stat(path)
        if signature(st) != sent.signature:
            self.journal.forget(rel, "partial")
            raise TransferError(f"{path} changed while it was being uploaded; run the upload again")
        self.journal.sent(rel, size, mtime, md5)
        replace_into(be, part, rel)
        self.journal.completed(rel, size, mtime, md5)
        remember = getattr(self.hashes, "remember", None)
        if sent.hashed_ns is not None and remember is not None:  # this version's md5, for the next upload
            with contextlib.suppress(OneError, OSError):
                remember(path, md5, st, sent.hashed_ns)
        self.tracker.add(files=1, current=rel)
        return size, md5

    # -- the index -----------------------------------------------------------------------------
    def final_rows(self, previous: dict[str, Dataset], removed: set[str]) -> list[Dataset]:
        """This run's datasets, plus every previous row whose file is still on the server."""
        be = self.backend
        rows = {rel: Dataset(rel, be.url_for(rel), s, m) for rel, (s, m) in self.present.items()}
        for rel in self.todo:  # renamed into place, but interrupted before it was counted
            if rel not in rows and rel not in removed:
                got = self._journaled(rel)
                if got is not None:
                    rows[rel] = Dataset(rel, be.url_for(rel), got[0], got[1])
        for rel, old in previous.items():
            if rel in rows or rel in removed:
                continue
            try:
                remote = trusted_size(be, rel, old.size)
            except OneError as e:  # cannot tell: keep it (a partial upload never shrinks the index)
                log.warning("%s: cannot check it on the server (%s); its index row is kept", rel, e)
                rows[rel] = old
                continue
            if remote is None:
                continue  # no longer on the server
            if old.size is not None and remote != old.size:
                log.warning("%s: its size on the server changed to %s; listed without its old md5", rel, remote)
                old = Dataset(rel, old.url, remote, None)
            rows[rel] = old if old.url else Dataset(rel, be.url_for(rel), old.size, old.md5)
        return sorted(rows.values(), key=lambda r: r.rel_path)

    def _journal_done(self, rel: str) -> tuple[int, int, str] | None:
        """What the journal knows was put in place: a completed upload, or one renamed by a run killed
        before it could record it (whole and checked, and its temporary file is gone)."""
        done = self.journal.done(rel)
        if done is None:
            done = self.journal.sent_version(rel)
            if done is not None and exact_size(self.backend, part_name(rel)) is not None:
                return None  # not renamed: the next send finds it whole and only renames it
        return done

    def _journaled(self, rel: str) -> tuple[int, str] | None:
        """(size, md5) of ``rel`` when the journal says it was sent whole and it is on the server."""
        done = self._journal_done(rel)
        try:
            st = os.stat(self.root / rel)
            if done is None or done[:2] != (st.st_size, st.st_mtime_ns):
                return None
            return (done[0], done[2]) if exact_size(self.backend, rel) == done[0] else None
        except (OSError, OneError):
            return None

    def write_index(self, texts: dict[str, str | None], previous: dict[str, Dataset], removed: set[str]) -> None:
        rows = self.final_rows(previous, removed)
        if not rows and not any(texts.values()):
            return  # nothing there and nothing was: no empty index on a server that refused every file
        new = index_texts(rows)
        try:
            with upload_lock(self.lock_dir, self.key, INDEX_NAME):
                for name in INDEX_FILES:  # an index that would not change is not written again
                    if new[name] != texts.get(name) or texts.get(name + ".old") is not None:
                        write_remote_text(self.backend, name, new[name], self.retry)
        except OneError as e:
            self.report.failed.append((INDEX_NAME, f"the index was not updated ({e}); the previous one is kept"))

    def delete_remote(self, rels: list[str]) -> None:
        delete = getattr(self.backend, "delete", None)
        for rel in rels:
            try:
                if delete is None:
                    raise TransferError("this repository type cannot delete files")
                self.retry.call(lambda rel=rel: delete(rel), f"deleting {rel}")
                self.report.deleted.append(rel)
            except OneError as e:
                self.report.failed.append((rel, f"not deleted: {e}"))


def write_remote_text(backend: TreeBackend, name: str, text: str, retry: RetryPolicy) -> None:
    """Write a text file (an index) to :func:`part_name` then :func:`replace_into` its name."""
    data = text.encode("utf-8")

    def put() -> None:
        backend.put(io.BytesIO(data), part_name(name), 0, lambda n: None)  # type: ignore[arg-type]
        got = exact_size(backend, part_name(name))
        if got != len(data):
            raise TransientError(f"the server has {got} bytes of {len(data)} of {name} after sending")
        replace_into(backend, part_name(name), name)

    retry.call(put, f"writing {name}")
