"""onelight-figshare: the ``figshare`` repository type for onecore.

Share an ALF data root as a figshare article (``one upload ROOT``, ``one publish``) and read it back
(``one search``/``list``/``load_*``), compatible with articles written by ONE light. Modules:
:mod:`.repository` (the type), :mod:`.api` (the REST client), :mod:`.uploader` (incremental,
resumable upload and the index), :mod:`.article_id` (parsing pasted URLs), :mod:`.naming` (file names),
:mod:`.emulator` (a local figshare emulator for tests and benchmarks; needs ``werkzeug``).
"""

from __future__ import annotations

from typing import Callable

from onecore import hookimpl

from .article_id import parse_article_id
from .repository import FigshareRepository

__all__ = ["FigshareRepository", "parse_article_id"]


@hookimpl
def one_register_repository_types(register: Callable[[type], None]) -> None:
    """Register the ``figshare`` repository type."""
    register(FigshareRepository)
