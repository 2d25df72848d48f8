"""The calls of the ONE-api differential test, and the normaliser that makes their answers comparable.

This module is run twice: imported by the test (answers of onecore's ``One``) and executed as a
script by ONE-api's own venv (``python oneapi_calls.py ROOT TABLES``, answers of ONE-api's local
``One`` on the same files, printed as JSON). It needs only numpy (and pandas when present), so it
runs unchanged in both environments.
"""

from __future__ import annotations

import datetime as _dt
import json
import sys
from pathlib import Path, PurePath
from typing import Any

A = "cortexlab/Subjects/KS005/2023-01-01/001"
B = "cortexlab/Subjects/KS023/2023-01-02/1"
D = "cortexlab/Subjects/KS023/2023-01-04/003"

#: Each call: (id, method, args, kwargs, how to compare: "exact" or "sorted").
CALLS: list[tuple[str, str, list[Any], dict[str, Any], str]] = [
    ("search-all", "search", [], {}, "sorted"),
    ("search-subject-partial", "search", [], {"subject": "KS0"}, "sorted"),
    ("search-subject-anchored", "search", [], {"subject": "^KS005$"}, "exact"),
    ("search-subject-prefix", "search", [], {"subject": "KS005"}, "sorted"),
    ("search-subject-case", "search", [], {"subject": "ks005"}, "exact"),
    ("search-lab-partial", "search", [], {"lab": "cortex"}, "sorted"),
    ("search-laboratory", "search", [], {"laboratory": "church"}, "exact"),
    ("search-subject-list", "search", [], {"subject": ["^KS005$", "KS023"]}, "sorted"),
    ("search-number", "search", [], {"number": 1}, "sorted"),
    ("search-number-list", "search", [], {"number": [2, 3]}, "sorted"),
    ("search-date", "search", [], {"date_range": "2023-01-01"}, "exact"),
    ("search-date-from", "search", [], {"date_range": ["2023-01-02", None]}, "sorted"),
    ("search-date-until", "search", [], {"date_range": [None, "2023-01-02"]}, "sorted"),
    ("search-date-pair", "search", [], {"date_range": ["2023-01-02", "2023-01-04"]}, "sorted"),
    ("search-dataset-exact", "search", [], {"dataset": "_ibl_trials.table.pqt"}, "exact"),
    ("search-datasets-exact", "search", [], {"datasets": "_ibl_trials.table.pqt"}, "exact"),
    ("search-datasets-list", "search", [], {"datasets": ["_ibl_trials.choice.npy"]}, "sorted"),
    ("search-dataset-regex", "search", [], {"datasets": r"_ibl_trials\.choice\..*"}, "sorted"),
    ("search-datasets-and", "search", [], {"datasets": ["spikes.times.npy", "_ibl_trials.table.pqt"]}, "exact"),
    ("search-details", "search", [], {"subject": "^KS005$", "details": True}, "exact"),
    ("search-details-none", "search", [], {"subject": "nobody", "details": True}, "exact"),
    ("list-all", "list_datasets", [A], {}, "exact"),
    ("list-wild", "list_datasets", [A, "*spikes*"], {}, "exact"),
    ("list-exact-no-ext", "list_datasets", [A, "spikes.times"], {}, "exact"),
    ("list-list", "list_datasets", [A, ["licks.*", "lfp.raw.npy"]], {}, "exact"),
    (
        "list-dict",
        "list_datasets",
        [A, {"object": "spikes", "attribute": ["times", "clusters"]}, "alf/probe01"],
        {},
        "exact",
    ),
    ("list-coll-wild", "list_datasets", [A], {"collection": "alf/probe0?/pykilosort"}, "exact"),
    ("list-coll-empty", "list_datasets", [A], {"collection": ""}, "exact"),
    ("list-rev", "list_datasets", [A], {"revision": "2023-02-01"}, "exact"),
    ("list-rev-wild", "list_datasets", [A], {"revision": "2023-0*"}, "exact"),
    ("list-details", "list_datasets", [A, "lfp.*"], {"details": True}, "exact"),
    ("list-b", "list_datasets", [B], {}, "exact"),
    ("collections", "list_collections", [A], {}, "sorted"),
    ("collections-file", "list_collections", [A], {"filename": "*wheel*"}, "sorted"),
    ("collections-wild", "list_collections", [A], {"collection": "*probe*"}, "sorted"),
    ("collections-rev", "list_collections", [A], {"revision": "2024-01-01"}, "sorted"),
    ("revisions", "list_revisions", [A], {}, "sorted"),
    ("revisions-coll", "list_revisions", [A], {"collection": "alf/probe00/pykilosort"}, "sorted"),
    ("revisions-file", "list_revisions", [A], {"filename": "spikes.depths.npy"}, "sorted"),
    ("revisions-b", "list_revisions", [B], {}, "sorted"),
    ("obj-trials-table", "load_object", [A, "trials"], {}, "exact"),
    ("obj-namespaces", "load_object", [A, "leftCamera"], {"collection": "alf"}, "exact"),
    ("obj-namespace-ibl", "load_object", [A, "leftCamera", "alf"], {"namespace": "ibl"}, "exact"),
    ("obj-ns-name", "load_object", [A, "_ibl_leftCamera", "alf"], {}, "exact"),
    ("obj-n1", "load_object", [A, "licks"], {}, "exact"),
    ("obj-ts2vec", "load_object", [A, "lfp"], {}, "exact"),
    ("obj-metadata", "load_object", [A, "clusters"], {}, "exact"),
    ("obj-spikes", "load_object", [A, "spikes", "alf/probe01"], {}, "exact"),
    ("obj-spikes-ambiguous", "load_object", [A, "spikes"], {}, "exact"),
    ("obj-attribute", "load_object", [A, "spikes", "alf/probe01"], {"attribute": ["times", "amps"]}, "exact"),
    ("obj-wild", "load_object", [A, "spike?", "*probe01"], {}, "exact"),
    ("obj-timescale", "load_object", [A, "spikes", "alf"], {"timescale": "ephysClock"}, "exact"),
    ("obj-missing", "load_object", [A, "nothing"], {}, "exact"),
    ("obj-revision-default", "load_object", [A, "spikes", "alf/probe00"], {}, "exact"),
    ("obj-revision-before", "load_object", [A, "spikes", "alf/probe00"], {"revision": "2023-02-15"}, "exact"),
    ("obj-wheel", "load_object", [A, "wheel"], {}, "exact"),
    ("obj-wheelmoves", "load_object", [A, "wheelMoves"], {}, "exact"),
    ("obj-b-trials", "load_object", [B, "trials"], {}, "exact"),
    ("obj-b-wheel", "load_object", [B, "wheel"], {"collection": "alf/task_00"}, "exact"),
    ("obj-download-only", "load_object", [A, "lfp"], {"download_only": True}, "sorted"),
    ("ds-amps", "load_dataset", [A, "spikes.amps", "alf/probe00"], {}, "exact"),
    ("ds-amps-before", "load_dataset", [A, "spikes.amps", "alf/probe00"], {"revision": "2023-02-15"}, "exact"),
    ("ds-amps-oldest", "load_dataset", [A, "spikes.amps", "alf/probe00"], {"revision": "2000-01-01"}, "exact"),
    ("ds-relpath-rev", "load_dataset", [A, "alf/probe00/#2023-02-01#/spikes.amps.npy"], {}, "exact"),
    ("ds-n1", "load_dataset", [A, "licks.times"], {}, "exact"),
    ("ds-pqt", "load_dataset", [A, "_ibl_trials.table.pqt"], {}, "exact"),
    ("ds-yaml", "load_dataset", [A, "task.settings.yaml"], {}, "exact"),
    ("ds-jsonable", "load_dataset", [A, "_iblrig_taskData.raw.jsonable"], {}, "exact"),
    ("ds-ssv", "load_dataset", [A, "probes.description.ssv"], {}, "exact"),
    ("ds-htsv", "load_dataset", [A, "channels.labels.htsv"], {}, "exact"),
    ("ds-csv", "load_dataset", [A, "table.values.csv"], {}, "exact"),
    ("ds-npz", "load_dataset", [A, "probes.single.npz"], {}, "exact"),
    ("ds-empty", "load_dataset", [A, "_ibl_empty.thing.json"], {}, "exact"),
    ("ds-no-loader", "load_dataset", [A, "_iblrig_leftCamera.raw.mp4"], {}, "exact"),
    ("ds-ambiguous", "load_dataset", [A, "spikes.times"], {}, "exact"),
    ("ds-dict", "load_dataset", [A, {"object": "lfp", "attribute": "raw"}, "alf"], {}, "exact"),
    ("ds-extras", "load_dataset", [A, "spikes.samples", "alf"], {}, "exact"),
    ("ds-namespace-omitted", "load_dataset", [D, "trials.choice"], {}, "exact"),
    ("ds-namespace-given", "load_dataset", [D, "_ibl_trials.choice"], {}, "exact"),
    ("ds-download-only", "load_dataset", [A, "lfp.raw.npy"], {"download_only": True}, "exact"),
    ("dss", "load_datasets", [A, ["spikes.times", "spikes.amps"]], {"collections": "alf/probe01"}, "exact"),
    (
        "dss-absent",
        "load_datasets",
        [A, ["spikes.times.npy", "nothing.here.npy"]],
        {"collections": "alf/probe01", "assert_present": False},
        "exact",
    ),
    ("collection", "load_collection", [A, "alf/probe01"], {}, "exact"),
    ("collection-nested", "load_collection", [A, "alf/probe00/pykilosort"], {}, "exact"),
    ("eid2ref", "eid2ref", [A], {}, "exact"),
    ("eid2ref-str", "eid2ref", [B], {"as_dict": False}, "exact"),
    ("eid2path", "eid2path", [A], {}, "exact"),
    ("eid2path-unpadded", "eid2path", [B], {}, "exact"),
    ("path2eid-unknown", "path2eid", ["{root}/nolab/Subjects/x/2020-01-01/001"], {}, "exact"),
    ("to-eid-garbage", "to_eid", ["not-a-session"], {}, "exact"),
    ("subjects", "list_subjects", [], {}, "sorted"),
]

