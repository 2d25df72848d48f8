"""What an upload reads, counts and reports: :class:`HashingReader` (the md5 of the bytes as they are
sent), :func:`summary_lines`; :class:`ProgressTracker` is the engine's."""

from __future__ import annotations

import hashlib
import queue
import threading
from pathlib import Path
from typing import Any

from .transfer import TransferReport

BLOCK = 1 << 20
#: Files larger than this are hashed in a helper thread while they are sent.
THREADED_HASH_BYTES = 8 << 20


class HashingReader:
    """A read-only binary file that computes the md5 of the bytes read from it in order.

    Reads may seek anywhere (a backend comparing a partial upload); the hash covers every byte from 0
    to :attr:`hashed` exactly once, as read (so it is the md5 of what was sent). With ``threaded``
    the hashing runs in a helper thread (hashlib releases the GIL), overlapping the sending. Without
    ``hashing`` it is a plain reader (the md5 is known already, or the backend computes it) and
    :meth:`md5` is None."""

    def __init__(self, path: Path, threaded: bool = False, hashing: bool = True):
        self.f = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by close()
        self.h = hashlib.md5(usedforsecurity=False)
        self.hashing = hashing
        self.hashed = 0 if hashing else -1  # (-1: never inside a read range)
        self._q: queue.Queue[bytes | None] | None = None
        self._thread: threading.Thread | None = None
        if threaded and hashing:
            self._q = queue.Queue(maxsize=8)
            self._thread = threading.Thread(target=self._run, name="one-md5", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        assert self._q is not None
        while (b := self._q.get()) is not None:
            self.h.update(b)

    def seek(self, pos: int, whence: int = 0) -> int:
        return self.f.seek(pos, whence)

    def tell(self) -> int:
        return self.f.tell()

    def read(self, n: int = -1) -> bytes:
        if not self.hashing:
            return self.f.read(n) if n >= 0 else self.f.readall()
        pos = self.f.tell()
        b = self.f.read(n) if n >= 0 else self.f.readall()
        if pos <= self.hashed < pos + len(b):
            chunk = b if pos == self.hashed else b[self.hashed - pos :]
            if self._q is not None:
                self._q.put(chunk)
            else:
                self.h.update(chunk)
            self.hashed = pos + len(b)
        return b

    def hash_through(self, end: int) -> None:
        """Hash the bytes up to ``end`` (the part already on the server, sent by an earlier run)."""
        if not self.hashing:
            return
        self.f.seek(self.hashed)
        while self.hashed < end:
            if not self.read(min(BLOCK, end - self.hashed)):
                break

    def md5(self) -> str | None:
        """The md5 of the bytes hashed (None when not ``hashing``)."""
        self._stop()
        return self.h.hexdigest() if self.hashing else None

    def _stop(self) -> None:
        if self._thread is not None and self._q is not None:
            self._q.put(None)
            self._thread.join()
            self._thread = None

    def close(self) -> None:
        self._stop()
        self.f.close()

    def __enter__(self) -> HashingReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def summary_lines(
    report: TransferReport, name: str, dry_run: bool, n_bad: int, everything: set[str]
) -> list[tuple[str, bool]]:
    """The lines ``one upload`` prints after an upload to repository ``name``: (text, on stderr).

    ``everything``: every dataset of the local root (with ``--limit``, more than were uploaded), so
    that the remote datasets no longer present locally are counted right."""
    stale = [p for p in getattr(report, "remote_only", []) if p not in everything]
    deleted = list(getattr(report, "deleted", []))
    if dry_run:
        out = [(f"would send {p}", False) for p in report.downloaded]
        out += [(f"would delete {p}", False) for p in deleted]
        extra = f", {len(deleted)} to delete" if deleted else ""
        if stale and not deleted:
            extra += f"; {len(stale)} remote dataset(s) no longer present locally (--delete removes them)"
        return [
            *out,
            (f"Dry run: {len(report.downloaded)} to send, {len(report.skipped)} already there{extra}.", False),
        ]
    out = [(f"FAILED {p}: {err}", True) for p, err in report.failed]
    line = f"Upload to {name!r}: {report.summary()}; {n_bad} non-ALF file(s) skipped."
    if deleted:
        line += f" {len(deleted)} remote dataset(s) deleted."
    elif stale:
        line += f" {len(stale)} remote dataset(s) no longer present locally (--delete removes them)."
    out.append((line, False))
    if report.failed:
        out.append(("Re-run the same command to retry: finished files are not sent again.", True))
    return out
