"""onecore-nwb: export an ALF session to one NWB file laid out for the DANDI archive.

>>> from onecore import One
>>> import onecore_nwb
>>> path = onecore_nwb.export(One(cache_dir='/data'), 'lab/Subjects/mouse1/2024-01-02/001', 'nwb_out')

This module stays light (the ``onecore`` entry point imports the package): pynwb is imported only
when :func:`export` runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

from .errors import ExportError, ExportWarning

__version__ = "0.1.0"
__all__ = ["export", "ExportError", "ExportWarning", "__version__"]


def export(
    one: Any,
    eid: str,
    out_dir: str | Path = ".",
    *,
    collections: Iterable[str] | None = None,
    overwrite: bool = False,
    timezone: str | None = None,
    subject: Mapping[str, Any] | None = None,
) -> Path:
    """Write session ``eid`` of ``one`` (an :class:`onecore.One`) as an NWB file under ``out_dir``.

    The file goes to ``out_dir/sub-<subject>/sub-<subject>_ses-<date>-<number>_<modalities>.nwb``
    (DANDI's layout). ``collections`` limits the export to those collections (wildcards allowed);
    ``overwrite`` replaces an existing file; ``timezone`` (an IANA name such as ``Europe/London``, or
    ``UTC``, the default) places the session date in time; ``subject`` supplies Subject fields the
    repository does not know (``species``, ``sex``, ``age``, ...). Returns the path written.

    Raises :class:`ExportError` (a :class:`onecore.errors.OneError`) with a message naming the
    culprit; warns with :class:`ExportWarning` about missing Subject fields and unconverted data.
    """
    from .writer import export_session

    return export_session(
        one,
        eid,
        Path(out_dir),
        collections=list(collections) if collections is not None else None,
        overwrite=overwrite,
        timezone=timezone,
        subject=dict(subject or {}),
    )
