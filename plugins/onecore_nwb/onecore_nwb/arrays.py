"""Loading one ALF object at a time as arrays, checked; and the HDF5 storage settings.

``.npy`` files are memory-mapped (nothing is read until the NWB file is written), tables (``.csv``,
``.tsv``, ``.pqt`` when a loader is installed) are split into one array per column, ``name_0``,
``name_1``... columns are stacked back into one ``(n, k)`` attribute as ALF tables store them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from .discover import AlfObject, Part
from .errors import ExportError

#: Arrays with at least this many elements are chunked and gzip-compressed.
COMPRESS_MIN = 4096
GZIP_LEVEL = 4


def part_key(p: Part, attribute: str | None = None) -> str:
    """The attribute key without timescale (``times``, ``times.raw``)."""
    return (attribute or p.attribute) + (f".{p.extra}" if p.extra else "")


def object_paths(one: Any, eid: str, obj: AlfObject) -> dict[str, Path]:
    """Local paths (downloaded into the cache when needed) of every part of ``obj``, by ``rel_path``."""
    from onecore.sdk import NotFound

    try:
        paths = one.load_object(eid, obj.load_name, collection=obj.collection, download_only=True)
    except NotFound:
        if not obj.namespace:
            raise
        # an API that matches objects regardless of namespace: ask by name, keep the parts by path below
        paths = one.load_object(eid, obj.name, collection=obj.collection, download_only=True)
    out: dict[str, Path] = {}
    for path in paths:
        text = str(path).replace("\\", "/")
        for p in obj.parts:
            if text.endswith("/" + p.rel_path):
                out[p.rel_path] = Path(path)
    missing = [p.rel_path for p in obj.parts if p.rel_path not in out]
    if missing:
        raise ExportError(f"object {obj.label!r}: could not get {', '.join(missing)} from the repository")
    return out


def _table_columns(data: Any, where: str) -> dict[str, np.ndarray]:
    if isinstance(data, np.ndarray) and data.dtype.names:
        cols = {name: np.asarray(data[name]) for name in data.dtype.names}
    elif hasattr(data, "columns") and hasattr(data, "to_numpy"):  # a pandas DataFrame (pqt loaders)
        cols = {str(c): np.asarray(data[c].to_numpy()) for c in data.columns}
    elif isinstance(data, dict):
        cols = {str(k): np.asarray(v) for k, v in data.items()}
    else:
        raise ExportError(f"{where}: a table needs a header row naming its columns")
    stacked: dict[str, list[tuple[int, str]]] = {}
    for name in cols:
        m = re.fullmatch(r"(.+)_(\d+)", name)
        if m:
            stacked.setdefault(m.group(1), []).append((int(m.group(2)), name))
    for base, members in stacked.items():
        idx = sorted(members)
        if base in cols or [i for i, _ in idx] != list(range(len(idx))) or len(idx) < 2:
            continue
        cols[base] = np.stack([cols.pop(name) for _, name in idx], axis=1)
    return cols


def load_part(one: Any, part: Part, path: Path) -> dict[str, np.ndarray] | None:
    """``{key: array}`` of a dataset (several keys for a table), or None when it is not an array."""
    loader = one.registry.loader(part.extension)
    if loader is None:
        return None
    try:
        data = loader(path, mmap=True)
    except Exception as e:
        raise ExportError(f"{part.rel_path}: could not be read ({type(e).__name__}: {e})") from None
    if part.is_table:
        return _table_columns(data, part.rel_path)
    if not isinstance(data, np.ndarray) or data.ndim == 0 or data.dtype.names or data.dtype == object:
        return None
    return {part_key(part): data}


def load_object(one: Any, eid: str, obj: AlfObject) -> tuple[dict[str | None, dict[str, np.ndarray]], list[str]]:
    """The arrays of ``obj`` grouped by timescale (None: the default one), and the parts not loaded."""
    paths = object_paths(one, eid, obj)
    groups: dict[str | None, dict[str, np.ndarray]] = {}
    skipped: list[str] = []
    for p in obj.parts:
        cols = load_part(one, p, paths[p.rel_path])
        if cols is None:
            skipped.append(p.rel_path)
            continue
        group = groups.setdefault(p.timescale, {})
        for key, arr in cols.items():
            if key in group:
                raise ExportError(f"object {obj.label!r}: attribute {key!r} is given twice (in {p.rel_path})")
            group[key] = arr
    check_lengths(obj.label, groups)
    return groups, skipped


def check_lengths(label: str, groups: dict[str | None, dict[str, np.ndarray]]) -> int:
    """The object's row count; a clear error naming the object when its attributes disagree."""
    sizes: dict[str, int] = {}
    for ts, attrs in groups.items():
        for key, arr in attrs.items():
            if key == "timestamps" and arr.ndim == 2 and arr.shape[1] == 2:
                continue  # (sample, time) pairs to interpolate: any number of rows
            sizes[key + (f"_{ts}" if ts else "")] = int(arr.shape[0])
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{k} ({n})" for k, n in sorted(sizes.items()))
        raise ExportError(
            f"object {label!r} has attributes of unequal length: {listed}; every attribute of an ALF object "
            "must have one row per item (fix or remove the wrong dataset, or leave the collection out with "
            "--collection)"
        )
    return next(iter(sizes.values()), 0)


def timestamps_for(arr: np.ndarray, n: int) -> np.ndarray:
    """Timestamps of ``n`` samples: the array itself, or interpolated from ``(sample, time)`` pairs."""
    if arr.ndim == 2 and arr.shape[1] == 2 and arr.shape[0] != n:
        return np.interp(np.arange(n), arr[:, 0], arr[:, 1])
    if arr.ndim != 1:
        raise ExportError(f"timestamps of shape {arr.shape} for {n} samples: expected ({n},) or (k, 2)")
    return arr


def storable(arr: np.ndarray) -> Any:
    """An array as hdmf writes it: text as str objects, bool as uint8-free bool, the rest unchanged."""
    if arr.dtype.kind in "US":
        return arr.astype(str).astype(object)
    if arr.dtype.kind == "M":
        return arr.astype(str).astype(object)
    return arr


def compressed(arr: np.ndarray) -> Any:
    """Large numeric arrays wrapped in ``H5DataIO`` (chunked, gzip, shuffle); others as they are."""
    data = storable(arr)
    if data.dtype == object or data.size < COMPRESS_MIN:
        return data
    from hdmf.backends.hdf5.h5_utils import H5DataIO

    return H5DataIO(data=data, compression="gzip", compression_opts=GZIP_LEVEL, shuffle=True, chunks=True)