#: Calls whose answers differ on purpose (docs/alf.md, "Differences from ONE-api"), with the reason.
DOCUMENTED = {
    "search-dataset-exact": "ONE-api refuses 'dataset=' (ambiguous with dataset_qc_lte); onecore takes it",
    "list-list": "ONE-api's OR of file names applies the collection part to the first pattern only",
    "ds-namespace-omitted": "onecore reaches _ibl_trials.choice.npy from 'trials.choice' when unique",
    "eid2path-unpadded": "ONE-api pads the number (.../001) although the folder is .../1; onecore gives the folder",
    "obj-b-trials": "ONE-api looks for an unpadded session (.../1) under .../001 and finds nothing on disk",
    "obj-b-wheel": "ONE-api looks for an unpadded session (.../1) under .../001 and finds nothing on disk",
    "to-eid-garbage": "ONE-api raises ValueError for a string that is no id; onecore returns None (the issue)",
}

_ERRORS = {
    "ALFObjectNotFound": "not found",
    "ObjectNotFound": "not found",
    "NotFound": "not found",
    "ALFMultipleCollectionsFound": "several collections",
    "MultipleCollectionsFound": "several collections",
    "ALFMultipleObjectsFound": "several objects",
    "MultipleObjectsFound": "several objects",
    "AmbiguousError": "several objects",
}


