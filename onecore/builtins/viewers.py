"""Built-in plugin: the ``one site`` and ``one plot`` commands (through ``one_register_commands``).

Nothing heavy is imported here: click only inside the hook (which only the CLI calls), Jinja2 and
matplotlib only when a command runs (extras ``onecore[site]`` and ``onecore[plot]``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from onecore import hookimpl


def _site_command() -> Any:
    import click

    @click.command("site")
    @click.argument("out", type=click.Path(file_okay=False, path_type=Path))
    @click.option("--repo", "repo", metavar="NAME", help="Use this configured repository instead of the current one.")
    @click.option("--title", help="The site's title (default: 'Data in NAME').")
    @click.option("--plots", is_flag=True, help="Add quick-look PNGs (raster, wheel, trials) to session pages.")
    @click.option("--refresh", is_flag=True, help="Rebuild the catalog from the repository first.")
    def site_cmd(out: Path, repo: str | None, title: str | None, plots: bool, refresh: bool) -> None:
        """Write a static catalog website of a repository into OUT (open OUT/index.html, or serve OUT).

        Every session (filter by lab, subject, date and dataset type; sort by column), a page per
        session with its collections, revisions, datasets, download links and a code snippet. Needs
        onecore[site] (Jinja2); --plots also needs onecore[plot] and downloads the plotted data.
        """
        import time

        from onecore.api import One
        from onecore.site.build import build_site, human_size, require_jinja

        require_jinja()  # before opening the repository: a missing extra is the first thing said
        t0 = time.perf_counter()
        with One(repo=repo, mode="refresh" if refresh else "auto") as one:
            stats = build_site(out, one, title=title, plots=plots, log=lambda m: click.echo(m, err=True))
        click.echo(
            f"Wrote {out / 'index.html'}: {stats.sessions} sessions, {stats.datasets} datasets "
            f"({human_size(stats.total_size)}), {stats.shards} data shards of {human_size(stats.data_bytes)} "
            f"in all, in {time.perf_counter() - t0:.1f} s."
        )

    return site_cmd


def _plot_command() -> Any:
    import click

    @click.command("plot")
    @click.argument("session")
    @click.argument("kind", type=click.Choice(["raster", "wheel", "trials"]))
    @click.option(
        "--out",
        "out",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Image file (.png, .svg or .pdf); default: KIND.png in the current folder.",
    )
    @click.option("--collection", help="Only this collection (e.g. alf/probe00).")
    @click.option("--revision", help="This revision instead of the default one.")
    @click.option(
        "--time-range",
        nargs=2,
        type=float,
        metavar="A B",
        help="Only times from A to B seconds (trials: those starting then).",
    )
    @click.option("--repo", "repo", metavar="NAME", help="Use this configured repository instead of the current one.")
    def plot_cmd(
        session: str,
        kind: str,
        out: Path | None,
        collection: str | None,
        revision: str | None,
        time_range: tuple[float, float] | None,
        repo: str | None,
    ) -> None:
        """Draw a quick look at SESSION: KIND is raster (spikes by depth or cluster, per probe),
        wheel (position and velocity) or trials (choice, feedback, reaction times). Needs onecore[plot].
        """
        from onecore import plot
        from onecore.api import One

        plot.require_matplotlib()
        out = out or Path(f"{kind}.png")
        plot.check_format(out)
        with One(repo=repo) as one:
            fig = plot.session_figure(
                one, session, kind, collection=collection, revision=revision, time_range=time_range
            )
            plot.save(fig, out)
        click.echo(f"Wrote {out}")

    return plot_cmd


@hookimpl
def one_register_commands(register: Callable[[Any], None]) -> None:
    register(_site_command())
    register(_plot_command())
