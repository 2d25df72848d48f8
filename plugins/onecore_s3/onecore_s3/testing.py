"""Test helpers (need the ``[test]`` extra): a real S3 endpoint on 127.0.0.1 and a fault-injecting TCP proxy.

- :class:`MotoS3` runs ``moto.server.ThreadedMotoServer`` on 127.0.0.1 (port 0) and makes buckets, bucket
  policies and IAM users with restricted rights (``enforce_auth`` makes the server check them).
- :class:`FaultProxy` sits between a client and the server: it can answer the first N matching requests
  with ``503 SlowDown``, or drop the connection after N bytes of a matching response (a connection lost
  mid-object). It is adapted from the cutting TCP proxy of the figshare fault tests.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import uuid
from pathlib import Path
from typing import Any

import requests

ACCESS_KEY = "testing"
SECRET_KEY = "testing"  # noqa: S105 - moto's default keys (auth not enforced)
READ_ACTIONS = ["s3:GetObject", "s3:ListBucket"]


SESSION = "lab/Subjects/S1/2020-01-01/001"


def write_root(root: Path, sizes: dict[str, int], seed: int = 0) -> list[str]:
    """Files of random bytes under ``root`` at ``SESSION/alf/<name>``; returns their relative paths."""
    import random

    rng = random.Random(seed)
    rels = []
    for name, size in sizes.items():
        rel = f"{SESSION}/alf/{name}"
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(rng.randbytes(size))
        rels.append(rel)
    return rels


class MotoS3:
    """A moto S3 server on 127.0.0.1 in this process (state is shared by every server of the process:
    use :meth:`new_bucket` for fresh names)."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def client(self, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY, url: str | None = None) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=url or self.url,
            region_name="us-east-1",
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def new_bucket(self, public: bool = False) -> str:
        """A new empty bucket; ``public``: a bucket policy lets anyone GetObject and ListBucket."""
        name = f"b-{uuid.uuid4().hex[:12]}"
        c = self.client()
        c.create_bucket(Bucket=name)
        if public:
            policy = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{name}/*",
                    },
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "s3:ListBucket",
                        "Resource": f"arn:aws:s3:::{name}",
                    },
                ],
            }
            c.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))
        return name

    def settings(self, bucket: str, **extra: Any) -> dict[str, Any]:
        """Repository settings for ``bucket`` on this server (moto's default keys)."""
        out: dict[str, Any] = {
            "bucket": bucket,
            "endpoint_url": self.url,
            "region": "us-east-1",
            "access_key": ACCESS_KEY,
            "secret_key": SECRET_KEY,
            "timeout": 10,
        }
        out.update(extra)
        return {k: v for k, v in out.items() if v is not None}

    def iam_user(self, actions: list[str], bucket: str, extra: tuple[dict, ...] = ()) -> tuple[str, str]:
        """(access key, secret key) of a new IAM user allowed only ``actions`` on ``bucket`` (and what the
        ``extra`` policy statements allow)."""
        import boto3

        iam = boto3.client(
            "iam",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )
        user = f"u-{uuid.uuid4().hex[:8]}"
        iam.create_user(UserName=user)
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": actions,
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                },
                *extra,
            ],
        }
        iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"]

    def enforce_auth(self, on: bool) -> None:
        """Make the server check signatures and IAM policies (``on``) or accept anything (off)."""
        count = "0" if on else "inf"
        requests.post(f"{self.url}/moto-api/reset-auth", data=count.encode(), timeout=10).raise_for_status()

    def stop(self) -> None:
        self.server.stop()


def _hang_up(sock: socket.socket) -> None:
    for fn in (lambda: sock.shutdown(socket.SHUT_RDWR), sock.close):
        try:
            fn()
        except OSError:
            pass


_SLOWDOWN = (
    b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
)
_SLOWDOWN_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


class FaultProxy:
    """A TCP proxy on 127.0.0.1 in front of ``upstream_port``.

    ``slowdown(n, match)``: the next ``n`` requests whose first line contains ``match`` get ``503 SlowDown``.
    ``cut(after, match)``: the first response to a request containing ``match`` is cut after ``after`` bytes
    (the client sees the connection dropped mid-object). ``counts`` tells how many faults were served.
    """

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self._lock = threading.Lock()
        self._slow: tuple[int, bytes] = (0, b"")
        self._cut: tuple[int, bytes] | None = None
        self.counts = {"slowdown": 0, "cut": 0}
        #: The head (request line and headers) of every request seen, in order.
        self.requests: list[str] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def slowdown(self, n: int, match: str) -> None:
        with self._lock:
            self._slow = (n, match.encode())

    def cut(self, after: int, match: str) -> None:
        with self._lock:
            self._cut = (after, match.encode())

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                self._conns.append(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _fault_for(self, head: bytes) -> str | None:
        first = head.split(b"\r\n", 1)[0]
        with self._lock:
            n, match = self._slow
            if n > 0 and match in first:
                self._slow = (n - 1, match)
                self.counts["slowdown"] += 1
                return "slowdown"
            if self._cut is not None and self._cut[1] in first:
                self.counts["cut"] += 1
                return "cut"
        return None

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=30)
        except OSError:
            _hang_up(client)
            return
        with self._lock:
            self._conns.append(upstream)
        state = {"budget": None}
        threading.Thread(target=self._down, args=(upstream, client, state), daemon=True).start()
        try:
            while True:
                b = client.recv(65536)
                if not b:
                    break
                if b[:4] in (b"GET ", b"PUT ", b"POST", b"HEAD", b"DELE"):
                    with self._lock:
                        self.requests.append(b.split(b"\r\n\r\n", 1)[0].decode("latin-1"))
                    fault = self._fault_for(b)
                    if fault == "slowdown":
                        client.sendall(_SLOWDOWN % (len(_SLOWDOWN_BODY), _SLOWDOWN_BODY))
                        break
                    if fault == "cut":
                        with self._lock:
                            assert self._cut is not None
                            state["budget"] = self._cut[0]
                            self._cut = None
                upstream.sendall(b)
        except OSError:
            pass
        _hang_up(client)
        _hang_up(upstream)

    def _down(self, upstream: socket.socket, client: socket.socket, state: dict[str, Any]) -> None:
        try:
            while True:
                b = upstream.recv(65536)
                if not b:
                    break
                budget = state["budget"]
                if budget is not None:
                    if len(b) >= budget:
                        client.sendall(b[:budget])
                        break
                    state["budget"] = budget - len(b)
                client.sendall(b)
        except OSError:
            pass
        _hang_up(client)
        _hang_up(upstream)

    def seen(self, method: str, path_part: str) -> list[str]:
        """The heads of requests ``method`` whose request line contains ``path_part``."""
        with self._lock:
            heads = list(self.requests)
        return [h for h in heads if h.startswith(method + " ") and path_part in h.split("\r\n", 1)[0]]

    def close(self) -> None:
        _hang_up(self.sock)
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            _hang_up(c)
