"""Registering datasets of a data root in Alyx (what ``one upload ROOT --repo <alyx>`` does).

The files must already sit in the Alyx data repository named by the ``data_repository`` setting, or
be sent there first through the repository named by ``transfer_repo`` (any configured repository
type that can upload, e.g. FTP). Then, per session:

- the session is looked up (``subject``, ``date``, ``number``, ``lab``); a missing one is an error
  naming it, or is created when the repository has ``create_sessions: true``;
- datasets already registered with the same size and md5 are skipped (a re-run registers nothing);
- the rest are registered with ``POST /register-file`` (IBL's Alyx: path, filenames with collection
  and ``#revision#`` folders, hashes, sizes, labs; a dataset registered again gets the new hash and
  size). alyx-local has no ``/register-file``; there each new dataset is created with
  ``POST /datasets`` and a file record (dataset types, data formats and revisions are created when
  missing), and a dataset whose content changed is updated in place (``PATCH`` of its size and of
  its file records' hash: the bytes at its path were replaced).

With the ``lab`` setting, datasets of other labs are refused (each one reported as failed).
"""

from __future__ import annotations

import functools
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import quote

from onecore.sdk import ConfigError, HashCache, NotFound, OneError, TransferReport, check_relpath

if TYPE_CHECKING:
    from .repository import AlyxRepository

_PATH = re.compile(r"^([\w.-]+)/Subjects/([\w.-]+)/(\d{4}-\d{2}-\d{2})/(\d{1,3})/(.+)$")


def _open_transfer_repo(repo: AlyxRepository, name: str) -> Any:
    from onecore.sdk import Config, open_repository

    rc = Config.load(repo.home).get(name)
    if rc.type == repo.type:
        raise ConfigError(
            f"repository {repo.name!r}: transfer_repo {name!r} is an Alyx repository; "
            "name a repository that stores files (ftp, local, ...)"
        )
    other = open_repository(name, repo.home)
    if not getattr(other, "can_upload", False):
        raise ConfigError(f"repository {repo.name!r}: transfer_repo {name!r} (type {rc.type}) cannot upload")
    return other


def _find_session(repo: AlyxRepository, lab: str, subject: str, date: str, number: int) -> str | None:
    params = {"subject": subject, "date_range": f"{date},{date}", "number": str(number), "lab": lab}
    for item in repo.client.paginate("sessions", params):
        if (
            item.get("subject") == subject
            and int(item.get("number") or 0) == number
            and str(item.get("start_time", ""))[:10] == date
            and item.get("lab", lab) == lab
        ):
            return str(item.get("id") or str(item.get("url", ""))[-36:])
    return None


def _create_session(repo: AlyxRepository, lab: str, subject: str, date: str, number: int) -> str:
    body: dict[str, Any] = {"subject": subject, "lab": lab, "start_time": f"{date}T00:00:00", "number": number}
    if repo.client.username:
        body["users"] = [repo.client.username]
    item = repo.client.post("sessions", body)
    return str(item.get("id") or str(item.get("url", ""))[-36:])


