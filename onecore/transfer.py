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
import http.client
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
        # Checked: it resolves inside, and what does not exist yet will be made by us as plain folders.
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


#: Largest answer (bytes) read from a server's API before refusing it (``ONE_MAX_ANSWER_BYTES``).
MAX_ANSWER_BYTES = 64 * 1024 * 1024
#: Longest time (seconds) spent reading one answer's body (``ONE_MAX_ANSWER_SECONDS``).
MAX_ANSWER_SECONDS = 300.0


def _env_number(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


def read_capped(r: Any, where: str, who: str = "the server") -> bytes:
    """The body of a streamed ``requests`` response to an API call, refused past ``ONE_MAX_ANSWER_BYTES``
    bytes (64 MiB) or ``ONE_MAX_ANSWER_SECONDS`` seconds (300): an endless or gigantic answer (JSON that
    never ends) is a clear :class:`TransferError`; an answer cut short is a :class:`TransientError`."""
    import requests

    limit = int(_env_number("ONE_MAX_ANSWER_BYTES", MAX_ANSWER_BYTES))
    seconds = _env_number("ONE_MAX_ANSWER_SECONDS", MAX_ANSWER_SECONDS)
    declared = r.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TransferError(
            f"{where}: {who}'s answer is {int(declared)} bytes, more than the limit of {limit}; "
            "refusing it (raise ONE_MAX_ANSWER_BYTES if this is expected)"
        )
    deadline = time.monotonic() + seconds
    buf = bytearray()
    try:
        for chunk in r.iter_content(1 << 16):
            buf += chunk
            if len(buf) > limit:
                raise TransferError(
                    f"{where}: {who}'s answer is larger than {limit} bytes (endless?); "
                    "refusing it (raise ONE_MAX_ANSWER_BYTES if this is expected)"
                )
            if time.monotonic() > deadline:
                raise TransferError(
                    f"{where}: {who}'s answer took more than {seconds:g} s (endless?); "
                    "refusing it (raise ONE_MAX_ANSWER_SECONDS if this is expected)"
                )
    except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as e:
        raise TransientError(f"{where}: the answer was cut ({type(e).__name__})") from None
    finally:
        r.close()
    return bytes(buf)


class ThreadSessions:
    """One ``requests.Session`` per thread (connection reuse without sharing a session across threads),
    all closed together by :meth:`close`. ``configure(session)`` sets each new session up."""

    def __init__(self, configure: Callable[[Any], None] | None = None):
        self._configure = configure
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()

    def get(self) -> Any:
        """This thread's session (made on first use)."""
        s = getattr(self._local, "session", None)
        if s is None:
            import requests

            s = requests.Session()
            if self._configure is not None:
                self._configure(s)
            with self._lock:
                self._all.append(s)
            self._local.session = s
        return s

    def close(self) -> None:
        """Close every session; new ones are made on demand afterwards."""
        with self._lock:
            for s in self._all:
                s.close()
            self._all.clear()
        self._local = threading.local()


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
    """An open download over a ``urllib3`` response (no ``requests`` per-request overhead)."""

    response: Any
    offset: int
    total: int | None
    encoded: bool = False
    complete: bool = False

    def chunks(self) -> Iterator[bytes]:
        """The body in chunks of at most :data:`CHUNK` bytes, as they arrive.

        ``read1`` hands over whatever has arrived, so a connection lost mid-body loses nothing that
        was received: the partial file keeps it and the next attempt resumes from there.
        """
        import urllib3

        r = self.response
        read1 = getattr(r, "read1", None)
        try:
            if read1 is not None:
                while True:
                    b = read1(CHUNK, decode_content=True)
                    if not b:
                        break
                    yield b
            else:  # pragma: no cover - urllib3 < 2
                yield from r.stream(CHUNK, decode_content=True)
            self.complete = True
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise TransientError(f"connection lost while reading: {_short(e)}") from None

    def close(self) -> None:
        if not self.complete:  # a half-read connection cannot be reused: close it
            self.response.close()
        self.response.release_conn()


def _short(e: BaseException) -> str:
    text = str(e)
    return text if len(text) < 300 else text[:300] + "..."


def http_error(response: Any, what: str) -> OneError:
    """The error for a non-success HTTP response: transient for 429/5xx, permanent otherwise."""
    code = getattr(response, "status_code", None) or response.status  # requests or urllib3
    if code == 429 or code >= 500:
        return TransientError(f"{what}: HTTP {code}", parse_retry_after(response.headers.get("Retry-After")))
    if code in (401, 403):
        return TransferError(f"{what}: HTTP {code}, access refused (check the login/password or token)")
    if code == 404:
        return TransferError(f"{what}: HTTP 404, not found on the server")
    return TransferError(f"{what}: HTTP {code}")


class HTTPFetcher:
    """HTTP(S) fetcher with connection reuse and timeouts always set.

    Downloads (:meth:`open`) go through a ``urllib3`` pool manager shared by the worker threads (a
    connection per worker, kept alive from file to file and across batches); :meth:`get` is a
    ``requests`` GET for one-off calls such as fetching an index. ``auth`` (HTTP basic) is sent only
    when given, and never to another host after a redirect. Proxies and CA bundles from the
    environment (``HTTPS_PROXY``, ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``...) are honoured, looked up once
    per host.
    """

    def __init__(
        self,
        auth: tuple[str, str] | None = None,
        timeout: tuple[float, float] = (10.0, 60.0),
        headers: dict[str, str] | None = None,
        pool_size: int = 32,
    ):
        self.auth = auth
        self.timeout = timeout
        self.headers = headers or {}
        self.pool_size = pool_size
        self._sessions = ThreadSessions(self._setup_session)
        self._managers: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._env: dict[str, dict[str, Any]] = {}
        self._proxy: dict[str, str | None] = {}
        self._free: dict[tuple[str, str, int], list[Any]] = {}
        self._auth_header: dict[str, str] = {}
        if auth:
            import base64

            pair = f"{auth[0]}:{auth[1]}"
            try:
                raw = pair.encode("latin-1")
            except UnicodeEncodeError:
                raw = pair.encode("utf-8")
            self._auth_header = {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}

    def __repr__(self) -> str:
        return f"<HTTPFetcher auth={'yes' if self.auth else 'no'} timeout={self.timeout}>"

    # -- environment ---------------------------------------------------------------------------
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

    # -- requests, for one-off calls -----------------------------------------------------------
    @property
    def session(self) -> Any:
        """This thread's ``requests.Session`` (for :meth:`get`)."""
        return self._sessions.get()

    def _setup_session(self, s: Any) -> None:
        s.trust_env = False  # the environment's settings come from _env_for, looked up once per host
        s.headers.update(self.headers)
        if self.auth:
            s.auth = self.auth

    def get(self, url: str, **kwargs: Any) -> Any:
        """A ``requests`` GET with timeouts, mapping connection failures to :class:`TransientError`."""
        import requests

        kwargs.setdefault("timeout", self.timeout)
        for k, v in self._env_for(url).items():
            kwargs.setdefault(k, v)
        try:
            return self.session.get(url, **kwargs)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as e:
            raise TransientError(f"GET {_redact(url)}: {type(e).__name__}: {_short(e)}") from None
        except requests.RequestException as e:  # invalid URL, too many redirects...
            raise TransferError(f"GET {_redact(url)}: {type(e).__name__}: {_short(e)}") from None

    # -- downloads -----------------------------------------------------------------------------
    def _manager(self, url: str) -> Any:
        import urllib3
        from requests.utils import DEFAULT_CA_BUNDLE_PATH, select_proxy

        env = self._env_for(url)
        proxy = select_proxy(url, env.get("proxies") or {})
        key = proxy or ""
        with self._lock:
            pm = self._managers.get(key)
            if pm is None:
                verify = env.get("verify", True)
                kw: dict[str, Any] = {"num_pools": 16, "maxsize": self.pool_size, "block": False}
                if verify is False:
                    kw["cert_reqs"] = "CERT_NONE"
                else:
                    kw["cert_reqs"] = "CERT_REQUIRED"
                    where = verify if isinstance(verify, str) else DEFAULT_CA_BUNDLE_PATH
                    kw["ca_cert_dir" if os.path.isdir(where) else "ca_certs"] = where
                if isinstance(env.get("cert"), str):
                    kw["cert_file"] = env["cert"]
                pm = urllib3.ProxyManager(proxy, **kw) if proxy else urllib3.PoolManager(**kw)
                self._managers[key] = pm
        return pm

    def _request(self, url: str, headers: dict[str, str]) -> Any:
        import urllib3

        pm = self._manager(url)
        try:
            return pm.urlopen(
                "GET",
                url,
                headers=headers,
                preload_content=False,
                redirect=True,
                timeout=urllib3.Timeout(connect=self.timeout[0], read=self.timeout[1]),
                retries=urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=10),
            )
        except urllib3.exceptions.MaxRetryError as e:
            if isinstance(e.reason, urllib3.exceptions.ResponseError):
                raise TransferError(f"GET {_redact(url)}: too many redirects") from None
            raise TransientError(f"GET {_redact(url)}: {type(e.reason).__name__}: {_short(e.reason)}") from None
        except (urllib3.exceptions.LocationValueError, ValueError) as e:
            raise TransferError(f"GET {_redact(url)}: invalid URL: {_short(e)}") from None
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise TransientError(f"GET {_redact(url)}: {type(e).__name__}: {_short(e)}") from None

    def open(self, url: str, offset: int = 0) -> Stream:
        """GET ``url`` from ``offset`` (a ``Range`` request when > 0); the stream says where it starts.

        Without a proxy this talks ``http.client`` over kept-alive connections (a fraction of the
        per-request cost of urllib3 or requests, which matters for thousands of small files); through
        a proxy it uses ``urllib3``.
        """
        if type(self).get is not HTTPFetcher.get:  # a subclass adds to get(): keep going through it
            return self._open_requests(url, offset)
        if self._proxy_for(url):
            return self._open_urllib3(url, offset)
        return self._open_direct(url, offset)

    def request_headers(self, url: str) -> dict[str, str]:
        """Extra headers for a download request to ``url``; asked again for every redirect hop.

        Subclasses override it to send a credential to some hosts only (say, a token to the API's
        host); the base class adds none (basic ``auth`` is handled separately, first host only).
        """
        return {}

    def _open_requests(self, url: str, offset: int) -> _HTTPStream:
        """Download through :meth:`get` (for subclasses that customise it; slower per request)."""
        headers = {"Accept-Encoding": "identity", **self.request_headers(url)}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        r = self.get(url, headers=headers, stream=True)
        start, total, encoded = _check_response(r.status_code, r.headers, offset, url, r.close, r)
        if start < 0:
            return self._open_requests(url, 0)
        return _HTTPStream(r.raw, start, total, encoded)

    def _proxy_for(self, url: str) -> str | None:
        origin = _origin(url)
        if origin not in self._proxy:
            from requests.utils import select_proxy

            self._proxy[origin] = select_proxy(url, self._env_for(url).get("proxies") or {})
        return self._proxy[origin]

    def _headers(self, offset: int, auth: bool = True) -> dict[str, str]:
        headers = {**self.headers, "Accept-Encoding": "identity"}
        if auth:
            headers.update(self._auth_header)
        if offset:
            headers["Range"] = f"bytes={offset}-"
        return headers

    def _open_urllib3(self, url: str, offset: int) -> _HTTPStream:
        r = self._request(url, {**self._headers(offset), **self.request_headers(url)})
        start, total, encoded = _check_response(r.status, r.headers, offset, url, lambda: _discard(r), r)
        if start < 0:  # the range was not honoured as asked: start again from zero
            return self._open_urllib3(url, 0)
        return _HTTPStream(r, start, total, encoded)

    # -- http.client -----------------------------------------------------------------------------
    def _connection(self, scheme: str, host: str, port: int, fresh: bool = False) -> tuple[Any, bool]:
        """A kept-alive connection to (scheme, host, port) from the free list (unless ``fresh``), or a new
        one; and whether it was reused."""
        key = (scheme, host, port)
        with self._lock:
            free = self._free.get(key)
            if free and not fresh:
                return free.pop(), True
        if scheme == "https":
            conn: Any = _HTTPSConnection(
                host, port, timeout=self.timeout[0], context=self._ssl_context(f"https://{host}:{port}")
            )
        else:
            conn = _HTTPConnection(host, port, timeout=self.timeout[0])
        conn.read_timeout = self.timeout[1]
        return conn, False

    def _give_back(self, key: tuple[str, str, int], conn: Any) -> None:
        with self._lock:
            self._free.setdefault(key, []).append(conn)

    def _ssl_context(self, url: str) -> Any:
        import ssl

        from requests.utils import DEFAULT_CA_BUNDLE_PATH

        env = self._env_for(url)
        verify = env.get("verify", True)
        if verify is False:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        else:
            where = verify if isinstance(verify, str) else DEFAULT_CA_BUNDLE_PATH
            ctx = ssl.create_default_context(**{"capath" if os.path.isdir(where) else "cafile": where})
        if isinstance(env.get("cert"), str):
            ctx.load_cert_chain(env["cert"])
        return ctx

    def _open_direct(self, url: str, offset: int) -> Stream:
        from urllib.parse import urljoin, urlsplit

        first_origin = _origin(url)
        for _hop in range(11):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise TransferError(f"GET {_redact(url)}: not an http(s) URL")
            try:
                port = parts.port or (443 if parts.scheme == "https" else 80)
            except ValueError:
                raise TransferError(f"GET {_redact(url)}: invalid port") from None
            key = (parts.scheme, parts.hostname, port)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            headers = {**self._headers(offset, auth=_origin(url) == first_origin), **self.request_headers(url)}
            for fresh_try in (False, True):
                conn, reused = self._connection(*key, fresh=fresh_try)
                try:
                    conn.request("GET", target, headers=headers)
                    r = conn.getresponse()
                    break
                except (http.client.HTTPException, OSError) as e:
                    conn.close()
                    stale = reused and not fresh_try and not isinstance(e, TimeoutError)
                    if stale:  # the server closed an idle kept-alive connection: once more on a new one
                        continue
                    raise TransientError(f"GET {_redact(url)}: {type(e).__name__}: {_short(e)}") from None
            if r.status in (301, 302, 303, 307, 308) and r.getheader("Location"):
                _drain(r, conn, key, self)
                url = urljoin(url, r.getheader("Location"))
                continue
            start, total, encoded = _check_response(r.status, r.headers, offset, url, conn.close, r)
            if start < 0:
                return self._open_direct(url, 0)
            return _DirectStream(r, start, total, encoded, lambda c=conn, k=key: self._give_back(k, c), conn.close)
        raise TransferError(f"GET {_redact(url)}: too many redirects")

    def close(self) -> None:
        """Close every connection (the fetcher stays usable: new ones are made on demand)."""
        self._sessions.close()
        with self._lock:
            for pm in self._managers.values():
                pm.clear()
            self._managers.clear()
            for conns in self._free.values():
                for c in conns:
                    c.close()
            self._free.clear()


