"""Builders of NWB objects from the arrays of one ALF object (one timescale group at a time).

- ``intervals`` -> ``TimeIntervals`` (start/stop time, every other attribute a column);
- ``times``/``timestamps`` -> one ``TimeSeries`` per other attribute (``<object>_<attribute>``),
  the timestamps written once and linked from the others; an object with only times becomes one
  ``TimeSeries`` of its times;
- anything else -> a ``DynamicTable``, one column per attribute.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .arrays import compressed, timestamps_for
from .discover import is_time_attribute
from .errors import ExportError

_INTERVAL_RESERVED = ("id", "start_time", "stop_time", "tags", "tags_index", "timeseries", "timeseries_index")


def column_name(key: str, reserved: tuple[str, ...] = ("id",)) -> str:
    """An HDF5-safe column name for an attribute key (``times.raw`` -> ``times_raw``)."""
    name = key.replace(".", "_")
    return f"{name}_alf" if name in reserved else name


def kind_of(attrs: dict[str, np.ndarray]) -> str:
    """``intervals``, ``series`` or ``table``: how an object's attributes map to NWB."""
    if "intervals" in attrs:
        return "intervals"
    if "times" in attrs or "timestamps" in attrs:
        return "series"
    return "table"


def _columns(attrs: dict[str, np.ndarray], label: str, reserved: tuple[str, ...]) -> list[Any]:
    from hdmf.common import VectorData

    cols = []
    for key in sorted(attrs):
        arr = attrs[key]
        desc = f"{label}.{key}" + (" (seconds from the session start)" if is_time_attribute(key.split(".")[0]) else "")
        cols.append(VectorData(name=column_name(key, reserved), description=desc, data=compressed(arr)))
    return cols


def intervals_table(name: str, label: str, attrs: dict[str, np.ndarray], cls: Any = None) -> Any:
    """``TimeIntervals`` named ``name``: ``intervals`` as start/stop times, other attributes as columns."""
    from hdmf.common import ElementIdentifiers, VectorData
    from pynwb.epoch import TimeIntervals

    iv = np.asarray(attrs["intervals"])
    if iv.ndim != 2 or iv.shape[1] != 2:
        raise ExportError(f"object {label!r}: intervals must have shape (n, 2), not {iv.shape}")
    rest = {k: v for k, v in attrs.items() if k != "intervals"}
    cols = [
        VectorData(name="start_time", description="start of the interval (intervals[:, 0]), s", data=iv[:, 0].copy()),
        VectorData(name="stop_time", description="end of the interval (intervals[:, 1]), s", data=iv[:, 1].copy()),
        *_columns(rest, label, _INTERVAL_RESERVED),
    ]
    return (cls or TimeIntervals)(
        name=name,
        description=f"ALF object {label}",
        columns=cols,
        id=ElementIdentifiers(name="id", data=np.arange(iv.shape[0])),
    )


def dynamic_table(name: str, label: str, attrs: dict[str, np.ndarray]) -> Any:
    """A ``DynamicTable``: one row per item of the object, one column per attribute."""
    from hdmf.common import DynamicTable, ElementIdentifiers

    n = len(next(iter(attrs.values())))
    return DynamicTable(
        name=name,
        description=f"ALF object {label} (no time attribute)",
        columns=_columns(attrs, label, ("id",)),
        id=ElementIdentifiers(name="id", data=np.arange(n)),
    )


def time_series(
    base: str,
    label: str,
    attrs: dict[str, np.ndarray],
    links: dict[str, Any] | None = None,
    spatial: dict[str, str] | None = None,
    units: dict[str, str] | None = None,
    suffix: str = "",
) -> dict[str, Any]:
    """One ``TimeSeries`` per non-time attribute (``<base>_<attribute>``), sharing one timestamps dataset.

    ``links`` maps attribute keys to existing series whose data is reused (a timescale's series link
    to the default one's data rather than copying it, as plain ``TimeSeries``); ``spatial`` names the
    keys to write as ``SpatialSeries`` (value: the reference frame).
    """
    from pynwb import TimeSeries
    from pynwb.behavior import SpatialSeries

    tkey = "timestamps" if "timestamps" in attrs else "times"
    if tkey not in attrs:
        raise ExportError(f"object {label!r} has no 'times' or 'timestamps' attribute to time its series")
    data_keys = sorted(k for k in attrs if k != tkey)
    data_keys += sorted(k for k in (links or {}) if k not in attrs and k != tkey)
    out: dict[str, Any] = {}
    shared: Any = None
    if not data_keys:  # an event object: its times are the data
        t = attrs[tkey]
        return {
            tkey: TimeSeries(
                name=f"{base}_{tkey}{suffix}",
                description=f"ALF object {label}: event times (data are the times themselves)",
                data=compressed(t),
                unit="s",
                timestamps=compressed(t),
            )
        }
    for key in data_keys:
        linked = (links or {}).get(key)
        data = linked if linked is not None else attrs[key]
        n = len(linked.data) if linked is not None else len(data)
        ts = shared if shared is not None else compressed(timestamps_for(attrs[tkey], n))
        if not hasattr(data, "data") and np.asarray(data).dtype.kind in "USO":
            raise ExportError(f"object {label!r}: {key} holds text; a TimeSeries needs numbers")
        kwargs: dict[str, Any] = dict(
            name=f"{base}_{column_name(key)}{suffix}",
            description=f"ALF {label}.{key}" + (" (data linked to the default timescale's series)" if linked else ""),
            data=linked if linked is not None else compressed(data),
            timestamps=ts,
            unit=(units or {}).get(key, "n.a."),
        )
        if spatial and key in spatial and linked is None:  # (SpatialSeries would copy linked data)
            series = SpatialSeries(reference_frame=spatial[key], **kwargs)
        else:
            series = TimeSeries(**kwargs)
        out[key] = series
        if shared is None:
            shared = series  # the next series link to these timestamps
    return out
