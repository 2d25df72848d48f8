"""A small client of the figshare v2 REST API and its upload service, for one article.

Every call is retried with :class:`onecore.transfer.RetryPolicy` on connection errors, 429 (honouring
``Retry-After``) and 5xx; other failures become clear :class:`onecore.errors.OneError` messages naming
the article and the operation, with figshare's own message. The token is sent only to the API (never
to the upload service, which authenticates by the token in its URL) and never appears in messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from onecore.sdk import (
    AuthError,
    NotFound,
    RetryPolicy,
    ThreadSessions,
    TransferError,
    TransientError,
    parse_retry_after,
    read_capped,
)

DEFAULT_API_URL = "https://api.figshare.com/v2"
TOKEN_HELP = (
    "create a personal token at https://figshare.com/account/applications and set it with "
    "'--set token=...' or the FIGSHARE_TOKEN environment variable"
)


class ArticleNotFound(NotFound, TransferError):
    """figshare answered 404 for the article or one of its files."""


class BadAnswer(TransferError):
    """figshare answered with JSON of an unexpected shape (a missing key, a wrong type, a huge number)."""


_MAX_INT = 2**63 - 1


def as_dict(value: Any, where: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadAnswer(f"{where}: figshare answered {type(value).__name__} where {what} was expected")
    return value


def as_list(value: Any, where: str, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise BadAnswer(f"{where}: figshare answered {type(value).__name__} where {what} was expected")
    return value


def int_field(d: dict[str, Any], key: str, where: str, *, required: bool = False, default: int = 0) -> int:
    """``d[key]`` as a non-negative integer (JSON number or digits); :class:`BadAnswer` otherwise."""
    value = d.get(key)
    if value is None:
        if required:
            raise BadAnswer(f"{where}: figshare's answer has no {key!r}")
        return default
    if isinstance(value, str) and value.isdigit() and value.isascii():
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_INT:
        raise BadAnswer(f"{where}: figshare's {key!r} is {str(value)[:40]!r}, not a non-negative integer")
    return value


def text_field(d: dict[str, Any], key: str, where: str) -> str:
    """``d[key]`` as text ('' when missing or null); :class:`BadAnswer` for lists, objects..."""
    value = d.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise BadAnswer(f"{where}: figshare's {key!r} is a {type(value).__name__}, not text")
    return str(value)


def parse_file_list(items: Any, where: str) -> list[RemoteFile]:
    """The files of a listing (links-only entries left out)."""
    return [
        RemoteFile.from_json(d, where)
        for d in as_list(items, where, "a list of files")
        if not as_dict(d, where, "a file record").get("is_link_only")
    ]


def parse_file_info(info: Any, where: str) -> dict[str, Any]:
    """A file record (``GET .../files/{id}``) with its text fields checked."""
    info = as_dict(info, where, "a file record")
    for key in ("status", "upload_url", "computed_md5", "supplied_md5", "name"):
        text_field(info, key, where)
    return info


def parse_upload_status(status: Any, where: str) -> dict[str, Any]:
    """The upload service's answer: ``status`` (text), ``size`` and ``parts`` (checked: numbers, order,
    offsets inside the file)."""
    status = as_dict(status, where, "an upload status")
    size = int_field(status, "size", where, required=True)
    parts = []
    for p in as_list(status.get("parts") or [], where, "a list of parts"):
        p = as_dict(p, where, "an upload part")
        no, start = int_field(p, "partNo", where, required=True), int_field(p, "startOffset", where, required=True)
        end = int_field(p, "endOffset", where, required=True)
        if no < 1 or start > end or end >= size:
            raise BadAnswer(f"{where}: figshare's part {no} has offsets {start}-{end}, outside a file of {size} bytes")
        parts.append(
            {**p, "partNo": no, "startOffset": start, "endOffset": end, "status": text_field(p, "status", where)}
        )
    return {**status, "status": text_field(status, "status", where), "size": size, "parts": parts}


@dataclass
class RemoteFile:
    """A file of the article as figshare lists it."""

    id: int
    name: str
    size: int
    download_url: str
    md5: str  # computed by figshare when known, else the md5 the uploader declared
    status: str  # "available" when complete; "created" while an upload is pending; "" in public views
    upload_url: str = ""

    @classmethod
    def from_json(cls, d: Any, where: str = "figshare") -> RemoteFile:
        """A file record of figshare's answer; :class:`BadAnswer` when it is not one."""
        d = as_dict(d, where, "a file record")
        md5 = text_field(d, "computed_md5", where) or text_field(d, "supplied_md5", where)
        return cls(
            int_field(d, "id", where, required=True),
            text_field(d, "name", where),
            int_field(d, "size", where),
            text_field(d, "download_url", where),
            md5.lower(),
            text_field(d, "status", where),
            text_field(d, "upload_url", where),
        )

    @property
    def complete(self) -> bool:
        """Whether the file's bytes are all there (public files always are)."""
        return self.status in ("", "available")


