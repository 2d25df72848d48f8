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
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping
from urllib.parse import urlsplit

from onecore.sdk import (
    AuthError,
    NotFound,
    OneError,
    RetryPolicy,
    ThreadSessions,
    TransferError,
    TransientError,
    parse_retry_after,
    read_capped,
    write_private,
)

log = logging.getLogger(__name__)

PAGE_SIZE = 250
TIMEOUT = (10.0, 120.0)
#: Most pages followed for one listing (a ``next`` link that never ends is refused).
MAX_PAGES = 100_000
_MAX_INT = 2**63 - 1


# -- the shapes of the records the repository reads (checked here, where answers come in) -------------
_TEXT, _INT, _LIST, _DICT, _BOOL = "text", "integer", "list", "object", "boolean"
_FILE_RECORD = {"data_url": _TEXT, "relative_path": _TEXT, "file_name": _TEXT, "data_repository": _TEXT, "hash": _TEXT}
SHAPES: dict[str, dict[str, str]] = {
    "sessions": {
        "id": _TEXT,
        "url": _TEXT,
        "subject": _TEXT,
        "lab": _TEXT,
        "start_time": _TEXT,
        "number": _INT,
        "projects": _LIST,
        "project": _TEXT,
        "task_protocol": _TEXT,
    },
    "datasets": {
        "id": _TEXT,
        "url": _TEXT,
        "name": _TEXT,
        "collection": _TEXT,
        "revision": _TEXT,
        "file_size": _INT,
        "hash": _TEXT,
        "md5": _TEXT,
        "data_repository": _TEXT,
        "file_records": _LIST,
    },
    "subjects": {"nickname": _TEXT, "lab": _TEXT},
    "data-repository": {"data_url": _TEXT, "json": _DICT, "name": _TEXT},
    "data-formats": {"file_extension": _TEXT, "name": _TEXT},
}


def _bad(where: str, key: str, value: Any, kind: str) -> OneError:
    shown = json.dumps(value)[:60] if not isinstance(value, float) else repr(value)
    return OneError(
        f"{where}: the Alyx server's {key!r} is {shown}, not {'an' if kind[0] in 'aeiou' else 'a'} "
        f"{kind}; is this an Alyx server, and a compatible version?"
    )


def _check_value(where: str, key: str, value: Any, kind: str) -> None:
    if value is None:
        return
    if kind == _TEXT and not isinstance(value, str):
        raise _bad(where, key, value, kind)
    if kind == _INT and (isinstance(value, bool) or not isinstance(value, int) or abs(value) > _MAX_INT):
        raise _bad(where, key, value, kind)
    if kind == _LIST and not isinstance(value, list):
        raise _bad(where, key, value, kind)
    if kind == _DICT and not isinstance(value, dict):
        raise _bad(where, key, value, kind)


def check_record(kind: str, item: Any, where: str) -> dict[str, Any]:
    """``item`` if it is a record of ``kind`` (an endpoint: ``sessions``, ``datasets``...) with the fields
    the repository reads of the right types (null allowed); a clear :class:`OneError` otherwise."""
    if not isinstance(item, dict):
        raise OneError(f"{where}: the Alyx server answered {type(item).__name__} where a record was expected")
    for key, k in SHAPES.get(kind, {}).items():
        _check_value(where, key, item.get(key), k)
    if kind == "sessions":
        for p in item.get("projects") or []:
            _check_value(where, "projects", p, _TEXT)
    elif kind == "datasets":
        for fr in item.get("file_records") or []:
            if not isinstance(fr, dict):
                raise _bad(where, "file_records", fr, _DICT)
            for key, k in _FILE_RECORD.items():
                _check_value(where, key, fr.get(key), k)
    elif kind == "data-repository" and isinstance(item.get("json"), dict):
        _check_value(where, "json.data_url", item["json"].get("data_url"), _TEXT)
    return item


def parse_page(page: Any, kind: str, where: str) -> tuple[list[dict[str, Any]], str | None]:
    """The checked records of one page of a list endpoint, and the URL of the next page (None at the end).

    A page is Django REST's ``{"count", "next", "previous", "results"}``, or a plain list (unpaginated)."""
    if isinstance(page, list):
        return [check_record(kind, item, where) for item in page], None
    if not isinstance(page, dict) or not isinstance(page.get("results"), list):
        raise OneError(f"{where}: unexpected answer (not a paginated list)")
    nxt = page.get("next")
    if nxt is not None and not isinstance(nxt, str):
        raise _bad(where, "next", nxt, _TEXT)
    return [check_record(kind, item, where) for item in page["results"]], nxt or None


