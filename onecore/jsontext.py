"""``json.loads`` without importing :mod:`json` (~1.5 ms, most of it compiling its regular expressions).

``one search`` reads a few JSON values (the parsed-config cache, the catalog's meta values); they are
decoded by the C scanner that :mod:`json` itself uses (CPython's ``_json``), set up as
``json.loads`` sets it up. Text the scanner does not take whole (leading or trailing white space, a
byte-order mark, an error) goes through :func:`json.loads`, so the result, or the error, is always
what ``json.loads`` gives.
"""

from __future__ import annotations

from typing import Any, Callable

try:
    from _json import make_scanner as _make_scanner
except ImportError:  # another Python: json.loads every time
    _make_scanner = None


class _Context:
    """The settings ``json.loads`` gives its scanner (``json.JSONDecoder()``'s defaults)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__


_scan: Callable[[str, int], tuple[Any, int]] | None = _make_scanner(_Context()) if _make_scanner else None


def loads(text: str | bytes | bytearray) -> Any:
    """``json.loads(text)``: the same value (or the same error), usually without importing :mod:`json`."""
    if _scan is not None and type(text) is str:
        try:
            value, end = _scan(text, 0)
        except Exception:  # StopIteration (no value at 0) or a decoding error: json.loads says which
            pass
        else:
            if end == len(text):
                return value
    import json

    return json.loads(text)
