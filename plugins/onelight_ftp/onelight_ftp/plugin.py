"""The hook implementation that registers the ``ftp`` repository type (entry point ``ftp``).

onecore imports this module whenever it builds its registry (``one --help`` too), so it imports
nothing of the plugin: the type is registered by name and imported when first used.
"""

from __future__ import annotations

from typing import Callable

from onecore.sdk import hookimpl


@hookimpl
def one_register_repository_types(register: Callable[[object], None]) -> None:
    """Register the ``ftp`` type (imported from :mod:`onelight_ftp.repository` when used)."""
    from onecore.sdk import LazyRepositoryType

    register(
        LazyRepositoryType(
            "ftp",
            "onelight_ftp.repository:FTPRepository",
            "a data root uploaded to an FTP/FTPS server (read over HTTP via base_url, or FTP)",
        )
    )