class _Registrar:
    """Registers files of one Alyx, remembering which endpoint works and what exists."""

    def __init__(self, repo: AlyxRepository, data_repository: str):
        self.repo = repo
        self.client = repo.client
        self.data_repository = data_repository
        self.register_file = True  # until the server says it has no /register-file
        self.formats: dict[str, str] | None = None
        self.types: set[str] | None = None
        self.revisions: dict[str, str] = {}

    def register(
        self,
        eid: str,
        lab: str,
        subject: str,
        date: str,
        number: int,
        files: list[tuple[str, str, int, str, str | None]],
        jobs: int = 1,
    ) -> list[tuple[str, str | None]]:
        """Register ``files`` ((full path, path in session, size, md5, id of the dataset registered with
        other content or None)); returns (full path, error or None).

        On alyx-local the datasets are sent by ``jobs`` threads; the revisions of one dataset (same
        collection and type) go in order, by one thread, so that the last one is the default.
        """
        if not files:
            return []
        if self.register_file:
            body = {
                "created_by": self.client.username,
                "name": self.data_repository,
                "path": f"{subject}/{date}/{number:03d}",
                "filenames": [f[1] for f in files],
                "hashes": [f[3] for f in files],
                "filesizes": [f[2] for f in files],
                "labs": lab,
                "default": True,
                "exists": True,
            }
            r = self.client.request("POST", "register-file", json_body=body)
            if r.status_code != 404:
                return [(f[0], None) for f in files]
            self.register_file = False  # alyx-local: create the datasets one by one
        out: list[tuple[str, str | None]] = []
        groups: dict[tuple[str, str], list[tuple[str, Callable[[], Any]]]] = {}
        for full, rel, size, md5, existing in files:
            try:
                if existing:
                    key = ("", existing)
                    send = functools.partial(self._update_dataset, existing, size, md5)
                else:
                    body = self._dataset_body(eid, rel, size, md5)  # types, formats, revisions: created here
                    key = (body["collection"], body["dataset_type"])
                    send = functools.partial(self.client.post, "datasets", body)
            except OneError as e:
                out.append((full, str(e)))
                continue
            groups.setdefault(key, []).append((full, send))

        def run(group: list[tuple[str, Callable[[], Any]]]) -> list[tuple[str, str | None]]:
            done: list[tuple[str, str | None]] = []
            for full, send in group:
                try:
                    send()
                    done.append((full, None))
                except OneError as e:
                    done.append((full, str(e)))
            return done

        with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(groups) or 1))) as pool:
            for done in pool.map(run, groups.values()):
                out.extend(done)
        return out

    def _ensure_type(self, name: str, obj: str, attr: str) -> None:
        if self.types is None:  # one listing (a few pages) rather than a request per type
            self.types = {str(t.get("name")) for t in self.client.paginate("dataset-types")}
        if name in self.types:
            return
        try:
            self.client.get(f"dataset-types/{quote(name, safe='')}")
        except NotFound:
            self.client.post("dataset-types", {"name": name, "object": obj, "attribute": attr, "filename_pattern": ""})
        self.types.add(name)

    def _ensure_format(self, ext: str) -> str:
        if self.formats is None:
            self.formats = {f.get("file_extension"): f.get("name") for f in self.client.paginate("data-formats")}
        dotted = "." + ext
        if dotted not in self.formats:
            self.client.post("data-formats", {"name": ext, "file_extension": dotted})
            self.formats[dotted] = ext
        return dotted

    def _ensure_revision(self, name: str) -> str:
        if name not in self.revisions:
            try:
                rec = self.client.get(f"revisions/{quote(name, safe='')}")
            except NotFound:
                rec = self.client.post("revisions", {"name": name})
            self.revisions[name] = rec["id"]
        return self.revisions[name]

    def _update_dataset(self, dataset_id: str, size: int, md5: str) -> None:
        """New content at the same path: the file records' hash, then the dataset's size (and time)."""
        ds = self.client.get(f"datasets/{quote(dataset_id, safe='')}")
        for fr in ds.get("file_records") or []:
            if fr.get("id"):
                self.client.request("PATCH", f"files/{quote(str(fr['id']), safe='')}", json_body={"hash": md5})
        r = self.client.request("PATCH", f"datasets/{quote(dataset_id, safe='')}", json_body={"file_size": size})
        if r.status_code == 404:
            raise NotFound(f"dataset {dataset_id} disappeared from the Alyx server while registering")

    def _dataset_body(self, eid: str, rel: str, size: int, md5: str) -> dict[str, Any]:
        *folders, fname = rel.split("/")
        revision = ""
        if folders and folders[-1].startswith("#") and folders[-1].endswith("#"):
            revision = folders.pop()[1:-1]
        parts = fname.split(".")
        if len(parts) < 3:
            raise OneError(f"{fname!r} is not an ALF file name (object.attribute[.extra].ext)")
        obj, attr, ext, extra = parts[0], parts[1], parts[-1], ".".join(parts[2:-1])
        dtype = f"{obj}.{attr}"
        self._ensure_type(dtype, obj, attr)
        body: dict[str, Any] = {
            "session_pk": eid,
            "dataset_type": dtype,
            "data_format": self._ensure_format(ext),
            "collection": "/".join(folders),
            "data_repository": self.data_repository,
            "file_size": size,
            "default_dataset": True,
            "set_file_records": [{"exists": True, "hash": md5, "extra": extra}],
        }
        if revision:
            body["revision_pk"] = self._ensure_revision(revision)
        return body


