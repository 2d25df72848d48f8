"""A small REST client for Alyx: token authentication (cached 0600 per server), retries, pagination.

``base_url`` is used as given (``http://host:8000`` for the IBL's Alyx, ``http://host:8000/api`` for
alyx-local): endpoint paths are appended to it. Tokens live in ``$ONE_HOME/alyx/<host_port>.json``
(mode 0600) and are sent as ``Authorization: Token ...``; when a cached token is refused (403), a new
one is asked for once (this needs the password: from the settings, ``ONE_ALYX_PASSWORD``, or a prompt
when interactive) and the request is sent again.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping
from urllib.parse import urlsplit

from onecore.config import write_private
from onecore.errors import AuthError, NotFound, OneError, TransferError, TransientError
from onecore.transfer import RetryPolicy, parse_retry_after

log = logging.getLogger(__name__)

PAGE_SIZE = 250
TIMEOUT = (10.0, 120.0)


def normalize_base_url(base_url: str) -> str:
    """``base_url`` without trailing slashes; it must be ``http(s)://host[:port][/path]``."""
    url = str(base_url or "").strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OneError(f"invalid Alyx base_url {base_url!r}: expected http(s)://host[:port][/path]")
    return url


def server_key(base_url: str) -> str:
    """``host_port`` of a base URL (``127.0.0.1_8000``): the repository name and token file name."""
    parts = urlsplit(normalize_base_url(base_url))
    key = parts.hostname or "alyx"
    if parts.port:
        key += f"_{parts.port}"
    return re.sub(r"[^A-Za-z0-9_.-]", "_", key)


def token_path(home: Path, base_url: str) -> Path:
    return Path(home) / "alyx" / f"{server_key(base_url)}.json"


def read_token(home: Path, base_url: str) -> dict[str, Any]:
    """The cached ``{"base_url", "username", "token"}`` of a server, or {}."""
    try:
        data = json.loads(token_path(home, base_url).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_token(home: Path, base_url: str, username: str, token: str) -> None:
    write_private(token_path(home, base_url),
                  json.dumps({"base_url": normalize_base_url(base_url), "username": username, "token": token}))


def _detail(r: Any) -> str:
    try:
        body = r.json()
    except ValueError:
        return (r.text or "").strip()[:300]
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in ("status_code", "password")}
        if list(body) == ["detail"]:
            return str(body["detail"])[:300]
    return json.dumps(body)[:300]


