"""Multipart uploads for :class:`~onecore_s3.backend.S3TreeBackend`: :class:`Multipart` (send the parts,
resume an interrupted upload, check every part before completing) and :func:`hash_parts` (the md5 of a
file and of each of its parts from one read)."""

from __future__ import annotations

import base64
import hashlib
import logging
import zlib
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


def crc_b64(crc: int) -> str:
    """A CRC32 as S3 writes it (``x-amz-checksum-crc32``: base64 of its 4 big-endian bytes)."""
    return base64.b64encode(crc.to_bytes(4, "big")).decode("ascii")


def hash_parts(src: IO[bytes], size: int, part_size: int, rel_shown: str) -> tuple[str, list[tuple[int, str, str]]]:
    """(md5 of the ``size`` bytes of ``src``, [(CRC32, md5 hex, md5 base64) of each ``part_size`` part]) from
    one read: the parts are hashed in a helper thread while this one hashes the whole (hashlib releases
    the GIL), in the time of one md5 on two cores. At most two parts are held in memory."""
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
            futures.append(pool.submit(_part_sums, data))
            whole.update(data)
            offset += len(data)
            if len(futures) >= 2:
                futures[-2].result()
    return whole.hexdigest(), [f.result() for f in futures]


def _part_sums(data: bytes) -> tuple[int, str, str]:
    return (zlib.crc32(data), *md5_pair(data))


class Multipart:
    """One multipart upload of ``src`` to ``rel``: resumed when a record of an earlier one matches.

    ``pins``: the CRC32 and md5 of each part, computed with the whole file's ``md5`` from one read. Each
    part sent is checked against its pin's CRC32 (a part read after the file changed is not sent), carries its
    ``Content-MD5`` and CRC32 (``x-amz-checksum-crc32``, unless ``ONE_S3_CHECKSUM=md5``) and has the
    server's answer checked (the CRC32 it echoes, its ETag against the part's md5), so what is stored is
    what was hashed.
    Without pins (``md5`` came from the hash cache) the local bytes are read once, in order, in the calling
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
        pins: list[tuple[int, str, str]] | None = None,
    ):
        self.be, self.rel, self.src, self.size, self.md5 = backend, rel, src, size, md5
        self.store = backend.store
        self.key = self.store.key(rel)
        self.upload_id: str | None = None
        self.part_size = part_size
        self.pins = pins
        self.crc = backend.checksum == "crc32"  # S3's CRC32 checksums on the parts (else Content-MD5)
        self.parts: list[dict[str, Any]] = []  # verified: PartNumber, ETag, Size (, ChecksumCRC32)
        self.h = hashlib.md5(usedforsecurity=False) if pins is None else None  # parts kept and sent, in order

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
                pending.add(pool.submit(self._send_part, number, data, self._pin(number, length)))
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
        same = (record.get("md5"), record.get("size"), record.get("checksum", "md5"))
        if same != (self.md5, self.size, self.be.checksum):
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
            if not self._kept(n, part, offset):
                break
            kept = {"PartNumber": n, "ETag": part["ETag"], "Size": part["Size"]}
            if part.get("ChecksumCRC32"):
                kept["ChecksumCRC32"] = part["ChecksumCRC32"]
            self.parts.append(kept)
            offset += part["Size"]
        log.info("%s: resuming a multipart upload with %d part(s) already there", self.rel, len(self.parts))

    def _kept(self, n: int, part: dict[str, Any], offset: int) -> bool:
        """Whether part ``n`` on the server (from ``ListParts``) is the local bytes at ``offset``: read and
        checked against its pin, the CRC32 listed and its ETag (a server may list a part it stored wrong)."""
        data = self._read(offset, part["Size"])
        crc = zlib.crc32(data)
        pin = self._pin(n, part["Size"])
        if (pin is not None and crc != pin[0]) or (part.get("ChecksumCRC32") and crc_b64(crc) != part["ChecksumCRC32"]):
            return False
        etag = clean_etag(part["ETag"])
        if len(etag) == 32 and md5_pair(data)[0] != etag:
            return False
        if self.h is not None:
            self.h.update(data)
        return True

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
                Bucket=self.store.bucket,
                Key=self.key,
                Metadata={"md5": self.md5, "size": str(self.size)},
                **({"ChecksumAlgorithm": "CRC32"} if self.crc else {}),
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
                "checksum": self.be.checksum,
            },
        )

    def _pin(self, number: int, length: int) -> tuple[int, str, str] | None:
        """The CRC32 of part ``number`` (of ``length`` bytes) computed with the whole file's md5, if it was."""
        if self.pins is None or number > len(self.pins):
            return None
        expected = min(self.part_size, self.size - (number - 1) * self.part_size)
        return self.pins[number - 1] if length == expected else None

    def _send_part(self, number: int, data: bytes, pin: tuple[int, str, str] | None = None) -> dict[str, Any]:
        crc = zlib.crc32(data)
        if pin is not None and crc != pin[0]:  # read after the file changed: not the bytes of self.md5
            raise TransientError(f"the local file of {self.rel} changed while it was being uploaded; sending it again")
        md5, b64 = pin[1:] if pin is not None and pin[1] else md5_pair(data)  # (else hashed in this part's thread)
        checksum = {"ContentMD5": b64}
        if self.crc:
            checksum["ChecksumCRC32"] = crc_b64(crc)
        resp = self._call(
            lambda: self.be.store.upload_client.upload_part(
                Bucket=self.store.bucket,
                Key=self.key,
                UploadId=self.upload_id,
                PartNumber=number,
                Body=data,
                **checksum,
            ),
            f"uploading part {number} (s3:PutObject)",
        )
        part = {"PartNumber": number, "ETag": resp.get("ETag"), "Size": len(data)}
        theirs = resp.get("ChecksumCRC32")
        if theirs:
            if theirs != crc_b64(crc):
                raise TransientError(f"part {number} of {self.rel}: the server stored other bytes (CRC32)")
            part["ChecksumCRC32"] = theirs
        etag = clean_etag(resp.get("ETag"))  # the part's md5 (not with KMS: Content-MD5 vouches then)
        if len(etag) == 32 and etag != md5:
            raise TransientError(f"part {number} of {self.rel}: the server stored other bytes")
        return part

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
        keys = ("PartNumber", "ETag", "ChecksumCRC32")
        parts = [{k: p[k] for k in keys if p.get(k)} for p in self.parts]
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
