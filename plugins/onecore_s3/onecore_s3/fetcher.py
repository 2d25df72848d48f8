"""The download side: :class:`S3Fetcher`, a :class:`onecore.transfer.Fetcher` for the bucket's object URLs.

Objects are read with the core's :class:`~onecore.transfer.HTTPFetcher` (kept-alive connections, ranged
GETs): the transfer engine then gives the usual guarantees (``.part`` files, size + md5 verified,
``Range`` resume, retries of 503 ``SlowDown`` and other 5xx with backoff). Each GET of an object of the
repository's own bucket is signed (AWS Signature V4 in the ``Authorization`` header, computed locally by
botocore; the ``Range`` header is left out of the signature so a resumed request needs no new one).
Nothing is signed for any other URL an index may hold, nor after a redirect elsewhere, nor when
``anonymous`` is set.
"""

from __future__ import annotations

from onecore.sdk import HTTPFetcher, OneError, Stream, TransientError

from .client import Store


class _SignedHTTP(HTTPFetcher):
    """An HTTP fetcher adding SigV4 headers to requests for URLs under ``bucket_url``."""

    def __init__(self, store: Store, bucket_url: str, timeout: float):
        super().__init__(timeout=(10.0, timeout))
        self.store = store
        self.bucket_url = bucket_url

    def request_headers(self, url: str) -> dict[str, str]:
        if self.store.settings.get("anonymous") or not url.startswith(self.bucket_url):
            return {}
        return self.store.call(lambda: self.store.sign_get(url), "signing a download")


class S3Fetcher:
    """Opens the bucket's object URLs (signed unless anonymous) and plain http(s) URLs (never signed)."""

    def __init__(self, store: Store, bucket_url: str, timeout: float = 60.0):
        self.store = store
        #: ``http(s)://endpoint/bucket/`` (path style) or ``https://bucket.s3.../``: URLs signed by us.
        self.bucket_url = bucket_url
        self.http = _SignedHTTP(store, bucket_url, timeout)

    def open(self, url: str, offset: int = 0) -> Stream:
        """GET ``url`` from ``offset`` (a ``Range`` request when > 0)."""
        try:
            return self.http.open(url, offset)
        except OneError as e:
            if "HTTP 403" not in str(e) or not url.startswith(self.bucket_url):
                raise
            how = (
                "anonymously (setting 'anonymous': the bucket is not public)"
                if self.store.settings.get("anonymous")
                else "with these credentials (settings 'access_key'/'secret_key', 'profile' or the environment)"
            )
            text = str(e).split(", access refused")[0] + f", access denied {how}: s3:GetObject is needed"
            raise (TransientError(text, e.retry_after) if isinstance(e, TransientError) else type(e)(text)) from None

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


__all__ = ["S3Fetcher", "bucket_url", "object_base"]
