"""The plugin SDK: the one module a onecore plugin imports.

Everything a repository type, loader or command needs is importable from here, and
only from here: the shipped plugins and the example plugin import nothing else from onecore (a test
keeps it so), and the names below are the ones onecore keeps stable across releases. Test support
for plugin authors lives in :mod:`onecore.testing` (conformance suite, fixtures, servers).

Names are resolved on first use (PEP 562), so ``from onecore.sdk import hookimpl`` in a plugin's
entry-point module costs nothing: the transfer engine, numpy or sqlite are imported only when a name
that needs them is used.

- Hooks: :data:`hookimpl`.
- The repository contract: :class:`Repository`, :class:`Field`, :class:`Dataset`,
  :class:`IndexUpdate`, :class:`SessionRecord`.
- Errors: :class:`OneError` and its subclasses.
- Transfers: :class:`HTTPFetcher` (subclass it, override ``request_headers``), the fetcher and stream
  protocols, :func:`download` with :class:`TransferItem`, :class:`TransferReport`, :class:`Progress`,
  :class:`ProgressTracker`, :class:`RetryPolicy`, :class:`ThreadSessions`, :func:`read_capped`,
  :func:`parse_retry_after`; paths: :func:`check_relpath`, :func:`url_join`, :data:`PART_SUFFIX`.
- Indexes: :func:`fetch_index_base` (a data root's companion ``.one_index.tsv``, else ``.one_root``,
  over HTTP) and :func:`fetch_index_url` (spool one remote index with size, time and throughput caps
  and a validator, then parse it), :func:`max_index_bytes`, :func:`read_one_root`,
  :func:`write_one_root`, :func:`index_texts` (both index files' texts), :data:`COMPANION_NAME`,
  :func:`read_index_file`, :func:`read_index_stream`, :func:`sweep_index_leftovers`,
  :class:`IndexSpool` (receive a remote index over any transport: a nameless temporary file, its
  sha256, size, time and throughput caps),
  :class:`IndexProblem`.
- Uploads: :func:`upload_tree`, its backend protocol :class:`TreeBackend` and :class:`UploadReport`;
  :func:`upload_with_home` (the whole body of a tree type's ``upload``: home check, hash cache, run);
  :func:`scan`; :func:`describe_html` (a short HTML summary of a data root, for article descriptions).
- Registration: :class:`LazyRepositoryType` (a type registered by name and imported on first use, so
  that a plugin's entry-point module stays light).
- Hashes and configuration: :func:`md5_file`, :class:`HashCache`, :func:`open_hash_cache`,
  :class:`Config`, :class:`RepoConfig`, :func:`write_private`, :func:`open_repository`.
- The ALF grammar: the module :mod:`onecore.alf` as ``alf``; the ONE API (:class:`One`, :class:`ONE`)
  for commands that load data.
"""

from __future__ import annotations

import importlib
from typing import Any

#: name -> (module, attribute or None for the module itself)
_EXPORTS: dict[str, tuple[str, str | None]] = {
    "hookimpl": ("onecore", "hookimpl"),
    # the repository contract
    "Repository": ("onecore.repository", "Repository"),
    "Field": ("onecore.repository", "Field"),
    "Dataset": ("onecore.repository", "Dataset"),
    "IndexUpdate": ("onecore.repository", "IndexUpdate"),
    "SessionRecord": ("onecore.repository", "SessionRecord"),
    "md5_file": ("onecore.repository", "md5_file"),
    # errors
    "OneError": ("onecore.errors", "OneError"),
    "ConfigError": ("onecore.errors", "ConfigError"),
    "NotFound": ("onecore.errors", "NotFound"),
    "AuthError": ("onecore.errors", "AuthError"),
    "TransferError": ("onecore.errors", "TransferError"),
    "TransientError": ("onecore.errors", "TransientError"),
    "UnsafePathError": ("onecore.errors", "UnsafePathError"),
    "UnsupportedOperation": ("onecore.errors", "UnsupportedOperation"),
    "PluginError": ("onecore.errors", "PluginError"),
    # transfers
    "HTTPFetcher": ("onecore.transfer", "HTTPFetcher"),
    "Fetcher": ("onecore.transfer", "Fetcher"),
    "Stream": ("onecore.transfer", "Stream"),
    "download": ("onecore.transfer", "download"),
    "TransferItem": ("onecore.transfer", "TransferItem"),
    "TransferReport": ("onecore.transfer", "TransferReport"),
    "Progress": ("onecore.transfer", "Progress"),
    "ProgressTracker": ("onecore.transfer", "ProgressTracker"),
    "RetryPolicy": ("onecore.transfer", "RetryPolicy"),
    "ThreadSessions": ("onecore.transfer", "ThreadSessions"),
    "read_capped": ("onecore.transfer", "read_capped"),
    "parse_retry_after": ("onecore.transfer", "parse_retry_after"),
    "check_relpath": ("onecore.transfer", "check_relpath"),
    "url_join": ("onecore.transfer", "url_join"),
    "PART_SUFFIX": ("onecore.transfer", "PART_SUFFIX"),
    # indexes
    "fetch_index_url": ("onecore.builtins.http", "fetch_index_url"),
    "max_index_bytes": ("onecore.index_spool", "max_index_bytes"),
    "IndexSpool": ("onecore.index_spool", "IndexSpool"),
    "read_one_root": ("onecore.index", "read_one_root"),
    "write_one_root": ("onecore.index", "write_one_root"),
    "read_index_file": ("onecore.index", "read_index_file"),
    "read_index_stream": ("onecore.index", "read_index_stream"),
    "index_texts": ("onecore.index", "index_texts"),
    "COMPANION_NAME": ("onecore.index", "COMPANION_NAME"),
    "sweep_index_leftovers": ("onecore.index", "sweep_index_leftovers"),
    "fetch_index_base": ("onecore.builtins.http", "fetch_index_base"),
    "IndexProblem": ("onecore.index", "IndexProblem"),
    # uploads
    "upload_tree": ("onecore.upload", "upload_tree"),
    "UploadReport": ("onecore.upload", "UploadReport"),
    "upload_with_home": ("onecore.upload_home", "upload_with_home"),
    "LazyRepositoryType": ("onecore.plugins", "LazyRepositoryType"),
    "describe_html": ("onecore.site.summary", "describe_html"),
    "TreeBackend": ("onecore.upload", "TreeBackend"),
    "scan": ("onecore.scan", "scan"),
    # hashes and configuration
    "HashCache": ("onecore.hashcache", "HashCache"),
    "open_hash_cache": ("onecore.hashcache", "open_hash_cache"),
    "Config": ("onecore.config", "Config"),
    "RepoConfig": ("onecore.config", "RepoConfig"),
    "write_private": ("onecore.config", "write_private"),
    "open_repository": ("onecore.config", "open_repository"),
    # the ALF grammar, and the ONE API for commands that load data
    "alf": ("onecore.alf", None),
    "One": ("onecore.api", "One"),
    "ONE": ("onecore.api", "ONE"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'onecore.sdk' has no attribute {name!r}") from None
    value = importlib.import_module(module)
    if attr is not None:
        value = getattr(value, attr)
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return __all__