def _discard(r: Any) -> None:
    r.close()
    r.release_conn()


def _origin(url: str) -> str:
    """``scheme://host:port`` of a URL, cheaply (no parsing beyond splitting)."""
    return "/".join(url.split("/", 3)[:3]).lower()


def _check_response(
    status: int, headers: Any, offset: int, url: str, discard: Callable[[], None], response: Any
) -> tuple[int, int | None, bool]:
    """(start, total, encoded) of a download answer; start -1 means: ask again from zero. Raises for
    failures (transient for 429 and 5xx)."""
    if status == 416 and offset:  # the partial file is not a prefix of this one: start again
        discard()
        return -1, None, False
    if status not in (200, 206):
        discard()
        raise http_error(response, f"GET {_redact(url)}")
    start = 0
    if status == 206:
        m = re.match(r"bytes (\d+)-", headers.get("Content-Range", ""))
        start = int(m.group(1)) if m else -1
        if start != offset:
            discard()
            if offset:
                return -1, None, False
            _fail(url)
    length = headers.get("Content-Length")
    encoded = (headers.get("Content-Encoding") or "identity").lower() not in ("", "identity")
    total = start + int(length) if length and length.isdigit() and not encoded else None
    return start, total, encoded


def _drain(r: Any, conn: Any, key: tuple[str, str, int], fetcher: HTTPFetcher) -> None:
    """Read a small redirect body so the connection can be reused."""
    try:
        r.read(1 << 16)
    except Exception:  # noqa: BLE001 - the connection is simply not reused
        conn.close()
        return
    if r.isclosed() and not r.will_close:
        fetcher._give_back(key, conn)
    else:
        conn.close()


