"""The boto3 side: one :class:`Store` per repository (a client, the bucket, the prefix), and the translation
of botocore errors into onecore errors that say which setting failed.

boto3 is imported here only, on first use (``import onecore`` and ``one --help`` never load it).
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Mapping, TypeVar

from onecore.sdk import ConfigError, TransferError, TransientError

T = TypeVar("T")

#: Error codes S3 uses for throttling and transient trouble (retried with backoff).
TRANSIENT_CODES = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "InternalError",
    "ServiceUnavailable",
    "503",
    "500",
    "502",
    "504",
}


class Store:
    """A bucket and a prefix reached with one boto3 client (thread-safe; made on first use)."""

    def __init__(self, settings: Mapping[str, Any], name: str):
        self.settings = settings
        self.name = name
        self.bucket: str = settings["bucket"]
        self.prefix: str = settings.get("prefix") or ""
        self._client: Any = None
        self._upload_client: Any = None
        self._session: Any = None
        self._lock = threading.Lock()

    # -- keys ----------------------------------------------------------------------------------
    def key(self, rel: str) -> str:
        """The object key of ``rel`` (a relative path under the data root)."""
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def where(self, rel: str = "") -> str:
        """``s3://bucket/prefix/rel`` for messages."""
        return f"s3://{self.bucket}/{self.key(rel)}"

    # -- the client ----------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._make_client()
        return self._client

    @property
    def upload_client(self) -> Any:
        """A client whose request bodies are not SHA-256 signed, for requests whose body carries its
        ``Content-MD5`` (a signed header): botocore skips that hash over HTTPS already, but over plain HTTP
        it would hash every byte sent once more."""
        if self._upload_client is None:
            with self._lock:
                if self._upload_client is None:
                    self._upload_client = self._make_client(sign_payload=False)
        return self._upload_client

    def _make_client(self, sign_payload: bool = True) -> Any:
        import boto3
        import botocore.exceptions
        from botocore import UNSIGNED
        from botocore.config import Config

        s = self.settings
        kwargs: dict[str, Any] = {}
        if s.get("profile"):
            kwargs["profile_name"] = s["profile"]
        if s.get("access_key") or s.get("secret_key"):
            kwargs["aws_access_key_id"] = s.get("access_key") or None
            kwargs["aws_secret_access_key"] = s.get("secret_key") or None
        try:
            session = boto3.session.Session(**kwargs)
        except botocore.exceptions.ProfileNotFound:
            raise ConfigError(
                f"repository {self.name!r}: the AWS profile {s['profile']!r} (setting 'profile') is not in "
                "the AWS config or credentials file; fix 'profile' or run 'aws configure --profile NAME'"
            ) from None
        _share_loader(session)
        self._session = session
        region = s.get("region") or session.region_name or "us-east-1"
        timeout = float(s.get("timeout") or 30)
        s3: dict[str, Any] = {"addressing_style": "path" if s.get("endpoint_url") else "auto"}
        if not sign_payload:
            s3["payload_signing_enabled"] = False
        config = Config(
            signature_version=UNSIGNED if s.get("anonymous") else "s3v4",
            retries={"max_attempts": 5, "mode": "standard"},  # SlowDown/503 and throttling, with backoff
            connect_timeout=min(timeout, 10.0),
            read_timeout=timeout,
            max_pool_connections=32,
            s3=s3,
            request_checksum_calculation="when_required",  # Content-MD5 is sent explicitly where it matters
            response_checksum_validation="when_required",
        )
        return session.client("s3", endpoint_url=s.get("endpoint_url") or None, region_name=region, config=config)

    def presign(self, key: str, expires: int = 3600) -> str:
        """A presigned GET URL of ``key`` (a plain URL for anonymous access)."""
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires
        )

    def sign_get(self, url: str) -> dict[str, str]:
        """The headers (``Authorization``, ``X-Amz-Date``...) of a SigV4-signed GET of ``url``."""
        import botocore.exceptions
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest

        client = self.client
        creds = self._session.get_credentials()
        if creds is None:
            raise botocore.exceptions.NoCredentialsError()
        request = AWSRequest(method="GET", url=url)
        S3SigV4Auth(creds.get_frozen_credentials(), "s3", client.meta.region_name).add_auth(request)
        return dict(request.headers.items())

    def call(self, fn: Callable[[], T], what: str) -> T:
        """Run one boto3 call, turning botocore errors into :class:`ConfigError`/:class:`TransferError`."""
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - every botocore error becomes one clear message
            err = self.error(e, what)
            if err is None:
                raise
            raise err from None

    def error(self, e: BaseException, what: str) -> Exception | None:
        """The onecore error for a botocore exception (None: not a botocore error)."""
        import botocore.exceptions as bx

        s = self.settings
        repo = f"repository {self.name!r}"
        if isinstance(e, bx.ClientError):
            return self._client_error(e, what)
        if isinstance(e, bx.NoCredentialsError):
            return ConfigError(
                f"{repo}: {what}: no AWS credentials found (settings 'access_key'/'secret_key' are empty, and "
                "neither the environment nor the shared credentials file nor 'profile' gives any); set them, "
                "or set 'anonymous: true' for a public bucket"
            )
        if isinstance(e, bx.ProfileNotFound):
            return ConfigError(f"{repo}: the AWS profile {s.get('profile')!r} (setting 'profile') does not exist")
        if isinstance(e, bx.ParamValidationError):
            return ConfigError(f"{repo}: {what}: bad parameter (check 'bucket' {self.bucket!r}): {e}")
        if isinstance(e, (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ProxyConnectionError)):
            where = s.get("endpoint_url") or f"AWS S3 in region {s.get('region') or 'us-east-1'}"
            return TransientError(
                f"{repo}: {what}: cannot reach {where} (setting 'endpoint_url'/'region'): {type(e).__name__}"
            )
        if isinstance(e, (bx.ReadTimeoutError, bx.ConnectionClosedError, bx.ResponseStreamingError)):
            return TransientError(f"{repo}: {what}: the connection was lost ({type(e).__name__})")
        if isinstance(e, bx.BotoCoreError):
            return TransferError(f"{repo}: {what}: {type(e).__name__}: {e}")
        if isinstance(e, OSError):
            return TransientError(f"{repo}: {what}: {type(e).__name__}: {e}")
        return None

    def _client_error(self, e: Any, what: str) -> Exception:
        s = self.settings
        err = e.response.get("Error", {})
        code = str(err.get("Code", ""))
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        repo = f"repository {self.name!r}"
        msg = f"{repo}: {what}"
        if code in TRANSIENT_CODES or (isinstance(status, int) and status >= 500):
            return TransientError(f"{msg}: the server is busy or failing ({code or status}); retried with backoff")
        if code in ("BadDigest", "InvalidDigest"):  # the bytes received are not those hashed (Content-MD5)
            return TransientError(f"{msg}: the server received other bytes than those hashed ({code}); sent again")
        if code == "NoSuchBucket":
            return ConfigError(
                f"{msg}: the bucket {self.bucket!r} (setting 'bucket') does not exist at "
                f"{s.get('endpoint_url') or 'AWS'}; fix 'bucket' or 'endpoint_url'"
            )
        if code == "InvalidAccessKeyId":
            return ConfigError(f"{msg}: the server does not know this access key (setting 'access_key' or profile)")
        if code == "SignatureDoesNotMatch":
            return ConfigError(f"{msg}: the secret key does not match the access key (setting 'secret_key')")
        if code in ("AuthorizationHeaderMalformed", "PermanentRedirect", "IllegalLocationConstraintException"):
            return ConfigError(f"{msg}: the bucket {self.bucket!r} is in another region (setting 'region'): {code}")
        if code in ("AccessDenied", "AllAccessDisabled", "403") or status == 403:
            how = (
                "anonymously (setting 'anonymous': the bucket is not public)"
                if s.get("anonymous")
                else ("with these credentials (settings 'access_key'/'secret_key', 'profile' or the environment)")
            )
            return TransferError(f"{msg}: access denied {how}; see the plugin README for the permissions needed")
        if code in ("NoSuchKey", "404", "NotFound") or status == 404:
            return TransferError(f"{msg}: not found in bucket {self.bucket!r}")
        return TransferError(f"{msg}: {code or status}: {err.get('Message', '')}".rstrip(": "))


_LOADER: Any = None
_LOADER_LOCK = threading.Lock()


def _share_loader(session: Any) -> None:
    """Give ``session`` the data loader of the first session of this process: botocore's service models
    (large JSON files) are then parsed once per process, not once per repository (~80 ms each)."""
    global _LOADER
    with _LOADER_LOCK:
        if _LOADER is None:
            _LOADER = session._session.get_component("data_loader")
            return
    session._session.register_component("data_loader", _LOADER)


def error_code(e: BaseException) -> str | None:
    """The S3 error code of a botocore ``ClientError`` (``NoSuchKey``, ``404``, ``304``...), else None."""
    response = getattr(e, "response", None)
    if not isinstance(response, dict):
        return None
    return str(response.get("Error", {}).get("Code", "")) or None
