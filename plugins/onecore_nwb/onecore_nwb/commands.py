"""``one export-nwb SESSION``: write a session as a DANDI-ready NWB file (pynwb loaded only when run)."""

from __future__ import annotations

import warnings
from pathlib import Path

import click


@click.command("export-nwb")
@click.argument("session")
@click.option(
    "--out",
    "out_dir",
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Write DIR/sub-<subject>/sub-<subject>_ses-<date>-<number>_<modalities>.nwb.",
)
@click.option("--repo", metavar="NAME", help="Use this configured repository instead of the current one.")
@click.option(
    "--collection",
    "collections",
    multiple=True,
    metavar="C",
    help="Export only this collection (repeatable; wildcards allowed; '' is the session folder).",
)
@click.option("--overwrite", is_flag=True, help="Replace the NWB file if it exists.")
@click.option(
    "--timezone",
    metavar="TZ",
    default=None,
    help="Time zone of the session date (IANA name such as Europe/London, or +HH:MM). Default: UTC.",
)
def export_nwb(
    session: str, out_dir: Path, repo: str | None, collections: tuple[str, ...], overwrite: bool, timezone: str | None
) -> None:
    """Export SESSION (a session id or path) to one NWB file laid out for DANDI (dandi organize/upload)."""
    from onecore.sdk import One

    from . import export
    from .errors import ExportWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ExportWarning)
        with One(repo=repo) as one:
            path = export(
                one, session, out_dir, collections=collections or None, overwrite=overwrite, timezone=timezone
            )
    for w in caught:
        if issubclass(w.category, ExportWarning):
            click.echo(f"Warning: {w.message}", err=True)
    click.echo(str(path))
