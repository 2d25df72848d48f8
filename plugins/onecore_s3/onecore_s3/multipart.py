"""Multipart uploads for :class:`~onecore_s3.backend.S3TreeBackend`: :class:`Multipart` (send the parts,
resume an interrupted upload, check every part before completing) and :func:`hash_parts` (the md5 of a
file and of each of its parts from one read)."""

from __future__ import annotations

import base64
import hashlib
import logging
from typing import IO, TYPE_CHECKING, Any, Callable

from onecore.sdk import TransferError, TransientError

from .client import error_code

if TYPE_CHECKING:
    from .backend import S3TreeBackend

log = logging.getLogger(__name__)


def md5_pair(data: bytes) -> tuple[str, str]:
    h = hashlib.md5(data, usedforsecurity=False)
    return h.hexdigest(), base64.b64encode(h.digest()).decode("ascii")


def clean_etag(value: Any) -> str:
    return str(value or "").strip('"').lower()


def _read_exactly(src: IO[bytes], n: int) -> bytes:
    out = src.read(n)
    while 0 < len(out) < n:
        more = src.read(n - len(out))
        if not more:
            break
        out += more
    return out


def hash_parts(src: IO[bytes], size: int, part_size: int, rel_shown: str) -> tuple[str, list[tuple[str, str]]]:
    """(md5 of the ``size`` bytes of ``src``, [(hex, base64) md5 of each ``part_size`` part]) from one read:
    the parts are hashed in a helper thread while this one hashes the whole (hashlib releases the GIL),
    so it takes the time of one md5 on two cores. At most two parts are held in memory."""
    from concurrent.futures import Future, ThreadPoolExecutor

    whole = hashlib.md5(usedforsecurity=False)
    futures: list[Future] = []
    src.seek(0)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="one-s3-md5") as pool:
        offset = 0
        while offset < size:
            data = _read_exactly(src, min(part_size, size - offset))
            if not data:
                raise TransientError(f"{rel_shown} became shorter while it was read")
            futures.append(pool.submit(md5_pair, data))
            whole.update(data)
            offset += len(data)
            if len(futures) >= 2:
                futures[-2].result()
    return whole.hexdigest(), [f.result() for f in futures]


