"""Built-in plugin: loaders for ``.npy`` (optionally memory-mapped), ``.csv``, ``.tsv`` and ``.json``.

CSV/TSV files with a header row load as NumPy structured arrays (``arr['column']``); files without
a header load as plain 2-D arrays.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from onecore import hookimpl


def load_npy(path: Path, mmap: bool = False, **_: Any) -> Any:
    import numpy as np

    return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)


def _load_table(path: Path, delimiter: str) -> Any:
    import numpy as np

    with open(path, encoding="utf-8") as f:
        first = f.readline().rstrip("\r\n")
    if not first:
        return np.empty((0,))
    fields = first.split(delimiter)

    def numeric(x: str) -> bool:
        try:
            float(x)
            return True
        except ValueError:
            return False

    if all(numeric(x) for x in fields):
        return np.loadtxt(path, delimiter=delimiter, ndmin=2, encoding="utf-8")
    return np.genfromtxt(
        path, delimiter=delimiter, names=True, dtype=None, encoding="utf-8", deletechars="", autostrip=True
    )


def load_csv(path: Path, **_: Any) -> Any:
    return _load_table(path, ",")


def load_tsv(path: Path, **_: Any) -> Any:
    return _load_table(path, "\t")


def load_json(path: Path, **_: Any) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@hookimpl
def one_register_loaders(register: Callable) -> None:
    register("npy", load_npy)
    register("csv", load_csv)
    register("tsv", load_tsv)
    register("json", load_json)
