"""The built-in ``http`` repository type, any web server serving a data root.

The data root must hold a ``.one_root`` index (``one index ROOT --base-url URL`` writes it). The
index is fetched with a conditional request (ETag / Last-Modified) and rebuilt into the catalog only
when its content changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from onecore.errors import ConfigError, TransferError, TransientError
from onecore.index_spool import INDEX_SECONDS, MAX_INDEX_BYTES, max_index_bytes  # noqa: F401 (re-exported)
from onecore.repository import Field, IndexUpdate, Repository

if TYPE_CHECKING:  # the transfer engine is imported when used: `one --help` stays fast
    from onecore.transfer import HTTPFetcher


class HTTPRepository(Repository):
    """A data root served over HTTP(S), with optional basic auth."""

    type = "http"
    description = "a data root served by a web server, with a .one_root index"
    fields = (
        Field("base_url", "URL of the data root (where .one_root is served)", required=True),
        Field("login", "HTTP basic auth user name (optional)"),
        Field("password", "HTTP basic auth password (optional)", secret=True),
        Field("timeout", "read timeout in seconds", default=60, type=int),
    )

    @classmethod
    def validate_settings(cls, settings: dict[str, Any], name: str) -> dict[str, Any]:
        url = settings["base_url"]
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"repository {name!r}: base_url {url!r} must start with http:// or https://")
        if not url.endswith("/"):
            settings["base_url"] = url + "/"
        return settings

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._fetcher: HTTPFetcher | None = None

    @property
    def auth(self) -> tuple[str, str] | None:
        login = self.settings.get("login")
        return (login, self.settings.get("password") or "") if login else None

    def fetcher(self) -> HTTPFetcher:
        from onecore.transfer import HTTPFetcher

        if self._fetcher is None:
            self._fetcher = HTTPFetcher(
                auth=self.auth, timeout=(10.0, float(self.settings["timeout"])), base_url=self.settings["base_url"]
            )
        return self._fetcher

    def check(self) -> None:  # the index is fetched, not parsed: its rows are never read
        fetch_index_base(self.fetcher(), self.settings["base_url"], None, self.home)

    def fetch_index(self, state: Mapping[str, Any] | None) -> IndexUpdate | None:
        if self._fetcher is None:  # a server that refuses is known before the HTTP stack is imported
            from onecore.netprobe import probe

            base = self.settings["base_url"]
            refused = probe(base, f"fetching the index {base}")
            if refused is not None:
                raise refused
        return fetch_index_base(self.fetcher(), self.settings["base_url"], state, self.home, build=True)

    def close(self) -> None:
        if self._fetcher is not None:
            self._fetcher.close()


def fetch_index_base(
    fetcher: HTTPFetcher, base_url: str, state: Mapping[str, Any] | None, home: Path, build: bool = False
) -> IndexUpdate | None:
    """The index of the data root at ``base_url``: its companion ``.one_index.tsv`` (sizes and md5s)
    when the server has one, else ``.one_root``; ``state["index_name"]`` says which was read.
    ``build``: see :func:`fetch_index_url`."""
    from onecore.index import COMPANION_NAME
    from onecore.paths import url_join

    for name in (COMPANION_NAME, ".one_root"):
        same = state if state and state.get("index_name", ".one_root") == name else None
        try:
            update = fetch_index_url(fetcher, url_join(base_url, name), same, home, base_url, build=build)
        except TransferError as e:
            if name == COMPANION_NAME and any(f"HTTP {c}" in str(e) for c in (403, 404, 410)):
                continue  # a data root indexed by ONE light or an older onecore (some hosts say 403)
            raise
        if update is not None:
            update.state["index_name"] = name
        return update
    raise AssertionError("unreachable")


def fetch_index_url(
    fetcher: HTTPFetcher,
    url: str,
    state: Mapping[str, Any] | None,
    home: Path,
    base_url: str | None,
    build: bool = False,
) -> IndexUpdate | None:
    """Conditionally GET an index URL; None when unchanged, else an update streaming its rows.

    Shared by every type whose index is a ``.one_root`` served over HTTP. ``build``: when there is no
    earlier sha256 to compare with (a first open, a forced refresh), the index is parsed and loaded
    into a new catalog file while it downloads, and ``rows`` is that file
    (:class:`~onecore.catalog.prebuilt.BuiltCatalog`, which ``Catalog.rebuild`` installs as it is);
    else it is spooled first, so that identical bytes under a new validator are not parsed at all.
    """
    from onecore.catalog import IndexLines, sweep_leftovers
    from onecore.index import IndexProblem, sweep_index_leftovers
    from onecore.transfer import RetryPolicy
    from onecore.transfer.protocols import strong_last_modified

    headers = {"Accept-Encoding": "gzip"}
    if state:
        if state.get("etag"):
            headers["If-None-Match"] = state["etag"]
        if state.get("last_modified"):
            headers["If-Modified-Since"] = state["last_modified"]
    tmpdir = home / "tmp"
    tmpdir.mkdir(parents=True, exist_ok=True)
    sweep_index_leftovers(tmpdir)
    sweep_leftovers(tmpdir)  # catalog files of killed streamed fetches

    streamed = build and not (state and state.get("sha256"))

    def get() -> tuple[Any, str, dict[str, str]] | None:
        if streamed:
            return _stream_index(fetcher, url, headers, tmpdir, base_url)
        return _spool_index(fetcher, url, headers, tmpdir)

    try:
        got = RetryPolicy.from_env().call(get, f"fetching the index {url}")
    except Exception as e:
        import requests

        if isinstance(e, requests.RequestException):
            raise TransferError(f"fetching the index {url}: {e}") from None
        raise
    if got is None:
        return None
    tmp, digest, resp_headers = got
    new_state = {
        "etag": resp_headers.get("ETag"),
        "last_modified": strong_last_modified(resp_headers),
        "sha256": digest,
    }
    if streamed:
        built, problems = tmp
        return IndexUpdate(rows=built, state=new_state, problems=problems)
    if state and state.get("sha256") == digest:
        tmp.close()
        if all(state.get(k) == new_state.get(k) for k in ("etag", "last_modified")):
            return None
        return IndexUpdate(rows=(), state=new_state, unchanged=True)  # same bytes, new validator: store it
    problems: list[IndexProblem] = []

    def chunks() -> Iterator[bytes]:
        try:
            yield from iter(lambda: tmp.read(1 << 20), b"")
        finally:
            tmp.close()

    # IndexLines: parsed like read_index_file, and loaded by the catalog without a Dataset per row.
    rows = IndexLines.from_chunks(chunks(), base_url=base_url, source=url, problems=problems)
    rows.spool = _Closer(tmp)  # type: ignore[attr-defined]  # the file goes when the rows are read or dropped
    return IndexUpdate(rows=rows, state=new_state, problems=problems)


class _Closer:
    """Closes (and so deletes: it is nameless) a spooled index file when dropped unread, e.g. by
    ``add-repo``'s check, without a ResourceWarning."""

    def __init__(self, f: Any) -> None:
        self.f = f

    def __del__(self) -> None:
        self.f.close()


