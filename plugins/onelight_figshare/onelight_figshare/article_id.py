"""Parsing a figshare article id from whatever the user pastes."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from onecore.sdk import ConfigError

# figshare DOIs: 10.6084/m9.figshare.<id>[.v<version>], institutional ones 10.25378/janelia.<id>[.v<n>]
_DOI = re.compile(r"(?:^|/|doi:)10\.\d{4,9}/[\w.-]*?\.(\d+)(?:\.v\d+)?\s*$", re.IGNORECASE)
_EXAMPLES = (
    "https://figshare.com/articles/dataset/Some_title/12345678, "
    "https://figshare.com/account/articles/12345678, "
    "https://doi.org/10.6084/m9.figshare.12345678.v2 or the bare id 12345678"
)


def parse_article_id(value: object, repo: str = "?") -> int:
    """The article id in ``value``: a number, an article URL (public, versioned, account or API form)
    or a figshare DOI. Raises :class:`ConfigError` explaining what was expected otherwise."""
    if isinstance(value, bool):
        raise ConfigError(f"repository {repo!r}: field 'article' must be an article URL or id, not {value!r}")
    if isinstance(value, int):
        if value > 0:
            return value
        raise ConfigError(f"repository {repo!r}: article id {value} must be a positive number")
    text = str(value or "").strip()
    if not text:
        raise ConfigError(f"repository {repo!r}: the field 'article' is required (e.g. {_EXAMPLES})")
    if text.isdigit() and text.isascii():
        return _positive(int(text), text, repo)
    m = _DOI.search(text)
    if m:
        return _positive(int(m.group(1)), text, repo)
    if (
        "://" not in text
        and text.lower().startswith(("figshare.com", "www.figshare.com"))
        or re.match(r"^[\w.-]+\.figshare\.com/", text, re.IGNORECASE)
    ):
        text = "https://" + text
    parts = urlsplit(text)
    segs = [s for s in parts.path.split("/") if s]
    if parts.scheme in ("http", "https") and segs:
        kind = next((s for s in segs if s in ("collections", "projects", "s", "files")), None)
        if "articles" in segs:
            after = segs[segs.index("articles") + 1 :]
            got = _id_from_segments(after)
            if got is not None:
                return _positive(got, text, repo)
        elif kind == "s":
            raise ConfigError(
                f"repository {repo!r}: {text!r} is a figshare private link, which does not "
                "contain the article id; paste the article's URL from 'My data' instead "
                f"(e.g. {_EXAMPLES})"
            )
        elif kind is not None:
            what = "file" if kind == "files" else kind[:-1]
            raise ConfigError(
                f"repository {repo!r}: {text!r} is a figshare {what} URL, not an article; "
                f"paste the article's URL (e.g. {_EXAMPLES})"
            )
    raise ConfigError(
        f"repository {repo!r}: cannot find a figshare article id in {text!r}; "
        f"paste the article's URL or its id (e.g. {_EXAMPLES})"
    )


def _id_from_segments(after: list[str]) -> int | None:
    """``articles/<id>[/<version>]``, ``articles/<title>/<id>[/<version>]`` or
    ``articles/<type>/<title>/<id>[/<version>]`` -> id."""
    if not after:
        return None
    if after[0].isdigit():
        return int(after[0])
    run: list[str] = []
    for s in reversed(after):
        if not s.isdigit():
            break
        run.insert(0, s)
    if not run:
        return None
    if len(run) >= 2 and len(run[-1]) <= 3:  # .../<id>/<version>
        return int(run[-2])
    return int(run[-1])


def _positive(n: int, text: str, repo: str) -> int:
    if n <= 0:
        raise ConfigError(f"repository {repo!r}: {text!r} does not give a valid (positive) article id")
    return n
