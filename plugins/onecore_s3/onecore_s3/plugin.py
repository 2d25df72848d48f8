"""The hook implementation that registers the ``s3`` repository type (entry point ``s3``).

onecore imports this module whenever it builds its registry (``one --help`` and ``one search`` too),
so it imports nothing of the plugin: the type is registered by name, and its module (and boto3, which
it loads only on first use) is imported when a repository of the type is first used.
"""

from __future__ import annotations

from typing import Callable

from onecore.sdk import hookimpl


@hookimpl
def one_register_repository_types(register: Callable[[object], None]) -> None:
    """Register the ``s3`` type (imported from :mod:`onecore_s3.repository` when used)."""
    from onecore.sdk import LazyRepositoryType

    register(
        LazyRepositoryType(
            "s3",
            "onecore_s3.repository:S3Repository",
            "a data root in an S3 bucket (AWS S3, MinIO, Ceph RGW), read and uploaded with boto3",
        )
    )
