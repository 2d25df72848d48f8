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
import queue
import random
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol, TypeVar
from urllib.parse import quote

from .errors import OneError, TransferError, TransientError, UnsafePathError, VerificationError

log = logging.getLogger(__name__)

CHUNK = 1 << 20
DEFAULT_JOBS = 8
#: Files at least this large are hashed in a helper thread, overlapping hashing with the network.
THREADED_HASH_BYTES = 8 << 20
PART_SUFFIX = ".part"
_SAFE_REL = re.compile(r"^[A-Za-z0-9_.\-#/]+$")
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
    # An existing symlink anywhere on the way (even a dangling one) may lead outside: resolve the
    # deepest existing entry and compare.
    probe = target
    while not os.path.lexists(probe) and probe != base:
        probe = probe.parent
    real = probe.resolve()
    if real != base and base not in real.parents:
        raise UnsafePathError(f"refused the path {rel!r}: it leads outside {base} through a symbolic link")
    return target


class _Joiner:
    """:func:`safe_join` for a batch: the destination is resolved once, and folders already found to lie
    inside it are remembered, so that thousands of files in a few folders cost a few checks."""

    def __init__(self, root: Path):
        self.base = Path(root).resolve()
        self.safe_dirs: set[Path] = {self.base}

    def __call__(self, rel: str) -> Path:
        check_relpath(rel)
        target = self.base.joinpath(*rel.split("/"))
        if target.parent in self.safe_dirs and not os.path.islink(target):
            return target
        target = safe_join(self.base, rel)
        if target.parent.is_dir():
            self.safe_dirs.add(target.parent)
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
    encoded: bool = False
    release: Callable[[], None] | None = None

    def chunks(self) -> Iterator[bytes]:
        """The body in chunks of at most :data:`CHUNK` bytes, as they arrive.

        ``read1`` hands over whatever has arrived, so a connection lost mid-body loses nothing that
        was received: the partial file keeps it and the next attempt resumes from there.
        """
        import requests
        import urllib3

        raw = self.response.raw
        read1 = getattr(raw, "read1", None)
        try:
            if read1 is not None and not self.encoded:
                while True:
                    b = read1(CHUNK)
                    if not b:
                        return
                    yield b
            else:  # pragma: no cover - urllib3 < 2, or a server that compressed despite identity
                yield from self.response.iter_content(CHUNK)
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as e:
            raise TransientError(f"connection lost while reading: {_short(e)}") from None

    def close(self) -> None:
        self.response.close()
        if self.release is not None:
            self.release, release = None, self.release
            release()


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
    """HTTP(S) fetcher with connection reuse and timeouts always set.

    Each open download holds a ``requests.Session`` of its own, taken from a free list and given back
    when the stream is closed: a worker reuses its connection from file to file, and sessions are
    reused across batches instead of piling up. ``auth`` (HTTP basic) is sent only when given.
    """

    def __init__(self, auth: tuple[str, str] | None = None, timeout: tuple[float, float] = (10.0, 60.0),
                 headers: dict[str, str] | None = None):
        self.auth = auth
        self.timeout = timeout
        self.headers = headers or {}
        self._local = threading.local()
        self._sessions: list[Any] = []
        self._free: list[Any] = []
        self._lock = threading.Lock()
        self._env: dict[str, dict[str, Any]] = {}

    def __repr__(self) -> str:
        return f"<HTTPFetcher auth={'yes' if self.auth else 'no'} timeout={self.timeout}>"

    def _new_session(self) -> Any:
        import requests

        s = requests.Session()
        s.trust_env = False  # proxies and CA bundle from the environment: looked up once per host (_env_for)
        s.headers.update(self.headers)
        if self.auth:
            s.auth = self.auth
        with self._lock:
            self._sessions.append(s)
        return s

    @property
    def session(self) -> Any:
        """This thread's session (for :meth:`get`)."""
        s = getattr(self._local, "session", None)
        if s is None:
            s = self._local.session = self._new_session()
        return s

    def _checkout(self) -> Any:
        with self._lock:
            if self._free:
                return self._free.pop()
        return self._new_session()

    def _checkin(self, s: Any) -> None:
        with self._lock:
            if s in self._sessions:  # not closed meanwhile
                self._free.append(s)

    def _env_for(self, url: str) -> dict[str, Any]:
        """Proxies and TLS settings from the environment for ``url``'s host (requests looks them up on
        every request otherwise, which costs more than a small download on a fast network)."""
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc}"
        env = self._env.get(key)
        if env is None:
            import requests

            with requests.Session() as probe:
                got = probe.merge_environment_settings(key + "/", {}, None, None, None)
            env = {k: got[k] for k in ("proxies", "verify", "cert") if got.get(k) not in (None, {})}
            self._env[key] = env
        return env

    def get(self, url: str, *, session: Any = None, **kwargs: Any) -> Any:
        """A GET with timeouts, mapping connection failures to :class:`TransientError`."""
        import requests

        kwargs.setdefault("timeout", self.timeout)
        for k, v in self._env_for(url).items():
            kwargs.setdefault(k, v)
        try:
            return (session or self.session).get(url, **kwargs)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as e:
            raise TransientError(f"GET {_redact(url)}: {type(e).__name__}: {_short(e)}") from None
        except requests.RequestException as e:  # invalid URL, too many redirects...
            raise TransferError(f"GET {_redact(url)}: {type(e).__name__}: {_short(e)}") from None

    def open(self, url: str, offset: int = 0) -> _HTTPStream:
        """GET ``url`` from ``offset`` (a ``Range`` request when > 0); the stream says where it starts."""
        session = self._checkout()
        try:
            stream = self._open(session, url, offset)
        except BaseException:
            self._checkin(session)
            raise
        stream.release = lambda: self._checkin(session)
        return stream

    def _open(self, session: Any, url: str, offset: int) -> _HTTPStream:
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        headers["Accept-Encoding"] = "identity"
        r = self.get(url, session=session, headers=headers, stream=True)
        if r.status_code == 416 and offset:  # the partial file is not a prefix of this one: start again
            r.close()
            return self._open(session, url, 0)
        if r.status_code not in (200, 206):
            r.close()
            raise http_error(r, f"GET {_redact(url)}")
        start = 0
        if r.status_code == 206:
            m = re.match(r"bytes (\d+)-", r.headers.get("Content-Range", ""))
            start = int(m.group(1)) if m else -1
            if start != offset:
                r.close()
                return self._open(session, url, 0) if offset else _fail(url)
        length = r.headers.get("Content-Length")
        encoded = r.headers.get("Content-Encoding", "identity").lower() not in ("", "identity")
        total = start + int(length) if length and length.isdigit() and not encoded else None
        return _HTTPStream(r, start, total, encoded)

    def close(self) -> None:
        """Close every session (the fetcher stays usable: new sessions are made on demand)."""
        with self._lock:
            for s in self._sessions:
                s.close()
            self._sessions.clear()
            self._free.clear()
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
    #: The exception of each failed item (e.g. :class:`VerificationError`), by relative path.
    errors: dict[str, BaseException] = field(default_factory=dict)

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
    """Sums byte and file counts from the workers and calls the callback (at most every 0.1 s, and at
    every finished file). A callback may raise (KeyboardInterrupt to stop a batch): it propagates."""

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

    def __init__(self, tracker: _ProgressTracker, rel: str):
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
            log.info("%s: present but fails verification (%s); removing it and downloading again",
                     item.rel_path, problem)
            target.unlink()
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
