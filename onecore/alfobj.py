"""ALF objects as loaded by the ONE API: :class:`Bunch` and the assembly rules of ONE-api's ``load_object``.

:func:`assemble` turns an object's loaded files into one :class:`Bunch`, as
``one.alf.io.load_object`` does: a ``table`` attribute (a DataFrame or structured array) is split into
one attribute per column, with ``x_0``/``x_1`` column pairs joined back into one ``(N, 2)`` attribute
``x``; ``attr.metadata.json`` files with ``columns`` split ``attr`` into named columns (other metadata
is kept as ``attrmetadata``); 2-column ``timestamps`` (``[[sample, time], ...]``) are expanded to one
time per sample (:func:`ts2vec`) when the other attributes give the sample count.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from .lazy import LazyPattern, lazy_logger

log = lazy_logger("onecore.api")  # logging is imported when something is logged

__all__ = ["Bunch", "assemble", "ts2vec", "check_dimensions"]

_PAIR = LazyPattern(r".+?_[01]$")


class Bunch(dict):
    """A dict with attribute access (``spikes.times`` is ``spikes['times']``), as ONE-api's AlfBunch."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no attribute {name!r}; available: {', '.join(self)}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __dir__(self) -> list[str]:
        return [*super().__dir__(), *self.keys()]

    @property
    def check_dimensions(self) -> int:
        """0 if the attributes have consistent first dimensions (ALF broadcasting rules), else 1."""
        return check_dimensions(self)

    def to_df(self) -> Any:
        """The attributes as a pandas DataFrame (2-D ones split into ``key_0``, ``key_1``... columns)."""
        import pandas as pd

        if check_dimensions(self) != 0:
            raise ValueError("can only convert to a DataFrame an object whose attributes have one length")
        cols: dict[str, Any] = {}
        for k, v in self.items():
            shape = getattr(v, "shape", None)
            if shape is None:
                continue
            if len(shape) == 1:
                cols[k] = v
            elif len(shape) == 2:
                for i in range(min(shape[1], 10)):
                    cols[f"{k}_{i}"] = v[:, i]
        return pd.DataFrame(cols)

    @staticmethod
    def from_df(df: Any) -> Bunch:
        """One attribute per column; ``x_0``/``x_1`` pairs joined into an ``(N, 2)`` attribute ``x``."""
        import numpy as np

        names = list(df.dtype.names) if hasattr(df, "dtype") and df.dtype.names else list(df.columns)
        data = {n: np.asarray(df[n]) for n in names}
        pairs = sorted(n for n in data if _PAIR.match(n))
        for a, b in zip(*[iter(pairs)] * 2):
            if a[:-2] == b[:-2]:
                data[a[:-2]] = np.c_[data.pop(a), data.pop(b)]
        return Bunch(data)


def ts2vec(ts: Any, n_samples: int) -> Any:
    """Interpolate ``[[sample, time], ...]`` timestamps to one time per sample (ONE-api's ``ts2vec``)."""
    import numpy as np

    if ts.ndim == 1:
        return ts
    if ts.ndim == 2 and ts.shape[1] == 1:
        return ts.flatten()
    if ts.ndim > 2 or ts.shape[1] != 2:
        raise ValueError("timestamps should be a vector or (sample, time) pairs")
    return np.interp(np.arange(n_samples), ts[:, 0], ts[:, 1])


def check_dimensions(d: dict[str, Any]) -> int:
    """0 if the arrays' first dimensions agree (a dimension of 1 broadcasts), else 1 (ONE-api's rule)."""
    shapes = [v.shape for k, v in d.items() if hasattr(v, "shape") and not k.startswith("timestamps")]
    firsts = [s[0] for s in shapes if len(s)]
    ts = [k for k, v in d.items() if k.startswith("timestamps") and hasattr(v, "ndim")]
    for key in ts:
        v = d[key]
        if v.ndim == 1 or (v.ndim == 2 and v.shape[1] == 1):
            firsts.append(v.shape[0])
        elif v.ndim > 1 and v.shape != (2, 2) and v.shape[1] != 2:
            return 1
    return int(len(set(f for f in firsts if f != 1)) > 1)


def _metadata_of(key: str, keys: Iterable[str]) -> str | None:
    """The key of ``key``'s metadata file (``attr.metadata`` or ``attr_scale.metadata...``), if loaded."""
    base = key.split(".")[0]
    return next((k for k in keys if k != key and k.split(".")[0] == base), None)


def assemble(loaded: dict[str, Any], check: bool = False, name: str = "an ALF object") -> Bunch:
    """Apply ONE-api's object rules to ``{key: content}`` of one object's files (see the module doc).

    ``check``: raise ``ValueError`` when the attributes have inconsistent lengths (otherwise a warning
    is logged, as ONE-api does).
    """
    import numpy as np

    out = Bunch()
    metas = {k for k in loaded if ".metadata" in k and isinstance(loaded[k], dict)}
    used: set[str] = set()
    for key, value in loaded.items():
        if key in metas:
            continue
        meta_key = _metadata_of(key, metas)
        meta = dict(loaded[meta_key]) if meta_key else None
        if meta_key:
            used.add(meta_key)
        if isinstance(value, np.ndarray) and value.ndim == 2 and value.shape[1] == 1:
            value = value.reshape(-1)
        if meta and "columns" in meta and isinstance(value, np.ndarray) and value.ndim == 2:
            out.update({c: value[:, i] for i, c in enumerate(meta.pop("columns"))})
        else:
            out[key] = value
        if meta:
            out[key + "metadata"] = meta
    for k in sorted(metas - used):
        out[k] = loaded[k]  # a metadata file whose attribute is not loaded: kept as is
    table_key = next((k for k in out if re.match(r"^table([_.]|$)", k)), None)
    if table_key is not None and _is_table(out[table_key]):
        suffix = table_key[5:]
        table = Bunch.from_df(out.pop(table_key))
        for col, v in table.items():
            out.setdefault(col + suffix, v)
    status = check_dimensions(out)
    series = [k for k in out if "timestamps" in k]
    if series and len(out) > len(series) and status == 0:
        n = next((v.shape[0] for k, v in out.items() if _counts(k, v)), None)
        if n is not None:
            for k in series:
                if hasattr(out[k], "ndim"):
                    out[k] = ts2vec(out[k], n)
    if status != 0:
        sizes = ", ".join(f"{k} {v.shape}" for k, v in out.items() if hasattr(v, "shape"))
        if check:
            raise ValueError(f"attributes of inconsistent lengths: {sizes}")
        log.warning(
            "%s has attributes of inconsistent lengths (%s); load it with check_dimensions=True to make this an error",
            name,
            sizes,
        )
    return out


def _counts(key: str, value: Any) -> bool:
    """True if ``value`` gives the object's sample count (an array that is not timestamps or metadata)."""
    return not any(x in key for x in ("timestamps", "meta")) and bool(getattr(value, "ndim", 0))


def _is_table(value: Any) -> bool:
    return hasattr(value, "columns") or bool(getattr(getattr(value, "dtype", None), "names", None))
