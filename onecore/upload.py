"""Uploading a data root to a file-tree repository (local folder, FTP, ...), shared by those types.

A type implements :class:`TreeBackend` (stat, put with resume, rename, read/write the index) and
calls :func:`upload_tree`, which:

- hashes the local datasets (cached, so an unchanged root is not read again);
- skips datasets that the previous index lists with the same size and md5 *and* that are really
  there with that size (a re-run of an unchanged tree sends nothing);
- sends each changed dataset to ``<path>.part`` (resuming a partial one when the backend can) and
  renames it into place only when complete;
- writes the index **last**, fully written to a temporary name then renamed, listing exactly what is
  on the server (a failed file keeps its previous row only if its previous version is still there);
  an index that would not change is not written again.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Protocol

from .errors import OneError, TransferError, TransientError
from .hashcache import HashCache
from .index import ONE_ROOT, IndexProblem, read_one_root
from .repository import Dataset
from .transfer import Progress, RetryPolicy, TransferReport, _lock_for, _ProgressTracker, check_relpath

log = logging.getLogger(__name__)
INDEX_NAME = ONE_ROOT.filename


class TreeBackend(Protocol):
    """A remote file tree. Paths are relative POSIX paths under the repository's root."""

    def size(self, rel: str) -> int | None:
        """Size of the remote file, None if absent."""

    def put(self, local: Path, rel: str, offset: int, progress: Callable[[int], None]) -> None:
        """Write ``local`` to ``rel``, starting at byte ``offset`` (append) when ``offset`` > 0."""

    def rename(self, src: str, dst: str) -> None:
        """Rename ``src`` to ``dst``, replacing ``dst``."""

    def read_text(self, rel: str) -> str | None:
        """The remote text file ``rel``, or None if absent."""

    def url_for(self, rel: str) -> str:
        """The download URL written in the index for ``rel``."""

    def worker(self) -> TreeBackend:
        """A backend for one worker thread (its own connection); may return self if thread-safe."""


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
) -> TransferReport:
    retry = retry or RetryPolicy.from_env()
    report = TransferReport()
    t0 = time.monotonic()
    sizes: dict[str, int] = {}
    for rel in datasets:
        check_relpath(rel)
        sizes[rel] = (root / rel).stat().st_size
    problems: list[IndexProblem] = []
    prev_text = retry.call(lambda: backend.read_text(INDEX_NAME), "reading the remote index")
    previous = {d.rel_path: d for d in read_one_root(io.StringIO(prev_text or ""), None, INDEX_NAME, problems)}
    # Only a file that may be unchanged (same size as its previous row) is hashed before deciding; a new or
    # resized file must be sent anyway, and is hashed while it is being sent (in parallel with the transfer).
    local: dict[str, tuple[int, str | None]] = {}
    todo, present = [], {}
    for rel, size in sizes.items():
        old = previous.get(rel)
        if old is not None and old.size == size:
            md5 = hashes.md5(root / rel)
            local[rel] = (size, md5)
            if old.md5 == md5:
                remote = retry.call(lambda rel=rel: backend.size(rel), f"checking {rel}")
                if remote == size:
                    report.skipped.append(rel)
                    present[rel] = (size, md5)
                    continue
        else:
            local[rel] = (size, None)
        todo.append(rel)
    if dry_run:
        report.downloaded = todo  # "would send"
        report.bytes = sum(local[r][0] for r in todo)
        return report
    tracker = _ProgressTracker(progress, len(todo), sum(local[r][0] for r in todo))
    lock = threading.Lock()
    tls = threading.local()

    def send(rel: str) -> None:
        be = getattr(tls, "backend", None)
        if be is None:
            be = tls.backend = backend.worker()
        size = local[rel][0]
        part = rel + ".part"
        for attempt in range(1, retry.attempts + 1):
            try:
                offset = be.size(part) or 0
                if offset > size:
                    offset = 0
                if offset < size or size == 0:
                    be.put(root / rel, part, offset, tracker.add)
                got = be.size(part)
                if got != size:
                    raise TransientError(f"the server has {got} bytes of {size} after sending")
                be.rename(part, rel)
                tracker.add(files=1, current=rel)
                return
            except TransientError as e:
                if attempt >= retry.attempts:
                    raise TransferError(f"failed after {attempt} attempts: {e}") from None
                retry.sleep(retry.delay(attempt, e.retry_after))
                tls.backend = be = backend.worker()

    lock_dir = hashes.path.parent / "locks"  # two local processes never write one remote file at once

    hash_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="one-md5")

    def run(rel: str) -> None:
        size, md5 = local[rel]
        digest = hash_pool.submit(hashes.md5, root / rel) if md5 is None else None
        try:
            with _lock_for(lock_dir, rel):
                send(rel)
            if digest is not None:
                local[rel] = (size, digest.result())
        except OneError as e:
            with lock:
                report.failed.append((rel, str(e)))
            return
        except OSError as e:
            with lock:
                report.failed.append((rel, f"{type(e).__name__}: {e}"))
            return
        with lock:
            report.downloaded.append(rel)
            report.bytes += local[rel][0]
            present[rel] = local[rel]

    try:
        if jobs <= 1 or len(todo) <= 1:
            for rel in todo:
                run(rel)
        else:
            with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="one-up") as pool:
                list(pool.map(run, todo))
    finally:
        hash_pool.shutdown(wait=True)
        # The index is written last and lists exactly what is there, even after an interrupt.
        rows = {rel: Dataset(rel, backend.url_for(rel), s, m) for rel, (s, m) in present.items()}
        for rel, old in previous.items():
            if rel not in rows and old.size is not None:
                try:
                    if backend.size(rel) == old.size:
                        rows[rel] = Dataset(rel, backend.url_for(rel), old.size, old.md5)
                except OneError:
                    pass
        text = "".join(
            f"{r.rel_path}\t{r.url or ''}\t{r.size}\t{r.md5 or ''}\n"
            for r in sorted(rows.values(), key=lambda r: r.rel_path)
        )
        if text != (prev_text or ""):  # an unchanged tree re-upload sends nothing, not even the index
            write_index_remote(backend, text, retry, lock_dir)
    report.seconds = time.monotonic() - t0
    return report


def write_index_remote(backend: TreeBackend, text: str, retry: RetryPolicy, lock_dir: Path | None = None) -> None:
    """Write the index under a temporary name, fully closed, then rename it into place."""
    import contextlib
    import tempfile

    lock = _lock_for(lock_dir, INDEX_NAME) if lock_dir is not None else contextlib.nullcontext()
    with lock, tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / INDEX_NAME
        local.write_text(text, encoding="utf-8")
        tmp_name = INDEX_NAME + ".tmp"

        def put() -> None:
            backend.put(local, tmp_name, 0, lambda n: None)
            backend.rename(tmp_name, INDEX_NAME)

        retry.call(put, "writing the index")