def _index_response(fetcher: HTTPFetcher, url: str, headers: dict[str, str]) -> Any:
    """The open ``200`` answer to a GET of the index (the caller closes it); None for ``304``, the
    HTTP error for anything else."""
    from onecore.transfer import http_error

    r = fetcher.get(url, headers=headers, stream=True)
    if r.status_code == 200:
        return r
    r.close()
    if r.status_code == 304:
        return None
    raise http_error(r, f"GET {url} (the repository index)")


def _spool_index(
    fetcher: HTTPFetcher, url: str, headers: dict[str, str], tmpdir: Path
) -> tuple[Any, str, dict[str, str]] | None:
    """One GET of the index into a nameless temporary file: (the open file at its start, sha256, the
    answer's headers), or None
    for ``304``. Bounded in size (``ONE_MAX_INDEX_BYTES``), whole time (``ONE_INDEX_SECONDS``) and
    throughput (the stall rule)."""
    from onecore.index_spool import IndexSpool
    from onecore.transfer.answers import cut_errors, iter_body

    r = _index_response(fetcher, url, headers)
    if r is None:
        return None
    try:
        spool = IndexSpool(url, tmpdir)  # nameless: nothing is left behind, even by a kill
        try:
            for chunk in iter_body(r, 1 << 20):
                spool.write(chunk)
        except cut_errors() as e:
            spool.discard()
            raise TransientError(f"fetching the index {url}: the answer was cut ({type(e).__name__})") from None
        except BaseException:
            spool.discard()
            raise
        f, digest = spool.finish()
        return f, digest, dict(r.headers)
    finally:
        r.close()


