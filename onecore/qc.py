"""Dataset QC levels, as ONE-api's ``one.alf.spec.QC`` (the Alyx database's codes).

A dataset's QC is one of :class:`QC` when the repository knows it (Alyx) and ``None`` otherwise.
The ONE API's filters keep the datasets at or below a level (``list_datasets(qc=...)``,
``search(dataset_qc_lte=...)``); datasets whose QC is unknown are always kept.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from .errors import OneError


class QC(IntEnum):
    """Data QC outcomes (the values ONE-api and the Alyx database use)."""

    CRITICAL = 50  #: practically unusable
    FAIL = 40  #: does not meet the expected standards
    WARNING = 30  #: minor quality issues
    NOT_SET = 0  #: not assessed
    PASS = 10  #: gold standard

    @staticmethod
    def validate(value: Any) -> QC:
        """The level ``value`` names: a :class:`QC`, its name (any case), its int (or digits), or any
        enum member with a ``name`` (ONE-api's ``QC``). :class:`OneError` if it is none of them."""
        if isinstance(value, QC):
            return value
        name = getattr(value, "name", None)
        if isinstance(name, str) and name.upper() in QC.__members__:
            return QC[name.upper()]
        try:
            if isinstance(value, str):
                text = value.strip()
                return QC(int(text)) if text.isdigit() else QC[text.upper()]
            if isinstance(value, bool):
                raise ValueError(value)
            return QC(int(value))
        except (KeyError, ValueError, TypeError):
            levels = ", ".join(f"{q.name} ({q.value})" for q in sorted(QC))
            raise OneError(f"qc: {value!r} is not a QC level; levels: {levels}") from None


def qc_value(value: Any) -> int | None:
    """A dataset QC as a repository gives it (a name such as ``'NOT_SET'``, an int, or None) as the int
    the catalog stores; None when it is missing or not a QC level (unknown)."""
    if value is None or value == "":
        return None
    try:
        return int(QC.validate(value))
    except OneError:
        return None


def qc_name(value: int | None) -> str | None:
    """The name of a stored QC value (``'PASS'``), None when unknown."""
    if value is None:
        return None
    try:
        return QC(value).name
    except ValueError:
        return None


def qc_keep(value: int | None, level: int, ignore_qc_not_set: bool = False) -> bool:
    """Whether a dataset of QC ``value`` passes ``qc=level`` (unknown QC always passes)."""
    if value is None:
        return True
    if ignore_qc_not_set and value == QC.NOT_SET:
        return False
    return value <= level
