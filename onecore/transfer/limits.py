"""The bounds every download runs under: the size cap of downloads whose size the index does not give,
and the minimum throughput (stall rule). Each is configurable by an environment variable (see
docs/integrity.md)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from ..errors import TransferError

#: Default cap (bytes) of a download whose size the index does not give (``ONE_MAX_DOWNLOAD_BYTES``).
MAX_DOWNLOAD_BYTES = 16 << 30
#: Free space left untouched by a size-less download when the free space is below the default cap.
FREE_SPACE_MARGIN = 512 << 20
#: Minimum average throughput (bytes/s) of a download over :data:`STALL_SECONDS` (``ONE_MIN_BYTES_PER_SECOND``).
MIN_BYTES_PER_SECOND = 1024
#: The window (seconds) over which the throughput is measured (``ONE_STALL_SECONDS``).
STALL_SECONDS = 30.0


def env_number(name: str, default: float) -> float:
    """A positive number from the environment variable ``name``, else ``default``."""
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


def size_cap(folder: Path) -> tuple[int, str]:
    """The cap (bytes) of a size-less download into ``folder``, and how it was set (for messages)."""
    if os.environ.get("ONE_MAX_DOWNLOAD_BYTES"):
        return int(env_number("ONE_MAX_DOWNLOAD_BYTES", MAX_DOWNLOAD_BYTES)), "ONE_MAX_DOWNLOAD_BYTES"
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return MAX_DOWNLOAD_BYTES, "the default"
    if free - FREE_SPACE_MARGIN < MAX_DOWNLOAD_BYTES:
        return max(0, free - FREE_SPACE_MARGIN), "the free space minus 512 MiB"
    return MAX_DOWNLOAD_BYTES, "the default"


def over_cap(cap: int, how: str) -> TransferError:
    """The error for a size-less download that grew past its cap."""
    return TransferError(
        f"the server sent more than {cap} bytes for a file whose size the index does not give (endless?); "
        f"refused and removed (the cap is {how}; set ONE_MAX_DOWNLOAD_BYTES to change it)"
    )


class StallWatch:
    """Raises when fewer than ``ONE_MIN_BYTES_PER_SECOND`` bytes per second arrived over the last
    ``ONE_STALL_SECONDS`` (a server dripping a byte now and then never trips a read timeout)."""

    __slots__ = ("rate", "window", "start", "count", "then")

    def __init__(self, then: str = "the partial file is kept for the next run") -> None:
        self.then = then
        self.rate = env_number("ONE_MIN_BYTES_PER_SECOND", MIN_BYTES_PER_SECOND)
        self.window = env_number("ONE_STALL_SECONDS", STALL_SECONDS)
        self.start = time.monotonic()
        self.count = 0

    def add(self, n: int) -> None:
        """Count ``n`` bytes received; raise :class:`TransferError` when the window was too slow."""
        self.count += n
        now = time.monotonic()
        elapsed = now - self.start
        if elapsed < self.window:
            return
        if self.count < self.rate * elapsed:
            raise TransferError(
                f"the transfer stalled: {self.count} bytes in {elapsed:.0f} s, less than {self.rate:g} bytes/s "
                f"(ONE_MIN_BYTES_PER_SECOND) over {self.window:g} s (ONE_STALL_SECONDS); {self.then}"
            )
        self.start, self.count = now, 0
