"""The drawing of each kind of quick look (matplotlib, Agg canvas, no pyplot)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .errors import PlotError

#: Spikes binned per step (bounds the memory of a raster whatever the number of spikes).
CHUNK = 1 << 20
#: Depth rows of a raster image; clusters get one row each up to this many.
ROWS = 384
DEFAULT_SIZE = (10.0, 4.0)


def new_figure(figsize: Sequence[float] | None = None, dpi: float = 100, rows: int = 1, sharex: bool = True) -> Any:
    """A Figure on an Agg canvas (never a window) and its axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=tuple(figsize or DEFAULT_SIZE), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, 1, sharex=sharex, squeeze=False)[:, 0]
    return fig, list(axes)


def _keys(obj: Any) -> list[str]:
    return sorted(obj.keys()) if hasattr(obj, "keys") else []


def _need(obj: Any, what: str, needed: str) -> None:
    have = ", ".join(f"{what}.{k}" for k in _keys(obj)) or "nothing"
    raise PlotError(f"{needed}; the data have {have}")


def _span(t: np.ndarray, time_range: Sequence[float] | None) -> tuple[float, float]:
    if time_range is not None:
        a, b = float(time_range[0]), float(time_range[1])
        if not b > a:
            raise PlotError(f"time range {a} to {b} is empty: give A < B")
        return a, b
    if len(t) == 0:
        raise PlotError("no spikes to draw (spikes.times is empty)")
    a, b = float(np.nanmin(t)), float(np.nanmax(t))
    return (a, b) if b > a else (a, a + 1.0)


def histogram(
    times: np.ndarray, y: np.ndarray, t_span: tuple[float, float], y_span: tuple[float, float], shape: tuple[int, int]
) -> np.ndarray:
    """Counts of (time, y) pairs on a ``shape`` = (time bins, y bins) grid, CHUNK pairs at a time."""
    nx, ny = shape
    t0, t1 = t_span
    y0, y1 = y_span
    fx, fy = nx / (t1 - t0), ny / ((y1 - y0) or 1.0)
    counts = np.zeros(nx * ny, dtype=np.int64)
    for i in range(0, len(times), CHUNK):
        t = np.asarray(times[i : i + CHUNK], dtype=np.float64)
        v = np.asarray(y[i : i + CHUNK], dtype=np.float64)
        ok = (t >= t0) & (t <= t1) & (v >= y0) & (v <= y1)
        ix = np.minimum(((t[ok] - t0) * fx).astype(np.int64), nx - 1)
        iy = np.minimum(((v[ok] - y0) * fy).astype(np.int64), ny - 1)
        counts += np.bincount(ix * ny + iy, minlength=nx * ny)
    return counts.reshape(nx, ny)


def raster_axes(ax: Any, spikes: Any, by: str | None, time_range: Sequence[float] | None, width_px: int) -> None:
    """Draw one raster image into ``ax``."""
    if "times" not in _keys(spikes):
        _need(spikes, "spikes", "a raster needs spikes.times with spikes.depths or spikes.clusters")
    if by not in (None, "depth", "cluster"):
        raise PlotError(f"raster by {by!r}: use 'depth' or 'cluster'")
    key = {"depth": "depths", "cluster": "clusters"}.get(by or "", None)
    if key is None:
        key = "depths" if "depths" in _keys(spikes) else "clusters"
    if key not in _keys(spikes):
        _need(spikes, "spikes", f"a raster by {key[:-1]} needs spikes.{key} (with spikes.times)")
    times, y = spikes["times"], spikes[key]
    if len(times) != len(y):
        raise PlotError(f"spikes.times has {len(times)} values but spikes.{key} has {len(y)}: they must match")
    t_span = _span(times, time_range)
    if len(y) == 0:
        raise PlotError("no spikes to draw (spikes.times is empty)")
    y_span = (float(np.nanmin(y)), float(np.nanmax(y)))
    rows = ROWS
    if key == "clusters":
        y_span = (y_span[0] - 0.5, y_span[1] + 0.5)
        rows = int(min(ROWS, y_span[1] - y_span[0]))
    img = histogram(times, y, t_span, y_span, (max(16, width_px), max(1, rows)))
    nz = img[img > 0]
    vmax = float(np.percentile(nz, 99)) if nz.size else 1.0
    ax.imshow(
        img.T,
        origin="lower",
        aspect="auto",
        extent=(t_span[0], t_span[1], y_span[0], y_span[1]),
        cmap="Greys",
        vmin=0,
        vmax=max(vmax, 1.0),
        interpolation="nearest",
    )
    ax.set_ylabel("depth (µm)" if key == "depths" else "cluster")
    ax.set_xlabel("time (s)")


