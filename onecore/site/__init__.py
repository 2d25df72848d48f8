"""``one site``: a static, self-contained catalog website of a repository.

Layout of the site written into ``OUT`` (see :func:`onecore.site.build.build_site`)::

    index.html              every session, filtered and sorted in the browser (static/site.js)
    session.html            one page for every session: session.html#<eid> renders that session
    static/site.css         the only style sheet
    static/site.js          the only script (no library, no CDN)
    data/index.js           the session table, compact and column-wise (window.ONE_SITE_INDEX = ...)
    data/sessions/<k>.js    shard k of the per-session details (datasets, sizes, links), loaded on demand
    plots/<id>/<kind>.png   quick-look figures (``one site --plots``)

Data files are JavaScript (``<script src>``), not JSON fetched by ``fetch()``, so the site works opened
from disk (``file://``) as well as from any web server. Everything that comes from a repository is
escaped: Jinja2 autoescaping in the templates, JSON with ``<``, ``>``, ``&`` and line separators
escaped in the data files, and the script builds the page with ``textContent`` only (never
``innerHTML``); download links are kept only for http(s), ftp and file URLs.

Scale: the index holds a few integers per session (labs, subjects and dataset-type sets are
interned), so 100,000 sessions make a data file of a few MB that the browser parses, filters and
sorts in well under a second; only one page of rows is drawn at a time. Session details are split
into shards of a few hundred sessions chosen by a hash of the session id, so a session page loads
one small file whatever the size of the catalog.

Jinja2 is needed only here (``pip install onecore[site]``); nothing of this package is imported by
``import onecore`` or ``one --help``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["build_site", "describe_html"]


def build_site(*args: Any, **kwargs: Any) -> Any:
    """See :func:`onecore.site.build.build_site`."""
    from .build import build_site as _build

    return _build(*args, **kwargs)


def describe_html(*args: Any, **kwargs: Any) -> str:
    """See :func:`onecore.site.summary.describe_html`."""
    from .summary import describe_html as _describe

    return _describe(*args, **kwargs)
