"""A fuzz entry point for the parsers of Alyx answers (used by ``fuzz/fuzz_parsers.py``).

:func:`parse_answer` runs one text, as if an Alyx server had answered it, through everything that turns
Alyx JSON into records: a page of a list endpoint (``results``/``next``, or a plain list), the record
checks of each endpoint (:func:`one_alyx.client.check_record`), session records and dataset rows as the
repository builds them, and the safety check every dataset path passes before anything is written.
No request is made. Only :class:`onecore.errors.OneError` may escape.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from onecore.sdk import OneError, SessionRecord, check_relpath

from ..client import SHAPES, check_record, parse_page

_REPO: Any = None
_SESSION = SessionRecord(
    eid="d3372b15-f696-4279-9be5-98f15783b5bb", lab="lab", subject="s", date="2020-01-01", number=1
)


def _repository() -> Any:
    """An offline repository (``data_url`` set, so building rows needs no request)."""
    global _REPO
    if _REPO is None:
        from ..repository import AlyxRepository

        home = Path(tempfile.mkdtemp(prefix="one-alyx-fuzz-"))
        _REPO = AlyxRepository(
            "fuzz", {"base_url": "http://127.0.0.1:9/api", "data_url": "http://127.0.0.1:9/data/"}, home=home
        )
    return _REPO


def _records(kind: str, value: Any) -> list[dict[str, Any]]:
    where = f"GET http://127.0.0.1:9/api/{kind}"
    try:
        items, _ = parse_page(value, kind, where)
    except OneError:
        items = []
    try:
        items.append(check_record(kind, value, where))
    except OneError:
        pass
    return items


def parse_answer(text: str) -> None:
    """Feed ``text`` (an Alyx answer) to every parser of Alyx answers; raises only ``OneError``."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return  # not JSON: the client refuses it (a clear error) before any parser sees it
    repo = _repository()
    for kind in SHAPES:
        for item in _records(kind, data):
            if kind == "sessions":
                repo._record(item, "lab")
            elif kind == "datasets":
                row = repo._dataset(item, _SESSION)
                try:
                    check_relpath(row.rel_path)  # what the transfer engine does before writing anything
                except OneError:
                    pass
