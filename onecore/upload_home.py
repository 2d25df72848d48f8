"""The whole body of ``Repository.upload`` for repository types built on :func:`onecore.upload.upload_tree`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from .errors import TransferError
from .hashcache import open_hash_cache
from .upload import upload_tree

__all__ = ["upload_with_home"]


def upload_with_home(
    repository: Any,
    make_backend: Callable[[Any], Any],
    root: Path,
    datasets: list[str],
    *,
    dry_run: bool = False,
    jobs: int = 4,
    progress: Callable[[Any], None] | None = None,
    delete: bool = False,
    before: Callable[[Any], None] | None = None,
) -> Any:
    """The shared body of ``Repository.upload`` for types built on :func:`onecore.upload.upload_tree`.

    Checks once that ``$ONE_HOME`` (``repository.home``) is writable, since the lock files and the
    journal live there, and opens its hash cache. Then it builds the backend with
    ``make_backend(hashes)``, calls ``before(backend)`` unless ``dry_run`` (e.g. to create the remote
    root), runs ``upload_tree``, and closes the backend (``close_all``, if it has one) and the cache.
    """
    if not dry_run:
        try:
            (Path(repository.home) / "locks").mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise TransferError(
                f"cannot upload to repository {repository.name!r}: cannot write in ONE_HOME {repository.home} "
                f"({e.strerror or e}); make it writable or set ONE_HOME to a writable folder"
            ) from None
    hashes = open_hash_cache(repository.home)
    backend = make_backend(hashes)
    try:
        if before is not None and not dry_run:
            before(backend)
        return upload_tree(
            backend, Path(root), datasets, hashes=hashes, dry_run=dry_run, jobs=jobs, progress=progress, delete=delete
        )
    finally:
        close = getattr(backend, "close_all", None)
        if close is not None:
            close()
        hashes.close()
