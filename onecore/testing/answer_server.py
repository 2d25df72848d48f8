"""An HTTP server on 127.0.0.1 whose JSON answers never end, are announced as huge, or drip.

Clients of JSON APIs (figshare, Alyx) must bound what they read (:func:`onecore.transfer.read_capped`):
this server is the attack their hostile-answer tests run against. Each answer is ``head`` followed by
``item`` repeated (in chunked encoding) until the client hangs up or ``duration`` seconds passed::

    with EndlessAnswerServer(b'{"results": [', json.dumps(record).encode() + b",", mode="slow") as srv:
        client = MyClient(srv.url + "/api")

Modes: ``endless`` (200 items per chunk, as fast as the socket takes them), ``slow`` (one item every
``drip_seconds``), ``huge`` (a ``Content-Length`` of ``huge_bytes`` and no body at all).
Subclass :class:`EndlessAnswerHandler` and override :meth:`~EndlessAnswerHandler.answer_specially`
to serve other answers on some requests (e.g. a pagination link to another host).
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

from .servers import QuietThreadingHTTPServer

__all__ = ["EndlessAnswerHandler", "EndlessAnswerServer"]


class EndlessAnswerHandler(BaseHTTPRequestHandler):
    """Answers every GET with an answer that never ends (see the module docstring)."""

    protocol_version = "HTTP/1.1"
    mode: ClassVar[str] = "endless"
    head: ClassVar[bytes] = b"["
    item: ClassVar[bytes] = b"{},"
    huge_bytes: ClassVar[int] = 5 * 1024**3
    duration: ClassVar[float] = 30.0
    drip_seconds: ClassVar[float] = 0.05

    def answer_specially(self) -> bool:
        """Serve a different answer for this request and return True, or return False (the default)."""
        return False

    def do_GET(self) -> None:  # noqa: N802
        if self.answer_specially():
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if self.mode == "huge":
            self.send_header("Content-Length", str(self.huge_bytes))  # announced, never sent
            self.end_headers()
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            self._chunk(self.head)
            t0 = time.monotonic()
            while time.monotonic() - t0 < self.duration:
                self._chunk(self.item * (1 if self.mode == "slow" else 200))
                if self.mode == "slow":
                    time.sleep(self.drip_seconds)
        except OSError:
            pass  # the client hung up: what a bounded client does

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def log_message(self, *args: Any) -> None:
        """Quiet: the tests assert on what the client says."""


class EndlessAnswerServer:
    """A :class:`EndlessAnswerHandler` served on 127.0.0.1 (a port picked by the OS), as a context manager."""

    def __init__(
        self,
        head: bytes = b"[",
        item: bytes = b"{},",
        mode: str = "endless",
        handler: type[EndlessAnswerHandler] = EndlessAnswerHandler,
        **options: Any,
    ) -> None:
        if mode not in ("endless", "slow", "huge"):
            raise ValueError(f"unknown mode {mode!r}: endless, slow or huge")
        attrs = {"mode": mode, "head": head, "item": item, **options}
        self._handler = type("Handler", (handler,), attrs)
        self._httpd: QuietThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` of the running server."""
        if self._httpd is None:
            raise RuntimeError("the server is not running")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> EndlessAnswerServer:
        """Start serving in a daemon thread."""
        self._httpd = QuietThreadingHTTPServer(("127.0.0.1", 0), self._handler)  # handler errors go to the log
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> EndlessAnswerServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
