"""Loopback HTTP servers for tests: a static file server with ``Range``, basic auth, conditional
requests, a request log and fault injection.

Standard library only (``http.server`` and threads), so plugin authors can import it anywhere::

    from onecore.testing.servers import FileServer

    with FileServer(root, auth=("user", "secret")) as server:      # 127.0.0.1, a free port
        server.inject("lab/Subjects/a/2021-01-01/001/alf/x.npy", "drop", after=1000, times=1)
        ...download server.url_for("lab/Subjects/a/2021-01-01/001/alf/x.npy")...
        assert server.requests[-1].header("Range") == "bytes=1000-"

or as a pytest fixture::

    @pytest.fixture
    def server(tmp_path):
        with FileServer(tmp_path) as s:
            yield s

What it serves: every file under ``root`` at its relative path (percent-decoded, so a folder named
``#2021-06-01#`` is reached as ``%232021-06-01%23``); ``GET`` and ``HEAD``; a single byte range
(``206`` with ``Content-Range``, ``416`` when unsatisfiable); ``ETag`` and ``Last-Modified`` with
``304`` answers to ``If-None-Match`` / ``If-Modified-Since``; HTTP basic auth when ``auth`` is given
(``401`` otherwise). Large bodies go out with ``sendfile``; ``TCP_NODELAY`` is set and connections
are kept alive (HTTP/1.1), so it is fast enough for benchmarks.

Every request is logged in :attr:`FileServer.requests` (a :class:`RequestRecord`: method, path,
headers, status, body bytes sent, fault applied), so tests can assert "no network request" or "the
second request asked for a range".

Faults (:meth:`FileServer.inject`), each for a path or glob pattern and a number of requests:

==================  ================================================================================
``drop``            send ``after`` body bytes, then reset the connection (TCP RST)
``short``           announce the full ``Content-Length``, send ``after`` bytes (default: half), then
                    close the connection cleanly
``wrong_bytes``     send the right number of bytes, but every byte from ``after`` on is inverted
``status``          answer ``status`` (default 500) with ``Retry-After: retry_after`` when given;
                    ``"500"``, ``"503"``, ``"429"``... are shorthands
``ignore_range``    answer ``200`` with the whole file even when a ``Range`` was asked
``hang``            wait ``seconds`` (default 30) before answering, or after ``after`` body bytes
                    when ``after`` is given; a stopped server wakes hanging handlers at once
``changed``         send ``after`` body bytes (default: half), change the file on disk, then reset the
                    connection (every byte inverted, same size, new mtime, so a new ``ETag``): the
                    file changed between an interrupted download and its resume
``redirect``        answer ``302`` to ``location`` (a URL; one ending with ``/`` gets the path
                    appended), e.g. another server's origin
``gzip``            send the body gzip-compressed with ``Content-Encoding: gzip`` whatever the client
                    asked for (``Accept-Encoding: identity`` is ignored)
``endless``         answer ``200`` without ``Content-Length`` and send bytes until the client goes away
                    or the server stops (a body that never ends)
``drip``            announce the full ``Content-Length``, then send one byte every ``seconds`` (default
                    0.5): a server too slow for any read timeout to fire
==================  ================================================================================

``Range`` requests honour ``If-Range``: when its value is not the file's current ``ETag`` (or
``Last-Modified``), the whole file is sent with ``200``, as RFC 9110 says.
"""

from __future__ import annotations

import base64
import fnmatch
import logging
import os
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from .http_faults import change_file, drip, parse_range, send_special

__all__ = ["FileServer", "RequestRecord", "Fault", "FAULT_KINDS", "QuietServerMixin", "QuietThreadingHTTPServer"]

log = logging.getLogger(__name__)

#: The fault kinds :meth:`FileServer.inject` accepts (plus status-code shorthands such as ``"429"``).
FAULT_KINDS = (
    "drop",
    "short",
    "wrong_bytes",
    "status",
    "ignore_range",
    "hang",
    "changed",
    "redirect",
    "gzip",
    "endless",
    "drip",
)
_ALIASES = {"corrupt": "wrong_bytes", "reset": "drop", "error": "status", "timeout": "hang"}
_SMALL = 256 * 1024  # bodies up to this size are sent in one write with the headers