def endpoint_of(path: str) -> str:
    """The endpoint name of a path or URL (``sessions`` for ``http://h/api/sessions/<eid>?x=1``)."""
    parts = [p for p in urlsplit(path).path.split("/") if p]
    for part in parts:
        if part in SHAPES:
            return part
    return parts[-1] if parts else ""


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
    write_private(
        token_path(home, base_url),
        json.dumps({"base_url": normalize_base_url(base_url), "username": username, "token": token}),
    )


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

    def __init__(
        self,
        base_url: str,
        *,
        username: str | None,
        password: str | None,
        home: Path,
        retry: RetryPolicy | None = None,
        password_prompt: Callable[[], str | None] | None = None,
    ):
        self.base_url = normalize_base_url(base_url)
        self.username = username
        self._password = password
        self.home = Path(home)
        self.retry = retry or RetryPolicy.from_env()
        self.password_prompt = password_prompt
        self._token: str | None = None
        self._sessions = ThreadSessions(lambda s: s.headers.update({"Accept": "application/json"}))

    def __repr__(self) -> str:
        return f"<AlyxClient {self.base_url} user={self.username!r}>"

    # -- plumbing ------------------------------------------------------------------------------
    @property
    def session(self) -> Any:
        return self._sessions.get()

    def close(self) -> None:
        self._sessions.close()

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"

    def _send(self, method: str, url: str, token: str | None, **kw: Any) -> Any:
        """One request, retried on connection errors, 429 and 5xx."""
        import requests

        headers = {"Authorization": f"Token {token}"} if token else {}
        what = f"{method} {url.split('?')[0]}"

        def once() -> Any:
            try:
                r = self.session.request(method, url, headers=headers, timeout=TIMEOUT, stream=True, **kw)
            except (requests.ConnectionError, requests.Timeout) as e:
                raise TransientError(f"{what}: cannot reach the Alyx server ({type(e).__name__})") from None
            # The body is read here, bounded (r.json() and r.text then use it): never an endless read.
            r._content = read_capped(r, what, "the Alyx server")
            if r.status_code == 429 or r.status_code >= 500:
                detail = _detail(r)
                r.close()
                raise TransientError(
                    f"{what}: HTTP {r.status_code} {detail}".rstrip(), parse_retry_after(r.headers.get("Retry-After"))
                )
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
        r = self._send("POST", self.url("auth-token"), None, json={"username": self.username, "password": password})
        if r.status_code == 404:
            raise OneError(
                f"{self.base_url} has no Alyx /auth-token endpoint (HTTP 404): check the base_url "
                "(alyx-local serves its API under /api, e.g. http://host:8000/api)"
            )
        if r.status_code in (400, 401, 403):
            raise AuthError(
                f"the Alyx server {self.base_url} refused the username {self.username!r} "
                "or its password; check them and connect again"
            )
        if r.status_code != 200:
            raise TransferError(f"POST {self.url('auth-token')}: HTTP {r.status_code} {_detail(r)}")
        try:
            token = r.json()["token"]
            if not isinstance(token, str) or not token.strip() or any(c.isspace() for c in token):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise OneError(f"{self.base_url}/auth-token did not answer with a token: is this an Alyx server?") from None
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
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        ok: tuple[int, ...] = (200, 201),
    ) -> Any:
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
            raise AuthError(
                f"{method} {url}: the Alyx server refused access (HTTP {r.status_code}: "
                f"{_detail(r)}); check the user's permissions"
            )
        if r.status_code in ok or r.status_code == 404:
            return r
        raise OneError(f"{method} {url.split('?')[0]}: HTTP {r.status_code}: {_detail(r)}")

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """The decoded JSON of a GET; :class:`NotFound` on 404."""
        r = self.request("GET", path, params=params)
        if r.status_code == 404:
            raise NotFound(f"GET {self.url(path)}: not found on the Alyx server")
        data = _json(r)
        kind = endpoint_of(path)
        if kind in SHAPES and isinstance(data, dict) and "results" not in data and not path.rstrip("/").endswith(kind):
            check_record(kind, data, f"GET {self.url(path).split('?')[0]}")  # one record (sessions/<eid>...)
        return data

    def post(self, path: str, body: Any) -> Any:
        r = self.request("POST", path, json_body=body)
        if r.status_code == 404:
            raise NotFound(f"POST {self.url(path)}: no such endpoint on the Alyx server")
        return _json(r)

    def paginate(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a list endpoint, following ``next`` links to the end."""
        p = dict(params or {})
        p.setdefault("limit", PAGE_SIZE)
        kind, where = endpoint_of(path), f"GET {self.url(path).split('?')[0]}"
        page = self.get(path, p)
        seen: set[str] = set()
        while True:
            items, nxt = parse_page(page, kind, where)
            yield from items
            if not nxt:
                return
            if not self._own(nxt):
                raise OneError(
                    f"{where}: the Alyx server's next page {str(nxt)[:100]!r} is not on "
                    f"{self.base_url}; refusing to follow it (and to send the token there)"
                )
            if nxt in seen or len(seen) >= MAX_PAGES:
                raise OneError(f"{where}: the Alyx server's pages never end (page {len(seen) + 1}: {nxt[:100]})")
            seen.add(nxt)
            page = self.get(nxt)

    def _own(self, url: str) -> bool:
        """Whether ``url`` is on this server (same scheme, host and port as ``base_url``)."""
        a, b = urlsplit(url), urlsplit(self.base_url)
        return (a.scheme, a.netloc.lower()) == (b.scheme, b.netloc.lower())


def _json(r: Any) -> Any:
    try:
        return r.json()
    except ValueError:
        raise OneError(
            f"{r.request.method} {r.url}: the Alyx server answered with something that is not JSON "
            f"(HTTP {r.status_code})"
        ) from None


def prompt_password(base_url: str, username: str | None) -> Callable[[], str | None]:
    """A prompt for the password, used only when stdin is a terminal."""

    def ask() -> str | None:
        if not sys.stdin.isatty():
            return None
        import click

        return click.prompt(f"Alyx password for {username} on {base_url}", hide_input=True)

    return ask
