"""Loading what a kind of quick look needs from a session (``one plot``, ``one site --plots``)."""

from __future__ import annotations

from typing import Any, Sequence

from ..errors import NotFound
from .errors import PlotError

KINDS = ("raster", "wheel", "trials")
_SPIKE_ATTRS = ["times", "depths", "clusters"]


def _records(one: Any, eid: str, collection: Any, revision: str | None) -> list[dict[str, Any]]:
    """The session's dataset records as dicts (``list_datasets(details=True)`` is a DataFrame with pandas)."""
    recs = one.list_datasets(
        eid, collection=collection, revision=revision, details=True, default_revisions_only=revision is None
    )
    return recs.to_dict("records") if hasattr(recs, "to_dict") else list(recs)


def _collections_with(one: Any, eid: str, obj: str, collection: Any, revision: str | None) -> list[str]:
    recs = _records(one, eid, collection, revision)
    return sorted({r["collection"] or "" for r in recs if r["object"] == obj and not r["namespace"]})


def _objects_of(one: Any, eid: str, collection: Any, revision: str | None) -> str:
    recs = _records(one, eid, collection, revision)
    objs = sorted({r["object"] for r in recs})
    return ", ".join(objs) or "none"


def _load(one: Any, eid: str, obj: str, collection: str, revision: str | None, attribute: Any = None) -> Any:
    return one.load_object(
        eid, obj, collection=collection, revision=revision, attribute=attribute, mmap=True, download_only=False
    )


def _spikes(one: Any, eid: str, collection: str, revision: str | None) -> Any:
    """spikes.times with depths (or depths mapped from clusters.depths) or clusters."""
    import numpy as np

    spikes = _load(one, eid, "spikes", collection, revision, _SPIKE_ATTRS)
    if "depths" not in spikes and "clusters" in spikes:
        try:
            depths = _load(one, eid, "clusters", collection, revision, "depths")["depths"]
            clusters = spikes["clusters"]  # memory-mapped: indexed without a copy
            if len(clusters) and 0 <= clusters.min() and clusters.max() < len(depths):
                spikes["depths"] = np.asarray(depths, dtype=np.float32)[clusters]
        except NotFound:
            pass
    return spikes


def session_figure(
    one: Any,
    eid: Any,
    kind: str,
    *,
    collection: str | None = None,
    revision: str | None = None,
    time_range: Sequence[float] | None = None,
    figsize: Sequence[float] | None = None,
    dpi: float = 100,
) -> Any:
    """See :func:`onecore.plot.session_figure`."""
    from .figures import new_figure, raster_axes, trials, wheel

    if kind not in KINDS:
        raise PlotError(f"unknown plot kind {kind!r}; choose one of {', '.join(KINDS)}")
    eid = one.to_eid(eid)
    obj = {"raster": "spikes", "wheel": "wheel", "trials": "trials"}[kind]
    colls = _collections_with(one, eid, obj, collection, revision)
    if not colls:
        where = f" in collection {collection!r}" if collection is not None else ""
        need = {
            "raster": "spikes.times with spikes.depths or spikes.clusters",
            "wheel": "wheel.position and wheel.timestamps",
            "trials": "trials.choice, trials.feedbackType or trials reaction times",
        }[kind]
        raise PlotError(
            f"session {eid} has no {obj} object{where}: a {kind} plot needs {need}; "
            f"objects there: {_objects_of(one, eid, collection, revision)}"
        )
    if kind == "raster":
        if collection is None:
            probes = [c for c in colls if c.rstrip("/").rsplit("/", 1)[-1].startswith("probe")]
            colls = probes or colls
        fig, axes = new_figure(figsize or (10.0, 1.0 + 3.0 * len(colls)), dpi, rows=len(colls))
        for ax, coll in zip(axes, colls):
            spikes = _spikes(one, eid, coll, revision)
            raster_axes(ax, spikes, None, time_range, int(fig.get_figwidth() * dpi))
            ax.set_title(f"{coll or 'session folder'}: {len(spikes['times'])} spikes", loc="left", fontsize=9)
        return fig
    if len(colls) > 1:
        raise PlotError(
            f"session {eid} has {obj} in several collections ({', '.join(repr(c) for c in colls)}): "
            "choose one with --collection (collection=...)"
        )
    data = _load(one, eid, obj, colls[0], revision)
    if kind == "wheel":
        return wheel(data, time_range=time_range, figsize=figsize, dpi=dpi, title=f"wheel ({colls[0] or 'session'})")
    return trials(data, time_range=time_range, figsize=figsize, dpi=dpi)
