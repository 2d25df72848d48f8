"""The transfer engine: parallel, resumable, verified, atomic downloads (and the shared retry policy).

Every repository type downloads through :func:`download`. A repository only supplies a
:class:`Fetcher` that opens a byte stream for a URL at an offset; the engine:

- refuses any relative path that would land outside the destination, before writing a byte;
- skips files already present and verified (size, and md5 when known) without a network request;
- streams into ``<target>.part`` beside the target under a per-file lock (two processes sharing a
  cache do not collide), resuming a partial file with a range request when the server allows it;
- checks size and md5 while streaming, and renames into place only when both match; a mismatch
  never leaves bad bytes under the final name, and the error names the file, expected and actual;
- retries connection errors, timeouts, 5xx and 429 with exponential backoff and jitter
  (honouring ``Retry-After``), never other 4xx;
- finishes the other files of a batch when one fails, and reports what failed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol, TypeVar
from urllib.parse import quote

from .errors import OneError, TransferError, TransientError, UnsafePathError, VerificationError

log = logging.getLogger(__name__)

CHUNK = 1 << 20
DEFAULT_JOBS = 8
PART_SUFFIX = ".part"
_SAFE_REL = re.compile(r"^[A-Za-z0-9_.\-#/]+\Z")
T = TypeVar("T")


# --------------------------------------------------------------------------------------------------
# Paths and URLs
# --------------------------------------------------------------------------------------------------
def check_relpath(rel: str) -> str:
    """Return ``rel`` if it is a safe relative POSIX path, else raise :class:`UnsafePathError`.

    Safe means: ASCII letters, digits and ``_.-#/`` only (so no ``%``-encoding tricks, backslashes,
    drive letters, ``~`` or Unicode look-alikes), not absolute, and no empty, ``.`` or ``..`` part.
    """
    if not isinstance(rel, str) or not rel:
        raise UnsafePathError(f"refused an empty or non-text path: {rel!r}")
    if not _SAFE_REL.match(rel):
        raise UnsafePathError(
            f"refused the path {rel!r}: only letters, digits and '_.-#/' are allowed in dataset paths"
        )
    if rel.startswith("/") or any(p in ("", ".", "..") for p in rel.split("/")):
        raise UnsafePathError(f"refused the path {rel!r}: it is absolute or has an empty, '.' or '..' part")
    return rel


def safe_join(root: str | os.PathLike, rel: str) -> Path:
    """``root / rel`` after :func:`check_relpath`, refusing symlinks that lead outside ``root``."""
    check_relpath(rel)
    base = Path(root).resolve()
    target = base.joinpath(*rel.split("/"))
    # An existing symlink anywhere on the way may lead outside: resolve what exists and compare.
    probe = target
    while not probe.exists() and probe != base:
        probe = probe.parent
    real = probe.resolve()
    if real != base and base not in real.parents:
        raise UnsafePathError(f"refused the path {rel!r}: it leads outside {base} through a symbolic link")
    return target


def url_join(base_url: str, rel: str) -> str:
    """Join a base URL and a relative path, percent-encoding characters such as ``#``, ``%`` and spaces."""
    if not base_url.endswith("/"):
        base_url += "/"
    return base_url + quote(rel, safe="/")


# --------------------------------------------------------------------------------------------------
# Retry policy
# --------------------------------------------------------------------------------------------------
@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter. ``attempts`` counts the first try."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    sleep: Callable[[float], None] = time.sleep

    @classmethod
    def from_env(cls) -> RetryPolicy:
        """Defaults, overridable with ``ONE_RETRY_ATTEMPTS`` and ``ONE_RETRY_BASE_DELAY``."""
        p = cls()
        try:
            p.attempts = max(1, int(os.environ.get("ONE_RETRY_ATTEMPTS", p.attempts)))
            p.base_delay = max(0.0, float(os.environ.get("ONE_RETRY_BASE_DELAY", p.base_delay)))
        except ValueError:
            pass
        return p

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(max(0.0, retry_after), self.max_delay)
        return random.uniform(0, min(self.max_delay, self.base_delay * (2 ** (attempt - 1))))

    def call(self, fn: Callable[[], T], what: str = "request") -> T:
        """Call ``fn`` until it succeeds, retrying :class:`TransientError`; the last error is raised."""
        for attempt in range(1, self.attempts + 1):
            try:
                return fn()
            except TransientError as e:
                if attempt >= self.attempts:
                    raise TransferError(f"{what} failed after {attempt} attempts: {e}") from None
                d = self.delay(attempt, e.retry_after)
                log.info("%s: %s; retrying in %.1fs (attempt %d/%d)", what, e, d, attempt + 1, self.attempts)
                self.sleep(d)
        raise AssertionError("unreachable")


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


