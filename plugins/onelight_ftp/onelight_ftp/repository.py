"""The ``ftp`` repository type: a data root uploaded to an FTP (or explicit FTPS) server.

Uploading goes through :func:`onecore.upload.upload_tree` with :class:`~onelight_ftp.backend.FTPTreeBackend`
(incremental, resumable, index written last). Reading goes over HTTP from ``base_url`` when it is set
(as ONE light did: a web server publishes the FTP folder), else directly over FTP.
"""

from __future__ import annotations

import ftplib
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Mapping
from urllib.parse import quote

from onecore.sdk import (
    COMPANION_NAME,
    ConfigError,
    Dataset,
    Field,
    HTTPFetcher,
    IndexProblem,
    IndexSpool,
    IndexUpdate,
    Progress,
    Repository,
    RetryPolicy,
    TransferError,
    TransferReport,
    TransientError,
    fetch_index_base,
    read_index_stream,
    sweep_index_leftovers,
    url_join,
)

from .backend import FTPTreeBackend, remote_path
from .fetcher import FTPFetcher
from .session import Connection, Endpoint

INDEX_NAME = ".one_root"


class _NoIndex(TransferError):
    """The server has no index yet."""


class FTPRepository(Repository):
    """A data root on an FTP server, read back over HTTP (``base_url``) or FTP."""

    type = "ftp"
    description = "a data root uploaded to an FTP/FTPS server (read over HTTP via base_url, or FTP)"
    fields = (
        Field("host", "the FTP server's host name or address", required=True),
        Field("port", "the FTP control port", default=21, type=int),
        Field("login", "the FTP user name", default="anonymous"),
        Field("password", "the FTP password", secret=True),
        Field("remote_root", "the folder on the server that holds the data root", default="/"),
        Field("base_url", "public HTTP(S) URL serving remote_root (optional; else downloads use FTP)"),
        Field("tls", "use explicit FTPS (AUTH TLS) for control and data connections", default=False, type=bool),
        Field("timeout", "connection and read timeout in seconds", default=30, type=int),
    )
    can_upload = True

    @classmethod
    def validate_settings(cls, settings: dict[str, Any], name: str) -> dict[str, Any]:
        host = settings["host"].strip()
        if "://" in host or "/" in host or not host:
            raise ConfigError(
                f"repository {name!r}: host {settings['host']!r} must be a host name or address such as "
                "ftp.example.org (no ftp:// and no path: use remote_root for the folder)"
            )
        settings["host"] = host.strip("[]")
        if not 0 < settings["port"] < 65536:
            raise ConfigError(f"repository {name!r}: port {settings['port']} is not between 1 and 65535")
        if settings["timeout"] <= 0:
            raise ConfigError(f"repository {name!r}: timeout must be a positive number of seconds")
        root = (settings.get("remote_root") or "/").strip()
        parts = [p for p in root.split("/") if p]
        if any(p in (".", "..") for p in parts):
            raise ConfigError(f"repository {name!r}: remote_root {root!r} must not contain '.' or '..' parts")
        settings["remote_root"] = "/" + "/".join(parts)
        url = settings.get("base_url")
        if url:
            if not url.startswith(("http://", "https://")):
                raise ConfigError(f"repository {name!r}: base_url {url!r} must start with http:// or https://")
            if not url.endswith("/"):
                settings["base_url"] = url + "/"
        else:
            settings["base_url"] = None
        return settings

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._fetcher: HTTPFetcher | FTPFetcher | None = None

    # -- places --------------------------------------------------------------------------------
    @property
    def endpoint(self) -> Endpoint:
        s = self.settings
        return Endpoint(
            s["host"],
            s["port"],
            s["login"] or "anonymous",
            s.get("password") or "",
            tls=s["tls"],
            timeout=float(s["timeout"]),
        )

    @property
    def base_url(self) -> str | None:
        return self.settings.get("base_url")

    def ftp_url(self, rel: str) -> str:
        """``ftp://host:port/<remote_root>/<rel>``, percent-encoded, never with credentials."""
        path = remote_path(self.settings["remote_root"], rel)
        return f"ftp://{self.endpoint.where}{quote(path, safe='/')}"

    def url_for(self, rel: str) -> str:
        """The download URL written in the index: ``base_url`` + path when set, else the FTP URL."""
        return url_join(self.base_url, rel) if self.base_url else self.ftp_url(rel)

    # -- checking ------------------------------------------------------------------------------
    def check(self) -> None:
        """Log in and make sure ``remote_root`` is a folder the user can enter (created when missing)."""
        backend = self.backend()
        try:
            RetryPolicy.from_env().call(backend.ensure_root, f"checking the FTP server {self.endpoint.where}")
        except TransferError as e:
            if isinstance(e, TransientError):
                raise
            raise ConfigError(f"repository {self.name!r}: {e}") from None
        finally:
            backend.close_all()

    # -- reading -------------------------------------------------------------------------------
    def fetcher(self) -> HTTPFetcher | FTPFetcher:
        """An :class:`HTTPFetcher` when ``base_url`` is set, else an :class:`FTPFetcher`."""
        if self._fetcher is None:
            timeout = float(self.settings["timeout"])
            if self.base_url:
                self._fetcher = HTTPFetcher(timeout=(10.0, timeout))
            else:
                self._fetcher = FTPFetcher(self.endpoint)
        return self._fetcher

    def fetch_index(self, state: Mapping[str, Any] | None) -> IndexUpdate | None:
        """The index: conditional HTTP GET from ``base_url``, or ``RETR`` of ``.one_root``."""
        try:
            if self.base_url:
                fetcher = self.fetcher()
                assert isinstance(fetcher, HTTPFetcher)
                update = fetch_index_base(fetcher, self.base_url, state, self.home)
                if update is not None:
                    update.rows = self._to_http(update.rows)
                return update
            return self._fetch_index_ftp(state)
        except TransferError as e:
            if not isinstance(e, _NoIndex) and not self._index_absent():
                raise
        # Nothing uploaded yet: an empty repository has an empty index (so a first upload works).
        return None if state and state.get("sha256") == "empty" else IndexUpdate(rows=[], state={"sha256": "empty"})

    def _index_absent(self) -> bool:
        """True when the FTP server answers and has no index (e.g. base_url answered 404)."""
        backend = self.backend()
        try:
            return backend.size(INDEX_NAME) is None
        except Exception:
            return False
        finally:
            backend.close_all()

    def _to_http(self, rows: Any) -> Iterator[Dataset]:
        """Rows uploaded before ``base_url`` was set hold FTP URLs: read them over HTTP instead."""
        own = f"ftp://{self.endpoint.where}/"
        for row in rows:
            if row.url and row.url.startswith(own):
                row.url = url_join(self.base_url or "", row.rel_path)
            yield row

    def _fetch_index_ftp(self, state: Mapping[str, Any] | None) -> IndexUpdate | None:
        """``RETR`` of the companion ``.one_index.tsv``, else of ``.one_root``."""
        tmpdir = self.home / "tmp"
        tmpdir.mkdir(parents=True, exist_ok=True)
        sweep_index_leftovers(tmpdir)
        conn = Connection(self.endpoint)
        try:
            for name in (COMPANION_NAME, INDEX_NAME):
                try:
                    tmp, digest = RetryPolicy.from_env().call(
                        lambda name=name: self._retr_index(conn, name, tmpdir), f"fetching the index {name}"
                    )
                except _NoIndex:
                    if name == INDEX_NAME:
                        raise
                    continue
                break
        finally:
            conn.close()
        if state and state.get("sha256") == digest:
            tmp.close()
            return None
        problems: list[IndexProblem] = []
        source = self.ftp_url(name)

        def rows() -> Iterator[Dataset]:
            try:
                for row in read_index_stream(tmp, base_url=None, problems=problems, source=source):
                    if row.url is None:
                        row.url = self.ftp_url(row.rel_path)
                    yield row
            finally:
                tmp.close()

        return IndexUpdate(rows=rows(), state={"sha256": digest, "index_name": name}, problems=problems)

    def _retr_index(self, conn: Connection, name: str, tmpdir: Path) -> tuple[IO[bytes], str]:
        """The index file ``name`` in a nameless temporary file (nothing is left behind), and its sha256."""
        url = self.ftp_url(name)
        path = remote_path(self.settings["remote_root"], name)
        spool = IndexSpool(url, tmpdir)  # nameless, bounded in size, time and throughput

        def retr(ftp: ftplib.FTP) -> None:
            try:
                ftp.retrbinary(f"RETR {path}", spool.write, blocksize=1 << 20)
            except ftplib.error_perm as e:
                if str(e)[:3] != "550":
                    raise
                raise _NoIndex(
                    f"there is no index at {url} ({str(e).strip()}): upload a data root to "
                    f"repository {self.name!r} first (one upload ROOT), or check remote_root"
                ) from None

        try:
            conn.run(retr, f"fetching the index {url}")
        except BaseException:
            spool.discard()
            raise
        return spool.finish()

    # -- writing -------------------------------------------------------------------------------
    def backend(self) -> FTPTreeBackend:
        """The :class:`onecore.upload.TreeBackend` for this server (close it with ``close_all``)."""
        return FTPTreeBackend(self.endpoint, self.settings["remote_root"], self.url_for)

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
        """Upload ``datasets`` of ``root`` into ``remote_root`` (created when missing; incremental,
        resumable), index last; ``delete`` removes the remote datasets that are not in ``datasets``."""
        from onecore.sdk import upload_with_home

        def create_root(backend: FTPTreeBackend) -> None:
            RetryPolicy.from_env().call(backend.ensure_root, f"opening {self.settings['remote_root']}")

        return upload_with_home(
            self,
            lambda hashes: self.backend(),
            root,
            datasets,
            dry_run=dry_run,
            jobs=jobs,
            progress=progress,
            delete=delete,
            before=create_root,
        )

    def publish(self) -> str:
        """Nothing to do: what is uploaded is readable at once."""
        where = self.base_url or self.ftp_url("")
        return f"repository {self.name!r}: uploads to an FTP server are readable as soon as they are sent ({where})"

    def close(self) -> None:
        if self._fetcher is not None:
            self._fetcher.close()
            self._fetcher = None
