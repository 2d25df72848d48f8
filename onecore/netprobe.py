"""A quick look at whether a server answers at all, before the HTTP stack is imported.

``one search`` with the server down used to import ``requests`` and the transfer engine (about
half of the command's time) only to learn that the connection was refused. :func:`probe` opens one
non-blocking TCP connection to the URL's host and waits a few milliseconds: a refusal or "no route"
that arrives in that time (always the case on this computer or a LAN) is reported at once as an
:class:`~onecore.errors.UnreachableError`; anything else (connected, or no answer yet) returns None
and the request goes ahead as usual, so a slow or distant server costs at most ``wait`` seconds.

Nothing here imports more than :mod:`socket`, :mod:`errno` and :mod:`urllib.parse`.
"""

from __future__ import annotations

import errno
import os
import select
import socket
from typing import Any

from .errors import UnreachableError

#: How long the probe waits for a refusal (seconds); a server that has not answered by then is
#: left to the HTTP stack, which applies its own timeouts and retries.
PROBE_WAIT = 0.005

_UNREACHABLE_ERRNOS = {
    errno.ECONNREFUSED: "connection refused",
    errno.EHOSTUNREACH: "no route to host",
    errno.ENETUNREACH: "no route to host",
}
_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy")


def _proxied() -> bool:
    """True when a proxy is configured: the HTTP stack then connects to the proxy, not the host."""
    return any(os.environ.get(v) or os.environ.get(v.upper()) for v in _PROXY_VARS)


def probe(url: str, what: str, wait: float = PROBE_WAIT) -> UnreachableError | None:
    """The error to raise when ``url``'s server refuses connections or has no route; else None.

    ``what`` names the operation in the message (``"fetching the index https://.../.one_root"``),
    worded as the transfer engine words the same failure. A name that does not resolve is
    reported too (``"name not resolved"``, as the transfer engine says it); every other case is left
    to the HTTP stack.
    """
    from urllib.parse import urlsplit

    if _proxied():
        return None
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    if not host or parts.scheme not in ("http", "https"):
        return None
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return UnreachableError(f"{what}: unreachable (name not resolved)", "name not resolved")
    except (OSError, UnicodeError):
        return None
    reason = None
    for family, type_, proto, _, addr in addresses[:4]:  # as the HTTP stack would: every address in turn
        reason = _refusal(family, type_, proto, addr, wait)
        if reason is None:
            return None  # this one answers, or may: the HTTP stack decides
    return UnreachableError(f"{what}: unreachable ({reason})", reason) if reason else None


def _refusal(family: int, type_: int, proto: int, addr: Any, wait: float) -> str | None:
    """``"connection refused"`` or ``"no route to host"`` when connecting to ``addr`` fails so within
    ``wait`` seconds; None when it connects, has not answered yet, or fails otherwise."""
    try:
        sock = socket.socket(family, type_, proto)
    except OSError:
        return None
    try:
        sock.setblocking(False)
        code = sock.connect_ex(addr)
        if code in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY):
            _, writable, _ = select.select([], [sock], [], wait)
            if not writable:
                return None
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        return _UNREACHABLE_ERRNOS.get(code)
    except OSError:
        return None
    finally:
        sock.close()


def unreachable_line(repository: str, error: BaseException, catalog: Any) -> str:
    """The one line saying a repository is unreachable and which cached catalog is used instead:
    ``repository 'ibl' unreachable (connection refused); using the catalog cached 2026-11-30 14:02``."""
    import time

    reason = getattr(error, "reason", None) or _short(error)
    try:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(os.stat(catalog).st_mtime))
    except (OSError, TypeError, ValueError):
        return f"repository {repository!r} unreachable ({reason}); using the cached catalog"
    return f"repository {repository!r} unreachable ({reason}); using the catalog cached {when}"


def _short(e: BaseException) -> str:
    text = str(e)
    return text if len(text) < 300 else text[:300] + "..."
