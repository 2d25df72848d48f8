"""The ONE API's search: the terms, their normalisation and the session search itself.

:class:`SearchMixin` is part of :class:`onecore.api.One`; it needs the ``catalog``, ``repository``
and ``mode`` attributes that ``One`` sets.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from .errors import OneError, TransferError
from .lazy import lazy_logger
from .qc import QC

if TYPE_CHECKING:
    from .catalog import Catalog
    from .repository import Repository

log = lazy_logger("onecore.api")  # logging is imported when something is logged

#: Search terms every repository supports (``dataset``/``datasets`` and ``lab``/``laboratory`` are one
#: term each; ``dataset_qc_lte`` filters only where datasets have a QC: Alyx).
CORE_TERMS = (
    "dataset",
    "datasets",
    "lab",
    "laboratory",
    "subject",
    "date_range",
    "number",
    "collection",
    "revision",
    "namespace",
    "projects",
    "task_protocol",
    "dataset_qc_lte",
)
_ALIASES = {"dataset": "datasets", "project": "projects", "date": "date_range", "laboratory": "lab"}
#: Session fields matched as case-sensitive partial regular expressions (ONE-api's ``wildcards=True``).
TEXT_TERMS = ("lab", "subject", "projects", "task_protocol")


class SearchMixin:
    """``search`` and ``search_terms`` of :class:`onecore.api.One`."""

    catalog: Catalog
    repository: Repository
    mode: str
    offline: bool
    _records: Callable[[Any], list[Any]]

    # -- search --------------------------------------------------------------------------------
    def search_terms(self) -> list[str]:
        """The search terms this repository supports."""
        return [*CORE_TERMS, *[t for t in self.repository.extra_search_terms if t not in CORE_TERMS]]

    def _canonical_terms(self) -> dict[str, str]:
        terms = {t: _ALIASES.get(t, t) for t in self.search_terms()}
        for alias, canon in _ALIASES.items():
            if canon in terms.values():
                terms.setdefault(alias, canon)
        return terms

    def _normalize(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        terms = self._canonical_terms()
        out: dict[str, Any] = {}
        for key, value in kwargs.items():
            if key in terms:
                canon = terms[key]
            else:
                hits = {c for t, c in terms.items() if t.startswith(key)}
                if len(hits) > 1 and len(hits - {"dataset_qc_lte"}) == 1:
                    hits.discard("dataset_qc_lte")  # 'data' stays 'datasets', as onecore always had it
                if len(hits) != 1:
                    what = "ambiguous" if hits else "unknown"
                    raise OneError(f"{what} search term {key!r}; valid terms: {', '.join(self.search_terms())}")
                canon = hits.pop()
            if value is None:
                continue
            if canon in out:
                raise OneError(f"search term {canon!r} given twice (as {key!r})")
            out[canon] = _normalize_value(canon, value)
        return out

    wildcards: bool

    def search(self, details: bool = False, query_type: str | None = None, **filters: Any) -> Any:
        """Session ids matching all filters, newest first; ``details=True``: ``(eids, details)``.

        As ONE-api: ``lab``/``laboratory``, ``subject``, ``projects``, ``task_protocol`` are
        case-sensitive partial matches read as regular expressions (``subject='^KS005$'`` for one
        subject; plain substrings when ``one.wildcards`` is False), a list is an OR; ``number`` a value
        or a list; ``date_range`` a date (``str``, ``date`` or ``datetime``: that whole day), or a pair
        with ``None`` for an open end (``['2021-01-01']``: from that day on). ``dataset``/``datasets``:
        an object, ``object.attribute``, a file name, a collection folder, a shell wildcard, or a
        regular expression matching a whole file name; several are AND-ed per session. Also
        ``collection``, ``revision``, ``namespace`` and the repository's own terms.

        ``dataset_qc_lte`` (a QC name such as ``'WARNING'``, an int, or ONE-api's ``QC``), as ONE-api:
        with ``dataset`` terms, each term needs a matching dataset of QC at most that level (``FAIL``
        when not given, as ONE-api: CRITICAL datasets do not count); without, a session needs any
        dataset of QC at most that level. It filters only where the repository knows QC (Alyx: a
        server search is checked on the client, listing each session found); elsewhere (local,
        HTTP, FTP, figshare, S3) no dataset has a QC and it changes nothing. Terms may be abbreviated to an unambiguous
        prefix (``subj=``, ``data=``, ``date=``). On Alyx the server matches (case-insensitive
        partial). ``query_type`` is accepted for ONE-api scripts (``'local'``: the catalog only).
        """
        f = self._normalize(filters)
        qc = f.pop("dataset_qc_lte", None)
        qc = None if qc is None else int(QC.validate(qc))
        if self.mode != "local" and query_type != "local":
            try:
                remote = self.repository.search(_for_repository(f))
            except TransferError as e:
                log.warning("repository %r unreachable (%s); searching the cached catalog", self.repository.name, e)
                self.offline = True
                remote = None
            if remote is not None:
                self.catalog.upsert(sessions=remote)
                eids = [r.eid for r in remote]
                if qc is not None and eids:
                    eids = self._qc_filtered(eids, f, qc)
                return self._with_details(eids) if details else eids
        extra = set(f) - set(_CATALOG_ARGS)
        if extra:
            raise OneError(
                f"search term(s) {', '.join(sorted(extra))} need the server; "
                f"the local catalog supports {', '.join(CORE_TERMS)}"
            )
        text = {k: f.pop(k) for k in (*TEXT_TERMS, "number") if k in f}
        if qc is None and f.get("datasets"):
            qc = int(QC.FAIL)  # ONE-api's default for dataset terms (a no-op where no QC is known)
        eids = self.catalog.search(**f, dataset_qc_lte=qc)
        if text:
            keep = self._session_filter(text)
            eids = [e for e in eids if e in keep]
        return self._with_details(eids) if details else eids

    def _qc_filtered(self, eids: list[str], f: Mapping[str, Any], qc: int) -> list[str]:
        """The sessions of a server's answer that pass ``dataset_qc_lte=qc``, checked on the client:
        each session is listed (one request each; the catalog keeps the listing), then searched in
        the catalog with the dataset terms and the QC level. Nothing to check where the
        repository's datasets have no QC."""
        try:
            if not self.repository.has_qc():
                return eids
        except TransferError as e:
            log.warning(
                "repository %r unreachable (%s); dataset_qc_lte checked on the cached catalog", self.repository.name, e
            )
        for eid in eids:
            self._records(eid)  # ListMixin's: lists the session and refreshes the catalog
        terms = {k: f[k] for k in ("datasets", "collection", "revision", "namespace") if k in f}
        keep = set(self.catalog.search(**terms, dataset_qc_lte=qc))
        return [e for e in eids if e in keep]

    def _session_filter(self, text: Mapping[str, Any]) -> set[str]:
        """The sessions whose fields match the text terms (regex or substring) and numbers."""
        wild = getattr(self, "wildcards", True)
        tests = []
        for key, values in text.items():
            if key == "number":
                tests.append((key, lambda v, n=set(values): v in n))
            elif wild:
                rx = _text_pattern(key, values)
                tests.append((key, lambda v, rx=rx: v is not None and rx.search(v) is not None))
            else:
                tests.append((key, lambda v, vals=tuple(values): v is not None and any(x in v for x in vals)))
        from .jsontext import loads  # json.loads without importing json

        rows = self.catalog._q("SELECT eid, lab, subject, number, projects, task_protocol FROM sessions")
        out = set()
        for eid, lab, subject, number, projects, task_protocol in rows:
            fields = {"lab": lab, "subject": subject, "number": number, "task_protocol": task_protocol}
            fields["projects"] = ",".join(loads(projects)) if projects else ""
            if all(test(fields[key]) for key, test in tests):
                out.add(eid)
        return out

    def _with_details(self, eids: list[str]) -> tuple[list[str], Any]:
        if not eids:
            return [], None  # ONE-api's answer when nothing matches
        return eids, [session_details(self.catalog.session(e) or {}) for e in eids]


def _for_repository(f: Mapping[str, Any]) -> dict[str, Any]:
    """The normalised filters as a repository's ``search`` takes them (``number``: an int when single)."""
    out = dict(f)
    if "number" in out and len(out["number"]) == 1:
        out["number"] = out["number"][0]
    return out


def session_details(s: Mapping[str, Any]) -> Any:
    """A catalog session as ONE-api's search details: lab, subject, date (a ``date``), number, ..."""
    from .alfobj import Bunch

    d = Bunch(
        lab=s.get("lab"),
        subject=s.get("subject"),
        date=_dt.date.fromisoformat(s["date"]) if s.get("date") else None,
        number=s.get("number"),
        task_protocol=s.get("task_protocol") or "",
        projects=",".join(s.get("projects") or []),
    )
    d.update({k: v for k, v in s.items() if k not in d})
    return d


_CATALOG_ARGS = (
    "datasets",
    "lab",
    "subject",
    "date_range",
    "number",
    "collection",
    "revision",
    "namespace",
    "projects",
    "task_protocol",
)


def _to_date(value: Any, term: str = "date_range") -> str | None:
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        return value.date().isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    text = str(value).strip()[:10]
    try:
        return _dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise OneError(f"{term}: {value!r} is not a date (expected yyyy-mm-dd)") from None


def _normalize_value(term: str, value: Any) -> Any:
    if term == "datasets":
        vals = [value] if isinstance(value, str) else list(value)
        if not all(isinstance(v, str) and v for v in vals):
            raise OneError(f"dataset terms must be non-empty strings, got {value!r}")
        return vals
    if term in ("lab", "subject", "projects", "task_protocol"):
        return [str(value)] if isinstance(value, str) else [str(v) for v in value]
    if term == "date_range":
        if not isinstance(value, (list, tuple)) and hasattr(value, "tolist"):
            value = value.tolist()  # numpy datetime64 / arrays, as ONE-api accepts
        if isinstance(value, (str, _dt.date)):
            d = _to_date(value)
            return (d, d)
        vals = list(value)
        if len(vals) == 1:
            return (_to_date(vals[0]), None)
        if len(vals) == 2:
            start, end = _to_date(vals[0]), _to_date(vals[1])
            if start and end and start > end:
                raise OneError(f"date_range: the start {start} is after the end {end}")
            return (start, end)
        raise OneError(f"date_range takes a date, [start] or [start, end]; got {value!r}")
    if term == "number":
        try:
            vals = [value] if isinstance(value, str) or not hasattr(value, "__iter__") else list(value)
            return [int(str(v)) for v in vals]
        except (TypeError, ValueError):
            raise OneError(f"number: {value!r} is not a session number (or a list of them)") from None
    return value


def _text_pattern(key: str, values: Sequence[str]) -> re.Pattern[str]:
    """One regular expression matching any of a text term's values; a bad one is a clear OneError."""
    for v in values:
        try:
            re.compile(v)
        except re.error as e:
            raise OneError(
                f"search term {key}={v!r} is not a valid regular expression ({e}); text terms are regular "
                f"expressions, as in ONE-api: write '{'.' + v if v.startswith('*') else re.escape(v)}' instead"
            ) from None
    return re.compile("|".join(f"(?:{v})" for v in values))
