"""brainbox's SessionLoader and friends on one session, through ONE-api's ``One`` or onecore's.

Run in a venv with ``ibllib`` (which brings ONE-api): ``python brainbox_calls.py ROOT TABLES oneapi|onecore``
prints ``{call: normalised answer}`` as JSON (normalised as :mod:`onecore.testing.oneapi_calls` does).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

SESSION = "mainenlab/Subjects/ZM_001/2024-03-01/001"


def _atlas() -> Any:
    from iblatlas.regions import BrainRegions

    class Atlas:  # iblatlas's bundled regions: no atlas download
        regions = BrainRegions()

    return Atlas()


def _ephys_calls(one: Any, eid: Any) -> dict[str, Callable[[], Any]]:
    from brainbox.io.one import SpikeSortingLoader, load_channel_locations, load_passive_rfmap

    def spike_sorting(pname: str) -> Callable[[], Any]:
        def call() -> Any:
            ssl = SpikeSortingLoader(one=one, eid=eid, pname=pname, atlas=_atlas())
            spikes, clusters, channels = ssl.load_spike_sorting()
            return {"spikes": spikes, "clusters": clusters, "channels": channels, "collection": ssl.collection}

        return call

    def merged(pname: str) -> Callable[[], Any]:
        def call() -> Any:
            ssl = SpikeSortingLoader(one=one, eid=eid, pname=pname, atlas=_atlas())
            return ssl.merge_clusters(*ssl.load_spike_sorting())

        return call

    return {
        "channel_locations": lambda: load_channel_locations(eid, one=one, brain_atlas=_atlas()),
        "channel_locations_probe01": lambda: load_channel_locations(eid, "probe01", one=one, brain_atlas=_atlas()),
        "passive_rfmap": lambda: load_passive_rfmap(eid, one=one),
        "spike_sorting_probe00": spike_sorting("probe00"),
        "spike_sorting_probe01": spike_sorting("probe01"),
        "merge_clusters_probe00": merged("probe00"),
    }


def _calls(one: Any, eid: Any) -> dict[str, Callable[[], Any]]:
    from brainbox.behavior import training
    from brainbox.io.one import SessionLoader, load_wheel_reaction_times

    def loader(method: str, attr: str, **kw: Any) -> Callable[[], Any]:
        def call() -> Any:
            sl = SessionLoader(one=one, eid=eid)
            getattr(sl, method)(**kw)
            return getattr(sl, attr)

        return call

    def session_data() -> Any:
        sl = SessionLoader(one=one, eid=eid)
        sl.load_session_data()
        return sl.data_info.to_dict("list")

    def trials() -> Any:
        return one.load_object(eid, "trials", collection="alf/task_00")

    return {
        **_ephys_calls(one, eid),
        "wheel_reaction_times": lambda: load_wheel_reaction_times(eid, one),
        "load_trials": loader("load_trials", "trials"),
        "load_trials_revision": loader("load_trials", "trials", revision="2024-04-01"),
        "load_trials_tidy": loader("load_trials", "trials", style="tidy"),
        "load_wheel": loader("load_wheel", "wheel"),
        "load_pose": loader("load_pose", "pose"),
        "load_pose_left": loader("load_pose", "pose", views=["left"], likelihood_thr=0.8),
        "load_motion_energy": loader("load_motion_energy", "motion_energy"),
        "load_pupil": loader("load_pupil", "pupil"),
        "load_licks": loader("load_licks", "licks"),
        "load_pawstates": loader("load_pawstates", "pawstates"),
        "load_session_data": session_data,
        "trials_object": trials,
        "performance_easy": lambda: training.compute_performance_easy(trials()),
        "performance": lambda: training.compute_performance(trials()),
        "reaction_time": lambda: training.compute_reaction_time(trials()),
    }


def main() -> None:
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    sys.path.insert(0, str(Path(__file__).parent))
    from oneapi_calls import error_name, normalise

    root, tables, side = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    if side == "oneapi":
        from one.alf.cache import make_parquet_db
        from one.api import One

        tables.mkdir(parents=True, exist_ok=True)
        make_parquet_db(root, out_dir=tables, hash_ids=True)
        one = One(cache_dir=root, tables_dir=tables, mode="local")
        eid = one.path2eid(root / SESSION)
    else:
        from onecore import One

        one = One(cache_dir=root)
        eid = SESSION
    out = {}
    for name, call in _calls(one, eid).items():
        try:
            out[name] = normalise(call(), root)
        except Exception as e:  # noqa: BLE001 - the error is the answer compared
            out[name] = error_name(e)
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
