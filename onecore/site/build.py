"""Building the static site: templates rendered with Jinja2 (autoescaped), data files, static files."""

from __future__ import annotations

import datetime as _dt
import hashlib
import shutil
from pathlib import Path
from typing import Any, Callable

from ..errors import OneError
from .data import DataWriter, SiteStats, write_atomic

HERE = Path(__file__).resolve().parent
#: The file that marks a folder as a site written by onecore (so a rebuild may overwrite it).
MARKER = ".onecore-site"
_PLOT_KINDS = ("raster", "wheel", "trials")


def require_jinja() -> Any:
    """The jinja2 module, or a clear error saying which extra to install."""
    try:
        import jinja2
    except ImportError:
        raise OneError("'one site' needs Jinja2: pip install 'onecore[site]'") from None
    return jinja2


def _jinja() -> Any:
    jinja2 = require_jinja()
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def human_size(n: int | None) -> str:
    """``1.5 GB`` style (decimal units); ``?`` when unknown."""
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"  # pragma: no cover


def check_out_dir(out: Path) -> None:
    """Refuse a file, or a non-empty folder that is not a site written by onecore."""
    if out.exists() and not out.is_dir():
        raise OneError(f"{out} is a file; give a folder for the site")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise OneError(f"{out} is not empty and holds no site written by 'one site'; give an empty or new folder")


def _local_helpers(repository: Any) -> tuple[Callable[[Any], int | None], Callable[[Any], str | None]]:
    """Size and file:// URL of datasets of a local repository (the catalog has neither)."""
    from ..repository import Dataset

    def path_of(rec: Any) -> Path | None:
        try:
            return repository.local_path(Dataset(rec.full_path))
        except OneError:
            return None

    def size_of(rec: Any) -> int | None:
        if rec.size is not None:
            return rec.size
        p = path_of(rec)
        try:
            return p.stat().st_size if p is not None else None
        except OSError:
            return None

    def url_of(rec: Any) -> str | None:
        if rec.url:
            return rec.url
        p = path_of(rec)
        return p.as_uri() if p is not None and p.is_absolute() else None

    return size_of, url_of


def _plot_maker(one: Any, out: Path, log: Callable[[str], None]) -> Callable[[str, dict[str, Any]], list]:
    """The ``plots`` callback of the data writer: quick-look PNGs of each session, when it has the objects."""
    from .. import plot

    plot.require_matplotlib()

    def make(eid: str, session: dict[str, Any]) -> list[tuple[str, str]]:
        folder = f"plots/{hashlib.sha1(eid.encode()).hexdigest()[:16]}"
        made = []
        for kind in _PLOT_KINDS:
            try:
                fig = plot.session_figure(one, eid, kind, dpi=80)
            except plot.PlotError:
                continue  # the session lacks what this kind needs: no figure, no error
            except OneError as e:
                log(f"{session.get('path', eid)}: no {kind} plot: {e}")
                continue
            name = f"{folder}/{kind}.png"
            plot.save(fig, out / name)
            made.append((kind, name))
        return made

    return make


def build_site(
    out: str | Path,
    one: Any = None,
    *,
    repo: str | None = None,
    title: str | None = None,
    plots: bool = False,
    log: Callable[[str], None] | None = None,
) -> SiteStats:
    """Write the static site of a repository's catalog into ``out``; returns what was written.

    ``one`` is an open :class:`onecore.One` (else one is opened on ``repo``, the current repository
    by default, and closed afterwards). With ``plots``, each session page gets quick-look PNGs of
    the objects it has (raster, wheel, trials; needs ``onecore[plot]`` and downloads the data).
    """
    env = _jinja()
    out = Path(out)
    check_out_dir(out)
    log = log or (lambda msg: None)
    own = one is None
    if one is None:
        from ..api import One

        one = One(repo=repo)
    try:
        repository = one.repository
        sessions = one.catalog.search(details=True)
        size_of, url_of = _local_helpers(repository) if repository.is_local else (None, None)
        out.mkdir(parents=True, exist_ok=True)
        (out / MARKER).write_text("written by 'one site'; a rebuild overwrites this folder's site files\n")
        writer = DataWriter(
            out,
            repository.name,
            one.catalog.datasets,
            size_of=size_of,
            url_of=url_of,
            plots=_plot_maker(one, out, log) if plots else None,
        )
        stats = writer.write(sessions)
        _render(env, out, repository.name, title or f"Data in {repository.name}", stats)
        for f in (HERE / "static").iterdir():
            if f.suffix in (".css", ".js"):
                (out / "static").mkdir(exist_ok=True)
                shutil.copyfile(f, out / "static" / f.name)
        return stats
    finally:
        if own:
            one.close()


def _render(env: Any, out: Path, repo: str, title: str, stats: SiteStats) -> None:
    from .. import __version__

    context = {
        "repo": repo,
        "title": title,
        "stats": stats,
        "total_size": human_size(stats.total_size),
        "generated": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "version": __version__,
    }
    for name in ("index.html", "session.html"):
        write_atomic(out / name, env.get_template(name).render(**context))
