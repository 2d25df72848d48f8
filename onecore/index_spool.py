"""Receiving a remote index, whatever the transport: :class:`IndexSpool`.

Every repository type that downloads a ``.one_root`` (or its companion) over HTTP, FTP, S3, ...
writes the bytes it receives into an :class:`IndexSpool`: a nameless temporary file (nothing is left
behind, even by a SIGKILL) under ``$ONE_HOME/tmp``, with its sha256 (the validator of last resort),
a size cap (``ONE_MAX_INDEX_BYTES``, default 2 GiB), a deadline for the whole transfer
(``ONE_INDEX_SECONDS``, default 300 s) and the stall rule of the engine (``ONE_MIN_BYTES_PER_SECOND``
over ``ONE_STALL_SECONDS``). Each limit ends in one :class:`~onecore.errors.TransferError` naming the
index and the variable that changes it::

    spool = IndexSpool(url, home / "tmp")
    try:
        for chunk in response_chunks:
            spool.write(chunk)
    except BaseException:
        spool.discard()
        raise
    f, sha256 = spool.finish()      # the file, at its start

``IndexSpool(url, tmpdir, keep=False)`` only counts, checks and hashes (no file): for an index parsed
as it arrives (:func:`onecore.catalog.prebuilt.build_streamed`); the consumer's own time between two
chunks is given back with :meth:`IndexSpool.pause`, so the deadline and the stall rule measure the
server, not the parser.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import IO

from .errors import TransferError

__all__ = ["IndexSpool", "MAX_INDEX_BYTES", "INDEX_SECONDS", "max_index_bytes"]

#: The largest index accepted (bytes); override with ONE_MAX_INDEX_BYTES.
MAX_INDEX_BYTES = 2 << 30
#: The longest time (seconds) fetching an index may take, whole transfer; override with ONE_INDEX_SECONDS.
INDEX_SECONDS = 300.0


def max_index_bytes() -> int:
    """``ONE_MAX_INDEX_BYTES`` (default :data:`MAX_INDEX_BYTES`)."""
    try:
        return int(os.environ.get("ONE_MAX_INDEX_BYTES", MAX_INDEX_BYTES))
    except ValueError:
        return MAX_INDEX_BYTES


class IndexSpool:
    """The bytes of one remote index as they arrive, bounded in size, time and throughput."""

    def __init__(self, url: str, tmpdir: str | os.PathLike, keep: bool = True) -> None:
        import hashlib  # (imported when an index is fetched: not at start-up)
        import tempfile

        from .transfer.limits import StallWatch, env_number

        self.url = url
        self.file: IO[bytes] | None = None
        if keep:
            Path(tmpdir).mkdir(parents=True, exist_ok=True)
            self.file = tempfile.TemporaryFile(dir=tmpdir)
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.limit = max_index_bytes()
        self.seconds = env_number("ONE_INDEX_SECONDS", INDEX_SECONDS)
        self.deadline = time.monotonic() + self.seconds  # the whole transfer, whatever the server's pace
        self.stall = StallWatch(then="gave up on this fetch of the index")

    def write(self, chunk: bytes) -> None:
        """Add received bytes; raises :class:`TransferError` past a limit."""
        self.size += len(chunk)
        self.stall.add(len(chunk))
        if time.monotonic() > self.deadline:
            raise TransferError(
                f"fetching the index {self.url} took more than {self.seconds:g} s; gave up "
                "(raise ONE_INDEX_SECONDS if the server is just slow)"
            )
        if self.size > self.limit:
            raise TransferError(
                f"the index {self.url} is larger than {self.limit} bytes; refusing it "
                "(raise ONE_MAX_INDEX_BYTES if this is expected)"
            )
        self.sha256.update(chunk)
        if self.file is not None:
            self.file.write(chunk)

    def pause(self, seconds: float) -> None:
        """Leave ``seconds`` (spent by the consumer, not waiting for the server) out of the deadline and
        the stall rule."""
        self.deadline += seconds
        self.stall.start += seconds

    def finish(self) -> tuple[IO[bytes], str]:
        """The received index (a file at its start; closing it deletes it) and its sha256."""
        assert self.file is not None, "IndexSpool(keep=False) holds no file"
        self.file.seek(0)
        return self.file, self.sha256.hexdigest()

    def discard(self) -> None:
        """Drop what was received (after a failure)."""
        if self.file is not None:
            self.file.close()
