"""A fault-injecting HTTP proxy on 127.0.0.1 in front of the real Alyx (for the error-path tests).

It forwards every request (keeping the ``Host`` header of the proxy, so the server's ``next`` links
point back at the proxy) and can: answer 503 to the next N requests, force a small ``limit`` on list
requests (to exercise pagination on a small database), and refuse a token once with 403 (as if it
had expired: Alyx hands the same token out again on renewal). It records the requests it saw.

With ``dataset_qc`` (dataset id -> QC name) it also gives every dataset record of a ``/datasets``
answer the ``qc`` field IBL's Alyx has (``'NOT_SET'`` unless listed there), which alyx-local's
datasets lack: the QC tests run on the real server's records plus that one field.
"""

from __future__ import annotations

import http.server
import json
import threading
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests

from onecore.testing.servers import QuietThreadingHTTPServer


class FaultProxy:
    def __init__(self, target: str):
        parts = urlsplit(target)
        self.target = f"{parts.scheme}://{parts.netloc}"
        self.fail_next = 0
        self.force_limit: int | None = None
        self.reject_token: str | None = None
        self.seen: list[tuple[str, str]] = []
        self.dataset_qc: dict[str, str] | None = None
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                proxy.seen.append((self.command, self.path))
                if proxy.fail_next > 0:
                    proxy.fail_next -= 1
                    return self._reply(503, b'{"detail": "injected"}')
                if proxy.reject_token and self.headers.get("Authorization") == f"Token {proxy.reject_token}":
                    proxy.reject_token = None  # once: Alyx hands the same token out again on renewal
                    return self._reply(403, b'{"detail": "Invalid token.", "status_code": 403}')
                path = self.path
                if proxy.force_limit and self.command == "GET":
                    u = urlsplit(path)
                    q = dict(parse_qsl(u.query, keep_blank_values=True))
                    if "limit" in q:
                        q["limit"] = str(proxy.force_limit)
                        path = u.path + "?" + urlencode(q)
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("content-length", "connection", "accept-encoding")
                }
                r = requests.request(
                    self.command, proxy.target + path, headers=headers, data=body, timeout=60, allow_redirects=False
                )
                content = r.content
                if proxy.dataset_qc is not None and self.command == "GET" and r.status_code == 200:
                    content = proxy.with_qc(urlsplit(path).path, content)
                self._reply(r.status_code, content, r.headers.get("Content-Type", "application/json"))

            def _reply(self, code: int, content: bytes, ctype: str = "application/json") -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815

            def log_message(self, *a: Any) -> None:
                pass

        self.server = QuietThreadingHTTPServer(("127.0.0.1", 0), Handler)  # handler errors go to the log
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="fault-proxy")

    def with_qc(self, path: str, content: bytes) -> bytes:
        """A ``/datasets`` answer with IBL Alyx's ``qc`` field on each dataset record."""
        if "/datasets" not in path:
            return content
        try:
            page = json.loads(content)
        except ValueError:
            return content
        items = page.get("results") if isinstance(page, dict) and "results" in page else page
        for item in items if isinstance(items, list) else [items]:
            if isinstance(item, dict) and "file_records" in item:
                ds_id = str(item.get("id") or str(item.get("url", ""))[-36:])
                item["qc"] = (self.dataset_qc or {}).get(ds_id, "NOT_SET")
        return json.dumps(page).encode()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
