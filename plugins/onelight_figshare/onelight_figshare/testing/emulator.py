"""A stateful emulator of the figshare v2 API, served over real HTTP on 127.0.0.1 (for tests and benchmarks).

figshare cannot be reached from tests, so this reproduces the documented behaviour a client depends on
(see ``shared/reference/figshare-api.md``):

- private articles under ``/v2/account/articles`` (create, get, update, publish), their files (create
  with name/md5/size, get, list, complete, delete), and the public view ``/v2/articles/{id}[/files]`` of
  the latest published version (404 until the first publish);
- the upload service ``/upload/{token}[/{partNo}]`` with small parts (``part_size``, default 64 KiB),
  exact-length checks on each part, and completion that checks size and md5 (422 on a mismatch);
- downloads at ``/ndownloader/files/{id}`` (with ``Range``), public for published files, else the
  owner's token;
- pagination (``page``/``page_size``, default 10, max 1000, or ``limit``/``offset``; mixing is 422);
- auth by ``Authorization: token X`` or ``?access_token=X``; JSON errors ``{"message", "code"}``;
- injectable faults: the next N requests whose path matches a pattern answer 429 (with
  ``Retry-After``) or 5xx, or first wait (a server that hangs), see :meth:`FigshareEmulator.fail`; the
  next N upload parts stored with their bytes inverted (:meth:`FigshareEmulator.corrupt_parts`);
- downloads answered by a redirect to another server (as figshare's ``ndownloader`` redirects to its
  storage): set :attr:`FigshareEmulator.download_redirect` to a base URL, the file id is appended.

Every request is logged in :attr:`FigshareEmulator.log` as ``(method, path)`` so tests can assert what
a client sent. Usage::

    with FigshareEmulator(tokens={"tok": "alice"}) as emu:
        aid = emu.create_article("alice", title="t", description="d")
        ...  # point the client at emu.api_url
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

DEFAULT_PART_SIZE = 64 * 1024
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 10


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:  # no access log on stderr
        pass


class _Error(Exception):
    def __init__(self, status: int, message: str, code: str = "", headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers
        self.code = code or _CODES.get(status, "Error")


_CODES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "EntityNotFound",
    409: "Conflict",
    422: "InvalidParams",
    429: "TooManyRequests",
    500: "InternalServerError",
    503: "ServiceUnavailable",
}


@dataclass
class _File:
    id: int
    article_id: int
    name: str
    size: int
    supplied_md5: str
    upload_token: str
    part_size: int
    data: bytearray = field(default_factory=bytearray)
    status: str = "created"
    computed_md5: str = ""
    parts_done: set[int] = field(default_factory=set)

    def parts(self) -> list[dict[str, Any]]:
        out = []
        for i, start in enumerate(range(0, self.size, self.part_size), 1):
            end = min(self.size, start + self.part_size) - 1
            out.append(
                {
                    "partNo": i,
                    "startOffset": start,
                    "endOffset": end,
                    "status": "COMPLETE" if i in self.parts_done else "PENDING",
                    "locked": False,
                }
            )
        return out


@dataclass
class _Article:
    id: int
    owner: str
    title: str
    description: str = ""
    files: list[int] = field(default_factory=list)
    versions: list[dict[str, Any]] = field(default_factory=list)  # published snapshots


@dataclass
class _Fault:
    pattern: re.Pattern[str]
    status: int
    remaining: int
    method: str | None
    retry_after: str | None
    seconds: float = 0.0


class FigshareEmulator:
    """The emulator; :meth:`start` serves it on a free loopback port, :meth:`stop` shuts it down.

    ``tokens`` maps valid personal tokens to user names (articles belong to a user); ``part_size`` is
    the upload service's part size; ``require_description`` makes publish fail (400) without one,
    like figshare's mandatory metadata.
    """

    def __init__(
        self, tokens: dict[str, str] | None = None, part_size: int = DEFAULT_PART_SIZE, require_description: bool = True
    ):
        self.tokens = dict(tokens or {"test-token": "alice"})
        self.part_size = part_size
        self.require_description = require_description
        self.articles: dict[int, _Article] = {}
        self.files: dict[int, _File] = {}
        self.log: list[tuple[str, str]] = []
        self.download_redirect: str | None = None
        self._corrupt = 0
        self._faults: list[_Fault] = []
        self._lock = threading.RLock()
        self._ids = itertools.count(10_000_001)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.base_url = ""
        self._map = Map(
            [
                Rule("/v2/account/articles", endpoint="create_article", methods=["POST"]),
                Rule("/v2/account/articles", endpoint="list_articles", methods=["GET"]),
                Rule("/v2/account/articles/<int:aid>", endpoint="private_article", methods=["GET", "PUT"]),
                Rule("/v2/account/articles/<int:aid>/publish", endpoint="publish", methods=["POST"]),
                Rule("/v2/account/articles/<int:aid>/files", endpoint="private_files", methods=["GET", "POST"]),
                Rule(
                    "/v2/account/articles/<int:aid>/files/<int:fid>",
                    endpoint="private_file",
                    methods=["GET", "POST", "DELETE"],
                ),
                Rule("/v2/articles/<int:aid>", endpoint="public_article", methods=["GET"]),
                Rule("/v2/articles/<int:aid>/files", endpoint="public_files", methods=["GET"]),
                Rule("/upload/<token>", endpoint="upload_status", methods=["GET"]),
                Rule("/upload/<token>/<int:part>", endpoint="upload_part", methods=["GET", "PUT"]),
                Rule("/ndownloader/files/<int:fid>", endpoint="download", methods=["GET"]),
            ]
        )

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        """The API base URL to configure clients with (``http://127.0.0.1:PORT/v2``)."""
        return self.base_url + "/v2"

    def start(self) -> FigshareEmulator:
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler)
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="figshare-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> FigshareEmulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- test helpers (direct state access) ----------------------------------------------------
    def create_article(self, owner: str = "alice", title: str = "A dataset", description: str = "") -> int:
        """Create a private article owned by ``owner``; returns its id."""
        with self._lock:
            aid = next(self._ids)
            self.articles[aid] = _Article(aid, owner, title, description)
            return aid

    def add_file(self, article_id: int, name: str, data: bytes, complete: bool = True) -> int:
        """Put a file into an article's draft directly (as another client would have); returns its id."""
        with self._lock:
            f = self._new_file(self.articles[article_id], name, len(data), hashlib.md5(data).hexdigest())
            if complete:
                f.data[:] = data
                f.parts_done = {p["partNo"] for p in f.parts()}
                f.status, f.computed_md5 = "available", f.supplied_md5
            return f.id

    def publish_now(self, article_id: int) -> None:
        """Publish an article regardless of its metadata."""
        with self._lock:
            self._snapshot(self.articles[article_id])

    def draft_names(self, article_id: int) -> list[str]:
        with self._lock:
            return [self.files[i].name for i in self.articles[article_id].files]

    def file_bytes(self, file_id: int) -> bytes:
        with self._lock:
            return bytes(self.files[file_id].data)

    def fail(
        self,
        path_pattern: str,
        status: int = 500,
        times: int = 1,
        method: str | None = None,
        retry_after: float | None = None,
        seconds: float = 0.0,
    ) -> None:
        """Make the next ``times`` requests whose path matches ``path_pattern`` (a regex searched in the
        path) answer ``status``; 429 answers carry ``Retry-After`` when given. With ``seconds``, wait that
        long first (a hanging server: clients with a shorter read timeout give up)."""
        with self._lock:
            self._faults.append(
                _Fault(
                    re.compile(path_pattern),
                    status,
                    times,
                    method,
                    None if retry_after is None else str(retry_after),
                    seconds,
                )
            )

    def corrupt_parts(self, times: int = 1) -> None:
        """Store the next ``times`` upload parts with every byte inverted (bytes damaged on the way)."""
        with self._lock:
            self._corrupt += times

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def requests_matching(self, method: str, pattern: str) -> list[str]:
        """Paths of logged requests with this method whose path matches ``pattern``."""
        rx = re.compile(pattern)
        with self._lock:
            return [p for m, p in self.log if m == method and rx.search(p)]

    # -- WSGI ----------------------------------------------------------------------------------
    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            response = self._dispatch(request)
        except _Error as e:
            response = Response(
                json.dumps({"message": e.message, "code": e.code}),
                e.status,
                content_type="application/json",
                headers=e.headers,
            )
        except HTTPException as e:  # routing: unknown path or method
            response = Response(
                json.dumps({"message": e.description or e.name, "code": e.name}),
                e.code,
                content_type="application/json",
            )
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        with self._lock:
            self.log.append((request.method, request.path))
            for fault in self._faults:
                if (
                    fault.remaining > 0
                    and fault.pattern.search(request.path)
                    and (fault.method is None or fault.method == request.method)
                ):
                    fault.remaining -= 1
                    headers = None
                    if fault.status == 429 and fault.retry_after:
                        headers = {"Retry-After": fault.retry_after}
                    break
            else:
                fault = None
        if fault is not None:
            if fault.seconds:
                import time

                time.sleep(fault.seconds)
            raise _Error(fault.status, "injected fault", headers=headers)
        adapter = self._map.bind_to_environ(request.environ)
        endpoint, args = adapter.match()
        with self._lock:
            return getattr(self, "_h_" + endpoint)(request, **args)

    # -- helpers -------------------------------------------------------------------------------
    def _user(self, request: Request, required: bool = True) -> str | None:
        auth = request.headers.get("Authorization", "")
        token = None
        if auth:
            m = re.match(r"^token\s+(\S+)$", auth, re.IGNORECASE)
            if not m:
                raise _Error(401, "Invalid authorization header; use 'token <TOKEN>'")
            token = m.group(1)
        elif request.args.get("access_token"):
            token = request.args["access_token"]
        if token is None:
            if required:
                raise _Error(401, "Missing authorization")
            return None
        if token not in self.tokens:
            raise _Error(401, "Invalid token", "InvalidToken")
        return self.tokens[token]

    def _own_article(self, request: Request, aid: int) -> _Article:
        user = self._user(request)
        art = self.articles.get(aid)
        if art is None:
            raise _Error(404, "Article not found")
        if art.owner != user:
            raise _Error(403, "You do not have permission to access this article", "Forbidden")
        return art

    def _json_body(self, request: Request) -> dict[str, Any]:
        raw = request.get_data()
        if not raw:
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            raise _Error(400, "Invalid JSON body", "BadRequest") from None
        if not isinstance(body, dict):
            raise _Error(400, "JSON body must be an object", "BadRequest")
        return body

    def _page(self, request: Request, items: list[Any]) -> list[Any]:
        a = request.args
        paged = "page" in a or "page_size" in a
        limited = "limit" in a or "offset" in a
        if paged and limited:
            raise _Error(422, "Use either page and page_size or limit and offset, not both", "InvalidPaging")
        try:
            if limited:
                size, start = int(a.get("limit", DEFAULT_PAGE_SIZE)), int(a.get("offset", 0))
            else:
                size = int(a.get("page_size", DEFAULT_PAGE_SIZE))
                page = int(a.get("page", 1))
                if page < 1:
                    raise ValueError
                start = (page - 1) * size
        except ValueError:
            raise _Error(422, "Pagination parameters must be positive integers", "InvalidPaging") from None
        if size < 1 or size > MAX_PAGE_SIZE or start < 0:
            raise _Error(422, f"Page size must be between 1 and {MAX_PAGE_SIZE}", "InvalidPaging")
        return items[start : start + size]

    def _json(self, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return Response(json.dumps(data), status, content_type="application/json", headers=headers)

    def _new_file(self, art: _Article, name: str, size: int, md5: str) -> _File:
        f = _File(next(self._ids), art.id, name, size, md5, uuid.uuid4().hex, self.part_size)
        self.files[f.id] = f
        art.files.append(f.id)
        return f

    def _public_file(self, f: _File) -> dict[str, Any]:
        return {
            "id": f.id,
            "name": f.name,
            "size": f.size,
            "is_link_only": False,
            "download_url": f"{self.base_url}/ndownloader/files/{f.id}",
            "supplied_md5": f.supplied_md5,
            "computed_md5": f.computed_md5,
            "mimetype": "application/octet-stream",
        }

    def _private_file(self, f: _File) -> dict[str, Any]:
        d = self._public_file(f)
        d.update(
            status=f.status,
            upload_url=f"{self.base_url}/upload/{f.upload_token}",
            upload_token=f.upload_token,
            viewer_type="",
            preview_state="preview_not_available",
        )
        return d

    def _article_json(self, art: _Article, files: list[dict[str, Any]], public: bool) -> dict[str, Any]:
        return {
            "id": art.id,
            "title": art.title,
            "description": art.description,
            "status": "public" if art.versions else "draft",
            "is_public": bool(art.versions),
            "version": len(art.versions),
            "files": files[:10],
            "url_public_html": f"https://figshare.com/articles/dataset/x/{art.id}",
            "url": f"{self.api_url}/{'' if public else 'account/'}articles/{art.id}",
        }

    def _snapshot(self, art: _Article) -> None:
        files = [dict(self._public_file(self.files[i])) for i in art.files if self.files[i].status == "available"]
        art.versions.append({"title": art.title, "description": art.description, "files": files})

    def _published(self, aid: int) -> tuple[_Article, dict[str, Any]]:
        art = self.articles.get(aid)
        if art is None or not art.versions:
            raise _Error(404, "Article not found")
        return art, art.versions[-1]

    # -- handlers ------------------------------------------------------------------------------
    def _h_create_article(self, request: Request) -> Response:
        user = self._user(request)
        body = self._json_body(request)
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            raise _Error(422, "Field 'title' is required")
        aid = self.create_article(user or "", title, str(body.get("description") or ""))
        loc = f"{self.api_url}/account/articles/{aid}"
        return self._json({"entity_id": aid, "location": loc}, 201, {"Location": loc})

    def _h_list_articles(self, request: Request) -> Response:
        user = self._user(request)
        mine = [self._article_json(a, [], False) for a in self.articles.values() if a.owner == user]
        return self._json(self._page(request, mine))

    def _h_private_article(self, request: Request, aid: int) -> Response:
        art = self._own_article(request, aid)
        if request.method == "PUT":
            body = self._json_body(request)
            for key in ("title", "description"):
                if key in body:
                    if not isinstance(body[key], str):
                        raise _Error(422, f"Field {key!r} must be a string")
                    setattr(art, key, body[key])
            return self._json({"location": f"{self.api_url}/account/articles/{aid}"}, 205)
        files = [self._private_file(self.files[i]) for i in art.files]
        return self._json(self._article_json(art, files, False))

    def _h_publish(self, request: Request, aid: int) -> Response:
        art = self._own_article(request, aid)
        if self.require_description and not art.description.strip():
            raise _Error(400, "Item description is required before publishing", "MissingMetadata")
        self._snapshot(art)
        return self._json({"location": f"{self.api_url}/articles/{aid}"}, 201)

    def _h_private_files(self, request: Request, aid: int) -> Response:
        art = self._own_article(request, aid)
        if request.method == "GET":
            return self._json(self._page(request, [self._private_file(self.files[i]) for i in art.files]))
        body = self._json_body(request)
        name, size, md5 = body.get("name"), body.get("size"), body.get("md5", "")
        if not isinstance(name, str) or not name:
            raise _Error(422, "Field 'name' is required")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise _Error(422, "Field 'size' must be a non-negative integer")
        if md5 and not (isinstance(md5, str) and re.fullmatch(r"[0-9a-f]{32}", md5)):
            raise _Error(422, "Field 'md5' must be 32 hexadecimal digits")
        f = self._new_file(art, name, size, md5 or "")
        loc = f"{self.api_url}/account/articles/{aid}/files/{f.id}"
        return self._json({"location": loc}, 201, {"Location": loc})

    def _h_private_file(self, request: Request, aid: int, fid: int) -> Response:
        art = self._own_article(request, aid)
        f = self.files.get(fid)
        if f is None or fid not in art.files:
            raise _Error(404, "File not found")
        if request.method == "GET":
            return self._json(self._private_file(f))
        if request.method == "DELETE":
            art.files.remove(fid)
            return Response(status=204)
        # POST: complete the upload
        if f.status == "available":
            return self._json({"location": f"{self.api_url}/account/articles/{aid}/files/{fid}"}, 202)
        missing = [p["partNo"] for p in f.parts() if p["status"] != "COMPLETE"]
        if missing:
            raise _Error(400, f"Upload not complete: parts {missing} are pending", "UploadIncomplete")
        actual = hashlib.md5(f.data).hexdigest()
        if len(f.data) != f.size:
            raise _Error(422, f"Size mismatch: declared {f.size}, received {len(f.data)}", "SizeMismatch")
        if f.supplied_md5 and actual != f.supplied_md5:
            raise _Error(422, f"MD5 mismatch: declared {f.supplied_md5}, computed {actual}", "MD5Mismatch")
        f.status, f.computed_md5 = "available", actual
        return self._json({"location": f"{self.api_url}/account/articles/{aid}/files/{fid}"}, 202)

    def _h_public_article(self, request: Request, aid: int) -> Response:
        art, version = self._published(aid)
        out = self._article_json(art, version["files"], True)
        out.update(title=version["title"], description=version["description"])
        return self._json(out)

    def _h_public_files(self, request: Request, aid: int) -> Response:
        _, version = self._published(aid)
        return self._json(self._page(request, version["files"]))

    def _upload_file(self, token: str) -> _File:
        for f in self.files.values():
            if f.upload_token == token and f.id in self.articles[f.article_id].files:
                return f
        raise _Error(404, "Upload not found")

    def _h_upload_status(self, request: Request, token: str) -> Response:
        f = self._upload_file(token)
        parts = f.parts()
        status = "COMPLETED" if all(p["status"] == "COMPLETE" for p in parts) else "PENDING"
        return self._json(
            {"token": token, "name": f.name, "size": f.size, "md5": f.supplied_md5, "status": status, "parts": parts}
        )

    def _h_upload_part(self, request: Request, token: str, part: int) -> Response:
        f = self._upload_file(token)
        parts = f.parts()
        if part < 1 or part > len(parts):
            raise _Error(404, "Part not found")
        p = parts[part - 1]
        if request.method == "GET":
            return self._json(p)
        body = request.get_data()
        expected = p["endOffset"] - p["startOffset"] + 1
        if len(body) != expected:
            raise _Error(400, f"Part {part} must be exactly {expected} bytes, got {len(body)}", "InvalidPartSize")
        if len(f.data) < f.size:
            f.data.extend(b"\0" * (f.size - len(f.data)))
        if self._corrupt > 0:
            self._corrupt -= 1
            body = bytes(b ^ 0xFF for b in body)
        f.data[p["startOffset"] : p["endOffset"] + 1] = body
        f.parts_done.add(part)
        return Response(status=200)

    def _h_download(self, request: Request, fid: int) -> Response:
        f = self.files.get(fid)
        if f is None:
            raise _Error(404, "File not found")
        art = self.articles[f.article_id]
        published = any(d["id"] == fid for v in art.versions for d in v["files"])
        if not published:
            user = self._user(request, required=False)
            if user is None:
                raise _Error(403, "This file is private; a token is required", "Forbidden")
            if user != art.owner or fid not in art.files:
                raise _Error(403 if fid in art.files else 404, "File not found or not yours")
        if self.download_redirect:
            return Response(status=302, headers={"Location": f"{self.download_redirect}{fid}"})
        data = bytes(f.data[: f.size])
        m = re.match(r"^bytes=(\d+)-$", request.headers.get("Range", ""))
        if m and int(m.group(1)) < len(data):
            start = int(m.group(1))
            return Response(
                data[start:],
                206,
                content_type="application/octet-stream",
                headers={"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}", "Accept-Ranges": "bytes"},
            )
        return Response(data, 200, content_type="application/octet-stream", headers={"Accept-Ranges": "bytes"})
