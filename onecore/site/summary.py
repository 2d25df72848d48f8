"""A short HTML summary of a data root (for a figshare article's description), as ONE light wrote.

Only tags that figshare keeps in descriptions are used (``p``, ``b``, ``ul``, ``li``, ``code``,
``br``); every name is HTML-escaped. Standard library only (no Jinja2 needed).
"""

from __future__ import annotations

import html
from typing import Iterable

#: Sessions listed by name before "and N more".
MAX_SESSIONS = 50


def _session_of(rel_path: str) -> str | None:
    parts = rel_path.split("/")
    for i in range(len(parts) - 2):
        if len(parts[i + 1]) == 10 and parts[i + 1][4] == "-" and parts[i + 2].isdigit():
            return "/".join(parts[: i + 3])
    return None


def describe_html(datasets: Iterable[str], sizes: dict[str, int] | None = None, title: str | None = None) -> str:
    """HTML describing ``datasets`` (paths from the lab folder): counts, size, sessions, how to load.

    ``sizes`` maps paths to bytes (for the total). The text stays short: at most
    :data:`MAX_SESSIONS` sessions are named.
    """
    by_session: dict[str, int] = {}
    types: set[str] = set()
    for p in datasets:
        s = _session_of(p)
        if s is None:
            continue
        by_session[s] = by_session.get(s, 0) + 1
        name = p.rsplit("/", 1)[-1].split(".")
        if len(name) >= 3:
            types.add(f"{name[0]}.{name[1]}")
    total = sum(sizes.values()) if sizes else None
    n = sum(by_session.values())
    e = html.escape
    out = []
    if title:
        out.append(f"<p><b>{e(title)}</b></p>")
    from .build import human_size

    size = f", {human_size(total)}" if total else ""
    out.append(
        f"<p>{len(by_session)} sessions, {n} datasets{size}, following the ALF convention "
        "(lab/Subjects/subject/date/number/collection/object.attribute.extension).</p>"
    )
    if types:
        out.append("<p>Dataset types: " + ", ".join(f"<code>{e(t)}</code>" for t in sorted(types)[:40]) + "</p>")
    items = [f"<li>{e(s)} ({k} datasets)</li>" for s, k in sorted(by_session.items())[:MAX_SESSIONS]]
    if len(by_session) > MAX_SESSIONS:
        items.append(f"<li>and {len(by_session) - MAX_SESSIONS} more sessions</li>")
    out.append("<ul>" + "".join(items) + "</ul>")
    out.append(
        "<p>Load the data with onecore (<code>pip install onecore onelight-figshare</code>): "
        "<code>one add-repo NAME --type figshare --set article=ARTICLE_URL</code>, then "
        "<code>one search</code> and <code>one download SESSION</code>, or in Python "
        "<code>ONE().load_object(session, 'spikes')</code>.</p>"
    )
    return "\n".join(out)
