"""The fetcher and stream protocols, the item of a transfer, and small helpers shared by the fetchers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator, Protocol

from ..errors import OneError, TransferError, TransientError
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