def raster(
    spikes: Any,
    *,
    by: str | None = None,
    time_range: Sequence[float] | None = None,
    figsize: Sequence[float] | None = None,
    dpi: float = 100,
    title: str | None = None,
) -> Any:
    """See :func:`onecore.plot.raster`."""
    fig, (ax,) = new_figure(figsize, dpi)
    raster_axes(ax, spikes, by, time_range, int(fig.get_figwidth() * dpi))
    ax.set_title(title or f"{len(spikes['times'])} spikes")
    return fig


def wheel_axes(axes: Sequence[Any], whl: Any, time_range: Sequence[float] | None, width_px: int) -> None:
    keys = _keys(whl)
    tkey = "timestamps" if "timestamps" in keys else "times" if "times" in keys else None
    if "position" not in keys or tkey is None:
        _need(whl, "wheel", "a wheel plot needs wheel.position and wheel.timestamps")
    t = np.asarray(whl[tkey], dtype=np.float64).ravel()
    p = np.asarray(whl["position"], dtype=np.float64).ravel()
    if len(t) != len(p):
        raise PlotError(f"wheel.{tkey} has {len(t)} values but wheel.position has {len(p)}: they must match")
    order = np.argsort(t, kind="stable")
    t, p = t[order], p[order]
    if time_range is not None:
        a, b = _span(t, time_range)
        keep = (t >= a) & (t <= b)
        t, p = t[keep], p[keep]
    if len(t) < 2:
        raise PlotError("a wheel plot needs at least two wheel samples (in the time range)")
    n = int(min(len(t), max(2000, 8 * width_px)))
    grid = np.linspace(t[0], t[-1], n)
    pos = np.interp(grid, t, p)
    vel = np.gradient(pos, grid) if grid[-1] > grid[0] else np.zeros_like(pos)
    axes[0].plot(grid, pos, lw=0.8, color="#2459a8")
    axes[0].set_ylabel("position (rad)")
    axes[1].plot(grid, vel, lw=0.6, color="#b2452c")
    axes[1].set_ylabel("velocity (rad/s)")
    axes[1].set_xlabel("time (s)")


def wheel(
    wheel: Any,
    *,
    time_range: Sequence[float] | None = None,
    figsize: Sequence[float] | None = None,
    dpi: float = 100,
    title: str | None = None,
) -> Any:
    """See :func:`onecore.plot.wheel`."""
    fig, axes = new_figure(figsize, dpi, rows=2)
    wheel_axes(axes, wheel, time_range, int(fig.get_figwidth() * dpi))
    axes[0].set_title(title or "wheel")
    return fig


def trial_columns(trials: Any) -> dict[str, np.ndarray]:
    """The trial attributes as 1-D arrays; a loaded table (structured array) is split into columns."""
    cols: dict[str, np.ndarray] = {}
    for k in _keys(trials):
        v = trials[k]
        arr = np.asarray(v)
        if arr.dtype.names:
            for name in arr.dtype.names:
                cols.setdefault(name, np.asarray(arr[name]).ravel())
        elif arr.ndim == 1 and arr.dtype.kind in "biuf":
            cols[k] = arr
        elif k == "intervals" and arr.ndim == 2 and arr.shape[1] == 2:
            cols["intervals_start"] = arr[:, 0]
    return cols


