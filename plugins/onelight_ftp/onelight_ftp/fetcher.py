"""The download side over FTP: :class:`FTPFetcher`, a :class:`onecore.transfer.Fetcher` for ``ftp://`` URLs.

The transfer engine (:func:`onecore.transfer.download`) does the rest: parallelism, ``.part`` files,
verification, retries. The fetcher opens ``RETR`` streams, resuming with ``REST offset`` (the stream's
``offset`` says where its bytes really start), with ``total`` from ``SIZE``. Each thread keeps its own
connection per server. The repository's credentials are only ever sent to the repository's own server;
``ftp://`` URLs on another server are fetched anonymously, and ``http(s)://`` URLs (rows of an index
written with a ``base_url``) go through an :class:`onecore.transfer.HTTPFetcher`.
"""

from __future__ import annotations

import ftplib
import threading
from typing import Any, Iterator
from urllib.parse import unquote, urlsplit

from onecore.sdk import HTTPFetcher, TransferError

from .session import Connection, Endpoint, Retrieval


class FTPStream:
    """One open download (the :class:`onecore.transfer.Stream` protocol)."""

    def __init__(
        self, retrieval: Retrieval, total: int | None, conn: Connection, what: str, validator: str | None = None
    ):
        self._r = retrieval
        self.offset = retrieval.offset
        self.total = total
        #: ``MDTM`` and ``SIZE`` of the file when asked for (the proof of version a resume needs).
        self.validator = validator
        self._conn = conn
        self._what = what

    def chunks(self) -> Iterator[bytes]:
        try:
            yield from self._r.chunks()
        except (ftplib.Error, OSError, EOFError) as e:
            self._conn.drop()
            raise self._conn.endpoint.error(e, self._what) from None

    def close(self) -> None:
        self._r.close()


def _mdtm(ftp: ftplib.FTP, path: str, size: int | None) -> str | None:
    """``mdtm:<time>:<size>`` of ``path``, or None when the server cannot say."""
    try:
        reply = ftp.sendcmd(f"MDTM {path}")
    except ftplib.error_perm:
        return None
    stamp = reply[4:].strip() if reply.startswith("213") else ""
    return f"mdtm:{stamp}:{size}" if stamp and size is not None else None


class FTPFetcher:
    """Opens ``ftp://host:port/path`` URLs; one connection per thread and server."""

    def __init__(self, endpoint: Endpoint, http: HTTPFetcher | None = None):
        self.endpoint = endpoint
        self._http = http
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[Connection] = []

    def _target(self, url: str) -> tuple[Endpoint, str]:
        u = urlsplit(url)
        try:
            host, port = u.hostname or "", u.port or 21
        except ValueError:
            raise TransferError(f"the URL {url!r} has an invalid port") from None
        if not host:
            raise TransferError(f"the URL {url!r} names no server")
        path = unquote(u.path) or "/"
        ep = self.endpoint
        if (host.lower(), port) != (ep.host.lower(), ep.port):
            # Never send this repository's credentials to another server.
            ep = Endpoint(
                host, port, unquote(u.username or "anonymous"), unquote(u.password or ""), tls=False, timeout=ep.timeout
            )
        return ep, path

    def _connection(self, ep: Endpoint) -> Connection:
        conns: dict[Endpoint, Connection] | None = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
        conn = conns.get(ep)
        if conn is None:
            conn = conns[ep] = Connection(ep)
            with self._lock:
                self._all.append(conn)
        return conn

    def open(self, url: str, offset: int = 0, validator: str | None = None, need_proof: bool = False) -> Any:
        """Start a download of ``url`` at byte ``offset`` (0 when the server cannot resume).

        ``validator`` is passed on for ``http(s)://`` URLs (``If-Range``). For ``ftp://`` URLs, when the
        engine needs a proof of version (``need_proof``: the index gives no md5) or resumes with one,
        the stream's ``validator`` is the file's ``MDTM`` and ``SIZE`` (one more command); a resume
        whose validator no longer matches starts from zero, as ``If-Range`` would."""
        if url.startswith(("http://", "https://")):
            if self._http is None:
                with self._lock:
                    if self._http is None:
                        self._http = HTTPFetcher(timeout=(10.0, self.endpoint.timeout))
            return self._http.open(url, offset, validator)
        if not url.startswith("ftp://"):
            raise TransferError(f"cannot download {url!r}: only ftp:// and http(s):// URLs are supported")
        ep, path = self._target(url)
        conn = self._connection(ep)
        what = f"downloading {path} from {ep.where}"

        def start(ftp: ftplib.FTP) -> tuple[Retrieval, int | None]:
            total = None
            try:
                total = ftp.size(path)
            except ftplib.error_perm as e:
                if str(e)[:3] not in ("500", "502", "504"):  # SIZE unsupported: go on without a total
                    raise
            proof = _mdtm(ftp, path, total) if (need_proof or validator) else None
            start_at = offset if total is None or offset <= total else 0
            if validator and proof != validator:
                start_at = 0  # another version than the partial file's: the whole file
            return Retrieval(ftp, path, start_at, conn.drop), total, proof

        retrieval, total, proof = conn.run(start, what)  # type: ignore[misc]
        return FTPStream(retrieval, total, conn, what, proof)

    def close(self) -> None:
        """Close every connection opened by any thread."""
        with self._lock:
            conns, self._all = list(self._all), []
            http, self._http = self._http, None
        for c in conns:
            c.close()
        if http is not None:
            http.close()
        self._local = threading.local()
