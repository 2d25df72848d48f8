"""A loader for NumPy ``.npz`` archives (several named arrays in one file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def load_npz(path: Path, **_: Any) -> dict[str, Any]:
    """Load every array of an ``.npz`` file into a dict ``{name: array}``.

    The file is read completely and closed (``mmap`` and other options do not apply and are ignored,
    as the hook contract asks). Pickled objects are refused.
    """
    import numpy as np

    with np.load(path, allow_pickle=False) as z:
        return {name: z[name] for name in z.files}