@dataclass
class RequestRecord:
    """One request the server received.

    ``path`` is the percent-decoded path relative to the served root (``lab/Subjects/...``);
    ``raw_path`` the request target as sent; ``headers`` has lower-case names (use :meth:`header`);
    ``bytes_sent`` counts body bytes written; ``fault`` names the fault applied, if any;
    ``client_port`` tells connections apart (the same port for requests on one kept-alive connection);
    ``done`` is True once the answer was written.
    """

    method: str
    raw_path: str
    path: str
    headers: dict[str, str]
    status: int = 0
    bytes_sent: int = 0
    fault: str | None = None
    client_port: int = 0
    done: bool = False
    time: float = field(default_factory=time.monotonic)

    def header(self, name: str) -> str | None:
        """A request header by case-insensitive name, or None."""
        return self.headers.get(name.lower())

    @property
    def range(self) -> str | None:
        """The ``Range`` header sent, if any."""
        return self.header("range")

    @property
    def authorized(self) -> bool:
        """Whether an ``Authorization`` header was sent (whatever its value)."""
        return self.header("authorization") is not None


@dataclass
class Fault:
    """A fault injected for requests whose path matches ``pattern``; ``times=None`` means always."""

    kind: str
    pattern: str
    times: int | None = 1
    after: int | None = None
    status: int = 500
    retry_after: str | None = None
    seconds: float = 30.0
    used: int = 0
    location: str | None = None

    def matches(self, path: str) -> bool:
        return path == self.pattern or fnmatch.fnmatchcase(path, self.pattern)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.used >= self.times


