"""The fetcher and stream protocols, the item of a transfer, and small helpers shared by the fetchers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator, Protocol

from ..errors import OneError, TransferError, TransientError, UnreachableError
from ..netprobe import unreachable_line  # noqa: F401 (its former home)
from .retry import parse_retry_after

CHUNK = 1 << 20


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
class TransferItem:
    """One file to download: where from, where to (relative to the destination), how to verify."""

    rel_path: str
    url: str
    size: int | None = None
    md5: str | None = None


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


def _redact(url: str) -> str:
    """Hide credentials and tokens in URLs shown to users."""
    url = re.sub(r"//[^/@]*@", "//****@", url)
    return re.sub(r"((?:access_)?token=)[^&]+", r"\1****", url)


def _origin(url: str) -> str:
    """``scheme://host:port`` of a URL, cheaply (no parsing beyond splitting)."""
    return "/".join(url.split("/", 3)[:3]).lower()


_UNREACHABLE_TEXT = (
    ("connection refused", "connection refused"),
    ("name or service not known", "name not resolved"),
    ("nodename nor servname", "name not resolved"),
    ("temporary failure in name resolution", "name not resolved"),
    ("failed to resolve", "name not resolved"),
    ("no address associated", "name not resolved"),
    ("no route to host", "no route to host"),
    ("network is unreachable", "no route to host"),
)


def unreachable_reason(exc: BaseException) -> str | None:
    """``"connection refused"``, ``"name not resolved"`` or ``"no route to host"`` when ``exc`` (or what
    it wraps: requests and urllib3 nest the socket error) says the server cannot be reached at all;
    None for anything else (timeouts, resets, protocol errors: those are worth retrying)."""
    import errno
    import socket

    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        e = todo.pop()
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, ConnectionRefusedError):
            return "connection refused"
        if isinstance(e, socket.gaierror):
            return "name not resolved"
        if isinstance(e, OSError) and e.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return "no route to host"
        if isinstance(e, TimeoutError) or "timed out" in str(e).lower():
            return None
        todo.extend([e.__cause__, e.__context__, getattr(e, "reason", None), *e.args])
    text = str(exc).lower()
    for needle, reason in _UNREACHABLE_TEXT:
        if needle in text:
            return reason
    return None


def network_error(what: str, exc: BaseException) -> TransferError:
    """The error for a failed connection: :class:`UnreachableError` (no retry) when the server cannot be
    reached at all, else a :class:`TransientError` (retried with backoff)."""
    reason = unreachable_reason(exc)
    if reason is not None:
        return UnreachableError(f"{what}: unreachable ({reason})", reason)
    return TransientError(f"{what}: {type(exc).__name__}: {_short(exc)}")


def strong_validator(headers: Any) -> str | None:
    """A validator proving which version of a file a response holds, for ``If-Range``: a strong ``ETag``
    (not ``W/``), else a strong ``Last-Modified`` (:func:`strong_last_modified`); None when the response
    proves nothing."""
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/") and etag.startswith('"'):
        return etag
    return strong_last_modified(headers)


def strong_last_modified(headers: Any) -> str | None:
    """``Last-Modified`` when it is strong in the sense of RFC 9110 8.8.2.2: the response's ``Date`` is at
    least one second later (a file rewritten within the same second keeps the same value); else None."""
    from email.utils import parsedate_to_datetime

    lm, date = headers.get("Last-Modified"), headers.get("Date")
    if not lm or not date:
        return None
    try:
        if (parsedate_to_datetime(date) - parsedate_to_datetime(lm)).total_seconds() >= 1:
            return lm
    except (TypeError, ValueError):
        pass
    return None
