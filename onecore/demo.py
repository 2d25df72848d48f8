"""``make demo``: the main job end to end on an embedded default — no server, no configuration.

Makes example ALF data in a temporary folder, then, with a temporary ``$ONE_HOME`` (your real
``~/.one`` is not touched): check and scan the data root, configure it as a ``local`` repository,
search, list, download a session's ``spikes`` into a folder, and load objects in Python.
"""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
import time
from pathlib import Path


def _run(args: list[str]) -> None:
    from .cli import cli

    print(f"\n$ one {' '.join(shlex.quote(a) for a in args)}", flush=True)
    try:
        cli.main(args=args, prog_name="one", standalone_mode=False)
    except SystemExit as e:  # `one check` exits 1 when it finds non-ALF files, as documented
        if e.code not in (0, 1, None):
            raise


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="onecore-demo-") as tmp:
        tmp_path = Path(tmp)
        os.environ["ONE_HOME"] = str(tmp_path / "home")
        from .plugins import set_registry

        set_registry(None)
        from .testing import make_data_root

        root = tmp_path / "dataroot"
        t0 = time.perf_counter()
        written = make_data_root(root, subjects=2, sessions=3, n=20000)
        print(f"Example data: {len(written)} datasets under {root} ({time.perf_counter() - t0:.2f}s)")

        _run(["check", str(root)])
        _run(["scan", str(root), "--sessions-only"])
        _run(["add-repo", "demo", "--type", "local", "--set", f"root_dir={root}"])
        _run(["search", "spikes.times", "--subject", "NICK_001"])
        _run(["search", "probe00", "probe01", "--json"])
        _run(["search", "--date-range", "2021-01-10", "-", "--lab", "haisslab"])

        from . import ONE

        one = ONE()
        eid = one.search(dataset=["spikes.times", "spikes.clusters"], subject="NICK_001")[0]
        _run(["list", eid, "--collection", "alf*"])
        _run(
            ["download", eid, "spikes", "--collection", "alf/probe00", "--dir", str(tmp_path / "downloads"), "--quiet"]
        )

        print("\n>>> from onecore import ONE")
        print(">>> one = ONE()")
        print(">>> eids = one.search(dataset=['spikes.times', 'spikes.clusters'], subject='NICK_001')")
        print(f">>> spikes = one.load_object({eid!r}, 'spikes', collection='alf/probe00')")
        t0 = time.perf_counter()
        spikes = one.load_object(eid, "spikes", collection="alf/probe00")
        dt = time.perf_counter() - t0
        for k, v in spikes.items():
            print(f"    spikes.{k}: {v.dtype} array of shape {v.shape}")
        print(f"    (loaded in {dt * 1000:.1f} ms)")
        ts = one.load_dataset(eid, "wheel.timestamps", collection="alf")
        print(f">>> one.load_dataset(eid, 'wheel.timestamps', collection='alf') -> {ts.shape[0]} samples")
        path = one.load_dataset(eid, "trials.table", collection="alf", download_only=True)
        print(f">>> one.load_dataset(eid, 'trials.table', collection='alf', download_only=True)\n    {path}")
        n_sessions, n_datasets = one.catalog.count()
        one.close()
        print(
            f"\nSummary: {n_datasets} datasets in {n_sessions} sessions scanned, indexed, searched, listed, "
            f"downloaded and loaded. Demo OK."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
