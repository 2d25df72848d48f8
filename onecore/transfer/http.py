"""The HTTP(S) fetcher: downloads over ``http.client`` (or ``urllib3`` through a proxy), one-off calls
over ``requests``; credentials only to their own origin."""

from __future__ import annotations

import http.client
import os
import threading
from typing import Any

from ..errors import TransferError
from .protocols import Stream, _origin, _redact, _short, network_error
from .sessions import ThreadSessions
from .wire import (
    _check_response,
    _DirectStream,
    _discard,
    _drain,
    _HTTPConnection,
    _HTTPSConnection,
    _HTTPStream,
)


class HTTPFetcher:
    """HTTP(S) fetcher with connection reuse and timeouts always set.

    Downloads (:meth:`open`) go through a ``urllib3`` pool manager shared by the worker threads (a
    connection per worker, kept alive from file to file and across batches); :meth:`get` is a
    ``requests`` GET for one-off calls such as fetching an index. ``auth`` (HTTP basic) is sent only
    to the origin (scheme, host, port) of ``base_url`` (when no ``base_url`` is given: of the first URL
    asked for), on every path: first request, retries, range resumes and each redirect hop, which are
    all followed here, hop by hop. Proxies and CA bundles from the environment (``HTTPS_PROXY``,
    ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``...) are honoured, looked up once per host.

    A refused connection, an unknown host name or no route is an :class:`UnreachableError` (not
    retried); timeouts, resets and 5xx are :class:`TransientError` (retried with backoff).
    """

    def __init__(
        self,
        auth: tuple[str, str] | None = None,
        timeout: tuple[float, float] = (10.0, 60.0),
        headers: dict[str, str] | None = None,
        pool_size: int = 32,
        base_url: str | None = None,
    ):
        self.auth = auth
        self.base_url = base_url
        self._auth_origin: str | None = _origin(base_url) if base_url else None
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

    def credentials_for(self, url: str) -> dict[str, str]:
        """The ``Authorization`` header for ``url``: only when its origin is the repository's own."""
        if not self._auth_header:
            return {}
        origin = _origin(url)
        if self._auth_origin is None:
            with self._lock:
                if self._auth_origin is None:
                    self._auth_origin = origin
        return self._auth_header if origin == self._auth_origin else {}

    def get(self, url: str, **kwargs: Any) -> Any:
        """A ``requests`` GET with timeouts, mapping connection failures to :class:`TransientError`
        (:class:`UnreachableError` when the server cannot be reached at all).

        Redirects are followed here hop by hop, each hop with the credentials and
        :meth:`request_headers` of its own origin only.
        """
        from urllib.parse import urljoin

        import requests

        kwargs.setdefault("timeout", self.timeout)
        follow = kwargs.pop("allow_redirects", True)
        extra = dict(kwargs.pop("headers", None) or {})
        env_keys = [k for k in ("proxies", "verify", "cert") if k not in kwargs]
        for _hop in range(11):
            headers = {**extra, **self.credentials_for(url), **self.request_headers(url)}
            env = {k: v for k, v in self._env_for(url).items() if k in env_keys}
            try:
                r = self.session.get(url, headers=headers, allow_redirects=False, **kwargs, **env)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as e:
                raise network_error(f"GET {_redact(url)}", e) from None
            except requests.RequestException as e:  # invalid URL...
                raise TransferError(f"GET {_redact(url)}: {type(e).__name__}: {_short(e)}") from None
            location = r.headers.get("Location")
            if not (follow and r.status_code in (301, 302, 303, 307, 308) and location):
                return r
            r.close()
            url = urljoin(url, location)
        raise TransferError(f"GET {_redact(url)}: too many redirects")

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
        """One urllib3 GET, redirects not followed (the caller follows them hop by hop)."""
        import urllib3

        pm = self._manager(url)
        try:
            return pm.urlopen(
                "GET",
                url,
                headers=headers,
                preload_content=False,
                redirect=False,
                timeout=urllib3.Timeout(connect=self.timeout[0], read=self.timeout[1]),
                retries=urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=0),
            )
        except urllib3.exceptions.MaxRetryError as e:
            raise network_error(f"GET {_redact(url)}", e.reason or e) from None
        except (urllib3.exceptions.LocationValueError, ValueError) as e:
            raise TransferError(f"GET {_redact(url)}: invalid URL: {_short(e)}") from None
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise network_error(f"GET {_redact(url)}", e) from None

    def open(self, url: str, offset: int = 0, validator: str | None = None) -> Stream:
        """GET ``url`` from ``offset`` (a ``Range`` request when > 0); the stream says where it starts.

        ``validator`` (the strong ETag or Last-Modified recorded with a partial file) is sent as
        ``If-Range``: a server whose file changed answers with the whole new file (offset 0). Without a
        proxy this talks ``http.client`` over kept-alive connections (a fraction of the per-request cost
        of urllib3 or requests, which matters for thousands of small files); through a proxy it uses
        ``urllib3``. Subclasses customise requests through :meth:`request_headers`.
        """
        if self._proxy_for(url):
            return self._open_urllib3(url, offset, validator)
        return self._open_direct(url, offset, validator)

    def request_headers(self, url: str) -> dict[str, str]:
        """Extra headers for a download request to ``url``; asked again for every redirect hop.

        Subclasses override it to send a credential to some hosts only (say, a token to the API's
        host); the base class adds none (basic ``auth`` is handled separately, base_url origin only).
        Used by :meth:`open` and :meth:`get` alike.
        """
        return {}

    def _proxy_for(self, url: str) -> str | None:
        origin = _origin(url)
        if origin not in self._proxy:
            from requests.utils import select_proxy

            self._proxy[origin] = select_proxy(url, self._env_for(url).get("proxies") or {})
        return self._proxy[origin]

    def _headers(self, url: str, offset: int, validator: str | None) -> dict[str, str]:
        """The headers of one download request (one redirect hop) to ``url``."""
        headers = {**self.headers, "Accept-Encoding": "identity", **self.credentials_for(url)}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if validator:
                headers["If-Range"] = validator
        headers.update(self.request_headers(url))
        return headers

    def _open_urllib3(self, url: str, offset: int, validator: str | None = None) -> _HTTPStream:
        from urllib.parse import urljoin

        first = url
        for _hop in range(11):
            r = self._request(url, self._headers(url, offset, validator))
            location = r.headers.get("Location")
            if r.status in (301, 302, 303, 307, 308) and location:
                _discard(r)
                url = urljoin(url, location)
                continue
            start, total, encoded = _check_response(r.status, r.headers, offset, url, lambda r=r: _discard(r), r)
            if start < 0:  # the range was not honoured as asked: start again from zero
                return self._open_urllib3(first, 0)
            return _HTTPStream(r, start, total, encoded)
        raise TransferError(f"GET {_redact(url)}: too many redirects")

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

    def _open_direct(self, url: str, offset: int, validator: str | None = None) -> Stream:
        from urllib.parse import urljoin, urlsplit

        first = url
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
            headers = self._headers(url, offset, validator)
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
                    raise network_error(f"GET {_redact(url)}", e) from None
            if r.status in (301, 302, 303, 307, 308) and r.getheader("Location"):
                _drain(r, conn, lambda c=conn, k=key: self._give_back(k, c))
                url = urljoin(url, r.getheader("Location"))
                continue
            start, total, encoded = _check_response(r.status, r.headers, offset, url, conn.close, r)
            if start < 0:
                return self._open_direct(first, 0)
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
