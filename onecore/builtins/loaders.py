"""Built-in plugin: the file loaders, with ONE-api's meanings (``one.alf.io.load_file_content``).

``.npy`` (optionally memory-mapped; ``(N, 1)`` arrays flattened; never pickles), ``.npz`` (a single
``arr_0`` is returned as the array), ``.json``, ``.jsonable`` (one JSON value per line, a list),
``.yaml``/``.yml`` (``safe_load``), ``.pqt`` (parquet, a pandas DataFrame: needs the
``onecore[tables]`` extra), and ``.csv``/``.tsv``/``.htsv``/``.ssv``: pandas DataFrames when pandas
is installed (as ONE-api; one column becomes a Series), else NumPy structured arrays
(``arr['column']``) for files with a header row and plain 2-D arrays for files without. Empty files
load as ``None`` and files with no loader come back as their local path (the ONE API does both).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from onecore import hookimpl


def load_npy(path: Path, mmap: bool = False, **_: Any) -> Any:
    import numpy as np

    arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    if arr.ndim == 2 and arr.shape[1] == 1:
        return arr.reshape(-1)  # ONE-api's _ensure_flat (a view: memory maps stay memory maps)
    return arr


def load_npz(path: Path, **_: Any) -> Any:
    import numpy as np

    data = np.load(path, allow_pickle=False)
    if set(data.files) == {"arr_0"}:
        with data:
            return data["arr_0"]
    return data


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


def _pandas() -> Any:
    try:
        import pandas as pd
    except ImportError:
        return None
    return pd


def _read_delimited(path: Path, delimiter: str) -> Any:
    pd = _pandas()
    if pd is None:
        return _load_table(path, delimiter)
    return pd.read_csv(path, delimiter=delimiter).squeeze("columns")


def load_csv(path: Path, **_: Any) -> Any:
    return _read_delimited(path, ",")


def load_tsv(path: Path, **_: Any) -> Any:
    return _read_delimited(path, "\t")


def load_ssv(path: Path, **_: Any) -> Any:
    return _read_delimited(path, " ")


def load_pqt(path: Path, **_: Any) -> Any:
    try:
        import pandas as pd
        import pyarrow  # noqa: F401
    except ImportError:
        from onecore.errors import LoaderError

        raise LoaderError(
            f"{path}: .pqt (parquet) files need pandas and pyarrow: pip install 'onecore[tables]'"
        ) from None
    return pd.read_parquet(path)


def load_yaml(path: Path, **_: Any) -> Any:
    import yaml

    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def load_jsonable(path: Path, **_: Any) -> list[Any]:
    import json

    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_json(path: Path, **_: Any) -> Any:
    import json

    with open(path, encoding="utf-8") as f:
        return json.load(f)


@hookimpl
def one_register_loaders(register: Callable) -> None:
    register("npy", load_npy)
    register("npz", load_npz)
    register("csv", load_csv)
    register("tsv", load_tsv)
    register("htsv", load_tsv)
    register("ssv", load_ssv)
    register("pqt", load_pqt)
    register("json", load_json)
    register("jsonable", load_jsonable)
    register("yaml", load_yaml)
    register("yml", load_yaml)