class AlyxClient:
    """Authenticated JSON requests to one Alyx server."""

    def __init__(self, base_url: str, *, username: str | None, password: str | None, home: Path,
                 retry: RetryPolicy | None = None, password_prompt: Callable[[], str | None] | None = None):
        self.base_url = normalize_base_url(base_url)
        self.username = username
        self._password = password
        self.home = Path(home)
        self.retry = retry or RetryPolicy.from_env()
        self.password_prompt = password_prompt
        self._token: str | None = None
        self._local = threading.local()
        self._sessions: list[Any] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<AlyxClient {self.base_url} user={self.username!r}>"

    # -- plumbing ------------------------------------------------------------------------------
    @property
    def session(self) -> Any:
        s = getattr(self._local, "session", None)
        if s is None:
            import requests

            s = requests.Session()
            s.headers["Accept"] = "application/json"
            self._local.session = s
            with self._lock:
                self._sessions.append(s)
        return s

    def close(self) -> None:
        with self._lock:
            for s in self._sessions:
                s.close()
            self._sessions.clear()
        self._local = threading.local()

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"

    def _send(self, method: str, url: str, token: str | None, **kw: Any) -> Any:
        """One request, retried on connection errors, 429 and 5xx."""
        import requests

        headers = {"Authorization": f"Token {token}"} if token else {}
        what = f"{method} {url.split('?')[0]}"

        def once() -> Any:
            try:
                r = self.session.request(method, url, headers=headers, timeout=TIMEOUT, **kw)
            except (requests.ConnectionError, requests.Timeout) as e:
                raise TransientError(f"{what}: cannot reach the Alyx server ({type(e).__name__})") from None
            if r.status_code == 429 or r.status_code >= 500:
                detail = _detail(r)
                r.close()
                raise TransientError(f"{what}: HTTP {r.status_code} {detail}".rstrip(),
                                     parse_retry_after(r.headers.get("Retry-After")))
            return r

        return self.retry.call(once, what)

    # -- authentication ------------------------------------------------------------------------
    def _password_now(self) -> str | None:
        if self._password:
            return self._password
        if self.password_prompt is not None:
            self._password = self.password_prompt()
        return self._password

    def authenticate(self) -> str:
        """Ask the server for a token with the username and password; cache it (0600) and return it."""
        password = self._password_now()
        if not self.username or not password:
            raise AuthError(
                f"the Alyx server {self.base_url} needs a new token but no "
                f"{'username' if not self.username else 'password'} is available; connect again with "
                f"ONE(base_url={self.base_url!r}, username=..., password=...) or set ONE_ALYX_PASSWORD"
            )
        r = self._send("POST", self.url("auth-token"), None,
                       json={"username": self.username, "password": password})
        if r.status_code == 404:
            raise OneError(f"{self.base_url} has no Alyx /auth-token endpoint (HTTP 404): check the base_url "
                           "(alyx-local serves its API under /api, e.g. http://host:8000/api)")
        if r.status_code in (400, 401, 403):
            raise AuthError(f"the Alyx server {self.base_url} refused the username {self.username!r} "
                            "or its password; check them and connect again")
        if r.status_code != 200:
            raise TransferError(f"POST {self.url('auth-token')}: HTTP {r.status_code} {_detail(r)}")
        try:
            token = r.json()["token"]
        except (ValueError, KeyError, TypeError):
            raise OneError(f"{self.base_url}/auth-token did not answer with a token: is this an Alyx server?"
                           ) from None
        write_token(self.home, self.base_url, self.username, token)
        self._token = token
        return token

    def token(self) -> str:
        if self._token is None:
            cached = read_token(self.home, self.base_url)
            if cached.get("token") and (not self.username or cached.get("username") == self.username):
                self.username = self.username or cached.get("username")
                self._token = cached["token"]
            else:
                self.authenticate()
        assert self._token is not None
        return self._token

    # -- requests ------------------------------------------------------------------------------
    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json_body: Any = None, ok: tuple[int, ...] = (200, 201)) -> Any:
        """A request with the token; returns the response (status in ``ok`` or 404), else raises.

        A refused cached token (403) is renewed once. 401/403 after that is an :class:`AuthError`.
        """
        url = self.url(path)
        kw: dict[str, Any] = {}
        if params:
            kw["params"] = params
        if json_body is not None:
            kw["json"] = json_body
        token = self.token()
        r = self._send(method, url, token, **kw)
        if r.status_code == 403:
            log.info("Alyx token refused by %s; asking for a new one", self.base_url)
            r.close()
            token = self.authenticate()
            r = self._send(method, url, token, **kw)
        if r.status_code in (401, 403):
            raise AuthError(f"{method} {url}: the Alyx server refused access (HTTP {r.status_code}: "
                            f"{_detail(r)}); check the user's permissions")
        if r.status_code in ok or r.status_code == 404:
            return r
        raise OneError(f"{method} {url.split('?')[0]}: HTTP {r.status_code}: {_detail(r)}")

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """The decoded JSON of a GET; :class:`NotFound` on 404."""
        r = self.request("GET", path, params=params)
        if r.status_code == 404:
            raise NotFound(f"GET {self.url(path)}: not found on the Alyx server")
        return _json(r)

    def post(self, path: str, body: Any) -> Any:
        r = self.request("POST", path, json_body=body)
        if r.status_code == 404:
            raise NotFound(f"POST {self.url(path)}: no such endpoint on the Alyx server")
        return _json(r)

    def paginate(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a list endpoint, following ``next`` links to the end."""
        p = dict(params or {})
        p.setdefault("limit", PAGE_SIZE)
        page = self.get(path, p)
        while True:
            if isinstance(page, list):  # an unpaginated endpoint
                yield from page
                return
            if not isinstance(page, dict) or "results" not in page:
                raise OneError(f"GET {self.url(path)}: unexpected answer (not a paginated list)")
            yield from page["results"]
            nxt = page.get("next")
            if not nxt:
                return
            page = self.get(nxt)


def _json(r: Any) -> Any:
    try:
        return r.json()
    except ValueError:
        raise OneError(f"{r.request.method} {r.url}: the Alyx server answered with something that is not JSON "
                       f"(HTTP {r.status_code})") from None


def prompt_password(base_url: str, username: str | None) -> Callable[[], str | None]:
    """A prompt for the password, used only when stdin is a terminal."""

    def ask() -> str | None:
        if not sys.stdin.isatty():
            return None
        import click

        return click.prompt(f"Alyx password for {username} on {base_url}", hide_input=True)

    return ask
