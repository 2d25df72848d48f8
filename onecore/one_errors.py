"""The ONE API's not-found and ambiguity errors, also ONE-api's exception classes when it is installed.

Clients written for ONE-api catch ``one.alf.exceptions.ALFObjectNotFound`` (brainbox does). When the
``ONE-api`` package is importable, :class:`ObjectNotFound` is also an ``ALFObjectNotFound``,
:class:`MultipleCollectionsFound` an ``ALFMultipleCollectionsFound`` and :class:`MultipleObjectsFound`
an ``ALFMultipleObjectsFound``; without it nothing of ONE-api is imported. Either way they are
onecore's :class:`~onecore.errors.NotFound` / :class:`~onecore.errors.AmbiguousError`.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from .errors import AmbiguousError, NotFound

__all__ = ["ObjectNotFound", "MultipleCollectionsFound", "MultipleObjectsFound", "ONEAPI_EXCEPTIONS"]


def _oneapi_classes() -> dict[str, type]:
    try:
        if importlib.util.find_spec("one") is None:
            return {}
        from one.alf import exceptions  # type: ignore[import-not-found]
    except Exception:  # noqa: BLE001 - another package named 'one', or a broken install: no compatibility
        return {}
    names = ("ALFObjectNotFound", "ALFMultipleCollectionsFound", "ALFMultipleObjectsFound")
    return {n: getattr(exceptions, n) for n in names if isinstance(getattr(exceptions, n, None), type)}


#: The ONE-api exception classes found (empty when ONE-api is not installed).
ONEAPI_EXCEPTIONS = _oneapi_classes()


def _bases(own: type, oneapi: str) -> tuple[type, ...]:
    extra = ONEAPI_EXCEPTIONS.get(oneapi)
    return (own, extra) if extra is not None else (own,)


class _Message:
    """Keeps onecore's message whatever ONE-api's ``ALFError`` does with its arguments."""

    def __init__(self, *args: Any) -> None:
        Exception.__init__(self, *args)  # type: ignore[arg-type]
        self.message = str(args[0]) if args else ""
        self.terse = True

    def __str__(self) -> str:
        return self.message


ObjectNotFound: type[NotFound] = type(
    "ObjectNotFound",
    (_Message, *_bases(NotFound, "ALFObjectNotFound")),
    {"__doc__": "No dataset or ALF object matches (also ONE-api's ALFObjectNotFound when installed)."},
)
MultipleCollectionsFound: type[AmbiguousError] = type(
    "MultipleCollectionsFound",
    (_Message, *_bases(AmbiguousError, "ALFMultipleCollectionsFound")),
    {"__doc__": "An object is in several collections (also ONE-api's ALFMultipleCollectionsFound)."},
)
MultipleObjectsFound: type[AmbiguousError] = type(
    "MultipleObjectsFound",
    (_Message, *_bases(AmbiguousError, "ALFMultipleObjectsFound")),
    {"__doc__": "A name matches several datasets or objects (also ONE-api's ALFMultipleObjectsFound)."},
)
for _cls in (ObjectNotFound, MultipleCollectionsFound, MultipleObjectsFound):
    _cls.__module__ = __name__
