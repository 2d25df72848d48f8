"""The ``alyx`` repository type: ONE on an Alyx database.

- **Connecting**: :meth:`AlyxRepository.from_url` (what ``ONE(base_url=...)`` calls) authenticates,
  caches the token per server (0600) and returns the configuration to save (never the password).
- **Searching**: :meth:`AlyxRepository.search` maps the search terms onto ``/sessions`` (see
  :mod:`one_alyx.search`), following pagination to the end; results land in the local catalog.
- **Listing**: :meth:`AlyxRepository.list_session` reads ``/datasets?session=<eid>``. The download URL
  of a dataset is the ``data_url`` of its first existing file record (IBL's Alyx); alyx-local gives
  only the record's ``relative_path``, which is joined to the data repository's file server URL
  (the ``data_url`` setting, else ``data_url`` or ``json.data_url`` of the ``/data-repository`` record).
- **A lab's view** (the ``lab`` setting): searches, listings and registrations see only that lab's
  sessions, and :meth:`AlyxRepository.fetch_index` lists all its datasets (``/datasets?lab=``), so the
  catalog is filled in one go and searches work offline. Without ``lab`` the catalog fills lazily
  (a whole Alyx database is too big to list on every connection).
- **QC**: a dataset's ``qc`` (IBL's Alyx gives it as a name, ``'NOT_SET'``...) becomes
  :attr:`onecore.sdk.Dataset.qc`, so ``list_datasets(qc=...)`` and ``search(dataset_qc_lte=...)``
  filter; alyx-local's datasets have no QC (None: both change nothing).
- **Registering**: :meth:`AlyxRepository.upload` (see :mod:`one_alyx.register`).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import quote

from onecore.sdk import (
    Config,
    ConfigError,
    Dataset,
    Field,
    HTTPFetcher,
    IndexUpdate,
    NotFound,
    OneError,
    RepoConfig,
    Repository,
    SessionRecord,
    TransferReport,
    url_join,
)

from .client import AlyxClient, normalize_base_url, prompt_password, read_token, server_key
from .search import EXTRA_TERMS, build_queries

log = logging.getLogger(__name__)

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_MD5 = re.compile(r"^[0-9a-fA-F]{32}$")


def _timestamp(value: Any) -> tuple[Any, str] | None:
    """(datetime, text) of an ISO 8601 time as Alyx writes it, or None."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value)), str(value)
    except ValueError:
        return None


#: Alyx's dataset QC codes (ONE-api's ``one.alf.spec.QC``); IBL's Alyx writes the names.
_QC_CODES = {"CRITICAL": 50, "FAIL": 40, "WARNING": 30, "NOT_SET": 0, "PASS": 10}


def qc_value(value: Any) -> int | None:
    """A dataset record's ``qc`` (a name such as ``'NOT_SET'`` or a code) as its code; None when it
    is missing or not a QC level (the dataset's QC is then unknown)."""
    if isinstance(value, str):
        text = value.strip().upper()
        if text.isascii() and text.isdigit():
            value = int(text)
        else:
            return _QC_CODES.get(text)
    if isinstance(value, int) and not isinstance(value, bool) and value in _QC_CODES.values():
        return value
    return None


def is_uuid(text: str) -> bool:
    return bool(_UUID.match(str(text)))


def quote_url(url: str) -> str:
    """Percent-encode the path of a URL (``#`` of revision folders above all), keeping ``%xx`` escapes."""
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/?#]*)(.*)$", url)
    if not m:
        return quote(url, safe="/%:")
    head, rest = m.groups()
    path, sep, query = rest.partition("?")
    return head + quote(path, safe="/%@:+,;=~") + sep + query


