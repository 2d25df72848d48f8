"""Capped reading of API answers: an endless or gigantic answer is refused with a clear message."""

from __future__ import annotations

import os
import time
from typing import Any, Iterator

from ..errors import TransferError, TransientError

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


def iter_body(r: Any, size: int = 1 << 16) -> Iterator[bytes]:
    """The body of a streamed ``requests`` response as it arrives (``read1``: a server dripping bytes
    does not block a deadline check for a whole chunk), a ``Content-Encoding`` decoded in bounded pieces
    (a compressed bomb never sits whole in memory). Raises what urllib3 raises for a cut body."""
    from .wire import _decoded, _decoder

    raw = r.raw
    read1 = getattr(raw, "read1", None)
    if read1 is None:  # pragma: no cover - urllib3 < 2, or a test double
        yield from r.iter_content(size)
        return
    enc = (r.headers.get("Content-Encoding") or "identity").strip().lower()
    decoder = _decoder(enc) if enc not in ("", "identity") else None
    while True:
        b = read1(size, decode_content=False)
        if not b:
            break
        yield from _decoded(decoder, b)
    if decoder is not None:
        tail = decoder.flush()
        if tail:
            yield tail


def cut_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean "the answer was cut" while reading a body through :func:`iter_body`."""
    import requests
    import urllib3

    return (
        requests.ConnectionError,
        requests.Timeout,
        requests.exceptions.ChunkedEncodingError,
        urllib3.exceptions.HTTPError,
        OSError,
    )


def read_capped(r: Any, where: str, who: str = "the server") -> bytes:
    """The body of a streamed ``requests`` response to an API call, refused past ``ONE_MAX_ANSWER_BYTES``
    bytes (64 MiB) or ``ONE_MAX_ANSWER_SECONDS`` seconds (300): an endless or gigantic answer (JSON that
    never ends) is a clear :class:`TransferError`; an answer cut short is a :class:`TransientError`."""
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
        for chunk in iter_body(r):
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
    except cut_errors() as e:
        raise TransientError(f"{where}: the answer was cut ({type(e).__name__})") from None
    finally:
        r.close()
    return bytes(buf)
