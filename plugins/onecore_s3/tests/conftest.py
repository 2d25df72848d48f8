"""Fixtures: one moto S3 server on 127.0.0.1 for the session (a fresh bucket per test), and an environment
that never reads the real ~/.aws or ~/.one."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest
from onecore_s3.repository import S3Repository
from onecore_s3.testing import MotoS3


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    server = MotoS3()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _isolated_aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No real AWS configuration or credentials reach a test (and retries are fast)."""
    for var in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask an instance metadata service
    monkeypatch.setenv("ONE_RETRY_BASE_DELAY", "0.01")
    monkeypatch.setenv("ONE_RETRY_ATTEMPTS", "3")


@pytest.fixture
def bucket(moto_s3: MotoS3) -> str:
    return moto_s3.new_bucket()


@pytest.fixture
def make_repo(one_home: Path, moto_s3: MotoS3) -> Iterator[Callable[..., S3Repository]]:
    """``make_repo(bucket, **settings)`` -> an :class:`S3Repository` on the moto server."""
    made: list[S3Repository] = []

    def make(bucket: str, name: str = "s3test", **extra: object) -> S3Repository:
        repo = S3Repository(name, moto_s3.settings(bucket, **extra), home=one_home)
        made.append(repo)
        return repo

    yield make
    for repo in made:
        repo.close()


@pytest.fixture
def proxy(moto_s3: MotoS3) -> Iterator[object]:
    from onecore_s3.testing import FaultProxy

    p = FaultProxy(moto_s3.port)
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def enforced(moto_s3: MotoS3) -> Iterator[MotoS3]:
    """The moto server checking signatures and IAM policies for the test (make users before)."""
    try:
        yield moto_s3
    finally:
        moto_s3.enforce_auth(False)