def normalise(value: Any, root: Path) -> Any:
    """A JSON-able form of an answer: arrays and tables by value, paths relative to ``root``."""
    import numpy as np

    if isinstance(value, PurePath):
        try:
            return "path:" + Path(value).resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            return "path:" + Path(value).as_posix()
    if hasattr(value, "to_dict") and hasattr(value, "columns"):  # a DataFrame
        return {"columns": [str(c) for c in value.columns], "values": normalise(value.to_numpy(), root)}
    if hasattr(value, "to_numpy") and hasattr(value, "index"):  # a Series
        return normalise(value.to_numpy(), root)
    if hasattr(value, "files") and hasattr(value, "close"):  # an NpzFile
        return {"npz": sorted(value.files)}
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "fc":
            return {"shape": list(value.shape), "values": np.round(value.astype(float), 9).tolist()}
        if value.dtype.names:
            return {"shape": list(value.shape), "names": list(value.dtype.names)}
        return {"shape": list(value.shape), "values": value.tolist()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): normalise(v, root) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [normalise(v, root) for v in value]
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def error_name(e: BaseException) -> str:
    """The comparable name of an error: its category for not-found/ambiguity errors, else its type."""
    for cls in type(e).__mro__:
        if cls.__name__ in _ERRORS:
            return "error: " + _ERRORS[cls.__name__]
    return "error: " + type(e).__name__