def _stream_index(
    fetcher: HTTPFetcher,
    url: str,
    headers: dict[str, str],
    tmpdir: Path,
    base_url: str | None,
    published: bool = True,
) -> tuple[Any, str, dict[str, str]] | None:
    """One GET of the index, parsed and loaded into a new catalog file as it arrives: ((the
    :class:`BuiltCatalog`, the index problems), sha256, the answer's headers), or None for ``304``.
    The same bounds as :func:`_spool_index` (the parser's own time left out of the deadline and the
    stall rule); a cut answer is a :class:`TransientError` (the whole fetch is retried) and leaves
    no file. When the data root publishes a prebuilt catalog (``published``), the index is only hashed
    and that catalog is used if it matches (:mod:`onecore.builtins.http_catalog`)."""
    import time
    from itertools import chain

    from onecore.catalog import IndexLines
    from onecore.catalog.prebuilt import build_streamed
    from onecore.index import IndexProblem
    from onecore.index_spool import IndexSpool
    from onecore.transfer.answers import cut_errors, iter_body

    r = _index_response(fetcher, url, headers)
    if r is None:
        return None
    try:
        meter = IndexSpool(url, tmpdir, keep=False)
        cut = cut_errors()

        def body() -> Iterator[bytes]:
            it = iter_body(r, 1 << 20)
            while True:
                try:
                    chunk = next(it, None)
                except cut as e:
                    raise TransientError(f"fetching the index {url}: the answer was cut ({type(e).__name__})") from None
                if chunk is None:
                    return
                meter.write(chunk)
                t = time.monotonic()
                yield chunk
                meter.pause(time.monotonic() - t)

        chunks = body()
        first = next(chunks, b"")
        if published and base_url is not None and _announces_catalog(first):
            from .http_catalog import REFUSED, fetch_published

            got = fetch_published(fetcher, url, chain([first], chunks), meter, base_url, tmpdir)
            if got == REFUSED:  # the index was only hashed: fetched again, to be parsed
                r.close()
                return _stream_index(fetcher, url, headers, tmpdir, base_url, published=False)
            found, digest = got
            return found, digest, dict(r.headers)
        problems: list[IndexProblem] = []
        rows = IndexLines.from_chunks(chain([first], chunks), base_url=base_url, source=url, problems=problems)
        built = build_streamed(tmpdir, rows, None)
        return (built, problems), meter.sha256.hexdigest(), dict(r.headers)
    finally:
        r.close()


def _announces_catalog(first: bytes) -> bool:
    """Whether the index's first line is a companion header announcing a prebuilt catalog
    (``catalog=.one_catalog.sqlite``: see :mod:`onecore.catalog.published`)."""
    from onecore.catalog.published import CATALOG_FIELD

    line = first.split(b"\n", 1)[0].rstrip(b"\r")
    return line.startswith(b"#one_index") and CATALOG_FIELD.encode() in line.split(b"\t")
