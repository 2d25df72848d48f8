"""onelight-ftp: the ``ftp`` repository type for onecore.

Upload a data root to an FTP or explicit-FTPS server (incremental, resumable, index written last),
and read it back over HTTP from ``base_url`` (as ONE light did) or directly over FTP.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["FTPRepository", "__version__"]


def __getattr__(name: str) -> Any:  # lazy: importing the entry point must not import ftplib
    if name == "FTPRepository":
        from .repository import FTPRepository

        return FTPRepository
    raise AttributeError(f"module 'onelight_ftp' has no attribute {name!r}")
