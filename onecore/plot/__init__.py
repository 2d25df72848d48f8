"""Quick-look figures of ALF objects: ``raster`` (spikes), ``wheel``, ``trials``.

>>> from onecore import ONE, plot
>>> one = ONE()
>>> fig = plot.raster(one.load_object(eid, 'spikes', collection='alf/probe00'))
>>> fig.savefig('raster.png')

Each function takes a loaded object (a dict or :class:`onecore.api.Bunch` of arrays) and returns a
:class:`matplotlib.figure.Figure` built without pyplot on the Agg canvas: no window ever opens and
the process's matplotlib backend is left alone. :func:`session_figure` loads what a kind needs from
a session (what ``one plot`` and ``one site --plots`` use).

A raster is drawn as an image, never as points: spike times and depths (or clusters) are binned
into a 2-D histogram (one bin per output pixel column, a few hundred depth rows) with
``numpy.bincount``, a million spikes at a time, then shown with ``imshow``. Ten million spikes take
about a second and memory stays bounded by the chunk and the image, whatever the number of spikes
(memory-mapped ``.npy`` files are read chunk by chunk). Wheel traces longer than a few thousand
points per pixel column are resampled on a uniform grid before drawing.

Needs matplotlib (``pip install 'onecore[plot]'``); not imported by ``import onecore``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import OneError
from .errors import PlotError

__all__ = ["raster", "wheel", "trials", "session_figure", "save", "PlotError", "FORMATS"]

#: The image formats ``save`` and ``one plot --out`` write.
FORMATS = (".png", ".svg", ".pdf")


def require_matplotlib() -> None:
    """Raise a clear error when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise OneError("plots need matplotlib: pip install 'onecore[plot]'") from None


def check_format(path: str | Path) -> None:
    """Refuse an output file whose extension is not one of :data:`FORMATS`."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise OneError(f"{path}: cannot write '{suffix or 'no extension'}' images; use one of {', '.join(FORMATS)}")


def save(fig: Any, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` (format from the extension) through a temporary file."""
    import os

    path = Path(path)
    check_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    try:
        fig.savefig(tmp, format=path.suffix[1:].lower())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def raster(spikes: Any, **kwargs: Any) -> Any:
    """Spikes over time by depth (``spikes.depths``) or cluster (``spikes.clusters``): a Figure.

    Options: ``by`` ('depth' or 'cluster'), ``time_range`` (a, b) seconds, ``figsize`` (inches),
    ``dpi``, ``title``.
    """
    from .figures import raster as _raster

    return _raster(spikes, **kwargs)


def wheel(wheel: Any, **kwargs: Any) -> Any:
    """Wheel position and velocity over time (``wheel.position``, ``wheel.timestamps``): a Figure.

    Options: ``time_range``, ``figsize``, ``dpi``, ``title``.
    """
    from .figures import wheel as _wheel

    return _wheel(wheel, **kwargs)


def trials(trials: Any, **kwargs: Any) -> Any:
    """Per-trial summary (choice, feedback and reaction times, those present): a Figure.

    Options: ``time_range`` (trials starting then), ``figsize``, ``dpi``, ``title``.
    """
    from .figures import trials as _trials

    return _trials(trials, **kwargs)


def session_figure(one: Any, eid: Any, kind: str, **kwargs: Any) -> Any:
    """Load what ``kind`` ('raster', 'wheel', 'trials') needs from a session and draw it.

    Options: ``collection``, ``revision``, ``time_range``. A raster has one panel per probe
    collection holding ``spikes``. Raises :class:`PlotError` naming what is missing.
    """
    from .session import session_figure as _session_figure

    return _session_figure(one, eid, kind, **kwargs)
