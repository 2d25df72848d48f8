"""onelight-figshare: the ``figshare`` repository type for onecore.

Share an ALF data root as a figshare article (``one upload ROOT``, ``one publish``) and read it back
(``one search``/``list``/``load_*``), compatible with articles written by ONE light. Modules:
:mod:`.repository` (the type), :mod:`.api` (the REST client), :mod:`.uploader` (incremental,
resumable upload and the index), :mod:`.article_id` (parsing pasted URLs), :mod:`.naming` (file names),
:mod:`.emulator` (a local figshare emulator for tests and benchmarks; needs ``werkzeug``).
"""

from __future__ import annotations

from typing import Any, Callable

from onecore.sdk import hookimpl

__all__ = ["FigshareRepository", "parse_article_id"]


def __getattr__(name: str) -> Any:  # lazy: this package is the entry point, imported by `one --help`
    if name == "FigshareRepository":
        from .repository import FigshareRepository

        return FigshareRepository
    if name == "parse_article_id":
        from .article_id import parse_article_id

        return parse_article_id
    raise AttributeError(f"module 'onelight_figshare' has no attribute {name!r}")


@hookimpl
def one_register_repository_types(register: Callable[[object], None]) -> None:
    """Register the ``figshare`` type (imported from :mod:`.repository` when first used)."""
    from onecore.sdk import LazyRepositoryType

    register(
        LazyRepositoryType(
            "figshare",
            "onelight_figshare.repository:FigshareRepository",
            "a figshare article (files named lab~Subjects~..., with a .one_root index)",
        )
    )
