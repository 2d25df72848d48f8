"""Session metadata for the NWB file, and the DANDI file name.

- ``session_start_time``: the session's start time when the repository knows it (Alyx's
  ``start_time``), else the session date at 00:00; in the time zone ``--timezone`` names (an IANA
  name such as ``Europe/London``, ``UTC`` or ``+HH:MM``), UTC by default. ALF times stay as they are:
  seconds from the start of the session.
- ``identifier``: the session id (eid); ``session_id``: ``<date>-<number>`` (``2024-01-02-001``).
- Subject: ``subject_id`` always; species, sex, age (and strain, date of birth, ...) when the
  repository knows them or the caller gives them; a warning names the missing ones.
- File name: ``sub-<subject>/sub-<subject>_ses-<session_id>_<modalities>.nwb``, labels sanitised as
  ``dandi organize`` does (``_ * \\ / < > : | " ' ? % @ ;`` and ``.`` become ``-``), modalities derived
  from the neurodata types in the file as ``dandi organize`` derives them.
"""

from __future__ import annotations

import datetime as _dt
import re
import warnings
from typing import Any, Iterable, Mapping

from .errors import ExportError, ExportWarning

#: Subject fields DANDI requires; a warning names those neither the repository nor the caller gave.
REQUIRED_SUBJECT = ("species", "sex", "age")
SUBJECT_FIELDS = ("species", "sex", "age", "description", "genotype", "strain", "weight", "date_of_birth")
_SEX = {"m": "M", "male": "M", "f": "F", "female": "F", "u": "U", "unknown": "U", "o": "O", "other": "O"}


def session_info(one: Any, eid: str) -> dict[str, Any]:
    """What the repository knows about a session (lab, subject, date, number, start time, ...)."""
    eid = one.to_eid(eid)
    info: dict[str, Any] = dict(one.catalog.session(eid) or {})
    details = getattr(one, "get_details", None)
    if callable(details):
        try:
            extra = details(eid)
        except Exception:  # an older or different API: the catalog record is enough
            extra = None
        if isinstance(extra, Mapping):
            info.update({k: v for k, v in extra.items() if v is not None})
    info["eid"] = eid
    if not info.get("subject") or not info.get("date"):
        raise ExportError(f"session {eid!r}: the repository gives no subject or date for it")
    return info


def parse_timezone(name: str | None) -> _dt.tzinfo:
    """A tzinfo from ``UTC``, ``+HH:MM``/``-HH:MM`` or an IANA name; a clear error otherwise."""
    if name is None or name.upper() in ("UTC", "Z", "GMT"):
        return _dt.timezone.utc
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", name)
    if m:
        delta = _dt.timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
        return _dt.timezone(-delta if m.group(1) == "-" else delta)
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    except Exception:
        raise ExportError(
            f"--timezone {name!r}: not a time zone; use an IANA name such as Europe/London, UTC or +HH:MM"
        ) from None


def start_time(info: Mapping[str, Any], tz: _dt.tzinfo) -> _dt.datetime:
    """The session start: Alyx's ``start_time`` if known, else midnight of the session date, in ``tz``."""
    raw = info.get("start_time")
    if raw:
        try:
            t = _dt.datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
            return t if t.tzinfo else t.replace(tzinfo=tz)
        except ValueError:
            pass
    d = _dt.date.fromisoformat(str(info["date"])[:10])
    return _dt.datetime(d.year, d.month, d.day, tzinfo=tz)


def session_label(info: Mapping[str, Any]) -> str:
    return f"{str(info['date'])[:10]}-{int(info.get('number') or 0):03d}"


def subject_fields(info: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """Subject keyword arguments for pynwb; warns naming the DANDI-required fields that are missing."""
    known = {k: info.get(k) for k in SUBJECT_FIELDS if info.get(k) not in (None, "")}
    if info.get("birth_date") and "date_of_birth" not in known:  # Alyx's name for it
        known["date_of_birth"] = info["birth_date"]
    known.update({k: v for k, v in given.items() if v not in (None, "")})
    unknown = sorted(set(known) - set(SUBJECT_FIELDS))
    if unknown:
        raise ExportError(f"subject: unknown field(s) {', '.join(unknown)}; known: {', '.join(SUBJECT_FIELDS)}")
    if "sex" in known:
        known["sex"] = _SEX.get(str(known["sex"]).lower(), str(known["sex"]))
    if "date_of_birth" in known and isinstance(known["date_of_birth"], str):
        d = _dt.date.fromisoformat(known["date_of_birth"][:10])
        known["date_of_birth"] = _dt.datetime(d.year, d.month, d.day, tzinfo=_dt.timezone.utc)
    if "age" in known and not str(known["age"]).startswith("P"):
        known["age"] = f"P{known['age']}D" if str(known["age"]).isdigit() else str(known["age"])
    if "weight" in known:
        known["weight"] = str(known["weight"])
    missing = [f for f in REQUIRED_SUBJECT if f not in known and not (f == "age" and "date_of_birth" in known)]
    if missing:
        warnings.warn(
            f"subject {info.get('subject')!r}: the repository does not give {', '.join(missing)}; "
            "DANDI requires them: set them in the NWB file's Subject before uploading "
            "(Python: onecore_nwb.export(..., subject={'species': 'Mus musculus', 'sex': 'F', 'age': 'P90D'}))",
            ExportWarning,
            stacklevel=3,
        )
    return known


def dandi_label(value: str) -> str:
    """A label as ``dandi organize`` writes it in file names (the characters it refuses become ``-``)."""
    return re.sub(r"[_*\\/<>:|\"'?%@;]", "-", str(value)).replace(".", "-")


def modalities(types: Iterable[str]) -> list[str]:
    """The DANDI modalities of a file holding these neurodata types (as ``dandi organize`` derives them).

    A type's modality is the pynwb module that defines it (``SpatialSeries`` -> ``behavior``,
    ``TimeIntervals`` -> ``epoch``); the generic ones (base, device, file, misc) are left out.
    """
    import inspect

    import pynwb

    mapping: dict[str, str] = {}
    for mod in vars(pynwb).values():
        if not (inspect.ismodule(mod) and mod.__name__.startswith("pynwb.")):
            continue
        for cls in vars(mod).values():
            if inspect.isclass(cls) and issubclass(cls, pynwb.core.NWBMixin):
                parts = cls.__module__.split(".")
                if len(parts) == 2:
                    mapping.setdefault(cls.__name__, parts[1])
    found = {mapping.get(t) for t in types}
    return sorted(m for m in found if m and m not in ("base", "device", "file", "misc"))


def dandi_relpath(subject: str, session_id: str, mods: list[str]) -> str:
    """``sub-<subject>/sub-<subject>_ses-<session>[_<modalities>].nwb``."""
    sub = dandi_label(subject)
    name = f"sub-{sub}_ses-{dandi_label(session_id)}"
    if mods:
        name += "_" + dandi_label("+".join(mods))
    return f"sub-{sub}/{name}.nwb"