class QuietServerMixin:
    """For ``socketserver`` servers of tests: an error in a handler (a client that hung up, a fault
    injected on purpose) is logged to ``onecore.testing.servers`` at INFO level — which pytest
    captures with the test that caused it — instead of printed on the terminal as ``Exception
    occurred during processing of request``."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.info("error while serving a request from %s", client_address, exc_info=True)


class QuietThreadingHTTPServer(QuietServerMixin, ThreadingHTTPServer):
    """:class:`http.server.ThreadingHTTPServer` whose handler errors go to the log, not the terminal."""

    daemon_threads = True


class _Server(QuietServerMixin, ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    owner: FileServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by default
        pass

    def setup(self) -> None:
        super().setup()
        self.server.owner._connections_add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._connections_discard(self.connection)

    def send_response(self, code: int, message: str | None = None) -> None:
        super().send_response(code, message)
        if not self.server.owner.keep_alive:
            self.send_header("Connection", "close")

    def do_GET(self) -> None:  # noqa: N802
        self._serve(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(head=True)

    # -- helpers -------------------------------------------------------------------------------
    def _simple(self, rec: RequestRecord, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        rec.status = code
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if code != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)
            rec.bytes_sent = len(body)

    def _serve(self, head: bool) -> None:
        owner = self.server.owner
        raw = self.path
        rel = unquote(urlsplit(raw).path).lstrip("/")
        rec = RequestRecord(
            self.command, raw, rel, {k.lower(): v for k, v in self.headers.items()}, client_port=self.client_address[1]
        )
        owner._record(rec)
        try:
            self._respond(owner, rec, rel, head)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True
        finally:
            owner._done(rec)

    def _respond(self, owner: FileServer, rec: RequestRecord, rel: str, head: bool) -> None:
        if owner.auth is not None:
            expected = "Basic " + base64.b64encode(f"{owner.auth[0]}:{owner.auth[1]}".encode()).decode()
            if rec.header("authorization") != expected:
                self._simple(rec, 401, b"authentication required\n", {"WWW-Authenticate": 'Basic realm="onecore-test"'})
                return
        parts = rel.split("/") if rel else []
        if any(p in ("..", ".") for p in parts) or "\x00" in rel or "\\" in rel:
            self._simple(rec, 400, b"bad path\n")
            return
        path = owner.root.joinpath(*parts) if parts else owner.root
        fault = owner._take_fault(rel) if not head else None
        rec.fault = fault.kind if fault else None
        if fault is not None and fault.kind == "status":
            hdrs = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            self._simple(rec, fault.status, f"injected HTTP {fault.status}\n".encode(), hdrs)
            return
        if fault is not None and fault.kind == "redirect":
            where = fault.location or "/"
            self._simple(rec, 302, b"moved\n", {"Location": where + quote(rel) if where.endswith("/") else where})
            return
        if fault is not None and fault.kind == "hang" and fault.after is None:
            owner._stopping.wait(fault.seconds)
        try:
            st = path.stat()
            if not path.is_file():
                raise FileNotFoundError
        except OSError:
            self._simple(rec, 404, b"not found\n")
            return
        etag = f'"{st.st_size:x}-{st.st_mtime_ns:x}"'
        validators = {"ETag": etag, "Last-Modified": formatdate(st.st_mtime, usegmt=True)}
        if fault is not None and fault.kind in ("gzip", "endless"):
            send_special(self, owner, rec, path, fault, validators)
            return
        if self._not_modified(etag, st.st_mtime):
            self._simple(rec, 304, headers=validators)
            return
        size = st.st_size
        start, end = 0, size  # [start, end)
        status = 200
        wanted = rec.header("range")
        if_range = rec.header("if-range")
        if if_range is not None and if_range.strip() not in validators.values():
            wanted = None  # the client's partial copy is of another version: send the whole file
        if wanted and owner.ranges and not (fault is not None and fault.kind == "ignore_range"):
            parsed = parse_range(wanted, size)
            if parsed == "unsatisfiable":
                self._simple(rec, 416, b"range not satisfiable\n", {"Content-Range": f"bytes */{size}"})
                return
            if parsed is not None:
                start, end = parsed
                status = 206
        rec.status = status
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start))
        self.send_header("Accept-Ranges", "bytes" if owner.ranges else "none")
        for k, v in validators.items():
            self.send_header(k, v)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        if head:
            self.end_headers()
            return
        with open(path, "rb") as f:
            if fault is None:
                self._send_body(f, start, end, rec)
            else:
                self._send_faulty_body(owner, f, start, end, rec, fault)

    def _not_modified(self, etag: str, mtime: float) -> bool:
        inm = self.headers.get("If-None-Match")
        if inm is not None:  # takes precedence over If-Modified-Since (RFC 9110)
            return inm.strip() == "*" or etag in [t.strip() for t in inm.split(",")]
        ims = self.headers.get("If-Modified-Since")
        if ims:
            try:
                return int(mtime) <= parsedate_to_datetime(ims).timestamp()
            except (TypeError, ValueError):
                return False
        return False

    def _send_body(self, f: Any, start: int, end: int, rec: RequestRecord) -> None:
        count = end - start
        if count <= _SMALL:  # headers and body in one write: no extra round trip for small files
            f.seek(start)
            self._headers_buffer.extend([b"\r\n", f.read(count)])  # type: ignore[attr-defined]
            self.flush_headers()
        else:
            self.end_headers()
            self.connection.sendfile(f, start, count)
        rec.bytes_sent = count

    def _send_faulty_body(
        self, owner: FileServer, f: Any, start: int, end: int, rec: RequestRecord, fault: Fault
    ) -> None:
        self.end_headers()
        count = end - start
        limit = count
        if fault.kind in ("drop", "short", "hang", "changed") and fault.after is not None:
            limit = min(count, fault.after)
        elif fault.kind in ("short", "changed"):
            limit = count // 2
        if fault.kind == "drip":
            drip(self, owner, f, start, count, rec, fault.seconds if fault.seconds != 30.0 else 0.5)
            return
        f.seek(start)
        sent = 0
        while sent < limit:
            block = f.read(min(1 << 16, limit - sent))
            if not block:
                break
            if fault.kind == "wrong_bytes":
                skip = max(0, (fault.after or 0) - sent)
                block = block[:skip] + bytes(b ^ 0xFF for b in block[skip:])
            self.wfile.write(block)
            sent += len(block)
            rec.bytes_sent = sent
        if fault.kind == "hang" and sent < count:
            owner._stopping.wait(fault.seconds)
            rest = f.read(count - sent)
            self.wfile.write(rest)
            rec.bytes_sent += len(rest)
        elif fault.kind in ("drop", "changed"):
            if fault.kind == "changed":  # before the reset: the client's next request sees the new version
                change_file(Path(f.name))
            self.close_connection = True
            sock = self.connection
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            os.close(sock.detach())  # closing with linger 0 sends a reset
        elif fault.kind == "short":
            self.close_connection = True
            self.wfile.flush()
            try:
                self.connection.shutdown(socket.SHUT_WR)
            except OSError:
                pass


class FileServer:
    """A threaded HTTP server on 127.0.0.1 (a free port) serving the folder ``root``.

    ``auth=(user, password)`` requires HTTP basic auth; ``ranges=False`` makes it ignore every
    ``Range`` header (as a simple server would); ``keep_alive=False`` closes the connection after
    each answer; ``port`` binds a given port (0, the default: a free one; a restarted server can take
    its predecessor's port). Use as a context manager, or call :meth:`start` and :meth:`stop`.
    Thread-safe: the request log and faults may be inspected and changed while it serves.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        auth: tuple[str, str] | None = None,
        ranges: bool = True,
        keep_alive: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.root = Path(root).resolve()
        self.auth = auth
        self.ranges = ranges
        self.keep_alive = keep_alive
        self.host = host
        self._port = port
        self.requests: list[RequestRecord] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._active = 0
        self._idle = threading.Condition(self._lock)
        self._conns: set[socket.socket] = set()

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> FileServer:
        """Bind a free port on 127.0.0.1 and serve in a background thread."""
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _Server((self.host, self._port), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"FileServer:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake hanging handlers and close the listening socket (idempotent)."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with self._lock:  # kept-alive connections must not outlive the server
            conns, self._conns = list(self._conns), set()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> FileServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the server is not running; call start() first")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """The base URL of the served root, ending with ``/``."""
        return f"http://{self.host}:{self.port}/"

    def url_for(self, rel: str) -> str:
        """The URL of a file given its path relative to the root (percent-encoded)."""
        return self.url + quote(rel.lstrip("/"), safe="/")

    def _connections_add(self, conn: socket.socket) -> None:
        with self._lock:
            self._conns.add(conn)

    def _connections_discard(self, conn: socket.socket) -> None:
        with self._lock:
            self._conns.discard(conn)

    # -- faults --------------------------------------------------------------------------------
    def inject(
        self,
        path: str,
        kind: str,
        *,
        times: int | None = 1,
        after: int | None = None,
        status: int | None = None,
        retry_after: float | str | None = None,
        seconds: float | None = None,
        location: str | None = None,
    ) -> Fault:
        """Make the next ``times`` GET requests of ``path`` (a relative path or glob) misbehave.

        ``kind`` is one of :data:`FAULT_KINDS` or an HTTP status code (``"429"``); see the module
        docstring for what each does. ``times=None`` applies the fault to every request. Faults are
        matched in the order injected; each request consumes at most one.
        """
        if kind.isdigit():
            status, kind = int(kind), "status"
        kind = _ALIASES.get(kind, kind)
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; choose one of {', '.join(FAULT_KINDS)} or a status code")
        fault = Fault(
            kind,
            path.lstrip("/"),
            times,
            after,
            status if status is not None else 500,
            None if retry_after is None else str(retry_after),
            30.0 if seconds is None else seconds,
            location=location,
        )
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if not fault.exhausted and fault.matches(path):
                    fault.used += 1
                    return fault
        return None

    # -- the request log -----------------------------------------------------------------------
    def _record(self, rec: RequestRecord) -> None:
        with self._lock:
            self.requests.append(rec)
            self._active += 1

    def _done(self, rec: RequestRecord) -> None:
        with self._lock:
            rec.done = True
            self._active -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is being answered (so that the log's byte counts are final)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._active:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def requests_for(
        self, path: str | None = None, method: str | None = "GET", settle: float = 2.0
    ) -> list[RequestRecord]:
        """Logged requests, optionally only those of ``path`` (relative, or a glob) and ``method``.

        Waits up to ``settle`` seconds for the answers being written (except hanging ones) to finish, so
        that ``status`` and ``bytes_sent`` are final: a client may see the last byte a moment before the
        server's handler records it.
        """
        path = path.lstrip("/") if path is not None else None

        def select() -> list[RequestRecord]:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method)
                and (path is None or r.path == path or fnmatch.fnmatchcase(r.path, path))
            ]

        deadline = time.monotonic() + settle
        with self._idle:
            while True:
                recs = select()
                left = deadline - time.monotonic()
                if left <= 0 or all(r.done or r.fault == "hang" for r in recs):
                    return recs
                self._idle.wait(left)

    def count(self, path: str | None = None, method: str | None = "GET") -> int:
        """How many requests were received (optionally for ``path`` and ``method``)."""
        return len(self.requests_for(path, method))

    def clear_log(self) -> None:
        """Forget the logged requests."""
        with self._lock:
            self.requests.clear()

    def __repr__(self) -> str:
        where = self.url if self.running else "stopped"
        return f"<FileServer {self.root} {where} auth={'yes' if self.auth else 'no'}>"
