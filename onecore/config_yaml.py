"""Writing ``config.yaml`` without losing what the user wrote: comments, order, quoting, flow style.

:func:`render` applies a wanted state (the repositories and the current one) to the text of the file
as it is on disk with a round-trip YAML editor (``ruamel.yaml``): only the keys that change are
touched, so a comment beside a repository, a blank line or the order of the fields survive an
``add-repo``, ``edit-repo``, ``remove-repo`` or ``repo NAME``. The result is parsed back and
compared with the wanted state; if the round trip cannot represent it (or ``ruamel.yaml`` is
missing) the file is written plainly instead, which is still correct, only without the comments.
"""

from __future__ import annotations

import io
from typing import Any, Mapping


def plain(repositories: Mapping[str, tuple[str, Mapping[str, Any]]], current: str | None) -> str:
    """The config as a fresh YAML document (no comments to keep)."""
    import yaml

    data: dict[str, Any] = {}
    if current:
        data["current"] = current
    data["repositories"] = {name: {"type": t, **dict(s)} for name, (t, s) in repositories.items()}
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def _state(text: str) -> tuple[dict[str, dict[str, Any]], str | None]:
    import yaml

    data = yaml.safe_load(text) or {}
    repos = {str(k): dict(v) for k, v in (data.get("repositories") or {}).items()}
    return repos, data.get("current")


def _apply(doc: Any, repositories: Mapping[str, tuple[str, Mapping[str, Any]]], current: str | None) -> None:
    from ruamel.yaml.comments import CommentedMap

    if current:
        if "current" in doc:
            doc["current"] = current
        else:
            doc.insert(0, "current", current)
    elif "current" in doc:
        del doc["current"]
    repos = doc.get("repositories")
    if not isinstance(repos, CommentedMap):
        repos = CommentedMap()
        doc["repositories"] = repos
    for name in [k for k in repos if str(k) not in repositories]:
        del repos[name]
    for name, (type_, settings) in repositories.items():
        body = {"type": type_, **dict(settings)}
        node = repos.get(name)
        if not isinstance(node, CommentedMap):
            repos[name] = CommentedMap(body)
            continue
        for key in [k for k in node if str(k) not in body]:
            del node[key]
        for key, value in body.items():
            if key not in node or node[key] != value or type(node[key]) is not type(value):
                node[key] = value


def render(text: str, repositories: Mapping[str, tuple[str, Mapping[str, Any]]], current: str | None) -> str:
    """``text`` edited to hold exactly ``repositories`` (name -> (type, settings)) and ``current``."""
    wanted = ({n: {"type": t, **dict(s)} for n, (t, s) in repositories.items()}, current or None)
    if not text.strip():
        return plain(repositories, current)
    try:
        from ruamel.yaml import YAML
        from ruamel.yaml.comments import CommentedMap

        yaml_rt = YAML(typ="rt")
        yaml_rt.preserve_quotes = True
        yaml_rt.width = 4096
        doc = yaml_rt.load(text)
        if not isinstance(doc, CommentedMap):
            return plain(repositories, current)
        _apply(doc, repositories, current)
        out = io.StringIO()
        yaml_rt.dump(doc, out)
        new = out.getvalue()
        if _state(new) == wanted:
            return new
    except Exception:  # noqa: BLE001 - any round-trip trouble: fall back to the plain, correct form
        pass
    return plain(repositories, current)