class _HTTPConnection(http.client.HTTPConnection):
    """Connect with the connect timeout, then read with the read timeout."""

    read_timeout: float = 60.0

    def connect(self) -> None:
        super().connect()
        self.sock.settimeout(self.read_timeout)


class _HTTPSConnection(http.client.HTTPSConnection):
    read_timeout: float = 60.0

    def connect(self) -> None:
        super().connect()
        self.sock.settimeout(self.read_timeout)


class _DirectStream:
    """An open download over an ``http.client`` response on a kept-alive connection."""

    def __init__(
        self,
        response: Any,
        offset: int,
        total: int | None,
        encoded: bool,
        give_back: Callable[[], None],
        drop: Callable[[], None],
    ):
        self.response = response
        self.offset = offset
        self.total = total
        self.encoded = encoded
        self.complete = False
        self._give_back = give_back
        self._drop = drop

    def chunks(self) -> Iterator[bytes]:
        """The body as it arrives (``read1``): what was received before a cut is kept."""
        r = self.response
        decoder = _decoder(r.getheader("Content-Encoding")) if self.encoded else None
        try:
            while True:
                b = r.read1(CHUNK)
                if not b:
                    break
                yield decoder.decompress(b) if decoder is not None else b
        except (http.client.HTTPException, OSError) as e:
            raise TransientError(f"connection lost while reading: {type(e).__name__}: {_short(e)}") from None
        if r.length:  # the connection closed before Content-Length bytes came
            raise TransientError(f"connection closed with {r.length} bytes still to come")
        r.close()  # read1 never marks a response finished: without this the connection refuses the next request
        if decoder is not None:
            yield decoder.flush()
        self.complete = True

    def close(self) -> None:
        give_back, self._give_back = self._give_back, None
        if give_back is None:
            return
        if self.complete and not self.response.will_close:
            give_back()
        else:
            self._drop()


def _decoder(encoding: str | None) -> Any:
    import zlib

    enc = (encoding or "").strip().lower()
    if enc in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if enc == "deflate":
        return zlib.decompressobj()
    raise TransferError(f"the server sent an unsupported Content-Encoding {encoding!r}")


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
        s = (
            f"{len(self.downloaded)} transferred ({_human(self.bytes)}), {len(self.skipped)} already up to date, "
            f"{len(self.failed)} failed"
        )
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
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:
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
    """The lock of ``rel`` under ``dest_root``: kept in ``$ONE_HOME/locks/<destination>/``, never in the
    destination itself (``one download --dir ./data`` leaves nothing but the data there)."""
    from .config import home

    stripe = hashlib.sha1(rel.encode()).hexdigest()[:2]  # 256 lock files at most per destination
    where = hashlib.sha1(os.path.realpath(dest_root).encode()).hexdigest()[:16]
    return _FileLock(home() / "locks" / where / f"{stripe}.lock")


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