def register(
    repo: AlyxRepository,
    root: Path,
    datasets: list[str],
    *,
    dry_run: bool = False,
    jobs: int = 4,
    progress: Callable[..., None] | None = None,
) -> TransferReport:
    """Send (through ``transfer_repo``) and register ``datasets`` of ``root``; see the module docstring."""
    t0 = time.monotonic()
    report = TransferReport()
    data_repository = repo.settings.get("data_repository")
    if not data_repository:
        raise ConfigError(
            f"repository {repo.name!r}: set 'data_repository' (the name of the Alyx data "
            "repository the files are in) to register datasets, e.g. "
            f"one add-repo {repo.name} --type alyx --set data_repository=NAME ..."
        )
    sessions: dict[tuple[str, str, str, int], list[tuple[str, str]]] = {}
    for rel in datasets:
        try:
            check_relpath(rel)
        except OneError as e:
            report.failed.append((rel, str(e)))
            continue
        m = _PATH.match(rel)
        if not m:
            report.failed.append((rel, "not under lab/Subjects/subject/yyyy-mm-dd/NNN/"))
            continue
        lab, subject, date, number, rest = m.groups()
        if repo.lab and lab != repo.lab:
            report.failed.append((rel, f"lab {lab!r} is not the lab {repo.lab!r} of repository {repo.name!r}"))
            continue
        sessions.setdefault((lab, subject, date, int(number)), []).append((rel, rest))
    transfer = repo.settings.get("transfer_repo")
    failed_transfer: set[str] = set()
    if transfer and not dry_run:
        other = _open_transfer_repo(repo, transfer)
        try:
            todo = [rel for files in sessions.values() for rel, _ in files]
            sent = other.upload(root, todo, dry_run=False, jobs=jobs, progress=progress)
        finally:
            other.close()
        for rel, err in sent.failed:
            failed_transfer.add(rel)
            report.failed.append((rel, f"sending through {transfer!r} failed: {err}"))
        report.bytes += sent.bytes
    hashes = HashCache(repo.home / "hashes.sqlite")
    registrar = _Registrar(repo, data_repository)
    try:
        for (lab, subject, date, number), files in sessions.items():
            files = [f for f in files if f[0] not in failed_transfer]
            if not files:
                continue
            where = f"{lab}/Subjects/{subject}/{date}/{number:03d}"
            eid = _find_session(repo, lab, subject, date, number)
            if eid is None and repo.settings.get("create_sessions") and not dry_run:
                eid = _create_session(repo, lab, subject, date, number)
            if eid is None and not dry_run:
                msg = (
                    f"the session {where} does not exist on the Alyx server {repo.settings['base_url']}; "
                    f"create it there, or set create_sessions: true on repository {repo.name!r}"
                )
                report.failed.extend((rel, msg) for rel, _ in files)
                continue
            existing = {d.rel_path: d for d in repo.list_session(eid)} if eid else {}
            todo: list[tuple[str, str, int, str, str | None]] = []
            for rel, rest in files:
                path = root / rel
                size = path.stat().st_size
                md5 = hashes.md5(path)
                ex = existing.get(rel)
                if ex is not None and ex.md5 == md5 and ex.size in (None, size):
                    report.skipped.append(rel)
                else:
                    todo.append((rel, rest, size, md5, ex.id if ex is not None else None))
            if dry_run:
                report.downloaded.extend(t[0] for t in todo)
                continue
            assert eid is not None
            for rel, err in registrar.register(eid, lab, subject, date, number, todo, jobs=jobs):
                if err:
                    report.failed.append((rel, err))
                else:
                    report.downloaded.append(rel)
                    if not transfer:
                        report.bytes += next(t[2] for t in todo if t[0] == rel)
    finally:
        hashes.close()
    report.seconds = time.monotonic() - t0
    return report
