"""The download side: :class:`S3Fetcher`, a :class:`onecore.transfer.Fetcher` for the bucket's object URLs.

Each object of the repository's own bucket is read through a presigned GET URL (made locally, no request)
with the core's :class:`~onecore.transfer.HTTPFetcher`: the transfer engine then gives the usual
guarantees (``.part`` files, size + md5 verified, ``Range`` resume, retries of 503 ``SlowDown`` and other
5xx with backoff). Signing happens only for URLs of the repository's own bucket on its own endpoint;
any other URL an index may hold is fetched without credentials. Error messages never show the
signature: they name the object as ``s3://bucket/key``.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from onecore.errors import OneError, TransientError
from onecore.transfer import HTTPFetcher, Stream

from .client import Store

_QUERY = re.compile(r"\?X-Amz-[^\s:]*")


class S3Fetcher:
    """Opens the bucket's object URLs (presigned unless anonymous) and plain http(s) URLs."""

    def __init__(self, store: Store, bucket_url: str, timeout: float = 60.0):
        self.store = store
        #: ``http(s)://endpoint/bucket/`` (path style) or ``https://bucket.s3.../``: URLs signed by us.
        self.bucket_url = bucket_url
        self.http = HTTPFetcher(timeout=(10.0, timeout))

    def _key(self, url: str) -> str | None:
        if not url.startswith(self.bucket_url):
            return None
        return unquote(url[len(self.bucket_url) :].split("?", 1)[0])

    def open(self, url: str, offset: int = 0) -> Stream:
        """GET ``url`` from ``offset``; a key of the own bucket is signed first (unless anonymous)."""
        key = self._key(url)
        if key is None or self.store.settings.get("anonymous"):
            return self.http.open(url, offset)
        signed = self.store.call(lambda: self.store.presign(key), f"signing a download of {key}")
        try:
            return self.http.open(signed, offset)
        except OneError as e:
            raise self._rewrite(e, signed, key) from None

    def _rewrite(self, e: OneError, signed: str, key: str) -> OneError:
        """The same error, naming ``s3://bucket/key`` instead of the signed URL, with S3 advice on 403."""
        where = f"s3://{self.store.bucket}/{key}"
        text = str(e).replace(signed, where)
        text = _QUERY.sub("", text)
        if "HTTP 403" in text:
            text = text.split(", access refused")[0] + (
                ", access denied: the credentials (settings 'access_key'/'secret_key', 'profile' or the "
                "environment) may not read this object (s3:GetObject)"
            )
        if isinstance(e, TransientError):
            return TransientError(text, e.retry_after)
        return type(e)(text)

    def close(self) -> None:
        self.http.close()


def bucket_url(store: Store) -> str:
    """The URL of the bucket's root as the client addresses it (no signature), ending in ``/``."""
    probe = "onecore-probe"
    url = store.presign(probe).split("?", 1)[0]
    if not url.endswith("/" + probe):  # pragma: no cover - botocore always puts the key last
        raise TransientError(f"cannot work out the object URLs of bucket {store.bucket!r} from {url}")
    return url[: -len(probe)]


def object_base(store: Store, bucket_root: str) -> str:
    """The URL under which the data root's files are (``bucket_root`` + prefix + ``/``)."""
    from urllib.parse import quote

    return bucket_root + (quote(store.prefix, safe="/") + "/" if store.prefix else "")
