"""The exceptions onecore raises.

Every error a user can see derives from :class:`OneError` and carries a message that names the
culprit (a file, a line, a repository, a field) and says what to do. The CLI prints ``str(error)``
and exits non-zero; it never shows a traceback for a ``OneError``.
"""

from __future__ import annotations


class OneError(Exception):
    """Base class of all onecore errors shown to users."""


class ConfigError(OneError):
    """The configuration file or a repository's settings are wrong."""


class PluginError(OneError):
    """A plugin could not be loaded, or registered something inconsistent."""


class UnknownRepositoryType(ConfigError):
    """A configuration names a repository type that no installed plugin provides."""


class IndexFormatError(OneError):
    """An index file (``.one_root``) is malformed; the message names the file and line."""


class NotFound(OneError, LookupError):
    """A session, dataset or object asked for does not exist."""


class AmbiguousError(OneError, LookupError):
    """A request matches several things; the message says how to narrow it down."""


class UnsupportedOperation(OneError):
    """The repository type does not support this operation (e.g. upload on a read-only type)."""


class UnsafePathError(OneError, ValueError):
    """A path from an index or a server would land outside the destination folder."""


class TransferError(OneError):
    """A download or upload failed for good (after retries)."""


class VerificationError(TransferError):
    """Downloaded bytes do not match the expected size or md5."""


class UnreachableError(TransferError):
    """The server cannot be reached at all (connection refused, name not resolved, no route): not worth
    retrying. ``reason`` is a few words for messages (``"connection refused"``)."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


class TransientError(TransferError):
    """A failure worth retrying (connection lost, timeout, 5xx, 429).

    ``retry_after`` is the delay in seconds the server asked for, if any.
    """

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class AuthError(OneError):
    """Credentials were refused by a server."""


class LoaderError(OneError):
    """No loader is registered for a file's extension, or the loader failed."""
