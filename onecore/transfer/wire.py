"""The wire level of HTTP downloads: streams over ``urllib3`` and ``http.client`` responses, checking a
download answer (status, ``Content-Range``, ``Content-Encoding``), kept-alive connections."""

from __future__ import annotations

import http.client
import re
from typing import Any, Callable, Iterator

from ..errors import TransferError, TransientError
from .protocols import CHUNK, _redact, _short, http_error, strong_validator


class _HTTPStream:
    """An open download over a ``urllib3`` response (no ``requests`` per-request overhead).

    ``validator`` is the strong ETag or Last-Modified of the version being sent (None if unproven).
    """

    def __init__(self, response: Any, offset: int, total: int | None, encoded: bool = False):
        self.response = response
        self.offset = offset
        self.total = total
        self.encoded = encoded
        self.complete = False
        self.validator = strong_validator(response.headers)

    def chunks(self) -> Iterator[bytes]:
        """The body in chunks of at most :data:`CHUNK` bytes, as they arrive.

        ``read1`` hands over whatever has arrived, so a connection lost mid-body loses nothing that
        was received: the partial file keeps it and the next attempt resumes from there. A
        ``Content-Encoding`` the server imposed is decoded here in bounded pieces (never a whole
        decompression bomb in memory); the engine counts the decoded bytes against its limits.
        """
        import urllib3

        r = self.response
        decoder = _decoder(r.headers.get("Content-Encoding")) if self.encoded else None
        try:
            while True:
                b = r.read1(CHUNK, decode_content=False)
                if not b:
                    break
                yield from _decoded(decoder, b)
            if decoder is not None:
                yield decoder.flush()
            self.complete = True
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise TransientError(f"connection lost while reading: {_short(e)}") from None

    def close(self) -> None:
        if not self.complete:  # a half-read connection cannot be reused: close it
            self.response.close()
        self.response.release_conn()


def _decoded(decoder: Any, data: bytes) -> Iterator[bytes]:
    """``data`` as is, or decoded by ``decoder`` in pieces of at most :data:`CHUNK` bytes."""
    if decoder is None:
        yield data
        return
    import zlib

    try:
        while data:
            out = decoder.decompress(data, CHUNK)
            if out:
                yield out
            data = decoder.unconsumed_tail
    except zlib.error as e:
        raise TransferError(f"the server sent a body that does not decode as its Content-Encoding says: {e}") from None


def _discard(r: Any) -> None:
    r.close()
    r.release_conn()


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


def _drain(r: Any, conn: Any, give_back: Callable[[], None]) -> None:
    """Read a small redirect body so the connection can be reused."""
    try:
        r.read(1 << 16)
    except Exception:  # noqa: BLE001 - the connection is simply not reused
        conn.close()
        return
    if r.isclosed() and not r.will_close:
        give_back()
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
        self.validator = strong_validator(response.headers)
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
                yield from _decoded(decoder, b)
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
