"""The ALF file-naming convention: parse, validate and build dataset paths.

A dataset path, relative to a data root, reads::

    lab/Subjects/subject/yyyy-mm-dd/NNN/[collection/][#revision#/]_namespace_object.attribute_timescale.extra.ext

The lab part (``lab/Subjects/``) is optional. The rules follow the IBL's ONE-api ALF spec:
namespace ``_ns_``; attributes may end in ``_times``/``_intervals`` before a ``_timescale`` suffix;
any number of dotted extras; the extension is required; the revision folder is ``#name#``.

Differences from ONE-api, by design: a path component ``..`` or ``.`` is refused anywhere (ONE-api's
collection pattern would accept it); the date must be a real calendar date; backslashes are refused
(index paths are POSIX); a namespace needs both underscores (``_ibl_wheel``) and an object starts
with a letter or digit, so ``_iblwheel.position.npy`` is refused rather than read ambiguously.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any

from .errors import OneError

__all__ = [
    "ALFError",
    "PARTS",
    "FILE_PARTS",
    "parse",
    "parse_filename",
    "parse_session_path",
    "is_valid",
    "session_path",
    "filename",
    "full_path",
    "split_session",
]

PARTS = (
    "lab",
    "subject",
    "date",
    "number",
    "collection",
    "revision",
    "namespace",
    "object",
    "attribute",
    "timescale",
    "extra",
    "extension",
)
FILE_PARTS = ("namespace", "object", "attribute", "timescale", "extra", "extension")


class ALFError(OneError, ValueError):
    """A path or file name that does not follow the ALF convention; the message gives the reason."""


_FILE_RE = re.compile(
    r"^(?:_(?P<namespace>[a-zA-Z0-9]+)_)?"
    r"(?P<object>[a-zA-Z0-9]\w*)\."
    r"(?P<attribute>(?:_[a-z]+_)?[a-zA-Z0-9]+(?:_times(?=[_.])|_intervals(?=[_.]))?)"
    r"(?:_(?P<timescale>\w+))?"
    r"(?P<extra>(?:\.[\w-]+)*)"
    r"\.(?P<extension>\w+)\Z",
    re.ASCII,
)
_LAB_RE = re.compile(r"^\w+\Z", re.ASCII)
_SUBJECT_RE = re.compile(r"^[\w.-]+\Z", re.ASCII)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}\Z", re.ASCII)
_NUMBER_RE = re.compile(r"^\d{1,3}\Z", re.ASCII)
_FOLDER_RE = re.compile(r"^[\w.-]+\Z", re.ASCII)
_REVISION_RE = re.compile(r"^#([\w.-]+)#\Z", re.ASCII)


def _check_date(date: str, path: str) -> None:
    if not _DATE_RE.match(date):
        raise ALFError(f"{path!r}: {date!r} is not a session date (expected yyyy-mm-dd)")
    try:
        _dt.date.fromisoformat(date)
    except ValueError:
        raise ALFError(f"{path!r}: {date!r} is not a valid calendar date") from None


def parse_filename(name: str) -> dict[str, str | None]:
    """Parse an ALF file name (no folders) into namespace, object, attribute, timescale, extra, extension.

    >>> parse_filename('_ibl_trials.goCue_times_bpod.raw.npy')['timescale']
    'bpod'

    Raises :class:`ALFError` with the reason when the name is not ALF.
    """
    if not isinstance(name, str):
        raise ALFError(f"expected a file name string, got {type(name).__name__}")
    if "/" in name or "\\" in name:
        raise ALFError(f"{name!r}: a file name cannot contain a folder separator")
    m = _FILE_RE.match(name)
    if not m:
        reason = "expected object.attribute[.extra].extension"
        if name.count(".") < 2:
            reason = "needs at least object.attribute.extension (two dots)"
        raise ALFError(f"{name!r} is not an ALF file name: {reason}")
    d = m.groupdict()
    d["extra"] = d["extra"][1:] if d["extra"] else None
    return d


def split_session(path: str) -> tuple[dict[str, str | None], list[str]]:
    """Split a relative path into its session parts and the remaining components.

    Accepts ``lab/Subjects/subject/date/number/...`` or ``subject/date/number/...``.
    """
    if not isinstance(path, str) or not path:
        raise ALFError(f"{path!r}: expected a non-empty relative path")
    if "\\" in path:
        raise ALFError(f"{path!r}: backslashes are not allowed; use '/' as the separator")
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        raise ALFError(f"{path!r}: expected a relative path starting at the lab or subject folder")
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ALFError(f"{path!r}: empty, '.' or '..' path components are not allowed")
    if len(parts) >= 5 and parts[1] == "Subjects":
        lab, rest = parts[0], parts[2:]
        if not _LAB_RE.match(lab):
            raise ALFError(f"{path!r}: {lab!r} is not a valid lab name (letters, digits, '_')")
    elif len(parts) >= 3 and _DATE_RE.match(parts[1]):
        lab, rest = None, parts
    else:
        raise ALFError(f"{path!r}: expected lab/Subjects/subject/yyyy-mm-dd/NNN/... or subject/yyyy-mm-dd/NNN/...")
    subject, date, number, *tail = rest
    if not _SUBJECT_RE.match(subject):
        raise ALFError(f"{path!r}: {subject!r} is not a valid subject name")
    _check_date(date, path)
    if not _NUMBER_RE.match(number):
        raise ALFError(f"{path!r}: {number!r} is not a session number (1 to 3 digits, e.g. 001)")
    return {"lab": lab, "subject": subject, "date": date, "number": number}, list(tail)


def parse_session_path(path: str) -> dict[str, str | None]:
    """Parse a session path (``lab/Subjects/subject/date/NNN``); extra trailing parts are refused."""
    d, tail = split_session(path.rstrip("/"))
    if tail:
        raise ALFError(f"{path!r}: not a session path (unexpected {'/'.join(tail)!r} after the number)")
    return d


def parse(path: str) -> dict[str, str | None]:
    """Parse an ALF dataset path relative to a data root.

    Returns a dict with exactly the keys of :data:`PARTS`; absent parts are ``None`` and values are
    the strings as they appear in the path (``number`` keeps its zeros, ``collection`` may hold several
    folders, ``extra`` joins the dotted extras with ``.``).

    >>> parse('nicklab/Subjects/Cori/2016-12-14/001/alf/probe00/spikes.times.npy')['collection']
    'alf/probe00'

    Raises :class:`ALFError` (a ``ValueError``) naming the path and the reason.
    """
    session, tail = split_session(path)
    if not tail:
        raise ALFError(f"{path!r}: a session folder, not a dataset (no file name)")
    *folders, name = tail
    revision = None
    if folders and _REVISION_RE.match(folders[-1]):
        revision = _REVISION_RE.match(folders[-1]).group(1)
        folders = folders[:-1]
    for f in folders:
        if f.startswith("#") or f.endswith("#"):
            raise ALFError(f"{path!r}: the revision folder {f!r} must be last, just before the file name")
        if not _FOLDER_RE.match(f):
            raise ALFError(f"{path!r}: {f!r} is not a valid collection folder name")
    try:
        file_parts = parse_filename(name)
    except ALFError as e:
        raise ALFError(f"{path!r}: {e}") from None
    out: dict[str, Any] = dict.fromkeys(PARTS)
    out.update(session)
    out["collection"] = "/".join(folders) or None
    out["revision"] = revision
    out.update(file_parts)
    return out


def is_valid(path: str) -> bool:
    """True if ``path`` is a valid ALF dataset path."""
    try:
        parse(path)
    except ALFError:
        return False
    return True


def session_path(lab: str | None, subject: str, date: str, number: str | int) -> str:
    """Build a session path; an int ``number`` is zero-padded to three digits."""
    num = f"{number:03d}" if isinstance(number, int) else str(number)
    sp = f"{subject}/{date}/{num}"
    return f"{lab}/Subjects/{sp}" if lab else sp


def filename(
    object: str,
    attribute: str,
    extension: str,
    namespace: str | None = None,
    timescale: str | None = None,
    extra: str | list[str] | tuple[str, ...] | None = None,
) -> str:
    """Build an ALF file name from its parts (validated)."""
    name = f"_{namespace}_" if namespace else ""
    name += f"{object}.{attribute}"
    if timescale:
        name += f"_{timescale}"
    if extra:
        name += "." + (extra if isinstance(extra, str) else ".".join(extra))
    name += f".{extension}"
    parse_filename(name)
    return name


def full_path(
    lab: str | None = None,
    subject: str | None = None,
    date: str | None = None,
    number: str | int | None = None,
    collection: str | None = None,
    revision: str | None = None,
    **file_parts: Any,
) -> str:
    """Build a full relative dataset path from the keys returned by :func:`parse` (round-trips)."""
    if subject is None or date is None or number is None:
        raise ALFError("full_path needs subject, date and number")
    parts = [session_path(lab, subject, date, number)]
    if collection:
        parts.append(collection)
    if revision:
        parts.append(f"#{revision}#")
    parts.append(filename(**file_parts))
    path = "/".join(parts)
    parse(path)
    return path
