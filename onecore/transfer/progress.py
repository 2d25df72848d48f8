"""Progress callbacks and the report of a batch."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import TransferError


@dataclass
class Progress:
    """The state passed to progress callbacks."""

    files_total: int = 0
    bytes_total: int = 0
    files_done: int = 0
    bytes_done: int = 0
    current: str = ""


@dataclass
class TransferReport:
    """What a batch did. ``paths`` maps each item's relative path to its local file (when it succeeded)."""

    downloaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    bytes: int = 0
    seconds: float = 0.0
    paths: dict[str, Path] = field(default_factory=dict)
    #: The exception of each failed item (e.g. :class:`VerificationError`), by relative path.
    errors: dict[str, BaseException] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        s = (
            f"{len(self.downloaded)} transferred ({_human(self.bytes)}), {len(self.skipped)} already up to date, "
            f"{len(self.failed)} failed"
        )
        if self.seconds > 0 and self.bytes:
            s += f" in {self.seconds:.1f}s ({_human(self.bytes / self.seconds)}/s)"
        return s

    def failure_lines(self, prefix: str = "FAILED ") -> list[str]:
        """One line per failed file, ``FAILED path: reason``, naming the path once (the reasons of the
        engine's errors start with the path already)."""
        return [f"{prefix}{p}: {_reason(p, e)}" for p, e in self.failed]

    def raise_for_failures(self) -> None:
        if self.failed:
            lines = "\n".join("  " + line for line in self.failure_lines("")[:20])
            more = f"\n  ... and {len(self.failed) - 20} more" if len(self.failed) > 20 else ""
            raise TransferError(f"{len(self.failed)} file(s) failed:\n{lines}{more}")


def _reason(path: str, message: str) -> str:
    """``message`` without a leading ``path: `` (so that a line names the path once)."""
    return message[len(path) + 2 :] if message.startswith(f"{path}: ") else message


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


class ProgressTracker:
    """Sums byte and file counts from worker threads and calls ``callback`` with a :class:`Progress`.

    Plugins with transfers of their own (e.g. an upload protocol) use it to report progress the way the
    engine does: ``tracker.add(nbytes=..., files=..., current=path)`` from any thread. The callback is
    called at most every 0.1 s, and at every finished file; it may raise (KeyboardInterrupt to stop a
    batch), and that propagates to the caller of :meth:`add`.
    """

    def __init__(self, callback: Callable[[Progress], None] | None, files: int, total: int):
        self.cb = callback
        self.state = Progress(files, total)
        self.lock = threading.Lock()
        self.last = 0.0

    def add(self, nbytes: int = 0, files: int = 0, current: str = "") -> None:
        if self.cb is None:
            return
        with self.lock:
            self.state.bytes_done += nbytes
            self.state.files_done += files
            if current:
                self.state.current = current
            now = time.monotonic()
            if files or now - self.last >= 0.1:
                self.last = now
                self.cb(Progress(**vars(self.state)))


class _ItemProgress:
    """The bytes of one item counted in the tracker, so that restarts and resumes stay exact."""

    __slots__ = ("tracker", "counted", "rel")

    def __init__(self, tracker: ProgressTracker, rel: str):
        self.tracker = tracker
        self.counted = 0
        self.rel = rel

    def set(self, n: int) -> None:
        if n != self.counted:
            self.tracker.add(n - self.counted, current=self.rel)
            self.counted = n

    def add(self, n: int) -> None:
        self.counted += n
        self.tracker.add(n)


_ProgressTracker = ProgressTracker  # the name used before it was public
