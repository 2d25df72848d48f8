"""The ``figshare`` repository type: a figshare article of ALF datasets with a ``.one_root`` index.

Settings: ``article`` (any article URL form, a DOI or the id; ONE light's ``article_id`` is read too),
``token`` (secret, or ``$FIGSHARE_TOKEN``), ``api_url`` and ``public``. Reading uses the latest
published version without a token when ``public`` is set or no token is given, else the private draft
with the token. Uploads and publishing always use the token.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping
from urllib.parse import urlsplit

from onecore.sdk import (
    ConfigError,
    Dataset,
    Field,
    HTTPFetcher,
    IndexProblem,
    IndexUpdate,
    NotFound,
    Progress,
    Repository,
    TransferError,
    TransferReport,
)

from .api import DEFAULT_API_URL, TOKEN_HELP, ArticleNotFound, FigshareAPI, RemoteFile
from .article_id import parse_article_id
from .naming import INDEX_NAME, INDEX_NAMES, encode_name
from .uploader import ArticleUploader, index_rows, problem_of

#: Settings ONE light wrote in its config that mean nothing here (read and dropped).
_ONELIGHT_IGNORED = ("root_file_id", "name")


class FigshareFetcher(HTTPFetcher):
    """An :class:`HTTPFetcher` that adds ``Authorization: token ...`` to requests for figshare's own hosts
    (and the configured API's host) only, so an index pointing elsewhere never receives the token."""

    def __init__(self, token: str | None, api_url: str, **kwargs: Any):
        super().__init__(**kwargs)
        self._token = token
        self._api_host = urlsplit(api_url).netloc.lower()

    def __repr__(self) -> str:
        return f"<FigshareFetcher token={'****' if self._token else None}>"

    def trusted(self, url: str) -> bool:
        """Whether ``url`` is served by figshare (or the configured API host)."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        figshare = host == "figshare.com" or host.endswith(".figshare.com")
        return parts.scheme in ("http", "https") and (parts.netloc.lower() == self._api_host or figshare)

    def request_headers(self, url: str) -> dict[str, str]:
        """The token, for figshare's own hosts only (asked for every request and redirect hop)."""
        if self._token and self.trusted(url):
            return {"Authorization": f"token {self._token}"}
        return {}


class FigshareRepository(Repository):
    """A figshare article: datasets stored as ``lab~Subjects~...`` files, indexed by ``.one_root``
    and its companion ``.one_index.tsv``."""

    type = "figshare"
    description = "a figshare article (files named lab~Subjects~..., with a .one_root index)"
    fields = (
        Field("article", "the figshare article URL (any form) or its id", required=True),
        Field(
            "token",
            "figshare personal token (https://figshare.com/account/applications); needed to "
            "upload, publish or read an unpublished article",
            secret=True,
            env="FIGSHARE_TOKEN",
        ),
        Field("api_url", "figshare API base URL", default=DEFAULT_API_URL),
        Field("public", "read the published version without the token", default=False, type=bool),
    )
    can_upload = True

    # -- settings ------------------------------------------------------------------------------
    @classmethod
    def normalize_settings(cls, settings: Mapping[str, Any], name: str = "?") -> dict[str, Any]:
        """Also accept ONE light's ``article_id`` (and drop its ``root_file_id``)."""
        settings = dict(settings)
        legacy = settings.pop("article_id", None)
        if legacy not in (None, "") and settings.get("article") in (None, ""):
            settings["article"] = legacy
        for key in _ONELIGHT_IGNORED:
            settings.pop(key, None)
        return super().normalize_settings(settings, name)

    @classmethod
    def validate_settings(cls, settings: dict[str, Any], name: str) -> dict[str, Any]:
        settings["article"] = parse_article_id(settings["article"], name)
        url = str(settings.get("api_url") or DEFAULT_API_URL).strip()
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"repository {name!r}: api_url {url!r} must start with https:// (or http://)")
        settings["api_url"] = url.rstrip("/")
        if settings.get("token") is not None:
            settings["token"] = settings["token"].strip() or None
        return settings

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.api = FigshareAPI(self.settings["api_url"], self.article_id, self.settings.get("token"))
        self._fetcher: FigshareFetcher | None = None

    @property
    def article_id(self) -> int:
        return int(self.settings["article"])

    @property
    def private_reads(self) -> bool:
        """True when reading the draft with the token; False for the public (published) version."""
        return bool(self.settings.get("token")) and not self.settings.get("public")

    def _need_token(self, what: str) -> None:
        if not self.settings.get("token"):
            raise ConfigError(
                f"repository {self.name!r} (figshare article {self.article_id}): {what} needs a token; {TOKEN_HELP}"
            )

    # -- checks --------------------------------------------------------------------------------
    def check(self) -> None:
        """With a token: the token must give access to the article; without: it must be published."""
        if self.settings.get("token"):
            self.api.private_article("checking the token")
            return
        try:
            self.api.public_article("reading the public article")
        except ArticleNotFound:
            raise NotFound(
                f"figshare article {self.article_id} is not found or not published yet: check the "
                "article URL, or give a token to use an unpublished article"
            ) from None

    # -- reading -------------------------------------------------------------------------------
    def fetcher(self) -> FigshareFetcher:
        if self._fetcher is None:
            token = self.settings.get("token") if self.private_reads else None
            self._fetcher = FigshareFetcher(token, self.settings["api_url"])
        return self._fetcher

    def _list_for_reading(self) -> list[RemoteFile]:
        if self.private_reads:
            return self.api.list_files()
        try:
            return self.api.list_files(public=True)
        except ArticleNotFound:
            raise ArticleNotFound(
                f"figshare article {self.article_id} has no public version: publish it ('one publish') or, "
                "if it is yours, set its token (and public=false) to read the draft"
            ) from None

    def fetch_index(self, state: Mapping[str, Any] | None) -> IndexUpdate | None:
        files = self._list_for_reading()
        view = "private" if self.private_reads else "public"
        index = pick_index(files)
        if index is None:
            return self._index_from_listing(files, view, state)
        new_state = {"view": view, "index_id": index.id, "index_md5": index.md5, "index_name": index.name}
        if state and all(state.get(k) == v for k, v in new_state.items()):
            return None
        from onecore.sdk import fetch_index_url

        got = fetch_index_url(self.fetcher(), index.download_url, None, self.home, None)
        assert got is not None  # no state given: never "unchanged"
        by_name = {f.name: f for f in files}
        source = f"figshare article {self.article_id}: {index.name}"
        problems: list[IndexProblem] = got.problems

        def rows() -> Iterator[Dataset]:
            for row in got.rows:
                listed = by_name.get(encode_name(row.rel_path))
                if row.url is None:
                    if listed is None:
                        problems.append(
                            IndexProblem(source, 0, row.rel_path, "no URL in the index and no such file in the article")
                        )
                        continue
                    row.url = listed.download_url
                if listed is not None and listed.download_url == row.url:
                    row.size = listed.size if row.size is None else row.size
                    row.md5 = (listed.md5 or None) if row.md5 is None else row.md5
                yield row

        return IndexUpdate(rows=rows(), state={**new_state, **got.state}, problems=problems)

    def _index_from_listing(
        self, files: list[RemoteFile], view: str, state: Mapping[str, Any] | None
    ) -> IndexUpdate | None:
        """No index file: the article's ALF files are the index (names decoded from ``~``)."""
        listing = "\n".join(f"{f.id}\t{f.name}\t{f.md5}\t{f.status}" for f in files)
        sig = hashlib.sha1(listing.encode()).hexdigest()
        new_state = {"view": view, "listing": sig}
        if state and all(state.get(k) == v for k, v in new_state.items()):
            return None
        source = f"figshare article {self.article_id} (file list, no {INDEX_NAME})"
        problems = []
        for n, f in enumerate(files, 1):
            why = problem_of(f.name)
            if why:
                problems.append(IndexProblem(source, n, f.name, f"not an ALF dataset name, skipped: {why}"))
            elif not f.complete:
                why = f"upload not complete (status {f.status}), skipped"
                problems.append(IndexProblem(source, n, f.name, why))
        rows, _ = index_rows(files, complete_only=True)
        return IndexUpdate(rows=rows, state=new_state, problems=problems)

    # -- writing -------------------------------------------------------------------------------
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
        """Upload ``datasets`` of ``root`` into the article (see :mod:`onelight_figshare.uploader`);
        ``delete`` removes the article's datasets that are not in ``datasets``."""
        from onecore.sdk import HashCache

        self._need_token("uploading")
        try:  # the hash cache and the index's temporary file live there: say so once, clearly
            (self.home / "tmp").mkdir(parents=True, exist_ok=True)
            HashCache(self.home / "hashes.sqlite").close()
        except (OSError, sqlite3.Error) as e:
            raise TransferError(
                f"cannot upload to repository {self.name!r}: cannot write in ONE_HOME {self.home} "
                f"({getattr(e, 'strerror', None) or e}); make it writable or set ONE_HOME to a "
                "writable folder"
            ) from None
        hashes = HashCache(self.home / "hashes.sqlite")
        try:
            up = ArticleUploader(self.api, hashes, self.home / "tmp", jobs=jobs, progress=progress)
            return up.run(Path(root), list(datasets), dry_run=dry_run, delete=delete)
        finally:
            hashes.close()

    def describe(self, root: Path, datasets: list[str]) -> str:
        """Write a short HTML summary of ``datasets`` into the article's description (``--describe``)."""
        from onecore.sdk import describe_html

        self._need_token("writing the description")
        sizes = {p: (Path(root) / p).stat().st_size for p in datasets if (Path(root) / p).is_file()}
        text = describe_html(datasets, sizes)
        self.api.call("PUT", self.api._private, "writing the description", json_body={"description": text})
        return f"wrote a summary of {len(datasets)} datasets into the description of figshare article {self.article_id}"

    def publish(self) -> str:
        """Publish a new public version of the article; figshare's message is shown when it refuses."""
        self._need_token("publishing")
        try:
            got = self.api.publish() or {}
        except TransferError as e:
            if "HTTP 400" in str(e) or "HTTP 422" in str(e):
                raise TransferError(
                    f"{e}. Fill in the article's mandatory metadata on figshare "
                    f"(https://figshare.com/account/articles/{self.article_id}) and publish "
                    "again"
                ) from None
            raise
        where = got.get("location") if isinstance(got, dict) else None
        msg = f"published a new public version of figshare article {self.article_id}"
        return msg + (f" ({where})" if where else "")

    def close(self) -> None:
        self.api.close()
        if self._fetcher is not None:
            self._fetcher.close()
            self._fetcher = None


def pick_index(files: list[RemoteFile]) -> RemoteFile | None:
    """The index file to read: the newest complete ``.one_index.tsv``, else ``.one_root``, else an older name."""
    for name in INDEX_NAMES:
        found = [f for f in files if f.name == name and f.complete]
        if found:
            return max(found, key=lambda f: f.id)
    return None
