"""Mapping ONE search terms onto Alyx ``/sessions`` queries.

Alyx silently ignores query parameters it does not know, so only filters every Alyx has are sent
(``subject``, ``lab``, ``date_range``, ``number``, ``projects``, ``task_protocol``, ``users``,
``django``) and everything else goes through the ``django`` filter (``lookup,value`` pairs), which both
the IBL's Alyx and alyx-local implement. Terms the client cannot map are refused.

Dataset terms (several are AND-ed: one query per term, the session ids intersected):

- a file name with an extension (``wheel.timestamps.npy``): a dataset with that name;
- ``object.attribute`` (``wheel.timestamps``): a dataset of that type;
- a single word (``wheel``, ``probe00``): a dataset of that object, OR a dataset in a collection that
  has that folder (``alf/probe00``) — two queries, united;
- ``collection/name``: the name (as above) in that collection.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from onecore.sdk import OneError

#: Search terms this repository type understands (besides the core ones it maps).
EXTRA_TERMS = ("projects", "task_protocol", "users", "django")
SUPPORTED = {"datasets", "lab", "subject", "date_range", "number", "collection", "revision", *EXTRA_TERMS}
_WORD = re.compile(r"^[A-Za-z0-9_.\-]+$")
_REL = "data_dataset_session_related__"


def _list(value: Any) -> list[str]:
    return [str(value)] if isinstance(value, (str, int)) else [str(v) for v in value]


def _check_word(term: str, value: str) -> str:
    if not _WORD.match(value):
        raise OneError(
            f"search term {term}={value!r}: Alyx search takes plain names (letters, digits, "
            "'_', '.', '-'); wildcards and commas are not supported"
        )
    return value


def _folder_regex(folder: str) -> str:
    return "^(.*/)?" + re.escape(folder).replace(",", "") + "(/.*)?$"


def dataset_alternatives(term: str) -> list[list[tuple[str, str]]]:
    """The alternatives (any matches) for one dataset term, each a list of ``django`` lookups.

    With ``collection/name`` both lookups apply to the session's datasets, not necessarily the same one.
    """
    collection = None
    if "/" in term:
        collection, term = term.rsplit("/", 1)
        _check_collection("datasets", collection)
    _check_word("datasets", term)
    coll = [(_REL + "collection", collection)] if collection else []
    parts = term.split(".")
    if len(parts) >= 3:
        return [[(_REL + "name", term), *coll]]
    if len(parts) == 2:
        return [[(_REL + "dataset_type__name", term), *coll]]
    by_object = [(_REL + "dataset_type__name__startswith", term + "."), *coll]
    if collection:
        return [by_object]
    return [by_object, [(_REL + "collection__iregex", _folder_regex(term))]]


def _check_collection(term: str, value: str) -> str:
    for part in value.split("/"):
        _check_word(term, part)
    return value


def build_queries(filters: Mapping[str, Any]) -> list[list[dict[str, str]]]:
    """The ``/sessions`` queries for ``filters``: a list (AND) of groups (OR) of query parameters."""
    unknown = set(filters) - SUPPORTED
    if unknown:
        raise OneError(
            f"search term(s) {', '.join(sorted(unknown))} are not supported by Alyx search; "
            f"supported: {', '.join(sorted(SUPPORTED))}"
        )
    params: dict[str, str] = {}
    django: list[tuple[str, str]] = []
    for key, value in filters.items():
        if value is None:
            continue
        if key == "subject":
            params["subject"] = ",".join(_check_word(key, v) for v in _list(value))
        elif key in ("lab", "projects"):
            vals = [_check_word(key, v) for v in _list(value)]
            if len(vals) == 1:
                params[key] = vals[0]
            elif vals:
                django.append(("lab__name__in" if key == "lab" else "projects__name__in", repr(vals)))
        elif key == "task_protocol":
            vals = _list(value)
            if len(vals) > 1:
                raise OneError("task_protocol takes one value (matched as a substring)")
            params["task_protocol"] = _check_word(key, vals[0])
        elif key == "users":
            params["users"] = ",".join(_check_word(key, v) for v in _list(value))
        elif key == "date_range":
            start, end = value if isinstance(value, (tuple, list)) else (value, value)
            params["date_range"] = f"{start or '0001-01-01'},{end or '9999-12-31'}"
        elif key == "number":
            numbers = [int(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
            if len(numbers) == 1:
                params["number"] = str(numbers[0])
            else:
                django.append(("number__in", repr(numbers)))
        elif key == "collection":
            vals = [_check_collection(key, v) for v in _list(value)]
            django.append((_REL + "collection__in", repr(vals)) if len(vals) > 1 else (_REL + "collection", vals[0]))
        elif key == "revision":
            django.append((_REL + "revision__name", _check_word(key, str(value))))
        elif key == "django":
            text = str(value).strip()
            if text:
                django.append(("", text))
    groups = [dataset_alternatives(term) for term in filters.get("datasets") or []]
    if not groups:
        groups = [[[]]]

    def render(extra: list[tuple[str, str]]) -> dict[str, str]:
        q = dict(params)
        pairs = [*django, *extra]
        if pairs:
            q["django"] = ",".join(v if not k else f"{k},{v}" for k, v in pairs)
        return q

    return [[render(alt) for alt in group] for group in groups]
