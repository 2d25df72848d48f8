"""Options and messages shared by the commands of ``one`` that read a catalog (search, list, download).

Light on purpose (click and the standard library only): ``one --help`` imports it.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

import click

#: The catalog modes of :class:`onecore.api.One` (``onecore.api.MODES``).
MODES = ("auto", "local", "refresh", "remote")
ENV_MODE = "ONE_MODE"


def mode_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--mode auto|local|refresh|remote`` (default ``$ONE_MODE``, else auto) and ``--offline``
    (= ``--mode local``) to a command; the command receives ``mode``."""

    @functools.wraps(f)
    def wrapper(*args: Any, mode: str | None, offline: bool, **kwargs: Any) -> Any:
        if offline:
            ctx = click.get_current_context()
            from_env = ctx.get_parameter_source("mode") != click.core.ParameterSource.COMMANDLINE
            if mode not in (None, "local") and not from_env:
                raise click.UsageError(f"--offline means --mode local; it cannot be used with --mode {mode}")
            mode = "local"
        return f(*args, mode=mode or "auto", **kwargs)

    wrapper = click.option(
        "--offline", is_flag=True, help="Use only the cached catalog, never the network (same as --mode local)."
    )(wrapper)
    return click.option(
        "--mode",
        type=click.Choice(MODES),
        envvar=ENV_MODE,
        show_envvar=True,
        help="auto (default): update the catalog when the repository's index changed, else use the cache; "
        "local: the cached catalog only; refresh: rebuild it first; remote: ask the server each time "
        "(database types).",
    )(wrapper)


def revision(value: str | None) -> str | None:
    """A revision as typed: ``2023-01-01`` or its folder name ``#2023-01-01#``."""
    if value is None:
        return None
    text = value.strip()
    return text[1:-1] if len(text) > 2 and text.startswith("#") and text.endswith("#") else text


def count(n: int, what: str) -> str:
    """``0 sessions``, ``1 session``, ``2 sessions``."""
    return f"{n} {what}{'' if n == 1 else 's'}"


def hints_enabled() -> bool:
    """Whether suggestions are shown: on a terminal only (never in a pipe, a script or ``--json``)."""
    return sys.stderr.isatty()


def _nearest(wanted: str, values: Iterable[str]) -> list[str]:
    import difflib

    values = list(values)
    close = set(difflib.get_close_matches(wanted, values, n=5, cutoff=0.6))
    low = wanted.lower()
    close |= {v for v in values if v.lower().startswith(low) or (len(low) >= 3 and low in v.lower())}

    def closeness(v: str) -> tuple[float, str]:
        return (-difflib.SequenceMatcher(None, wanted, v).ratio(), v)

    return sorted(close, key=closeness)[:5]


def _dataset_names(one: Any) -> list[str]:
    """Every name a dataset term can match in the catalog (objects, object.attribute, file names,
    collections); empty if the catalog cannot say (suggestions are only a courtesy)."""
    try:
        rows = one.catalog.db.execute("SELECT DISTINCT object, attribute, filename, collection FROM names").fetchall()
    except Exception:  # noqa: BLE001 - another catalog layout: no suggestion rather than an error
        return []
    names: set[str] = set()
    for obj, attr, filename, collection in rows:
        names.update((obj, f"{obj}.{attr}", filename, filename.rsplit(".", 1)[0]))
        if collection:
            names.update((collection, *collection.split("/")))
    return sorted(n for n in names if n)


def nearest_values(one: Any, filters: dict[str, Any]) -> list[str]:
    """For each lab, subject or dataset asked that does not exist, one line naming the nearest ones."""
    lines = []
    wanted = filters.get("datasets") or []
    names = None
    for w in [wanted] if isinstance(wanted, str) else wanted:
        if any(c in str(w) for c in "*?["):
            continue
        names = names if names is not None else _dataset_names(one)
        if names and w not in names:
            near = _nearest(str(w), [n for n in names if "." in n or "/" not in n])
            lines.append(f"no dataset {w!r}; did you mean {', '.join(near)}?" if near else f"no dataset {w!r}")
    for key, known in (("lab", one.list_labs), ("subject", one.list_subjects)):
        asked = filters.get(key)
        if not asked:
            continue
        values = None
        for w in [asked] if isinstance(asked, str) else asked:
            if any(c in str(w) for c in "*?["):
                continue
            values = values if values is not None else known()
            if w in values:
                continue
            near = _nearest(str(w), values)
            if near:
                lines.append(f"no {key} {w!r}; did you mean {', '.join(near)}?")
            else:
                lines.append(f"no {key} {w!r} ({count(len(values), key)} known)")
    return lines


def no_collection(one: Any, session: str, collection: str) -> str:
    """The message for a collection with no dataset in a session: which collections it has."""
    have = one.list_collections(session)
    listed = ", ".join(have) if have else "none (all its datasets are at the session's top level)"
    return f"session {session} has no dataset in collection {collection!r}; its collections: {listed}"


def human(n: int | None) -> str:
    """A byte count for people, as the transfer summaries write it: 512 B, 1.5 KB, 2.3 MB, 4.0 GB."""
    if n is None:
        return "size unknown"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if abs(value) < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def _cached(path: Path, size: int | None) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return size is None or st.st_size == size


def _local_size(one: Any, full_path: str) -> int | None:
    from .repository import Dataset

    try:
        path = one.repository.local_path(Dataset(full_path))
        return os.stat(path).st_size if path is not None else None
    except (OSError, ValueError, Exception):  # noqa: BLE001 - a size is only informative here
        return None


def dry_run_report(one: Any, records: list[Any], dest: Path | None) -> None:
    """``download --dry-run``: each dataset as cached or to download, with sizes and totals."""
    local = one.repository.is_local and dest is None
    base = Path(dest) if dest is not None else one.repository.data_dir
    todo, cached = [], []
    for r in records:
        if r.size is None and one.repository.is_local:  # a local index has no sizes: the file has one
            r.size = _local_size(one, r.full_path)
        (cached if local or _cached(base / r.full_path, r.size) else todo).append(r)
    for r in cached:
        click.echo(f"{'in place' if local else 'cached'} {r.full_path} ({human(r.size)})")
    for r in todo:
        click.echo(f"would download {r.full_path} ({human(r.size)})")

    def total(rs: list[Any]) -> str:
        known = sum(r.size or 0 for r in rs)
        return human(known) + (" + unknown sizes" if any(r.size is None for r in rs) else "")

    click.echo(
        f"Dry run: {count(len(todo), 'dataset')} to download ({total(todo)}), "
        f"{len(cached)} already {'in place' if local else 'cached'} ({total(cached)})."
    )


def registry() -> Any:
    """The process-wide plugin registry (built on first use)."""
    from .plugins import get_registry

    return get_registry()


def is_terminal() -> bool:
    """Whether prompts can be shown (standard input is a terminal)."""
    return sys.stdin.isatty()


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON (what every ``--json`` option prints)."""
    import json

    click.echo(json.dumps(data, indent=2, default=str))


def parse_sets(sets: tuple[str, ...]) -> dict[str, str]:
    """``--set key=value`` options as a dict; a value without ``=`` is a usage error."""
    out = {}
    for s in sets:
        if "=" not in s:
            raise click.BadParameter(f"{s!r} is not key=value", param_hint="--set")
        k, v = s.split("=", 1)
        out[k.strip()] = v
    return out