class AlyxRepository(Repository):
    """An Alyx database: sessions and datasets are searched and listed on the server."""

    type = "alyx"
    description = "Alyx database (IBL Alyx or alyx-local): search, list, download, register"
    fields = (
        Field("base_url", "Alyx REST URL, used as given (http://host:8000 or http://host:8000/api)", required=True),
        Field("username", "Alyx user name"),
        Field(
            "password", "Alyx password (only needed to renew the cached token)", secret=True, env="ONE_ALYX_PASSWORD"
        ),
        Field("data_url", "file server URL of the data repository, when the database does not give one"),
        Field("data_login", "HTTP basic-auth login of the file server", env="ONE_ALYX_DATA_LOGIN"),
        Field(
            "data_password", "HTTP basic-auth password of the file server", secret=True, env="ONE_ALYX_DATA_PASSWORD"
        ),
        Field("data_repository", "name of the Alyx data repository files are registered into"),
        Field("transfer_repo", "configured repository that uploads the bytes before registration"),
        Field("create_sessions", "create sessions missing on the server when registering", default=False, type=bool),
        Field(
            "lab",
            "only this lab's sessions: searches, listings and registrations are restricted to it, "
            "and the whole lab is indexed into the local catalog (offline search)",
        ),
    )
    extra_search_terms = EXTRA_TERMS
    can_upload = True

    def __init__(self, name: str, settings: Mapping[str, Any], *, home: Path | None = None):
        super().__init__(name, settings, home=home)
        s = self.settings
        self.client = AlyxClient(
            s["base_url"],
            username=s.get("username"),
            password=s.get("password"),
            home=self.home,
            password_prompt=prompt_password(s["base_url"], s.get("username")),
        )
        self._sessions: dict[str, SessionRecord] = {}
        self._subject_labs: dict[str, str | None] = {}
        self._repo_urls: dict[str, str | None] = {}
        self._has_qc: bool | None = None  # whether dataset records carry IBL Alyx's ``qc`` (see has_qc)

    @classmethod
    def validate_settings(cls, settings: dict[str, Any], name: str) -> dict[str, Any]:
        try:
            settings["base_url"] = normalize_base_url(settings["base_url"])
        except OneError as e:
            raise ConfigError(f"repository {name!r}: {e}") from None
        return settings

    # -- connecting ----------------------------------------------------------------------------
    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        home: Path,
        interactive: bool = False,
    ) -> RepoConfig:
        """Connect to an Alyx for ``ONE(base_url=...)``: authenticate, cache the token, return the config.

        The :meth:`onecore.repository.Repository.from_url` of this type.

        Prompts (password hidden) only when ``interactive`` and something is missing. A cached token of
        the same server (and user) is reused without a password. The password is never returned; other
        settings already configured for this server (``data_login``...) are kept.
        """
        base_url = normalize_base_url(url)
        cached = read_token(home, base_url)
        if not username:
            username = cached.get("username")
        if not username and interactive:
            import click

            username = click.prompt(f"Alyx username for {base_url}")
        if not username:
            raise ConfigError(
                f"ONE(base_url={base_url!r}) needs a username (and a password) the first time: "
                "pass username=... and password=..."
            )
        client = AlyxClient(base_url, username=username, password=password, home=home)
        try:
            if password:
                client.authenticate()
            elif cached.get("token") and cached.get("username") == username:
                client.get("labs", {"limit": 1})  # the cached token still works (renewal needs a password)
            else:
                if interactive:
                    import click

                    client._password = click.prompt(f"Alyx password for {username} on {base_url}", hide_input=True)
                client.authenticate()
        finally:
            client.close()
        name = server_key(base_url)
        settings: dict[str, Any] = {}
        try:  # keep what the user configured for this server before (data_login, data_repository...)
            previous = Config.load(home).repositories.get(name)
        except ConfigError:
            previous = None
        if previous is not None and previous.type == cls.type:
            settings.update(previous.settings)
        settings.update(base_url=base_url, username=username)
        return RepoConfig(name=name, type=cls.type, settings=settings)

    def check(self) -> None:
        """Authenticate (or check the cached token) with a small request."""
        self.client.get("labs", {"limit": 1})

    def close(self) -> None:
        self.client.close()

    # -- index ---------------------------------------------------------------------------------
    @property
    def lab(self) -> str | None:
        """The lab this repository is restricted to (the ``lab`` setting), or None (the whole database)."""
        return self.settings.get("lab") or None

    def fetch_index(self, state: Mapping[str, Any] | None) -> IndexUpdate | None:
        """The lab's datasets (with ``lab`` set), else nothing: the catalog fills lazily.

        With a lab, the validator is the number of the lab's datasets and the newest ``auto_datetime``
        among them: two small requests (``limit=1``) tell whether anything was added, removed or changed
        since, and ``None`` is returned when nothing was.
        """
        lab = self.lab
        if not lab:
            if state and state.get("alyx"):
                return None
            return IndexUpdate(rows=(), state={"alyx": True})
        if (
            state
            and state.get("lab") == lab
            and (state.get("modified") or state.get("count") == 0)
            and self._unchanged(lab, state)
        ):
            return None
        sessions: dict[str, SessionRecord] = {}
        for item in self.client.paginate("sessions", {"lab": lab}):
            rec = self._record(item, lab)
            sessions[rec.eid] = rec
        rows: list[Dataset] = []
        count = 0
        newest: tuple[Any, str] | None = None
        known = True  # every dataset has a modification time
        for ds in self.client.paginate("datasets", {"lab": lab}):
            count += 1
            stamp = _timestamp(ds.get("auto_datetime"))
            if stamp is None:
                known = False
            elif newest is None or stamp > newest:
                newest = stamp
            eid = str(ds.get("session_pk") or "")
            session = sessions.get(eid) or (self.resolve_session(eid) if eid else None)
            if session is None:
                log.warning("dataset %s of lab %s: its session %r is not found; skipped", ds.get("id"), lab, eid)
                continue
            sessions[session.eid] = session
            d = self._dataset(ds, session)
            if d.rel_path.rsplit("/", 1)[-1]:
                rows.append(d)
        return IndexUpdate(
            rows=rows,
            sessions=list(sessions.values()),
            state={"alyx": True, "lab": lab, "count": count, "modified": newest[1] if newest and known else None},
        )

    def _unchanged(self, lab: str, state: Mapping[str, Any]) -> bool:
        """Whether the lab still has ``state['count']`` datasets, none modified after ``state['modified']``."""
        page = self.client.get("datasets", {"lab": lab, "limit": 1})
        if not isinstance(page, dict) or page.get("count") != state.get("count"):
            return False
        if not state.get("modified"):
            return True  # an empty lab
        page = self.client.get("datasets", {"lab": lab, "limit": 1, "django": f"auto_datetime__gt,{state['modified']}"})
        return isinstance(page, dict) and page.get("count") == 0

    def fetcher(self) -> HTTPFetcher:
        """The data server's fetcher: its basic-auth login goes to the data server's origin only (the
        ``data_url`` setting, else the data repository URL the database gave)."""
        login = self.settings.get("data_login")
        base = self.settings.get("data_url") or next((u for u in self._repo_urls.values() if u), None)
        return HTTPFetcher(auth=(login, self.settings.get("data_password") or "") if login else None, base_url=base)

    # -- sessions ------------------------------------------------------------------------------
    def _lab_of_subject(self, nickname: str) -> str | None:
        if nickname not in self._subject_labs:
            lab = None
            for item in self.client.paginate("subjects", {"nickname": nickname}):
                if item.get("nickname") == nickname:
                    lab = item.get("lab")
                    break
            self._subject_labs[nickname] = lab
        return self._subject_labs[nickname]

    def _record(self, item: Mapping[str, Any], lab_hint: str | None = None) -> SessionRecord:
        eid = str(item.get("id") or str(item.get("url", ""))[-36:])
        subject = item.get("subject") or ""
        lab = item.get("lab") or lab_hint or (self._lab_of_subject(subject) if subject else None)
        start = str(item.get("start_time") or "")[:10]
        projects = item.get("projects") or ([item["project"]] if item.get("project") else [])
        extra = {k: item[k] for k in ("users", "url", "start_time") if item.get(k) is not None}
        rec = SessionRecord(
            eid=eid,
            lab=lab,
            subject=subject,
            date=start,
            number=int(item.get("number") or 0),
            projects=[str(p) for p in projects],
            task_protocol=item.get("task_protocol"),
            extra=extra,
        )
        self._sessions[eid] = rec
        return rec

    def search(self, filters: Mapping[str, Any]) -> list[SessionRecord]:
        """Sessions matching ``filters`` (canonical ONE terms), newest first, every page read."""
        lab = self.lab
        if lab:  # a lab's view: other labs have nothing
            wanted = filters.get("lab")
            if wanted is not None and lab not in ([wanted] if isinstance(wanted, str) else list(wanted)):
                return []
            filters = {**filters, "lab": [lab]}
        groups = build_queries(filters)
        labs = filters.get("lab")
        lab_hint = (
            labs[0] if isinstance(labs, (list, tuple)) and len(labs) == 1 else (labs if isinstance(labs, str) else None)
        )
        found: dict[str, dict[str, Any]] | None = None
        for group in groups:
            union: dict[str, dict[str, Any]] = {}
            for params in group:
                for item in self.client.paginate("sessions", params):
                    union.setdefault(str(item.get("id") or str(item.get("url", ""))[-36:]), item)
            found = union if found is None else {k: v for k, v in found.items() if k in union}
        items = sorted(
            (found or {}).values(), key=lambda i: (str(i.get("start_time") or ""), i.get("number") or 0), reverse=True
        )
        return [self._record(i, lab_hint) for i in items]

    def resolve_session(self, eid: str) -> SessionRecord | None:
        """The session ``eid`` (a UUID) from ``/sessions/<eid>``; None if it is not one, not found, or
        of another lab than the ``lab`` setting."""
        if not is_uuid(eid):
            return None
        rec = self._sessions.get(eid)
        if rec is None or rec.lab is None:
            try:
                item = self.client.get(f"sessions/{eid}")
            except NotFound:
                return None
            rec = self._record(item)
        if self.lab and rec.lab != self.lab:
            return None
        return rec

    # -- datasets ------------------------------------------------------------------------------
    def _repository_url(self, name: str | None) -> str | None:
        if self.settings.get("data_url"):
            return self.settings["data_url"]
        if not name:
            return None
        if name not in self._repo_urls:
            url = None
            try:
                rec = self.client.get(f"data-repository/{quote(name, safe='')}")
            except NotFound:
                rec = {}
            if isinstance(rec, dict):
                js = rec.get("json") if isinstance(rec.get("json"), dict) else {}
                url = rec.get("data_url") or js.get("data_url")
            self._repo_urls[name] = url or None
        return self._repo_urls[name]

    def _dataset(self, ds: Mapping[str, Any], session: SessionRecord) -> Dataset:
        records = [fr for fr in ds.get("file_records") or [] if fr.get("exists")]
        url = None
        fname = None
        for fr in records:
            if fr.get("data_url"):
                url = quote_url(fr["data_url"])
                break
            base = self._repository_url(fr.get("data_repository") or ds.get("data_repository"))
            if base and fr.get("relative_path"):
                url = url_join(base, fr["relative_path"])
                fname = fr.get("file_name")
                break
        if fname is None and records:
            fname = records[0].get("file_name")
        fname = fname or ds.get("name") or ""
        collection = (ds.get("collection") or "").strip("/")
        revision = ds.get("revision") or ""
        parts = [session.lab, "Subjects"] if session.lab else []
        parts += [session.subject, session.date, f"{session.number:03d}"]
        if collection:
            parts.append(collection)
        if revision:
            parts.append(f"#{revision}#")
        parts.append(fname)
        md5 = ds.get("hash") or ds.get("md5") or next((fr.get("hash") for fr in records if fr.get("hash")), None)
        md5 = str(md5).lower() if md5 and _MD5.match(str(md5)) else None
        size = ds.get("file_size")
        if "qc" in ds:
            self._has_qc = True
        return Dataset(
            rel_path="/".join(parts),
            url=url,
            size=int(size) if size is not None else None,
            md5=md5,
            eid=session.eid,
            default=ds.get("default_dataset"),
            id=str(ds.get("id") or str(ds.get("url", ""))[-36:]) or None,
            qc=qc_value(ds.get("qc")),
        )

    def has_qc(self) -> bool:
        """Whether the server's datasets have a QC (IBL's Alyx: ``'qc': 'NOT_SET'``...; alyx-local's
        have none). Known from the records read so far, else from one small ``/datasets`` request."""
        if self._has_qc is None:
            page = self.client.get("datasets", {"limit": 1, **({"lab": self.lab} if self.lab else {})})
            results = page.get("results") if isinstance(page, dict) else page
            first = results[0] if isinstance(results, list) and results else None
            self._has_qc = isinstance(first, dict) and "qc" in first
        return self._has_qc

    def list_session(self, eid: str) -> list[Dataset] | None:
        """Every dataset of a session (``/datasets?session=<eid>``, all pages)."""
        session = self.resolve_session(eid)
        if session is None:
            where = f" in lab {self.lab!r}" if self.lab else ""
            raise NotFound(f"no session {eid!r}{where} on the Alyx server {self.settings['base_url']}")
        out = []
        for ds in self.client.paginate("datasets", {"session": eid}):
            d = self._dataset(ds, session)
            if d.rel_path.rsplit("/", 1)[-1]:
                out.append(d)
        return out

    # -- registering ---------------------------------------------------------------------------
    def upload(
        self,
        root: Path,
        datasets: list[str],
        *,
        dry_run: bool = False,
        jobs: int = 4,
        progress: Callable[..., None] | None = None,
    ) -> TransferReport:
        """Register ``datasets`` of ``root`` (after sending their bytes through ``transfer_repo`` if set)."""
        from .register import register

        return register(self, Path(root), list(datasets), dry_run=dry_run, jobs=jobs, progress=progress)