def _in_range(c: dict[str, np.ndarray], time_range: Sequence[float] | None) -> dict[str, np.ndarray]:
    """Only the trials that start within ``time_range`` (by intervals, stimulus or go cue times)."""
    if time_range is None:
        return c
    a, b = float(time_range[0]), float(time_range[1])
    if not b > a:
        raise PlotError(f"time range {a} to {b} is empty: give A < B")
    key = next((k for k in ("intervals_start", "stimOn_times", "goCue_times") if k in c), None)
    if key is None:
        raise PlotError("a time range on trials needs trials.intervals, trials.stimOn_times or trials.goCue_times")
    keep = (c[key] >= a) & (c[key] <= b)
    return {k: v[keep] for k, v in c.items() if len(v) == len(keep)}


def _reaction_times(c: dict[str, np.ndarray]) -> tuple[np.ndarray, str] | None:
    for end, start in (
        ("response_times", "stimOn_times"),
        ("firstMovement_times", "stimOn_times"),
        ("feedback_times", "goCue_times"),
    ):
        if end in c and start in c and len(c[end]) == len(c[start]):
            return c[end].astype(float) - c[start].astype(float), f"{end} - {start}"
    return None


def trials(
    trials: Any,
    *,
    time_range: Sequence[float] | None = None,
    figsize: Sequence[float] | None = None,
    dpi: float = 100,
    title: str | None = None,
) -> Any:
    """See :func:`onecore.plot.trials`."""
    c = _in_range(trial_columns(trials), time_range)
    rt = _reaction_times(c)
    panels = [k for k in ("choice", "feedbackType") if k in c] + (["rt"] if rt else [])
    if not panels:
        _need(
            trials,
            "trials",
            "a trials plot needs trials.choice, trials.feedbackType, or reaction times "
            "(trials.stimOn_times with trials.response_times or trials.firstMovement_times)",
        )
    fig, axes = new_figure(figsize or (10.0, 2.0 + 1.6 * len(panels)), dpi, rows=len(panels))
    for ax, panel in zip(axes, panels):
        if panel == "choice":
            ch = c["choice"].astype(float)
            x = np.arange(len(ch))
            if "feedbackType" in c and len(c["feedbackType"]) == len(ch):
                ax.scatter(x, ch, s=6, c=np.where(c["feedbackType"] > 0, "#2a8a3e", "#b2452c"), linewidths=0)
            else:
                ax.scatter(x, ch, s=6, color="#2459a8", linewidths=0)
            ax.set_yticks([-1, 0, 1], ["-1 (CCW)", "0 (no-go)", "+1 (CW)"])
            ax.set_ylabel("choice")
        elif panel == "feedbackType":
            ok = (c["feedbackType"] > 0).astype(float)
            w = max(1, min(20, len(ok) // 5 or 1))
            kernel = np.ones(w)
            mean = np.convolve(ok, kernel, mode="same") / np.convolve(np.ones_like(ok), kernel, mode="same")
            ax.plot(mean, color="#2a8a3e", lw=1)
            ax.set_ylim(-0.05, 1.05)
            ax.set_ylabel(f"correct ({w}-trial mean)")
        else:
            values, label = rt  # type: ignore[misc]
            ax.scatter(np.arange(len(values)), values, s=5, color="#444", linewidths=0)
            if np.nanmin(values) > 0:
                ax.set_yscale("log")
            ax.set_ylabel("reaction time (s)")
            ax.set_title(label, fontsize=8, loc="right")
    axes[-1].set_xlabel("trial")
    n = max((len(v) for v in c.values()), default=0)
    axes[0].set_title(title or f"{n} trials", loc="left")
    return fig
