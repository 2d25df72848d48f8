"""The hook implementation that registers the ``s3`` repository type (entry point ``s3``).

Kept light: the repository module (and boto3, which it loads only on first use) is imported when the
registry asks for repository types, not when the entry point is loaded.
"""

from __future__ import annotations

from typing import Callable

from onecore.sdk import hookimpl


@hookimpl
def one_register_repository_types(register: Callable[[type], None]) -> None:
    from .repository import S3Repository

    register(S3Repository)