def _prepare(args: list[Any], root: Path, eids: dict[str, str] | None) -> list[Any]:
    """Arguments for this side: ``{root}`` filled in; onecore's session ids as ONE-api's (``eids``)."""
    args = [a.replace("{root}", str(root)) if isinstance(a, str) else a for a in args]
    if eids:
        args = [eids.get(a, a) if isinstance(a, str) else a for a in args]
    return args


def _back(value: Any, eids: dict[str, str]) -> Any:
    """ONE-api's session ids (UUIDs) in onecore's form (session paths)."""
    if isinstance(value, str):
        return eids.get(value, value)
    if isinstance(value, list):
        return [_back(v, eids) for v in value]
    return value


def shape(call_id: str, method: str, result: Any) -> Any:
    """Reduce an answer to what ONE-api and onecore both define (e.g. ONE-api's details columns)."""
    if method == "search" and isinstance(result, tuple):
        eids, details = result
        keys = ("lab", "subject", "date", "number")
        return [eids, None if details is None else [{k: d[k] for k in keys} for d in details]]
    if call_id == "list-details":  # the table's row order is the cache's: compared sorted
        rows = sorted(zip(result["rel_path"], result["file_size"]))
        return {"rel_path": [r for r, _ in rows], "file_size": [int(s) for _, s in rows]}
    if method == "load_datasets":
        return result[0]
    if call_id == "get-details":
        return {k: result[k] for k in ("lab", "subject", "number")}
    return result


def run(one: Any, root: Path, eids: dict[str, str] | None = None) -> dict[str, Any]:
    """Every call of :data:`CALLS` on ``one``: ``{id: normalised answer or error name}``.

    ``eids``: onecore's session id -> this ``one``'s (ONE-api's UUIDs), translated both ways.
    """
    out: dict[str, Any] = {}
    back = {v: k for k, v in (eids or {}).items()}
    base = Path(getattr(one, "cache_dir", None) or root)  # local paths: relative to where the files are
    for call_id, method, args, kwargs, how in CALLS:
        a = _prepare(args, root, eids)
        try:
            result = shape(call_id, method, getattr(one, method)(*a, **kwargs))
            value = _back(normalise(result, base), back)
            if how == "sorted" and isinstance(value, list):
                value = sorted(value, key=json.dumps)
        except Exception as e:  # noqa: BLE001 - the error itself is the answer compared
            value = error_name(e)
        out[call_id] = value
    return out


def _main() -> None:  # pragma: no cover - runs in ONE-api's venv
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    from one.alf.cache import make_parquet_db
    from one.api import One

    root, tables = Path(sys.argv[1]), Path(sys.argv[2])
    tables.mkdir(parents=True, exist_ok=True)
    make_parquet_db(root, out_dir=tables, hash_ids=True)
    one = One(cache_dir=root, tables_dir=tables, mode="local")
    eids = {}
    for folder in sorted(root.glob("*/Subjects/*/*/*")):
        eid = one.path2eid(folder)
        if eid is not None:
            eids[folder.relative_to(root).as_posix()] = str(eid)
    print(json.dumps(run(one, root, eids), default=str))


if __name__ == "__main__":
    _main()
