"""A fuzz entry point for the parsers of figshare's answers (used by ``fuzz/fuzz_parsers.py``).

:func:`parse_answer` runs one text, as if figshare had answered it, through everything that turns
figshare's JSON into records: a file listing, a file record, an upload status with its parts, the
location of a created file, and the index rows built from a listing (file names decoded to dataset
paths, which must be safe before anything is written). Only :class:`onecore.errors.OneError` may escape.
"""

from __future__ import annotations

import json
from typing import Any

from onecore.sdk import OneError, check_relpath

from ..api import FigshareAPI, parse_file_info, parse_file_list, parse_upload_status
from ..uploader import index_rows

_WHERE = "figshare article 1: fuzz"


def _location(got: Any) -> None:
    """What :meth:`FigshareAPI.create_file` does with its answer, without the request."""
    api = FigshareAPI("http://127.0.0.1:9/v2", 1, None)
    api.call = lambda *a, **k: got  # type: ignore[method-assign]
    api.create_file("x", "0" * 32, 0)


def parse_answer(text: str) -> None:
    """Feed ``text`` (figshare's answer) to every parser of figshare answers; raises only ``OneError``
    (and ``AssertionError`` if an unsafe dataset path got through: a bug)."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return  # not JSON: the client refuses it before any parser sees it
    candidates = [data]
    if isinstance(data, dict):
        candidates += [v for k, v in data.items() if k in ("files", "parts", "items", "results")]
    for value in candidates:
        for parse in (lambda v: parse_file_info(v, _WHERE), lambda v: parse_upload_status(v, _WHERE), _location):
            try:
                parse(value)
            except OneError:
                pass
        try:
            files = parse_file_list(value, _WHERE)
        except OneError:
            continue
        rows, _ = index_rows(files, complete_only=False)
        for row in rows:
            try:
                check_relpath(row.rel_path)
            except OneError as e:
                raise AssertionError(f"an unsafe path got into the index rows: {row.rel_path!r}") from e
