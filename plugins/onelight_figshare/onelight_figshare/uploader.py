"""Uploading a data root into a figshare article: incremental, resumable, index last.

For each dataset (file name: its relative path with ``/`` -> ``~``):

- present, complete, same size and md5: skipped (nothing is sent);
- present but its upload was interrupted (status ``created``) with the same size and md5: the upload
  service is asked which parts are still PENDING and only those are sent, then the upload is completed;
  if figshare no longer knows the upload, the file is deleted and created again;
- otherwise: created (name, md5, size), every part PUT with its exact byte range, completed, its status
  checked; an older file of the same name (other content) is deleted once the new one is complete.

Then the index (``.one_root``: path and download URL, ONE light's form; ``.one_index.tsv``: path, URL,
size, md5) is rebuilt from the article's real file list, each file uploaded unless identical to the
current one, and every other index file (older ones, ``one_root.tsv`` of earlier versions) is deleted,
so exactly one of each remains. figshare has no rename: a file is created under its final name and is
not part of the article's listing (``complete``) until its upload is completed, so no temporary names.

With ``delete=True``, files of datasets that are no longer in the local root are deleted after the new
index is written; without it, they are counted in ``report.remote_only``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from onecore.sdk import (
    Dataset,
    HashCache,
    OneError,
    Progress,
    ProgressTracker,
    TransferError,
    UploadReport,
    alf,
    check_relpath,
    index_texts,
    sweep_index_leftovers,
)

from .api import ArticleNotFound, FigshareAPI, RemoteFile
from .naming import INDEX_NAME, WRITTEN_INDEX_NAMES, decode_name, encode_name, is_index_name

log = logging.getLogger(__name__)

#: How many times the file status is polled after completion while figshare is still processing it.
STATUS_POLLS = 10


class ArticleUploader:
    """One upload run into one article (see the module docstring)."""

    def __init__(
        self,
        api: FigshareAPI,
        hashes: HashCache,
        tmp_dir: Path,
        *,
        jobs: int = 4,
        progress: Callable[[Progress], None] | None = None,
    ):
        self.api = api
        self.hashes = hashes
        self.tmp_dir = tmp_dir
        self.jobs = max(1, jobs)
        self.progress = progress
        self.tracker = ProgressTracker(None, 0, 0)

    # -- the run -------------------------------------------------------------------------------
    def run(self, root: Path, datasets: list[str], dry_run: bool = False, delete: bool = False) -> UploadReport:
        report = UploadReport()
        t0 = time.monotonic()
        local: dict[str, tuple[int, str]] = {}
        for rel in datasets:
            check_relpath(rel)
            path = root / rel
            try:
                local[rel] = (path.stat().st_size, self.hashes.md5(path))
            except OSError as e:
                report.failed.append((rel, f"cannot read {path}: {e.strerror or e}"))
        listing = self.api.list_files()
        by_name: dict[str, list[RemoteFile]] = defaultdict(list)
        for f in listing:
            by_name[f.name].append(f)
        todo: list[str] = []
        leftovers: list[RemoteFile] = []
        for rel, (size, md5) in local.items():
            same = by_name.get(encode_name(rel), [])
            good = [f for f in same if f.complete and f.size == size and f.md5 == md5]
            if good:
                report.skipped.append(rel)
                leftovers += [f for f in same if f.id != good[-1].id]  # stale duplicates, unfinished uploads
            else:
                todo.append(rel)
        wanted = set(datasets)
        gone = [f for f in listing if not is_index_name(f.name) and not problem_of(f.name)]
        gone = [f for f in gone if decode_name(f.name) not in wanted]
        report.remote_only = sorted({decode_name(f.name) for f in gone})
        if dry_run:
            report.downloaded = todo  # "would send"
            report.bytes = sum(local[r][0] for r in todo)
            report.deleted = list(report.remote_only) if delete else []
            return report
        for f in leftovers:
            self._delete_quietly(f, "an up-to-date file of the same name is there")
        self.tracker = ProgressTracker(self.progress, len(todo), sum(local[r][0] for r in todo))
        lock = threading.Lock()

        def run_one(rel: str) -> None:
            size, md5 = local[rel]
            try:
                name = encode_name(rel)
                _, sent = self.send(root / rel, name, size, md5, by_name.get(name, []))
            except OneError as e:
                with lock:
                    report.failed.append((rel, f"{rel}: {e}"))
                return
            except OSError as e:
                with lock:
                    report.failed.append((rel, f"cannot read {root / rel}: {e.strerror or e}"))
                return
            self.tracker.add(files=1, current=rel)
            with lock:
                report.downloaded.append(rel)
                report.bytes += sent

        if self.jobs <= 1 or len(todo) <= 1:
            for rel in todo:
                run_one(rel)
        else:
            with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="one-figshare") as pool:
                list(pool.map(run_one, todo))
        order = {rel: i for i, rel in enumerate(local)}
        report.downloaded.sort(key=order.__getitem__)
        removed = gone if delete else []
        try:
            # nothing changed: the first listing is still the truth
            self.update_index(None if todo or leftovers or removed else listing, {f.id for f in removed})
        except OneError as e:
            report.failed.append((INDEX_NAME, f"{INDEX_NAME}: the index was not updated: {e}"))
            removed = []  # the index still lists them: they stay
        self._delete_gone(removed, report)
        report.seconds = time.monotonic() - t0
        return report

    def _delete_gone(self, removed: list[RemoteFile], report: UploadReport) -> None:
        """``--delete``: remove the files of datasets no longer in the local root (the index is written)."""
        for f in removed:
            try:
                self._delete_quietly(f, "no longer in the local data root (--delete)")
                report.deleted.append(decode_name(f.name))
            except OneError as e:
                report.failed.append((decode_name(f.name), f"not deleted: {e}"))
        report.deleted = sorted(set(report.deleted))

    # -- one file ------------------------------------------------------------------------------
    def send(self, path: Path, name: str, size: int, md5: str, existing: list[RemoteFile]) -> tuple[int, int]:
        """Upload ``path`` as ``name``; returns (file id, bytes sent).

        ``existing`` are the article's files of that name before the upload."""
        resumable = [f for f in existing if f.status == "created" and f.size == size and f.md5 == md5]
        file_id, sent = None, 0
        if resumable:
            f = resumable[-1]
            got = self._resume(f, path, name)
            if got is not None:
                file_id, sent = f.id, got
        if file_id is None:
            file_id = self.api.create_file(name, md5, size)
            info = self.api.get_file(file_id, name)
            status = self.api.upload_status(_upload_url(info, name, self.api), name)
            sent = self._put_parts(str(info["upload_url"]), status.get("parts") or [], path, name, size)
        try:
            self._complete(file_id, name, md5)
        except TransferError as e:
            if "HTTP 422" not in str(e) and "computed md5" not in str(e):
                raise
            # figshare received other bytes than ours: this upload can never complete; start afresh next time
            self._delete_quietly(RemoteFile(file_id, name, size, "", md5, "created"), "damaged upload")
            raise TransferError(
                f"{e}; the bytes figshare received were damaged on the way, so that upload "
                "was deleted: run the upload again"
            ) from None
        for f in existing:
            if f.id != file_id:
                self._delete_quietly(f, f"replaced by file {file_id}")
        return file_id, sent

    def _resume(self, f: RemoteFile, path: Path, name: str) -> int | None:
        """Send the pending parts of an interrupted upload; None if it cannot be resumed."""
        try:
            info = self.api.get_file(f.id, name)
            status = self.api.upload_status(_upload_url(info, name, self.api), name)
        except ArticleNotFound:
            return None
        if status.get("status") not in ("PENDING", "COMPLETED") or status["size"] != f.size:
            log.info(
                "%s: the interrupted upload cannot be resumed (status %s); uploading again", name, status.get("status")
            )
            return None
        log.info("%s: resuming an interrupted upload", name)
        return self._put_parts(str(info["upload_url"]), status.get("parts") or [], path, name, f.size)

    def _put_parts(self, upload_url: str, parts: list[dict], path: Path, name: str, size: int) -> int:
        """PUT every PENDING part with its exact bytes (offsets inclusive); returns the bytes sent."""
        sent = 0
        covered = 0
        with open(path, "rb") as fh:
            for p in sorted(parts, key=lambda p: int(p["partNo"])):
                start, end = int(p["startOffset"]), int(p["endOffset"])
                length = end - start + 1
                covered += length
                if p.get("status") == "COMPLETE":
                    self.tracker.add(length)
                    continue
                fh.seek(start)
                data = fh.read(length)
                if len(data) != length:
                    raise TransferError(
                        f"{path}: the file changed while uploading (part {p['partNo']} needs bytes {start}-{end})"
                    )
                self.api.put_part(upload_url, int(p["partNo"]), data, name)
                sent += length
                self.tracker.add(length)
        if covered != size:
            raise TransferError(
                f"{self.api.label}: the upload service split {name} into parts covering "
                f"{covered} bytes instead of {size}"
            )
        return sent

    def _complete(self, file_id: int, name: str, md5: str) -> None:
        self.api.complete_file(file_id, name)
        for i in range(STATUS_POLLS):
            info = self.api.get_file(file_id, name)
            status = info.get("status")
            if status == "available":
                break
            if status == "created":
                raise TransferError(
                    f"{self.api.label}: figshare did not accept the upload of {name} "
                    f"(status still 'created' after completion)"
                )
            self.api.retry.sleep(self.api.retry.delay(i + 1))  # figshare still processing it
        else:
            log.info("%s: figshare is still processing the file (status %s)", name, status)
            return
        computed = str(info.get("computed_md5") or "").lower()
        if computed and computed != md5:
            raise TransferError(f"{self.api.label}: figshare computed md5 {computed} for {name}, expected {md5}")

    def _delete_quietly(self, f: RemoteFile, why: str) -> None:
        try:
            self.api.delete_file(f.id, f.name)
            log.info("deleted %s (id %s): %s", f.name, f.id, why)
        except ArticleNotFound:
            pass

    # -- the index -----------------------------------------------------------------------------
    def update_index(self, files: list[RemoteFile] | None = None, leaving: set[int] | None = None) -> None:
        """Rebuild the index from the article's real file list (``files``, else listed now; without the
        file ids in ``leaving``); leave exactly one file of each index name."""
        self.tracker = ProgressTracker(None, 0, 0)  # the index is not part of the user's progress
        if files is None:
            files = self.api.list_files()
        files = [f for f in files if f.id not in (leaving or set())]
        rows, duplicates = index_rows(files, complete_only=True)
        for f in duplicates:
            self._delete_quietly(f, "older duplicate of a newer file with the same name")
        texts = index_texts(rows)
        indexes = [f for f in files if is_index_name(f.name)]
        keep: set[int] = set()
        for name in WRITTEN_INDEX_NAMES:  # the companion first: readers prefer it
            data = texts[name].encode("utf-8")
            md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
            same = [f for f in indexes if f.name == name and f.complete and f.md5 == md5 and f.size == len(data)]
            if same:
                keep.add(same[-1].id)
                continue
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
            sweep_index_leftovers(self.tmp_dir)
            fd, tmp = tempfile.mkstemp(dir=self.tmp_dir, prefix=".index.", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                keep.add(self.send(Path(tmp), name, len(data), md5, [])[0])
            finally:
                os.unlink(tmp)
        for f in indexes:
            if f.id not in keep:
                self._delete_quietly(f, "older index")


def index_rows(files: list[RemoteFile], complete_only: bool) -> tuple[list[Dataset], list[RemoteFile]]:
    """Index rows for the ALF files of a listing (newest file wins per name) and the older duplicates."""
    newest: dict[str, RemoteFile] = {}
    duplicates: list[RemoteFile] = []
    for f in sorted(files, key=lambda f: f.id):
        if is_index_name(f.name) or (complete_only and not f.complete) or problem_of(f.name):
            continue
        if f.name in newest:
            duplicates.append(newest[f.name])
        newest[f.name] = f
    rows = [Dataset(decode_name(f.name), f.download_url or None, f.size, f.md5 or None) for f in newest.values()]
    rows.sort(key=lambda d: d.rel_path)
    return rows, duplicates


def problem_of(name: str) -> str | None:
    """Why a figshare file name is not an ALF dataset (None if it is one)."""
    rel = decode_name(name)
    try:
        check_relpath(rel)
        alf.parse(rel)
    except OneError as e:
        return str(e)
    return None


def _upload_url(info: dict, name: str, api: FigshareAPI) -> str:
    url = info.get("upload_url")
    if not url:
        raise TransferError(f"{api.label}: figshare gave no upload URL for {name}")
    return str(url)
