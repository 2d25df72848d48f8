"""``spikes`` + ``clusters`` of every probe collection -> the NWB ``Units`` table.

One row per cluster of each collection (``collection`` and ``cluster_id`` columns say which), the
spike times of each unit as the ragged ``spike_times`` column, every other per-spike attribute as a
ragged ``spikes_<attribute>`` column, every per-cluster attribute as a column of its own name. No
``electrode_group``/``electrodes`` columns: ALF spike sorting output has no channel geometry table.

Memory: spike arrays are memory-mapped; the per-unit order is one ``argsort`` of ``spikes.clusters``
per collection (8 bytes a spike), and the spikes are gathered into unit order one chunk at a time
while HDF5 writes them, so no sorted copy of a spike array is ever held.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from hdmf.data_utils import AbstractDataChunkIterator, DataChunk

from .errors import ExportError

CHUNK = 1 << 18  # spikes per write chunk (2 MiB of float64)
RESERVED = (
    "id",
    "spike_times",
    "obs_intervals",
    "electrodes",
    "electrode_group",
    "waveform_mean",
    "waveform_sd",
    "waveforms",
    "collection",
    "cluster_id",
)


@dataclass
class Probe:
    """The spike sorting output of one collection."""

    collection: str
    n_spikes: int
    n_units: int
    counts: np.ndarray  # spikes per unit
    spike_attrs: dict[str, Callable[[], np.ndarray]]  # key -> loader (memory-mapped)
    cluster_attrs: dict[str, np.ndarray] = field(default_factory=dict)

    def clusters(self) -> np.ndarray:
        return self.spike_attrs["clusters"]()


class _OrderCache:
    """The unit order of the last probe asked for (one ``argsort`` held at a time)."""

    def __init__(self) -> None:
        self.key: Any = None
        self.order: np.ndarray | None = None

    def get(self, probe: Probe) -> np.ndarray:
        if self.key is not probe:
            self.order = None  # free the previous one first
            self.order = np.argsort(np.asarray(probe.clusters()), kind="stable")
            self.key = probe
        assert self.order is not None
        return self.order


class SpikeColumn(AbstractDataChunkIterator):
    """A per-spike attribute of every probe, in unit order, produced chunk by chunk for HDF5."""

    def __init__(self, probes: list[Probe], key: str, dtype: np.dtype, tail: tuple[int, ...], cache: _OrderCache):
        self.probes, self.key, self._dtype, self.tail, self.cache = probes, key, dtype, tail, cache
        self.total = sum(p.n_spikes for p in probes)
        self._gen = self._chunks()

    def _chunks(self) -> Any:
        offset = 0
        for probe in self.probes:
            if probe.n_spikes == 0:
                continue
            load = probe.spike_attrs.get(self.key)
            src = load() if load is not None else None
            order = self.cache.get(probe) if src is not None else None
            for a in range(0, probe.n_spikes, CHUNK):
                b = min(a + CHUNK, probe.n_spikes)
                if src is None:
                    data = np.full((b - a, *self.tail), np.nan, dtype=self._dtype)
                else:
                    data = np.asarray(src[order[a:b]], dtype=self._dtype)
                yield DataChunk(data=data, selection=np.s_[offset + a : offset + b])
            offset += probe.n_spikes
            del src, order

    def __iter__(self) -> SpikeColumn:
        return self

    def __next__(self) -> DataChunk:
        return next(self._gen)

    next = __next__

    def recommended_chunk_shape(self) -> tuple[int, ...]:
        return (max(1, min(CHUNK, self.total)), *self.tail)

    def recommended_data_shape(self) -> tuple[int, ...]:
        return (self.total, *self.tail)

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def maxshape(self) -> tuple[int, ...]:
        return (self.total, *self.tail)


def make_probe(label: str, collection: str, spikes: dict[str, np.ndarray], clusters: dict[str, np.ndarray]) -> Probe:
    """Check one collection's spikes/clusters and count the spikes of each unit (one pass)."""
    for need in ("times", "clusters"):
        if need not in spikes:
            raise ExportError(
                f"object {label!r} has no {need!r} attribute (spikes.{need}.npy); the Units table needs "
                "spikes.times and spikes.clusters (leave the collection out with --collection to skip it)"
            )
    clu = np.asarray(spikes["clusters"])
    if clu.ndim != 1 or clu.dtype.kind not in "iu":
        raise ExportError(f"object {label!r}: spikes.clusters must be a 1-D integer array, not {clu.dtype} {clu.shape}")
    if clu.size and clu.min() < 0:
        raise ExportError(f"object {label!r}: spikes.clusters has negative cluster numbers")
    n_clusters = max((len(a) for a in clusters.values()), default=0)
    n_units = max(n_clusters, int(clu.max()) + 1 if clu.size else 0)
    counts = np.bincount(clu, minlength=n_units).astype(np.uint64)
    del clu
    for key, arr in clusters.items():
        if len(arr) != n_units:
            raise ExportError(
                f"object {collection + '/clusters' if collection else 'clusters'!r}: {key} has {len(arr)} rows but "
                f"spikes.clusters refers to {n_units} clusters"
            )
    return Probe(
        collection,
        int(spikes["times"].shape[0]),
        n_units,
        counts,
        {k: (lambda a=a: a) for k, a in spikes.items()},
        dict(clusters),
    )


