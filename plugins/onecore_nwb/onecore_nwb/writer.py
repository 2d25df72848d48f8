"""The export: plan the session, build the NWB file object by object, write it atomically."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from . import session as meta
from .arrays import compressed, load_object
from .discover import TABLE_EXTENSIONS, AlfObject, SessionPlan, plan_session
from .errors import ExportError
from .tables import dynamic_table, intervals_table, kind_of, time_series
from .units import build_units, make_probe

BEHAVIOR = "behavior"
WHEEL_FRAME = "wheel angle from its position at the start of the session (ALF wheel.position), radians"


def _flat(groups: dict[str | None, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """All attributes of an object, timescale groups suffixed (``times_bpod``)."""
    out = dict(groups.get(None, {}))
    for ts, attrs in groups.items():
        if ts:
            out.update({f"{k}_{ts}": v for k, v in attrs.items()})
    return out


class _Builder:
    """Adds ALF objects to one NWBFile; remembers what it converted and what it could not."""

    def __init__(self, one: Any, eid: str, nwb: Any, plan: SessionPlan):
        self.one, self.eid, self.nwb, self.plan = one, eid, nwb, plan
        self.converted: list[str] = []
        self.not_converted: list[str] = list(plan.other)
        self.names = Counter(o.name for o in plan.objects)
        self.have_trials = False

    def module(self, collection: str) -> Any:
        name = collection.replace("/", "_") if collection else "session"
        if name in self.nwb.processing:
            return self.nwb.processing[name]
        desc = "wheel and other behaviour" if name == BEHAVIOR else f"ALF collection '{collection or '(session)'}'"
        return self.nwb.create_processing_module(name=name, description=desc)

    def base(self, obj: AlfObject) -> str:
        if self.names[obj.name] == 1:
            return obj.name
        return "_".join(x for x in (obj.collection.replace("/", "_"), obj.namespace, obj.name) if x)

    def load(self, obj: AlfObject) -> dict[str | None, dict[str, np.ndarray]]:
        groups, skipped = load_object(self.one, self.eid, obj)
        self.not_converted += skipped
        return groups

    # -- spikes -------------------------------------------------------------------------------
    def add_units(self) -> set[int]:
        done: set[int] = set()
        probes = []
        for obj in self.plan.objects:
            if obj.name != "spikes":
                continue
            spikes = _flat(self.load(obj))
            clu_obj = self.plan.find(obj.collection, "clusters")
            clusters = _flat(self.load(clu_obj)) if clu_obj is not None else {}
            probes.append(make_probe(obj.label, obj.collection, spikes, clusters))
            done |= {id(obj), id(clu_obj)}
            self.converted += [obj.label] + ([clu_obj.label] if clu_obj is not None else [])
        if probes:
            self.nwb.units = build_units(probes, compressed)
        return done

    # -- everything else ----------------------------------------------------------------------
    def add(self, obj: AlfObject) -> None:
        groups = self.load(obj)
        if not groups:
            return
        default = groups.get(None, {})
        if obj.name == "trials" and not self.have_trials and default:
            self.add_trials(obj, groups)
        elif obj.name == "wheel" and default:
            self.add_series(obj, groups, self.module(BEHAVIOR), required=True)
        elif obj.name == "wheelMoves" and default:
            if "intervals" not in default:
                raise _missing(obj, "intervals")
            self.add_generic(obj, groups, self.module(BEHAVIOR))
        else:
            self.add_generic(obj, groups, self.module(obj.collection))
        self.converted.append(obj.label)

    def add_trials(self, obj: AlfObject, groups: dict[str | None, dict[str, np.ndarray]]) -> None:
        from pynwb.epoch import TimeIntervals

        default = groups[None]
        if "intervals" not in default:
            raise _missing(obj, "intervals", "trials.intervals.npy or intervals_0/intervals_1 columns of trials.table")
        self.nwb.trials = intervals_table("trials", obj.label, default, cls=TimeIntervals)
        self.have_trials = True
        for ts, attrs in groups.items():
            if ts is None:
                continue
            if "intervals" in attrs:
                self.nwb.add_time_intervals(intervals_table(f"trials_{ts}", f"{obj.label} ({ts} time)", attrs))
            else:
                self.module(obj.collection).add(dynamic_table(f"{self.base(obj)}_{ts}", obj.label, attrs))

    def add_series(self, obj: AlfObject, groups: dict, module: Any, required: bool = False) -> None:
        default = groups.get(None, {})
        if required and "timestamps" not in default and "times" not in default:
            raise _missing(obj, "timestamps")
        spatial = {"position": WHEEL_FRAME} if obj.name == "wheel" else None
        units = {"position": "radians", "velocity": "radians/s"} if obj.name == "wheel" else None
        text = {k: v for k, v in default.items() if v.dtype.kind in "USO"}
        if text:  # a TimeSeries holds numbers: text attributes go to a table beside the series
            tkey = "timestamps" if "timestamps" in default else "times"
            module.add(dynamic_table(f"{self.base(obj)}_text", obj.label, {**text, tkey: default[tkey]}))
            default = {k: v for k, v in default.items() if k not in text}
        made = time_series(self.base(obj), obj.label, default, spatial=spatial, units=units)
        for s in made.values():
            module.add(s)
        links = {k: s for k, s in made.items() if k not in ("times", "timestamps")}
        self.add_timescales(obj, groups, module, links, spatial, units)

    def add_timescales(self, obj, groups, module, links, spatial=None, units=None) -> None:  # noqa: ANN001
        for ts, attrs in groups.items():
            if ts is None:
                continue
            label = f"{obj.label} ({ts} time)"
            kind = kind_of(attrs)
            if kind == "intervals":
                module.add(intervals_table(f"{self.base(obj)}_{ts}", label, attrs))
            elif kind == "series":
                keep = {k: s for k, s in links.items() if k not in attrs}
                for s in time_series(self.base(obj), label, attrs, keep, spatial, units, suffix=f"_{ts}").values():
                    module.add(s)
            else:
                module.add(dynamic_table(f"{self.base(obj)}_{ts}", label, attrs))

    def add_generic(self, obj: AlfObject, groups: dict, module: Any) -> None:
        default = groups.get(None, {})
        kind = kind_of(default) if default else "none"
        if kind == "series":
            return self.add_series(obj, groups, module)
        if kind == "intervals":
            module.add(intervals_table(self.base(obj), obj.label, default))
        elif kind == "table":
            module.add(dynamic_table(self.base(obj), obj.label, default))
        self.add_timescales(obj, groups, module, {})


def _missing(obj: AlfObject, attribute: str, what: str | None = None) -> ExportError:
    return ExportError(
        f"object {obj.label!r} has no {attribute!r} attribute ({what or obj.name + '.' + attribute + '.npy'}); "
        "add it, or leave the collection out with --collection"
    )


def _notes(builder: _Builder) -> str:
    lines = [f"Exported by onecore-nwb from the ALF session {builder.eid}."]
    lines.append("Converted ALF objects: " + (", ".join(builder.converted) or "none") + ".")
    if builder.not_converted:
        lines.append(
            "Datasets of the session not converted (not arrays: json, yaml, raw binaries...): "
            + ", ".join(sorted(builder.not_converted))
            + "."
        )
    return "\n".join(lines)


def _new_file(info: dict[str, Any], tz: Any, subject: dict[str, Any]) -> Any:
    from pynwb import NWBFile
    from pynwb.file import Subject

    fields = meta.subject_fields(info, subject)
    users = info.get("users")
    return NWBFile(
        session_description=f"ALF session {info.get('path') or info['eid']}"
        + (f", protocol {info['task_protocol']}" if info.get("task_protocol") else ""),
        identifier=str(info["eid"]),
        session_start_time=meta.start_time(info, tz),
        session_id=meta.session_label(info),
        lab=info.get("lab") or None,
        institution=info.get("institution") or None,
        experimenter=[str(u) for u in users] if isinstance(users, list) and users else None,
        subject=Subject(subject_id=str(info["subject"]), **fields),
    )


def _types(nwb: Any) -> list[str]:
    return [getattr(c, "neurodata_type", type(c).__name__) for c in nwb.all_children()]


def export_session(
    one: Any,
    eid: str,
    out_dir: Path,
    *,
    collections: list[str] | None,
    overwrite: bool,
    timezone: str | None,
    subject: dict[str, Any],
) -> Path:
    """See :func:`onecore_nwb.export`."""
    tz = meta.parse_timezone(timezone)
    info = meta.session_info(one, eid)
    eid = info["eid"]
    plan = plan_session(list(one.list_datasets(eid, default_revisions_only=True)), collections)
    for o in list(plan.objects):  # tables nobody can read here are listed, not guessed at
        for p in list(o.parts):
            if p.extension.lower() in TABLE_EXTENSIONS and one.registry.loader(p.extension) is None:
                o.parts.remove(p)
                plan.other.append(p.rel_path)
        if not o.parts:
            plan.objects.remove(o)
    nwb = _new_file(info, tz, subject)
    builder = _Builder(one, eid, nwb, plan)
    done = builder.add_units()
    for obj in plan.objects:
        if id(obj) not in done:
            builder.add(obj)
    if not builder.converted:
        where = f" in collection(s) {', '.join(collections)}" if collections else ""
        raise ExportError(
            f"session {eid}: nothing to convert to NWB{where} (no ALF object with array datasets"
            + (f"; not arrays: {', '.join(sorted(builder.not_converted)[:10])}" if builder.not_converted else "")
            + "); nothing written"
        )
    nwb.notes = _notes(builder)
    rel = meta.dandi_relpath(str(info["subject"]), meta.session_label(info), meta.modalities(_types(nwb)))
    final = Path(out_dir) / rel
    if final.exists() and not overwrite:
        raise ExportError(f"{final} exists; pass --overwrite (overwrite=True) to replace it")
    _write(nwb, final, overwrite)
    return final


def _write(nwb: Any, final: Path, overwrite: bool) -> None:
    """Write to a temporary name beside ``final``, then move it in place (never a partial file there)."""
    from pynwb import NWBHDF5IO

    tmp = final.with_name(f".{final.stem}.{os.getpid()}.partial.nwb")
    made_dir = not final.parent.exists()
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            with NWBHDF5IO(str(tmp), "w") as io:
                io.write(nwb)
        except (OSError, ExportError):
            raise
        except Exception as e:  # hdmf/h5py refusing some data: one message, not a traceback
            raise ExportError(f"could not write {final}: {type(e).__name__}: {e}") from None
        if overwrite:
            os.replace(tmp, final)
        else:
            try:
                os.link(tmp, final)
            except FileExistsError:
                raise ExportError(f"{final} exists; pass --overwrite (overwrite=True) to replace it") from None
    except OSError as e:
        raise ExportError(f"could not write {final}: {e}") from None
    finally:
        try:
            tmp.unlink(missing_ok=True)
            if made_dir and not final.exists():
                final.parent.rmdir()  # the sub-<subject> folder this run created, left empty
        except OSError:
            pass
