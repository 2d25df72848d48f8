"""The transfer engine: parallel, resumable, verified, atomic downloads (and the shared retry policy).

Every repository type downloads through :func:`download`. A repository only supplies a
:class:`Fetcher` that opens a byte stream for a URL at an offset; the engine:

- refuses any relative path that would land outside the destination, before writing a byte;
- skips files already present and verified (size, and md5 when known) without a network request;
- streams into a temporary ``.<name>.part`` beside the target under a per-file lock (two processes
  sharing a cache do not collide), resuming a partial file with a range request only when the server
  proves it is the same version;
- checks size and md5 while streaming, and renames into place only when both match; a mismatch
  never leaves bad bytes under the final name, and the error names the file, expected and actual;
- retries connection errors, timeouts, 5xx and 429 with exponential backoff and jitter
  (honouring ``Retry-After``), never other 4xx;
- finishes the other files of a batch when one fails, and reports what failed.

The package's modules: :mod:`~onecore.transfer.retry` (backoff), :mod:`~onecore.transfer.answers`
(capped API answers), :mod:`~onecore.transfer.sessions` (per-thread sessions),
:mod:`~onecore.transfer.protocols` (fetcher and stream protocols, items), :mod:`~onecore.transfer.http`
and :mod:`~onecore.transfer.wire` (the HTTP fetcher), :mod:`~onecore.transfer.progress` (progress and
reports), :mod:`~onecore.transfer.locks` (file locks), :mod:`~onecore.transfer.engine` (the engine).
Every public name stays importable from ``onecore.transfer``.
"""

from __future__ import annotations

from ..hashcache import md5_file
from ..paths import PART_SUFFIX, _Joiner, check_relpath, part_meta_path, part_path, safe_join, url_join
from .answers import MAX_ANSWER_BYTES, MAX_ANSWER_SECONDS, read_capped
from .engine import DEFAULT_JOBS, THREADED_HASH_BYTES, _Cancelled, _Digest, download, verify_file
from .http import HTTPFetcher
from .locks import _FileLock, _lock_for
from .progress import Progress, ProgressTracker, TransferReport, _human, _ItemProgress, _ProgressTracker
from .protocols import CHUNK, Fetcher, Stream, TransferItem, _origin, _redact, _short, http_error
from .retry import RetryPolicy, parse_retry_after
from .sessions import ThreadSessions

__all__ = [
    "CHUNK",
    "DEFAULT_JOBS",
    "MAX_ANSWER_BYTES",
    "MAX_ANSWER_SECONDS",
    "PART_SUFFIX",
    "THREADED_HASH_BYTES",
    "Fetcher",
    "HTTPFetcher",
    "Progress",
    "ProgressTracker",
    "RetryPolicy",
    "Stream",
    "ThreadSessions",
    "TransferItem",
    "TransferReport",
    "check_relpath",
    "download",
    "http_error",
    "md5_file",
    "parse_retry_after",
    "part_meta_path",
    "part_path",
    "read_capped",
    "safe_join",
    "url_join",
    "verify_file",
]
# Private names re-exported for the callers that still use them (plugins, upload code).
_PRIVATE = (_Cancelled, _Digest, _FileLock, _ItemProgress, _Joiner, _ProgressTracker, _human, _lock_for, _origin)
_PRIVATE2 = (_redact, _short)