class Multipart:
    """One multipart upload of ``src`` to ``rel``: resumed when a record of an earlier one matches.

    ``part_md5s``: the (hex, base64) md5 of each part, hashed with the whole file's ``md5`` from one read:
    each part is sent with its ``Content-MD5`` and its ETag checked, so what is stored is what was hashed.
    Without them (``md5`` came from the hash cache) the local bytes are read once, in order, in the calling
    thread, and hashed there: the upload is completed only when the parts kept and sent are the bytes
    whose md5 the object's metadata records."""

    def __init__(
        self,
        backend: S3TreeBackend,
        rel: str,
        src: IO[bytes],
        size: int,
        md5: str,
        part_size: int,
        part_md5s: list[tuple[str, str]] | None = None,
    ):
        self.be, self.rel, self.src, self.size, self.md5 = backend, rel, src, size, md5
        self.store = backend.store
        self.key = self.store.key(rel)
        self.upload_id: str | None = None
        self.part_size = part_size
        self.part_md5s = part_md5s
        self.parts: list[dict[str, Any]] = []  # verified: PartNumber, ETag, Size
        self.h = hashlib.md5(usedforsecurity=False) if part_md5s is None else None  # parts kept and sent, in order

    def _call(self, fn: Callable[[], Any], what: str) -> Any:
        return self.store.call(fn, f"{what} of {self.rel}")

    def _read(self, offset: int, length: int) -> bytes:
        self.src.seek(offset)
        data = self.src.read(length)
        if len(data) != length:
            raise TransientError(f"the local file of {self.rel} became shorter while it was sent")
        return data

    def run(self, progress: Callable[[int], None]) -> None:
        """Send the missing parts (``PART_JOBS`` at once), check them all, complete."""
        from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

        self._resume()
        if self.upload_id is None:
            self._start()
        offset = sum(p["Size"] for p in self.parts)
        number = len(self.parts)
        pool = ThreadPoolExecutor(max_workers=self.be.part_jobs, thread_name_prefix="one-s3-part")
        pending: set[Future] = set()

        def collect(block: bool) -> None:
            nonlocal pending
            done, pending = wait(pending, return_when=FIRST_COMPLETED) if block else (set(), pending)
            for fut in done:
                part = fut.result()
                self.parts.append(part)
                progress(part["Size"])  # in this thread: an interrupt raised by it stops the upload

        try:
            while offset < self.size:
                if len(pending) >= self.be.part_jobs:
                    collect(True)
                length = min(self.part_size, self.size - offset)
                data = self._read(offset, length)
                if self.h is not None:
                    self.h.update(data)
                number += 1
                pending.add(pool.submit(self._send_part, number, data, self._part_md5(number, length)))
                offset += length
            while pending:
                collect(True)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        self.parts.sort(key=lambda p: p["PartNumber"])
        if self.h is not None and self.h.hexdigest() != self.md5:
            self._abort(self.upload_id)
            raise TransferError(
                f"the local file of {self.rel} changed while it was being uploaded (its md5 is no longer "
                f"{self.md5}); run the upload again"
            )
        self._check_parts()
        self._complete()

    def _resume(self) -> None:
        """Keep the parts of a recorded upload of the same file that the server has with the same bytes."""
        record = self.be.read_record(self.rel)
        if record is None:
            return
        if record.get("md5") != self.md5 or record.get("size") != self.size:
            self._abort(record.get("upload_id"))
            return
        listed = self._list(record["upload_id"])
        if listed is None:  # completed or aborted meanwhile
            self.be.drop_record(self.rel)
            return
        self.upload_id, self.part_size = record["upload_id"], int(record.get("part_size") or self.part_size)
        offset = 0
        for n, part in enumerate(listed, 1):
            if part["PartNumber"] != n or offset + part["Size"] > self.size:
                break
            if part["Size"] != self.part_size and offset + part["Size"] != self.size:
                break
            known = self._part_md5(n, part["Size"])
            if known is not None:  # hashed with the whole file: nothing to read
                if known[0] != clean_etag(part["ETag"]):
                    break
            else:
                data = self._read(offset, part["Size"])
                if md5_pair(data)[0] != clean_etag(part["ETag"]) or self.h is None:
                    break
                self.h.update(data)
            self.parts.append({"PartNumber": n, "ETag": part["ETag"], "Size": part["Size"]})
            offset += part["Size"]
        log.info("%s: resuming a multipart upload with %d part(s) already there", self.rel, len(self.parts))

    def _list(self, upload_id: str) -> list[dict[str, Any]] | None:
        parts: list[dict[str, Any]] = []
        paginator = self.be.client.get_paginator("list_parts")

        def walk() -> None:
            for page in paginator.paginate(Bucket=self.store.bucket, Key=self.key, UploadId=upload_id):
                parts.extend(page.get("Parts", ()))

        try:
            walk()
        except Exception as e:  # noqa: BLE001
            if error_code(e) in ("NoSuchUpload", "404"):
                return None
            raise self.store.error(e, f"listing the parts of {self.rel} (s3:ListMultipartUploadParts)") or e from None
        return sorted(parts, key=lambda p: p["PartNumber"])

    def _start(self) -> None:
        resp = self._call(
            lambda: self.be.client.create_multipart_upload(
                Bucket=self.store.bucket, Key=self.key, Metadata={"md5": self.md5, "size": str(self.size)}
            ),
            "starting the multipart upload (s3:PutObject)",
        )
        self.upload_id = resp["UploadId"]
        self.be.write_record(
            self.rel,
            {
                "key": self.key,
                "upload_id": self.upload_id,
                "md5": self.md5,
                "size": self.size,
                "part_size": self.part_size,
            },
        )

    def _part_md5(self, number: int, length: int) -> tuple[str, str] | None:
        """The md5 of part ``number`` (of ``length`` bytes) hashed with the whole file, if it was."""
        if self.part_md5s is None or number > len(self.part_md5s):
            return None
        expected = min(self.part_size, self.size - (number - 1) * self.part_size)
        return self.part_md5s[number - 1] if length == expected else None

    def _send_part(self, number: int, data: bytes, known: tuple[str, str] | None = None) -> dict[str, Any]:
        md5, b64 = known or md5_pair(data)
        resp = self._call(
            lambda: self.be.client.upload_part(
                Bucket=self.store.bucket,
                Key=self.key,
                UploadId=self.upload_id,
                PartNumber=number,
                Body=data,
                ContentMD5=b64,
            ),
            f"uploading part {number} (s3:PutObject)",
        )
        etag = clean_etag(resp.get("ETag"))
        if len(etag) == 32 and etag != md5:
            raise TransientError(f"part {number} of {self.rel}: the server stored other bytes")
        return {"PartNumber": number, "ETag": resp.get("ETag"), "Size": len(data)}

    def _check_parts(self) -> None:
        """Before completing: the server lists exactly the parts sent or kept (each checked against the
        local bytes: by its ETag when sent, by hashing the local range when kept from an earlier run)."""
        listed = self._list(self.upload_id or "")
        if listed is None:
            self.be.drop_record(self.rel)
            raise TransientError(f"the multipart upload of {self.rel} disappeared from the server; sending it again")
        got = [(p["PartNumber"], clean_etag(p["ETag"]), int(p["Size"])) for p in listed]
        want = [(p["PartNumber"], clean_etag(p["ETag"]), int(p["Size"])) for p in self.parts]
        if got != want or sum(p[2] for p in want) != self.size:
            self._abort(self.upload_id)
            raise TransientError(f"the parts of {self.rel} on the server are not those sent; starting again")

    def _complete(self) -> None:
        parts = [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in self.parts]
        self._call(
            lambda: self.be.client.complete_multipart_upload(
                Bucket=self.store.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": parts}
            ),
            "completing the multipart upload (s3:PutObject)",
        )
        self.be.drop_record(self.rel)

    def _abort(self, upload_id: str | None) -> None:
        """Abort an upload of another version (best effort: a lifecycle rule cleans up otherwise)."""
        self.be.drop_record(self.rel)
        if not upload_id:
            return
        try:
            self.be.client.abort_multipart_upload(Bucket=self.store.bucket, Key=self.key, UploadId=upload_id)
        except Exception as e:  # noqa: BLE001
            log.info("%s: could not abort the old multipart upload (%s)", self.rel, error_code(e) or e)