# --------------------------------------------------------------------------------------------------
# Fetchers
# --------------------------------------------------------------------------------------------------
class Stream(Protocol):
    """An open download: ``offset`` is where the bytes start (0 if a range was ignored)."""

    offset: int
    total: int | None

    def chunks(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


class Fetcher(Protocol):
    """Opens streams for URLs; raises :class:`TransientError` for retryable failures."""

    def open(self, url: str, offset: int = 0) -> Stream: ...

    def close(self) -> None: ...


@dataclass
class _HTTPStream:
    response: Any
    offset: int
    total: int | None

    def chunks(self) -> Iterator[bytes]:
        import requests

        try:
            yield from self.response.iter_content(CHUNK)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as e:
            raise TransientError(f"connection lost while reading: {_short(e)}") from None

    def close(self) -> None:
        self.response.close()


def _short(e: BaseException) -> str:
    text = str(e)
    return text if len(text) < 300 else text[:300] + "..."


def http_error(response: Any, what: str) -> OneError:
    """The error for a non-success HTTP response: transient for 429/5xx, permanent otherwise."""
    code = response.status_code
    if code == 429 or code >= 500:
        return TransientError(f"{what}: HTTP {code}", parse_retry_after(response.headers.get("Retry-After")))
    if code in (401, 403):
        return TransferError(f"{what}: HTTP {code}, access refused (check the login/password or token)")
    if code == 404:
        return TransferError(f"{what}: HTTP 404, not found on the server")
    return TransferError(f"{what}: HTTP {code}")


class HTTPFetcher:
    """HTTP(S) fetcher: one ``requests.Session`` per thread (connection reuse), timeouts always set."""

    def __init__(self, auth: tuple[str, str] | None = None, timeout: tuple[float, float] = (10.0, 60.0),
                 headers: dict[str, str] | None = None):
        self.auth = auth
        self.timeout = timeout
        self.headers = headers or {}
        self._local = threading.local()
        self._sessions: list[Any] = []
        self._lock = threading.Lock()

    @property
    def session(self) -> Any:
        s = getattr(self._local, "session", None)
        if s is None:
            import requests

            s = requests.Session()
            s.headers.update(self.headers)
            if self.auth:
                s.auth = self.auth
            self._local.session = s
            with self._lock:
                self._sessions.append(s)
        return s

    def get(self, url: str, **kwargs: Any) -> Any:
        """A GET with timeouts, mapping connection failures to :class:`TransientError`."""
        import requests

        kwargs.setdefault("timeout", self.timeout)
        try:
            return self.session.get(url, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as e:
            raise TransientError(f"GET {_redact(url)}: {type(e).__name__}: {_short(e)}") from None

    def open(self, url: str, offset: int = 0) -> _HTTPStream:
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        headers["Accept-Encoding"] = "identity"
        r = self.get(url, headers=headers, stream=True)
        if r.status_code == 416 and offset:
            r.close()
            return self.open(url, 0)
        if r.status_code not in (200, 206):
            r.close()
            raise http_error(r, f"GET {_redact(url)}")
        start = 0
        if r.status_code == 206:
            m = re.match(r"bytes (\d+)-", r.headers.get("Content-Range", ""))
            start = int(m.group(1)) if m else -1
            if start != offset:
                r.close()
                return self.open(url, 0) if offset else _fail(url)
        length = r.headers.get("Content-Length")
        total = start + int(length) if length and length.isdigit() else None
        return _HTTPStream(r, start, total)

    def close(self) -> None:
        with self._lock:
            for s in self._sessions:
                s.close()
            self._sessions.clear()
        self._local = threading.local()


def _fail(url: str) -> Any:
    raise TransferError(f"GET {_redact(url)}: the server answered with a range that was not asked for")


def _redact(url: str) -> str:
    """Hide credentials and tokens in URLs shown to users."""
    url = re.sub(r"//[^/@]*@", "//****@", url)
    return re.sub(r"((?:access_)?token=)[^&]+", r"\1****", url)


# --------------------------------------------------------------------------------------------------
# Items, reports, progress
# --------------------------------------------------------------------------------------------------
@dataclass
class TransferItem:
    """One file to download: where from, where to (relative to the destination), how to verify."""

    rel_path: str
    url: str
    size: int | None = None
    md5: str | None = None


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

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        s = (f"{len(self.downloaded)} transferred ({_human(self.bytes)}), {len(self.skipped)} already up to date, "
             f"{len(self.failed)} failed")
        if self.seconds > 0 and self.bytes:
            s += f" in {self.seconds:.1f}s ({_human(self.bytes / self.seconds)}/s)"
        return s

    def raise_for_failures(self) -> None:
        if self.failed:
            lines = "\n".join(f"  {p}: {e}" for p, e in self.failed[:20])
            more = f"\n  ... and {len(self.failed) - 20} more" if len(self.failed) > 20 else ""
            raise TransferError(f"{len(self.failed)} file(s) failed:\n{lines}{more}")


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


class _ProgressTracker:
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


# --------------------------------------------------------------------------------------------------
# Locks
# --------------------------------------------------------------------------------------------------
class _FileLock:
    """An exclusive inter-process lock on a small lock file (``flock``; ``msvcrt`` on Windows)."""

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None

    def __enter__(self) -> _FileLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            import fcntl

            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - Windows
            import msvcrt

            while True:
                try:
                    msvcrt.locking(self.fd, msvcrt.LK_LOCK, 1)
                    break
                except OSError:
                    time.sleep(0.05)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the lock
            self.fd = None


def _lock_for(dest_root: Path, rel: str) -> _FileLock:
    stripe = hashlib.sha1(rel.encode()).hexdigest()[:2]  # 256 lock files at most per destination
    return _FileLock(dest_root / ".one_locks" / f"{stripe}.lock")


# --------------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------------
def verify_file(path: Path, size: int | None, md5: str | None) -> str | None:
    """None if ``path`` has the expected size and md5 (unknown ones are not checked), else the reason."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return "missing"
    if size is not None and st.st_size != size:
        return f"size {st.st_size} instead of {size}"
    if md5:
        from .repository import md5_file

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

    ``verified(path, item)`` may say that an existing file is known good (e.g. from a cache of earlier
    checks) so that it is not hashed again; ``on_verified`` is told of every file checked good.
    Unsafe relative paths are reported as failures before anything is written.
    KeyboardInterrupt stops the batch (partial files are kept for resuming) and propagates.
    """
    retry = retry or RetryPolicy.from_env()
    dest_root = Path(dest)
    dest_root.mkdir(parents=True, exist_ok=True)
    report = TransferReport()
    t0 = time.monotonic()
    planned: list[tuple[TransferItem, Path]] = []
    for item in items:
        try:
            planned.append((item, safe_join(dest_root, item.rel_path)))
        except UnsafePathError as e:
            report.failed.append((str(item.rel_path), str(e)))
    tracker = _ProgressTracker(progress, len(planned), sum(i.size or 0 for i, _ in planned))

    def one(item: TransferItem, target: Path) -> tuple[str, int]:
        return _download_one(item, target, dest_root, fetcher, retry, tracker, verified, on_verified)

    results: dict[str, tuple[str, int] | BaseException] = {}
    if jobs <= 1 or len(planned) <= 1:
        for item, target in planned:
            try:
                results[item.rel_path] = one(item, target)
            except OneError as e:
                results[item.rel_path] = e
            except OSError as e:
                results[item.rel_path] = TransferError(f"cannot write {target}: {e.strerror or e}")
    else:
        pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="one-dl")
        try:
            futures = {pool.submit(one, item, target): item for item, target in planned}
            for fut in as_completed(futures):
                item = futures[fut]
                try:
                    results[item.rel_path] = fut.result()
                except OneError as e:
                    results[item.rel_path] = e
                except OSError as e:
                    results[item.rel_path] = TransferError(f"cannot write {item.rel_path}: {e.strerror or e}")
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
    for item, target in planned:
        res = results.get(item.rel_path)
        if isinstance(res, BaseException):
            report.failed.append((item.rel_path, str(res)))
        elif res is not None:
            status, nbytes = res
            report.paths[item.rel_path] = target
            (report.skipped if status == "skipped" else report.downloaded).append(item.rel_path)
            report.bytes += nbytes
    report.seconds = time.monotonic() - t0
    return report


def _download_one(
    item: TransferItem,
    target: Path,
    dest_root: Path,
    fetcher: Fetcher,
    retry: RetryPolicy,
    tracker: _ProgressTracker,
    verified: Callable[[Path, TransferItem], bool] | None,
    on_verified: Callable[[Path, TransferItem], None] | None,
) -> tuple[str, int]:
    # Fast path, no lock: an existing file that a cache of earlier checks vouches for.
    if target.exists() and verified is not None and verified(target, item):
        tracker.add(files=1)
        return "skipped", 0
    with _lock_for(dest_root, item.rel_path):
        if target.exists():
            if verify_file(target, item.size, item.md5) is None:
                if on_verified:
                    on_verified(target, item)
                tracker.add(files=1)
                return "skipped", 0
            log.info("%s: present but fails verification; downloading again", item.rel_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + PART_SUFFIX)
        fresh_tries = 2  # a verification failure restarts from zero once
        attempt = 0
        while True:
            attempt += 1
            try:
                nbytes, digest = _stream_to_part(item, part, fetcher, tracker)
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
                    f"{item.rel_path}: downloaded file failed verification ({problem}); nothing was kept. "
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
    item: TransferItem, part: Path, fetcher: Fetcher, tracker: _ProgressTracker
) -> tuple[int, str | None]:
    """Append the missing bytes to ``part``, hashing as they arrive; returns (bytes received, md5)."""
    offset = part.stat().st_size if part.exists() else 0
    if item.size is not None and offset > item.size:
        part.unlink()
        offset = 0
    h = hashlib.md5(usedforsecurity=False) if item.md5 else None
    if item.size is not None and offset == item.size:  # complete from an earlier run
        return 0, _hash_existing(part, h, offset)
    stream = fetcher.open(item.url, offset)
    received = 0
    try:
        resuming = offset > 0 and stream.offset == offset
        if resuming:
            _hash_existing(part, h, offset)
        elif offset:
            tracker.add(-offset)
        with open(part, "ab" if resuming else "wb") as f:
            for chunk in stream.chunks():
                if not chunk:
                    continue
                if item.size is not None and stream.offset + received + len(chunk) > item.size:
                    f.close()
                    part.unlink(missing_ok=True)
                    raise TransientError(f"the server sent more than the expected {item.size} bytes")
                f.write(chunk)
                if h is not None:
                    h.update(chunk)
                received += len(chunk)
                tracker.add(len(chunk))
    finally:
        stream.close()
    end = stream.offset + received
    expected = item.size if item.size is not None else stream.total
    if expected is not None and end < expected:
        raise TransientError(f"short read: got {end} of {expected} bytes")
    return received, (h.hexdigest() if h is not None else None)


def _hash_existing(part: Path, h: Any, length: int) -> str | None:
    if h is None:
        return None
    with open(part, "rb") as f:
        remaining = length
        while remaining > 0:
            b = f.read(min(CHUNK, remaining))
            if not b:
                break
            h.update(b)
            remaining -= len(b)
    return h.hexdigest()
