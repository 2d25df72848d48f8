"""The s3 repository type runs onecore's repository conformance suite against a moto S3 server."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Callable, Iterator

import pytest
from onecore_s3.repository import S3Repository
from onecore_s3.testing import MotoS3

from onecore.testing.conformance import RepositoryConformance


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TestS3Conformance(RepositoryConformance):
    """Upload and read back a data root under a prefix of a private bucket."""

    @pytest.fixture
    def repository(self, one_home: Path, moto_s3: MotoS3) -> Iterator[S3Repository]:
        bucket = moto_s3.new_bucket()
        with S3Repository("conformance", moto_s3.settings(bucket, prefix="labdata/root"), home=one_home) as repo:
            yield repo

    @pytest.fixture
    def publish_index_text(self, repository: S3Repository, moto_s3: MotoS3) -> Callable[[str], None]:
        def write(text: str) -> None:
            c, bucket = moto_s3.client(), repository.store.bucket
            c.put_object(Bucket=bucket, Key=repository.store.key(".one_root"), Body=text.encode())
            c.delete_object(Bucket=bucket, Key=repository.store.key(".one_index.tsv"))  # .one_root alone

        return write

    @pytest.fixture
    def unreachable_repository(self, one_home: Path, moto_s3: MotoS3) -> S3Repository:
        settings = moto_s3.settings("gone", endpoint_url=f"http://127.0.0.1:{_closed_port()}", timeout=2)
        return S3Repository("gone", settings, home=one_home)


class TestS3TopLevelConformance(TestS3Conformance):
    """The data root at the top of the bucket (empty prefix)."""

    @pytest.fixture
    def repository(self, one_home: Path, moto_s3: MotoS3) -> Iterator[S3Repository]:
        bucket = moto_s3.new_bucket()
        with S3Repository("conformance", moto_s3.settings(bucket), home=one_home) as repo:
            yield repo
