"""``one zip-root ROOT ARCHIVE``: pack a data root into the archive a ``zipfile`` repository reads."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("zip-root")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
def zip_root(root: Path, archive: Path) -> None:
    """Pack the ALF datasets of ROOT into the zip ARCHIVE (replaced atomically), for a zipfile repository."""
    from .archive import make_archive

    n = make_archive(root, archive)
    click.echo(f"Wrote {archive} with {n} datasets.")