def _column_name(key: str) -> str:
    name = key.replace(".", "_")
    return f"clusters_{name}" if name in RESERVED else name


def build_units(probes: list[Probe], compressed: Callable[[Any], Any]) -> Any:
    """The ``Units`` table of all probes (data written lazily by :class:`SpikeColumn`)."""
    from hdmf.backends.hdf5.h5_utils import H5DataIO
    from hdmf.common import ElementIdentifiers, VectorData, VectorIndex
    from pynwb.misc import Units

    cache = _OrderCache()
    index = np.cumsum(np.concatenate([p.counts for p in probes])).astype(np.uint64)
    n_rows = int(sum(p.n_units for p in probes))
    columns: list[Any] = []
    spike_keys = sorted({k for p in probes for k in p.spike_attrs if k != "clusters"}, key=lambda k: (k != "times", k))
    for key in spike_keys:
        arrs = [p.spike_attrs[key]() for p in probes if key in p.spike_attrs]
        tails = {a.shape[1:] for a in arrs}
        if len(tails) > 1:
            raise ExportError(f"spikes.{key} has different shapes per collection: {sorted(tails)}")
        dtype = np.result_type(*[a.dtype for a in arrs])
        if len(arrs) < len(probes):
            dtype = np.result_type(dtype, np.float64)
        name = "spike_times" if key == "times" else f"spikes_{key.replace('.', '_')}"
        desc = "spike times of each unit, in seconds" if key == "times" else f"spikes.{key} of each spike of the unit"
        it = SpikeColumn(probes, key, dtype, tuple(next(iter(tails))), cache)
        data = VectorData(
            name=name, description=desc, data=H5DataIO(it, compression="gzip", compression_opts=4, shuffle=True)
        )
        columns += [VectorIndex(name=f"{name}_index", data=index.copy(), target=data), data]
    colls = np.concatenate([np.full(p.n_units, p.collection or "(session)", dtype=object) for p in probes])
    columns.append(VectorData(name="collection", description="ALF collection of the unit", data=colls.tolist()))
    ids = np.concatenate([np.arange(p.n_units) for p in probes])
    columns.append(VectorData(name="cluster_id", description="cluster number in its collection", data=ids))
    for key in sorted({k for p in probes for k in p.cluster_attrs}):
        columns.append(_cluster_column(probes, key, compressed))
    return Units(
        name="units",
        description="spike sorting of " + ", ".join(p.collection or "(session)" for p in probes),
        id=ElementIdentifiers(name="id", data=np.arange(n_rows)),
        columns=columns,
    )


def _cluster_column(probes: list[Probe], key: str, compressed: Callable[[Any], Any]) -> Any:
    from hdmf.common import VectorData

    have = [p.cluster_attrs[key] for p in probes if key in p.cluster_attrs]
    tails = {a.shape[1:] for a in have}
    if len(tails) > 1:
        raise ExportError(f"clusters.{key} has different shapes per collection: {sorted(tails)}")
    tail = next(iter(tails))
    parts = []
    for p in probes:
        a = p.cluster_attrs.get(key)
        if a is None:
            if have[0].dtype.kind in "US":
                a = np.full((p.n_units, *tail), "", dtype=have[0].dtype)
            else:
                a = np.full((p.n_units, *tail), np.nan)
        parts.append(np.asarray(a))
    data = np.concatenate(parts) if len(parts) > 1 else parts[0]
    return VectorData(name=_column_name(key), description=f"clusters.{key}", data=compressed(data))
