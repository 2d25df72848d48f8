"""The site's data files: a compact, column-wise session index and per-session shards.

``data/index.js`` sets ``window.ONE_SITE_INDEX`` to::

    {"v": 1, "repo": NAME, "shards": N, "sessions": S, "datasets": D,
     "labs": [...], "subjects": [...], "types": [...],      # interned strings
     "sigs": [[type ids], ...],                               # distinct sets of dataset types
     "lab": [lab id or -1], "subject": [subject id], "day": [days since 1970-01-01],
     "number": [...], "n": [datasets], "size": [bytes or null], "sig": [sig id],
     "eid": null | [session ids]}                             # null: eid is the session path

one entry per session, newest first. ``data/sessions/<k>.js`` calls ``ONE_SITE_SHARD(k, shard)`` with
``{"k": k, "colls": [...], "dirs": [...], "s": [session, ...]}``; a session is ``{"eid", "path",
"lab", "subject", "date", "number", "projects", "task_protocol", "meta", "d", "plots"}`` where each
dataset of ``d`` is ``[collection id, revision, file name, size, default (0/1), url dir id, url
name]`` (the URL is ``dirs[dir] + "/" + name``; dir -1: no URL). A session's shard is
:func:`shard_of` its eid (the same hash is computed by ``site.js``).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

#: Sessions per shard, on average.
SHARD_SIZE = 256
#: URL schemes that become links; anything else (``javascript:``, ``data:``...) is shown as text.
SAFE_SCHEMES = ("http://", "https://", "ftp://", "file://")
_EPOCH = _dt.date(1970, 1, 1).toordinal()
_JS_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def js_json(obj: Any) -> str:
    """JSON text safe to embed in a ``<script>`` (no ``</script>``, no ``<!--``, no line separators)."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str)
    return "".join(_JS_ESCAPES.get(c, c) for c in text) if any(c in text for c in _JS_ESCAPES) else text


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder (never a half file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def shard_of(eid: str, n_shards: int) -> int:
    """FNV-1a (32 bit) of the UTF-16 code units of ``eid``, modulo ``n_shards`` (as in site.js)."""
    h = 0x811C9DC5
    data = eid.encode("utf-16-le")
    for i in range(0, len(data), 2):
        h ^= data[i] | (data[i + 1] << 8)
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h % n_shards


def session_path(lab: str | None, subject: str, date: str, number: int) -> str:
    """The ALF session path (as site.js derives it when the index carries no eids)."""
    tail = f"{subject}/{date}/{int(number):03d}"
    return f"{lab}/Subjects/{tail}" if lab else tail


def safe_url(url: str | None) -> str | None:
    """``url`` if its scheme is one that may become a link (without any ``user:password@``), else None."""
    if not url or not url.lower().startswith(SAFE_SCHEMES):
        return None
    scheme, rest = url.split("://", 1)
    host, sep, path = rest.partition("/")
    if "@" in host:  # credentials never go into a published page
        url = f"{scheme}://{host.rsplit('@', 1)[1]}{sep}{path}"
    return url


def dataset_type(rec: Any) -> str:
    """The dataset type of a record: ``object.attribute`` (``_ns_object.attribute`` when namespaced)."""
    ns = f"_{rec.namespace}_" if rec.namespace else ""
    return f"{ns}{rec.object}.{rec.attribute}"


def default_flags(recs: Sequence[Any]) -> list[bool]:
    """For each record, whether it is the default revision of its (collection, file name)."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(recs):
        groups.setdefault((r.collection or "", r.filename), []).append(i)
    out = [False] * len(recs)
    for idx in groups.values():
        flagged = [i for i in idx if recs[i].default]
        pick = flagged[0] if flagged else max(idx, key=lambda i: recs[i].revision or "")
        out[pick] = True
    return out


class _Interner:
    def __init__(self) -> None:
        self.ids: dict[Any, int] = {}
        self.items: list[Any] = []

    def __call__(self, value: Any) -> int:
        i = self.ids.get(value)
        if i is None:
            i = self.ids[value] = len(self.items)
            self.items.append(value)
        return i


@dataclass
class SiteStats:
    """What was written: counts, total size (None if unknown), shards, bytes of data files."""

    sessions: int = 0
    datasets: int = 0
    total_size: int | None = None
    shards: int = 0
    data_bytes: int = 0
    labs: list[str] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)


class DataWriter:
    """Writes ``data/`` for a list of sessions whose datasets ``records(eid)`` gives.

    ``size_of(rec)`` and ``url_of(rec)`` may fill what the catalog lacks (local files);
    ``plots(eid, session)`` returns ``[(label, path relative to the site)]`` for ``--plots``.
    """

    def __init__(
        self,
        out: Path,
        repo: str,
        records: Callable[[str], list[Any]],
        *,
        size_of: Callable[[Any], int | None] | None = None,
        url_of: Callable[[Any], str | None] | None = None,
        plots: Callable[[str, dict[str, Any]], list[tuple[str, str]]] | None = None,
    ):
        self.out = Path(out)
        self.repo = repo
        self.records = records
        self.size_of = size_of or (lambda r: r.size)
        self.url_of = url_of or (lambda r: r.url)
        self.plots = plots
        self.labs, self.subjects, self.types, self.sigs = _Interner(), _Interner(), _Interner(), _Interner()

    def write(self, sessions: Sequence[dict[str, Any]]) -> SiteStats:
        """Write every shard, then the index (last: it never points at a shard not yet written)."""
        n = len(sessions)
        n_shards = max(1, -(-n // SHARD_SIZE))
        cols: dict[str, list[Any]] = {k: [0] * n for k in ("lab", "subject", "day", "number", "n", "size", "sig")}
        eids: list[str] = [""] * n
        by_shard: dict[int, list[int]] = {}
        for i, s in enumerate(sessions):
            by_shard.setdefault(shard_of(s["eid"], n_shards), []).append(i)
        stats = SiteStats(sessions=n, shards=n_shards)
        shard_dir = self.out / "data" / "sessions"
        for k in range(n_shards):
            colls, dirs = _Interner(), _Interner()
            items = []
            for i in by_shard.get(k, []):
                s = sessions[i]
                rec, row = self._session(s, colls, dirs)
                items.append(rec)
                eids[i] = s["eid"]
                for key, value in row.items():
                    cols[key][i] = value
                stats.datasets += row["n"]
                if row["size"] is not None:
                    stats.total_size = (stats.total_size or 0) + row["size"]
            text = f"ONE_SITE_SHARD({k},{js_json({'k': k, 'colls': colls.items, 'dirs': dirs.items, 's': items})});\n"
            write_atomic(shard_dir / f"{k}.js", text)
            stats.data_bytes += len(text.encode())
        for stale in shard_dir.glob("*.js"):
            if not stale.stem.isdigit() or int(stale.stem) >= n_shards:
                stale.unlink()
        derived = all(
            e == session_path(s.get("lab"), s["subject"], s["date"], s["number"]) for e, s in zip(eids, sessions)
        )
        index = {
            "v": 1,
            "repo": self.repo,
            "shards": n_shards,
            "sessions": n,
            "datasets": stats.datasets,
            "labs": self.labs.items,
            "subjects": self.subjects.items,
            "types": self.types.items,
            "sigs": [list(s) for s in self.sigs.items],
            **cols,
            "eid": None if derived else eids,
        }
        text = f"window.ONE_SITE_INDEX={js_json(index)};\n"
        write_atomic(self.out / "data" / "index.js", text)
        stats.data_bytes += len(text.encode())
        stats.labs, stats.subjects, stats.types = self.labs.items, self.subjects.items, self.types.items
        return stats

    def _session(self, s: dict[str, Any], colls: _Interner, dirs: _Interner) -> tuple[dict[str, Any], dict[str, Any]]:
        """(shard record, index row) of one session."""
        recs = self.records(s["eid"])
        flags = default_flags(recs)
        ds = []
        total: int | None = None
        types = set()
        for r, is_default in zip(recs, flags):
            size = self.size_of(r)
            if size is not None:
                total = (total or 0) + int(size)
            url = safe_url(self.url_of(r))
            d_id, name = (-1, "")
            if url:
                head, _, name = url.rpartition("/")
                d_id = dirs(head)
            ds.append([colls(r.collection or ""), r.revision or "", r.filename, size, int(is_default), d_id, name])
            types.add(self.types(dataset_type(r)))
        day = _dt.date.fromisoformat(str(s["date"])[:10]).toordinal() - _EPOCH
        known = {"eid", "lab", "subject", "date", "number", "path", "projects", "task_protocol"}
        meta = {k: v if isinstance(v, (str, int, float, bool)) or v is None else js_safe(v) for k, v in s.items()}
        rec = {
            "eid": s["eid"],
            "path": s.get("path") or session_path(s.get("lab"), s["subject"], s["date"], s["number"]),
            "lab": s.get("lab"),
            "subject": s["subject"],
            "date": s["date"],
            "number": s["number"],
            "projects": [str(p) for p in s.get("projects") or []],
            "task_protocol": s.get("task_protocol"),
            "meta": {k: v for k, v in meta.items() if k not in known},
            "d": ds,
            "plots": self.plots(s["eid"], s) if self.plots else [],
        }
        row = {
            "lab": self.labs(s["lab"]) if s.get("lab") else -1,
            "subject": self.subjects(s["subject"]),
            "day": day,
            "number": int(s["number"]),
            "n": len(recs),
            "size": total,
            "sig": self.sigs(tuple(sorted(types))),
        }
        return rec, row


def js_safe(value: Any) -> Any:
    """A JSON-able copy of ``value`` (anything else becomes its ``str``)."""
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return str(value)
