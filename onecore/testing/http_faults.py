"""The extra faults of :class:`onecore.testing.servers.FileServer`: answers written by hand (a dripping
body, an imposed gzip encoding, an endless body), a file changed on disk between requests, and the
``Range`` parser."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def drip(self: Any, owner: Any, f: Any, start: int, count: int, rec: Any, every: float) -> None:
    """Send ``count`` bytes of ``f`` from ``start``, one every ``every`` seconds."""
    f.seek(start)
    for _ in range(count):
        if owner._stopping.wait(every):
            self.close_connection = True
            return
        self.wfile.write(f.read(1))
        self.wfile.flush()
        rec.bytes_sent += 1


def send_special(self: Any, owner: Any, rec: Any, path: Path, fault: Any, validators: dict[str, str]) -> None:
    """The ``gzip`` (imposed encoding) and ``endless`` (no end, no length) answers."""
    rec.status = 200
    self.send_response(200)
    self.send_header("Content-Type", "application/octet-stream")
    for k, v in validators.items():
        self.send_header(k, v)
    if fault.kind == "gzip":
        import gzip

        body = gzip.compress(path.read_bytes(), compresslevel=6)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        rec.bytes_sent = len(body)
        return
    self.close_connection = True  # no length: the body ends when the connection does
    self.end_headers()
    block = b"\x00" * (1 << 16)
    while not owner._stopping.is_set():
        self.wfile.write(block)
        rec.bytes_sent += len(block)


def change_file(path: Path) -> None:
    """Rewrite ``path`` with every byte inverted and a later mtime (a new version, same size)."""
    data = path.read_bytes()
    path.write_bytes(bytes(b ^ 0xFF for b in data))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000_000))


def parse_range(value: str, size: int) -> tuple[int, int] | str | None:
    """``(start, end)`` (end exclusive) of a single ``bytes=`` range; None to ignore it; or "unsatisfiable"."""
    unit, _, spec = value.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None  # other units and multiple ranges: answer with the whole file (allowed by RFC 9110)
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if first == "":
            n = int(last)
            if n <= 0:
                return "unsatisfiable"
            return max(0, size - n), size
        a = int(first)
        b = int(last) + 1 if last else size
    except ValueError:
        return None
    if a >= size or b <= a:
        return "unsatisfiable"
    return a, min(b, size)
