"""The ``http`` client's side of a prebuilt catalog (``.one_catalog.sqlite``, see
:mod:`onecore.catalog.published`), looked for only when the companion's header announces it
(``catalog=.one_catalog.sqlite``): used on a first open or refresh instead of parsing the index,
once the sha256 of the index just downloaded (hashed, not parsed) is the one it records and the file
passed :func:`~onecore.catalog.published.check_published`. Otherwise one log line says why, and the
index is parsed as usual.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from onecore.errors import TransferError

if TYPE_CHECKING:
    from onecore.transfer import HTTPFetcher

log = logging.getLogger("onecore")

#: What :func:`fetch_published` returns when the index body was read but the catalog refused.
REFUSED = "refused"


def fetch_published(
    fetcher: HTTPFetcher, index_url: str, body: Iterator[bytes], meter: Any, base_url: str, tmpdir: Path
) -> tuple[tuple[Any, list], str] | str:
    """Hash the index (``body``, counted by ``meter``), then download and check the prebuilt
    catalog: ((the :class:`BuiltCatalog`, the index problems it records), the index sha256), or
    :data:`REFUSED` after logging why. Limits and cuts of the index itself are raised."""
    from onecore.catalog.prebuilt import BuiltCatalog
    from onecore.catalog.published import CATALOG_NAME, PublishedRefused, check_published
    from onecore.paths import url_join

    for _ in body:  # the index: hashed by the meter as it arrives, nothing parsed
        pass
    digest = meter.sha256.hexdigest()
    url = url_join(base_url, CATALOG_NAME)
    path = tmpdir / f"published-{secrets.token_hex(6)}.{os.getpid()}.building"
    try:
        _download(fetcher, url, path, tmpdir)
        meta = check_published(path, index_url.rsplit("/", 1)[-1], digest, base_url)
    except (PublishedRefused, TransferError, OSError) as e:
        from onecore.catalog.files import remove_with_side_files

        remove_with_side_files(path)
        log.warning("the prebuilt catalog %s is not used (%s); reading the index instead", url, e)
        return REFUSED
    return (BuiltCatalog(path, meta["counts"][1]), _problems(meta, index_url)), digest


def _download(fetcher: HTTPFetcher, url: str, path: Path, tmpdir: Path) -> None:
    """The catalog into ``path``, within the index's limits (size, deadline, stall)."""
    from onecore.index_spool import IndexSpool
    from onecore.transfer import http_error
    from onecore.transfer.answers import cut_errors, iter_body

    r = fetcher.get(url, stream=True)
    try:
        if r.status_code != 200:
            raise http_error(r, f"GET {url}")
        meter = IndexSpool(url, tmpdir, keep=False)
        with open(path, "xb") as f:
            try:
                for chunk in iter_body(r, 1 << 20):
                    meter.write(chunk)
                    f.write(chunk)
            except cut_errors() as e:
                raise TransferError(f"the answer was cut ({type(e).__name__})") from None
    finally:
        r.close()


def _problems(meta: dict[str, Any], source: str) -> list:
    """The index problems the publisher recorded, as :class:`IndexProblem` entries (bad entries dropped)."""
    from onecore.index import IndexProblem

    recorded = meta.get("index_problems")
    first = recorded.get("first") if isinstance(recorded, dict) else None
    out = []
    for p in first if isinstance(first, list) else ():
        if isinstance(p, list) and len(p) == 3 and isinstance(p[0], int) and all(isinstance(x, str) for x in p[1:]):
            out.append(IndexProblem(source, p[0], p[1][:200], p[2][:200]))
    return out
