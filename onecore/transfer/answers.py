"""Capped reading of API answers: an endless or gigantic answer is refused with a clear message."""

from __future__ import annotations

import os
import time
from typing import Any

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
