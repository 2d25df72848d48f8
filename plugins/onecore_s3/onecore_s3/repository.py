"""The ``s3`` repository type: a data root in an S3 bucket (AWS S3, MinIO, Ceph RGW...).

The index is the object ``<prefix>/.one_index.tsv`` (the companion with sizes and md5s), else, for a data
root uploaded by ONE light or an older onecore, ``<prefix>/.one_root``; fetched with its ETag as validator.
Downloads go through the core's transfer engine with :class:`~onecore_s3.fetcher.S3Fetcher`; uploads through
:func:`onecore.upload.upload_tree` with :class:`~onecore_s3.backend.S3TreeBackend`. boto3 is imported on
first use only.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Mapping

from onecore.sdk import (
    COMPANION_NAME,
    ConfigError,
    Dataset,
    Field,
    IndexProblem,
    IndexSpool,
    IndexUpdate,
    Progress,
    Repository,
    RetryPolicy,
    TransferError,
    TransferReport,
    UnsupportedOperation,
    max_index_bytes,
    read_index_stream,
    url_join,
)

from .client import Store, error_code

INDEX_NAME = ".one_root"
#: The index files, in the order they are read: the companion first, ``.one_root`` when there is none.
INDEX_FILES = (COMPANION_NAME, INDEX_NAME)
# Bucket names as S3 allows them (and MinIO/Ceph), checked before any request.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-_]{1,253}[a-z0-9]\Z")


class S3Repository(Repository):
    """A data root under ``prefix`` in an S3 bucket."""

    type = "s3"
    description = "a data root in an S3 bucket (AWS S3, MinIO, Ceph RGW), read and uploaded with boto3"
    fields = (
        Field("bucket", "the bucket name", required=True),
        Field("prefix", "the folder inside the bucket holding the data root (empty: the bucket's top)", default=""),
        Field("endpoint_url", "the S3 server's URL for MinIO/Ceph (empty for AWS)", default=""),
        Field("region", "the bucket's region (empty: from the AWS config, else us-east-1)", default=""),
        Field("profile", "a named AWS profile of ~/.aws/config (empty: the default credential chain)", default=""),
        Field("access_key", "access key id (empty: environment, credentials file or profile)", secret=True),
        Field("secret_key", "secret access key (empty: environment, credentials file or profile)", secret=True),
        Field("anonymous", "unsigned requests, for a public bucket", default=False, type=bool),
        Field("timeout", "connection and read timeout in seconds", default=60, type=int),
    )
    can_upload = True

    @classmethod
    def validate_settings(cls, settings: dict[str, Any], name: str) -> dict[str, Any]:
        bucket = (settings.get("bucket") or "").strip()
        if bucket.startswith("s3://"):
            bucket = bucket[5:]
        bucket = bucket.strip("/")
        if "/" in bucket or not _BUCKET.match(bucket):
            raise ConfigError(
                f"repository {name!r}: bucket {settings['bucket']!r} is not a bucket name (3-255 lowercase "
                "letters, digits, '.', '-'; put the folder inside the bucket in 'prefix')"
            )
        settings["bucket"] = bucket
        prefix = (settings.get("prefix") or "").strip()
        parts = [p for p in prefix.split("/") if p]
        if any(p in (".", "..") for p in parts):
            raise ConfigError(f"repository {name!r}: prefix {prefix!r} must not contain '.' or '..' parts")
        settings["prefix"] = "/".join(parts)
        url = (settings.get("endpoint_url") or "").strip().rstrip("/")
        if url and not url.startswith(("http://", "https://")):
            raise ConfigError(f"repository {name!r}: endpoint_url {url!r} must start with http:// or https://")
        settings["endpoint_url"] = url
        if settings["timeout"] <= 0:
            raise ConfigError(f"repository {name!r}: timeout must be a positive number of seconds")
        if settings.get("anonymous") and (settings.get("access_key") or settings.get("profile")):
            raise ConfigError(f"repository {name!r}: 'anonymous' excludes 'access_key'/'secret_key' and 'profile'")
        if bool(settings.get("access_key")) != bool(settings.get("secret_key")):
            raise ConfigError(f"repository {name!r}: set both 'access_key' and 'secret_key', or neither")
        return settings

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.store = Store(self.settings, self.name)
        self._fetcher: Any = None
        self._base: str | None = None

    # -- places --------------------------------------------------------------------------------
    def _bucket_url(self) -> str:
        from .fetcher import bucket_url

        if self._base is None:
            self._base = self.store.call(lambda: bucket_url(self.store), "working out the object URLs")
        return self._base

    def url_for(self, rel: str) -> str:
        """The object's URL (unsigned; the fetcher signs it for a private bucket)."""
        from .fetcher import object_base

        return url_join(object_base(self.store, self._bucket_url()), rel)

    # -- checking ------------------------------------------------------------------------------
    def check(self) -> None:
        """Read the first byte of the index (or learn there is none): one request that needs only
        s3:GetObject and tells apart a wrong bucket, endpoint, region, key, secret or a private bucket."""
        key = self.store.key(INDEX_NAME)

        def probe() -> None:
            try:
                self.store.client.get_object(Bucket=self.store.bucket, Key=key, Range="bytes=0-0")
            except Exception as e:  # noqa: BLE001
                if error_code(e) not in ("NoSuchKey", "InvalidRange"):  # no index yet, or an empty one
                    raise

        self.store.call(probe, f"checking {self.store.where(INDEX_NAME)} (s3:GetObject)")

    # -- reading -------------------------------------------------------------------------------
    def fetcher(self) -> Any:
        """An :class:`~onecore_s3.fetcher.S3Fetcher` (presigned ranged GETs through the core's engine)."""
        if self._fetcher is None:
            from .fetcher import S3Fetcher

            self._fetcher = S3Fetcher(self.store, self._bucket_url(), timeout=float(self.settings["timeout"]))
        return self._fetcher

    def fetch_index(self, state: Mapping[str, Any] | None) -> IndexUpdate | None:
        """``GetObject`` of ``<prefix>/.one_index.tsv``, else (absent) of ``<prefix>/.one_root``, with
        ``If-None-Match`` (the stored ETag of the same file); ``state["index_name"]`` says which was read."""
        retry = RetryPolicy.from_env()
        for name in INDEX_FILES:
            same = state if state and state.get("index_name", INDEX_NAME) == name else None
            got = retry.call(lambda n=name, s=same: self._get_index(n, s), f"fetching {self.store.where(name)}")
            if got == "absent":
                continue  # no companion: a data root indexed by ONE light or an older onecore
            if got is None:
                return None
            tmp, digest, etag = got
            new_state = {"etag": etag, "sha256": digest, "index_name": name}
            if same and same.get("sha256") == digest:
                tmp.close()
                return None if same.get("etag") == etag else IndexUpdate(rows=(), state=new_state, unchanged=True)
            problems: list[IndexProblem] = []
            return IndexUpdate(rows=self._rows(tmp, problems, name), state=new_state, problems=problems)
        # nothing uploaded yet: an empty repository has an empty index
        if state and state.get("sha256") == "empty":
            return None
        return IndexUpdate(rows=[], state={"sha256": "empty"})

    def _rows(self, tmp: IO[bytes], problems: list[IndexProblem], name: str) -> Iterator[Dataset]:
        from .fetcher import object_base

        base = object_base(self.store, self._bucket_url())
        source = self.store.where(name)
        try:
            yield from read_index_stream(tmp, base_url=base, problems=problems, source=source)
        finally:
            tmp.close()

    def _get_index(self, name: str, state: Mapping[str, Any] | None) -> tuple[IO[bytes], str, str] | str | None:
        """The index file ``name`` spooled to a temporary file (path, sha256, ETag); None when it did not
        change (HTTP 304); ``"absent"`` when there is no such object."""
        key = self.store.key(name)
        kwargs: dict[str, Any] = {"Bucket": self.store.bucket, "Key": key}
        if state and state.get("etag"):
            kwargs["IfNoneMatch"] = state["etag"]
        where = self.store.where(name)
        what = f"fetching the index {where} (s3:GetObject)"
        try:
            resp = self.store.client.get_object(**kwargs)
        except Exception as e:  # noqa: BLE001
            code = error_code(e)
            if code == "304":
                return None
            if code == "NoSuchKey":
                return "absent"
            raise self.store.error(e, what) or e from None
        limit = max_index_bytes()
        if int(resp.get("ContentLength") or 0) > limit:
            resp["Body"].close()
            raise TransferError(
                f"the index {where} is larger than {limit} bytes; refusing it "
                "(raise ONE_MAX_INDEX_BYTES if this is expected)"
            )
        spool = IndexSpool(where, self.home / "tmp")  # nameless, bounded in size, time and throughput
        try:
            for chunk in resp["Body"].iter_chunks(1 << 20):
                spool.write(chunk)
        except BaseException as e:
            spool.discard()
            err = self.store.error(e, what) if not isinstance(e, TransferError) else None
            if err is not None:
                raise err from None
            raise
        tmp, digest = spool.finish()
        return tmp, digest, str(resp.get("ETag") or "")

    # -- writing -------------------------------------------------------------------------------
    def backend(self, hashes: Any = None) -> Any:
        """The :class:`onecore.upload.TreeBackend` of this bucket and prefix."""
        from .backend import S3TreeBackend

        return S3TreeBackend(self.store, hashes, self.home / "s3-uploads")

    def upload(
        self,
        root: Path,
        datasets: list[str],
        *,
        dry_run: bool = False,
        jobs: int = 4,
        progress: Callable[[Progress], None] | None = None,
        delete: bool = False,
    ) -> TransferReport:
        """Upload ``datasets`` of ``root`` under ``prefix`` (incremental, multipart, resumable), index last.

        ``delete`` (``one upload --delete``): remove the objects of the index that are not among
        ``datasets``, after the new index is written (see :func:`onecore.upload.upload_tree`).
        """
        from onecore.sdk import upload_with_home

        return upload_with_home(
            self, self.backend, root, datasets, dry_run=dry_run, jobs=jobs, progress=progress, delete=delete
        )

    def publish(self) -> str:
        """Not supported: who may read a bucket is set by its owner (bucket policy)."""
        raise UnsupportedOperation(
            f"repository {self.name!r} (type s3): 'one publish' is not supported: who may read "
            f"s3://{self.store.bucket} is set by the bucket's owner (a bucket policy, or the MinIO/Ceph "
            "admin); uploads are readable by whoever that policy allows as soon as they are sent"
        )

    def close(self) -> None:
        if self._fetcher is not None:
            self._fetcher.close()
            self._fetcher = None
