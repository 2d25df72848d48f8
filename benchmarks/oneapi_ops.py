"""Times the IBL's ONE-api on a data root; run by ``bench_catalog.py`` with ``benchmarks/.venv-oneapi``.

Reads a JSON job from stdin (``root``, ``build_repeat``, ``repeat``, ``searches``, ``session``,
``object``, ``dataset``, ``collection``), times each operation itself and prints one JSON object:
``{"version": ..., "build": [seconds...], "searches": {label: {"times": [...], "count": n}},
"load_object": [...], "load_dataset": [...], "load_keys": [...]}``. Only the standard library and
ONE-api are used, so it runs in ONE-api's own venv.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path


def _times(fn, repeat: int) -> tuple[list[float], object]:
    out, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        out.append(time.perf_counter() - t)
    return out, result


def main() -> None:
    job = json.load(sys.stdin)
    logging.disable(logging.WARNING)
    import one
    from one.alf.cache import make_parquet_db
    from one.api import One

    root = Path(job["root"])
    res: dict = {"version": one.__version__}
    res["build"], _ = _times(lambda: make_parquet_db(root, hash_ids=True), job["build_repeat"])

    t = time.perf_counter()
    o = One(cache_dir=str(root), mode="local")
    res["open"] = time.perf_counter() - t

    res["searches"] = {}
    for label, kwargs in job["searches"].items():
        times, eids = _times(lambda kw=kwargs: o.search(**kw), job["repeat"])
        res["searches"][label] = {"times": times, "count": len(eids)}

    eid = o.path2eid(root / job["session"])
    res["eid"] = str(eid)
    res["load_object"], obj = _times(
        lambda: o.load_object(eid, job["object"], collection=job["collection"]), job["repeat"]
    )
    res["load_keys"] = sorted(obj.keys())
    res["load_dataset"], _ = _times(
        lambda: o.load_dataset(eid, job["dataset"], collection=job["collection"]), job["repeat"]
    )
    json.dump(res, sys.stdout)


if __name__ == "__main__":
    main()