class FigshareAPI:
    """The figshare API as seen by one article. Thread-safe (one HTTP session per thread)."""

    #: Files asked for per page (figshare's maximum is 1000, its default 10).
    page_size = 1000

    def __init__(
        self,
        api_url: str,
        article_id: int,
        token: str | None,
        *,
        retry: RetryPolicy | None = None,
        timeout: tuple[float, float] = (10.0, 120.0),
    ):
        self.api_url = api_url.rstrip("/")
        self.article_id = article_id
        self._token = token or None
        self.retry = retry or RetryPolicy.from_env()
        self.timeout = timeout
        self.label = f"figshare article {article_id}"
        self._sessions = ThreadSessions()

    def __repr__(self) -> str:
        shown = "****" if self._token else None
        return f"<FigshareAPI {self.api_url} article={self.article_id} token={shown}>"

    @property
    def has_token(self) -> bool:
        return self._token is not None

    # -- plumbing ------------------------------------------------------------------------------
    def _session(self) -> Any:
        return self._sessions.get()

    def close(self) -> None:
        self._sessions.close()

    def call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        json_body: Any = None,
        data: bytes | None = None,
        params: dict[str, Any] | None = None,
        auth: bool = True,
        transient: tuple[int, ...] = (),
    ) -> Any:
        """One API call (retried); returns the decoded JSON body (None when empty).

        ``path`` is relative to the API URL, or a full URL (upload service). ``what`` names the
        operation in errors. ``transient`` lists extra status codes worth retrying (e.g. 409 locked).
        """
        import requests

        url = path if path.startswith(("http://", "https://")) else f"{self.api_url}/{path.lstrip('/')}"
        headers = {}
        if auth:
            if self._token is None:
                from onecore.sdk import ConfigError

                raise ConfigError(f"{self.label}: {what} needs a figshare token; {TOKEN_HELP}")
            headers["Authorization"] = f"token {self._token}"
        body = data
        if json_body is not None:
            import json

            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"

        def once() -> Any:
            try:
                r = self._session().request(
                    method, url, data=body, params=params, headers=headers, timeout=self.timeout, stream=True
                )
            except (requests.ConnectionError, requests.Timeout) as e:
                raise TransientError(f"{type(e).__name__} ({_short(e)})") from None
            try:
                if 200 <= r.status_code < 300:
                    content = read_capped(r, f"{self.label}: {what}")
                    if not content:
                        return None
                    try:
                        import json

                        return json.loads(content)
                    except ValueError:
                        raise TransferError(
                            f"{self.label}: {what}: figshare answered with something that is "
                            f"not JSON (HTTP {r.status_code})"
                        ) from None
                try:
                    content = read_capped(r, f"{self.label}: {what}")  # for the error's message
                except TransferError:
                    content = b""
                if r.status_code == 429 or r.status_code >= 500 or r.status_code in transient:
                    raise TransientError(
                        f"HTTP {r.status_code}{_msg(content, ': ')}", parse_retry_after(r.headers.get("Retry-After"))
                    )
                raise self._error(r.status_code, content, what)
            finally:
                r.close()

        return self.retry.call(once, f"{self.label}: {what}")

    def _error(self, code: int, content: bytes, what: str) -> Exception:
        msg = _msg(content, ": ")
        where = f"{self.label}: {what}"
        if code == 401:
            return AuthError(f"{where}: figshare refused the token (HTTP 401{msg}); {TOKEN_HELP}")
        if code == 403:
            return AuthError(
                f"{where}: the token does not give access to this article (HTTP 403{msg}); "
                "use a token of the article's owner"
            )
        if code == 404:
            return ArticleNotFound(f"{where}: not found (HTTP 404{msg}); check the article URL or id")
        return TransferError(f"{where}: figshare answered HTTP {code}{msg}")

    def paged(self, path: str, what: str, *, auth: bool = True) -> list[dict[str, Any]]:
        """All items of a paginated listing (explicit page size, until a short page)."""
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            items = self.call(
                "GET", path, f"{what} (page {page})", auth=auth, params={"page": page, "page_size": self.page_size}
            )
            if not isinstance(items, list):
                raise BadAnswer(f"{self.label}: {what}: figshare did not answer with a list")
            out.extend(items)
            if len(items) < self.page_size:
                return out
            page += 1

    # -- article -------------------------------------------------------------------------------
    @property
    def _private(self) -> str:
        return f"account/articles/{self.article_id}"

    def private_article(self, what: str = "reading the article") -> dict[str, Any]:
        return self.call("GET", self._private, what)

    def public_article(self, what: str = "reading the public article") -> dict[str, Any]:
        return self.call("GET", f"articles/{self.article_id}", what, auth=False)

    def list_files(self, public: bool = False) -> list[RemoteFile]:
        """The article's files: the draft's (token) or the latest published version's (no token)."""
        if public:
            items = self.paged(f"articles/{self.article_id}/files", "listing the public files", auth=False)
        else:
            items = self.paged(f"{self._private}/files", "listing the files")
        return parse_file_list(items, f"{self.label}: listing the files")

    def publish(self) -> dict[str, Any] | None:
        return self.call("POST", f"{self._private}/publish", "publishing")

    # -- files and the upload service ----------------------------------------------------------
    def create_file(self, name: str, md5: str, size: int) -> int:
        """Initiate an upload; returns the new file's id."""
        got = self.call(
            "POST",
            f"{self._private}/files",
            f"creating the file {name}",
            json_body={"name": name, "md5": md5, "size": size},
        )
        try:
            return int(str(got["location"]).rstrip("/").rsplit("/", 1)[1])
        except (TypeError, KeyError, IndexError, ValueError):
            raise TransferError(
                f"{self.label}: creating the file {name}: figshare's answer has no file location"
            ) from None

    def get_file(self, file_id: int, name: str) -> dict[str, Any]:
        what = f"reading the file {name}"
        return parse_file_info(self.call("GET", f"{self._private}/files/{file_id}", what), f"{self.label}: {what}")

    def complete_file(self, file_id: int, name: str) -> None:
        self.call("POST", f"{self._private}/files/{file_id}", f"completing the upload of {name}")

    def delete_file(self, file_id: int, name: str) -> None:
        self.call("DELETE", f"{self._private}/files/{file_id}", f"deleting the file {name} (id {file_id})")

    def upload_status(self, upload_url: str, name: str) -> dict[str, Any]:
        """The upload service's view of a file: ``status`` and ``parts`` (offsets inclusive)."""
        what = f"reading the upload parts of {name}"
        return parse_upload_status(self.call("GET", upload_url, what, auth=False), f"{self.label}: {what}")

    def put_part(self, upload_url: str, part_no: int, data: bytes, name: str) -> None:
        self.call(
            "PUT",
            f"{upload_url}/{part_no}",
            f"sending part {part_no} of {name}",
            data=data,
            auth=False,
            transient=(409,),
        )


def _msg(content: bytes, sep: str) -> str:
    """figshare's error message from an answer's body, prefixed by ``sep`` (empty if none)."""
    import json

    text = content.decode("utf-8", "replace")
    try:
        body = json.loads(text)
        text = body.get("message") if isinstance(body, dict) else None
    except ValueError:
        pass
    text = str(text or "").strip()[:200]
    return f"{sep}{text}" if text else ""


def _short(e: BaseException) -> str:
    text = str(e)
    return text if len(text) < 200 else text[:200] + "..."
