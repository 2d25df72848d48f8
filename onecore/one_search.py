"""The ONE API's search: the terms, their normalisation and the session search itself.

:class:`SearchMixin` is part of :class:`onecore.api.One`; it needs the ``catalog``, ``repository``
and ``mode`` attributes that ``One`` sets.
"""

from __future__ import annotations

import datetime as _dt
import logging
from typing import TYPE_CHECKING, Any, Mapping

from .errors import OneError, TransferError

if TYPE_CHECKING:
    from .catalog import Catalog
    from .repository import Repository

log = logging.getLogger("onecore.api")

#: Search terms every repository supports (``dataset`` and ``datasets`` are one term).
CORE_TERMS = ("dataset", "datasets", "lab", "subject", "date_range", "number", "collection", "revision", "namespace")
_ALIASES = {"dataset": "datasets", "project": "projects", "date": "date_range"}


class SearchMixin:
    """``search`` and ``search_terms`` of :class:`onecore.api.One`."""

    catalog: Catalog
    repository: Repository
    mode: str
    offline: bool

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

    def search(self, details: bool = False, **filters: Any) -> list[Any]:
        """Session ids matching all filters, newest first (records with ``details=True``).

        Filters: ``dataset``/``datasets`` (object, object.attribute, file name, collection folder, or
        wildcard; several are AND-ed per session), ``lab``, ``subject``, ``date_range`` (``'2021-01-01'``
        that day, ``['2021-01-01']`` from that day on, ``[a, b]`` inclusive, ``None`` for an open end),
        ``number``, ``collection``, ``revision``, ``namespace``, plus the repository's own terms. Terms
        may be abbreviated to an unambiguous prefix (``subj=``, ``data=``, ``date=``).
        """
        f = self._normalize(filters)
        if self.mode != "local":
            try:
                remote = self.repository.search(f)
            except TransferError as e:
                log.warning("repository %r unreachable (%s); searching the cached catalog", self.repository.name, e)
                self.offline = True
                remote = None
            if remote is not None:
                self.catalog.upsert(sessions=remote)
                if details:
                    return [self.catalog.session(r.eid) for r in remote]
                return [r.eid for r in remote]
        extra = set(f) - set(_CATALOG_ARGS)
        if extra:
            raise OneError(
                f"search term(s) {', '.join(sorted(extra))} need the server; "
                f"the local catalog supports {', '.join(CORE_TERMS)}"
            )
        return self.catalog.search(details=details, **f)


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
            return int(str(value))
        except ValueError:
            raise OneError(f"number: {value!r} is not a session number") from None
    return value
