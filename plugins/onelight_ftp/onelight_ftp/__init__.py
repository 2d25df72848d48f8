"""onelight-ftp: the ``ftp`` repository type for onecore.

Upload a data root to an FTP or explicit-FTPS server (incremental, resumable, index written last),
and read it back over HTTP from ``base_url`` (as ONE light did) or directly over FTP.
"""

from __future__ import annotations

from .repository import FTPRepository

__version__ = "0.1.0"
__all__ = ["FTPRepository", "__version__"]
