"""The ``one`` command line.

Every command loads what it needs inside its body, so ``one --help`` stays fast. Errors of type
:class:`onecore.errors.OneError` are printed as one clear line (``Error: ...``) with exit code 1;
usage errors exit with 2. Plugins add commands through the ``one_register_commands`` hook.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from . import __version__
from .cli_helpers import count as _count
from .cli_helpers import dry_run_report as _dry_run_report
from .cli_helpers import echo_json as _echo_json
from .cli_helpers import hints_enabled as _hints_enabled
from .cli_helpers import mode_options
from .cli_helpers import nearest_values as _nearest_values
from .cli_helpers import no_collection as _no_collection
from .cli_helpers import parse_sets as _parse_sets
from .cli_helpers import registry as _registry
from .cli_helpers import revision as _revision


class _OneGroup(click.Group):
    """A group that adds plugin commands lazily and turns OneError into a clean message."""

    def _plugin_commands(self) -> dict[str, click.Command]:
        try:
            return {c.name: c for c, _ in _registry().commands() if c.name not in self.commands}
        except Exception as e:  # a broken plugin must not break the CLI
            click.echo(f"Warning: plugin commands unavailable: {e}", err=True)
            return {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self._plugin_commands()})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        cmd = super().get_command(ctx, name)
        if cmd is None and not name.startswith("-"):
            cmd = self._plugin_commands().get(name)
        return cmd

    def invoke(self, ctx: click.Context) -> Any:
        from .errors import OneError

        try:
            return super().invoke(ctx)
        except OneError as e:
            raise click.ClickException(_cli_message(str(e))) from None
        except KeyboardInterrupt:
            click.echo("\nInterrupted; partial downloads are kept and resume on the next run.", err=True)
            sys.exit(130)


#: Python wording in messages of the library, and what the command line says instead.
_CLI_WORDING = (
    ("find sessions with search()", "find sessions with 'one search'"),
    ("use download_only=True to get the path", "'one download' gets the file"),
)


def _mask_logged_urls() -> None:
    """Mask passwords in URLs of every log line the command prints (warnings reach stderr).

    The filter is installed when :mod:`logging` is imported (at once if it already is): a command
    that logs nothing does not import it.
    """
    from .lazy import when_imported

    when_imported("logging", _install_url_mask)


def _install_url_mask(logging: Any) -> None:
    """Add the masking filter to the last-resort handler and the root logger's handlers."""
    from .config import mask_url

    class _Mask(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            text = record.getMessage()
            masked = mask_url(text)
            if masked != text:
                record.msg, record.args = masked, ()
            return True

    for handler in [logging.lastResort, *logging.getLogger().handlers]:
        if handler is not None and not any(type(f).__name__ == "_Mask" for f in handler.filters):
            handler.addFilter(_Mask())


def _cli_message(text: str) -> str:
    """An error message as the command line shows it: CLI wording, passwords in URLs masked."""
    from .config import mask_url

    for python, cli_words in _CLI_WORDING:
        text = text.replace(python, cli_words)
    return mask_url(text)


@click.group(cls=_OneGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="onecore")
def cli() -> None:
    """ONE: share, search, download and load neurophysiology data named by the ALF convention.

    Configuration and downloads live in $ONE_HOME (default ~/.one).
    """


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="one")


repo_option = click.option(
    "--repo", "repo", metavar="NAME", help="Use this configured repository instead of the current one."
)


def _one(repo: str | None, **kwargs: Any) -> Any:
    from .api import One
    from .lazy import freeze_startup
    from .plugins import get_registry

    _mask_logged_urls()
    get_registry()  # the one One() uses, built now so that freeze_startup() leaves it out of collections
    freeze_startup()
    return One(repo=repo, **kwargs)


def _repository(repo: str | None) -> Any:
    """The configured repository alone, without its catalog (a fresh upload target has no index yet)."""
    from .config import Config, home

    _mask_logged_urls()
    rc = Config.load(home()).get(repo)
    return _registry().repository_type(rc.type)(rc.name, rc.resolved(), home=home())


class _Bar:
    """A progress line on stderr (only on a terminal, never with --quiet)."""

    def __init__(self, quiet: bool, what: str = "downloading"):
        self.enabled = not quiet and sys.stderr.isatty()
        self.what = what
        self.shown = False

    def __call__(self, p: Any) -> None:
        if not self.enabled:
            return
        from .transfer import _human

        total = f" / {_human(p.bytes_total)}" if p.bytes_total else ""
        click.echo(
            f"\r{self.what}: {p.files_done}/{p.files_total} files, {_human(p.bytes_done)}{total}   ", nl=False, err=True
        )
        self.shown = True

    def done(self) -> None:
        if self.shown:
            click.echo("", err=True)


# -------------------------------------------------------------------------------------------------
# Plugins
# -------------------------------------------------------------------------------------------------
@cli.command("plugins")
@click.option("--all", "show_all", is_flag=True, help="Include the built-in plugins.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def plugins_cmd(show_all: bool, as_json: bool) -> None:
    """List installed plugins with their distribution, version and hooks."""
    reg = _registry()
    reg.commands()  # so that failures of the command hook are reported too
    infos = reg.plugins(include_builtins=show_all)
    if as_json:
        _echo_json([i.as_json() for i in infos])
        return
    if not infos:
        click.echo("No plugins installed (use --all to see the built-ins).")
    for i in infos:
        tag = f"{i.distribution or '?'} {i.version or ''}".strip()
        line = f"{i.name} ({tag}): {', '.join(i.hooks) or '-'}"
        if i.error:
            line = f"{i.name} ({tag}): FAILED TO LOAD: {i.error}"
        click.echo(line)
    for line in reg.conflict_lines():
        click.echo(line)
    types = {k: v[1] for k, v in reg.repository_types.items()}
    click.echo("Repository types: " + ", ".join(f"{k} ({v})" for k, v in sorted(types.items())))


# -------------------------------------------------------------------------------------------------
# Data sharers: check, scan, index, upload, publish
# -------------------------------------------------------------------------------------------------
@cli.command("check")
@click.argument("root", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of {path, reason}.")
@click.option("--follow-symlinks", is_flag=True, help="Follow symbolic links that lead outside ROOT.")
def check_cmd(root: Path, as_json: bool, follow_symlinks: bool) -> None:
    """Report every file of a data root (or row of an index file) that breaks the ALF convention.

    Exits with 1 if anything is wrong.
    """
    if root.is_file():
        from .index import IndexProblem, read_index_file

        problems: list[IndexProblem] = []
        n = sum(1 for _ in read_index_file(root, problems=problems))
        found = [{"path": f"{p.source}:{p.line}", "reason": p.reason} for p in problems]
        summary = f"{n} valid rows, {len(found)} bad rows in {root}"
    else:
        from .scan import check

        found = [{"path": p, "reason": r} for p, r in check(root, follow_symlinks=follow_symlinks)]
        summary = f"{len(found)} file(s) break the ALF convention under {root}"
    if as_json:
        _echo_json(found)
    else:
        for f in found:
            click.echo(f"{f['path']}: {f['reason']}")
        click.echo(
            summary if found or root.is_file() else f"All files under {root} follow the ALF convention.",
            err=bool(found),
        )
    if found:
        sys.exit(1)


@cli.command("scan")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--sessions-only", is_flag=True, help="List sessions instead of datasets.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of relative paths.")
@click.option("--follow-symlinks", is_flag=True, help="Follow symbolic links that lead outside ROOT.")
def scan_cmd(root: Path, sessions_only: bool, as_json: bool, follow_symlinks: bool) -> None:
    """List every ALF dataset (or session) under a data root, in every collection."""
    from .scan import scan, sessions

    problems: list[tuple[str, str]] = []
    paths = list(scan(root, follow_symlinks=follow_symlinks, problems=problems))
    _echo_skipped(problems)
    out = sessions(iter(paths)) if sessions_only else paths
    if as_json:
        _echo_json(out)
    else:
        for p in out:
            click.echo(p)
        what = "sessions" if sessions_only else "datasets"
        click.echo(f"{len(out)} {what} under {root}", err=True)


@cli.command("index")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--base-url", required=True, help="Public URL that will serve ROOT (e.g. https://host/data/).")
@click.option("--follow-symlinks", is_flag=True, help="Follow symbolic links that lead outside ROOT.")
@click.option(
    "--catalog",
    is_flag=True,
    help="Also write ROOT/.one_catalog.sqlite, a prebuilt catalog clients download instead of parsing the index.",
)
def index_cmd(root: Path, base_url: str, follow_symlinks: bool, catalog: bool) -> None:
    """Write ROOT/.one_root (path, URL) and ROOT/.one_index.tsv (with sizes and md5s) so a web server
    can share ROOT."""
    from .config import home
    from .hashcache import HashCache
    from .index import write_index_file
    from .repository import Dataset
    from .scan import scan
    from .transfer import url_join

    if not base_url.startswith(("http://", "https://")):
        raise click.BadParameter("must start with http:// or https://", param_hint="--base-url")
    problems: list[tuple[str, str]] = []
    hashes = HashCache(home() / "hashes.sqlite")
    try:
        rows = [
            Dataset(p, url_join(base_url, p), (root / p).stat().st_size, hashes.md5(root / p))
            for p in scan(root, follow_symlinks=follow_symlinks, problems=problems)
        ]
    finally:
        hashes.close()
    _echo_skipped(problems)
    n = write_index_file(rows, root / ".one_root", catalog=catalog)
    click.echo(f"Wrote {root / '.one_root'} and {root / '.one_index.tsv'} with {n} datasets.")
    if catalog:
        from .catalog.published import write_published

        path, _ = write_published(root, base_url if base_url.endswith("/") else base_url + "/")
        click.echo(f"Wrote {path} (prebuilt catalog of that index).")


def _echo_skipped(problems: list[tuple[str, str]]) -> None:
    for p, reason in problems:
        click.echo(f"skipped: {p}: {reason}", err=True)


@cli.command("upload")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@repo_option
@click.option("--dry-run", is_flag=True, help="Only list what would be sent (and deleted).")
@click.option("--limit", type=click.IntRange(min=1), help="Upload at most N datasets (for a trial run).")
@click.option("--jobs", type=click.IntRange(min=1), default=4, show_default=True, help="Parallel transfers.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--delete", is_flag=True, help="Remove from the repository the datasets no longer in ROOT.")
@click.option("--follow-symlinks", is_flag=True, help="Follow symbolic links that lead outside ROOT.")
@click.option("--describe", is_flag=True, help="Then write a short HTML summary as the description (figshare).")
def upload_cmd(
    root: Path,
    repo: str | None,
    dry_run: bool,
    limit: int | None,
    jobs: int,
    quiet: bool,
    delete: bool,
    follow_symlinks: bool,
    describe: bool,
) -> None:
    """Upload the ALF datasets of a data root to a repository (incremental and resumable)."""
    from .scan import check, scan

    if delete and limit:
        raise click.UsageError("--delete cannot be combined with --limit (it would delete what --limit leaves out)")
    repository = _repository(repo)
    if not repository.can_upload:
        repository.close()
        raise click.ClickException(
            f"repository {repository.name!r} is of type {repository.type!r}, which is read-only: "
            "nothing can be uploaded to it (add a repository of a type that uploads, e.g. local, ftp, figshare)"
        )
    problems: list[tuple[str, str]] = []
    datasets = list(scan(root, follow_symlinks=follow_symlinks, problems=problems))
    _echo_skipped(problems)
    skipped = {p for p, _ in problems}
    bad = [(p, r) for p, r in check(root, follow_symlinks=follow_symlinks) if p not in skipped]
    for p, reason in bad:
        click.echo(f"skipped (not ALF): {p}: {reason}", err=True)
    everything = set(datasets)
    if limit:
        datasets = datasets[:limit]
    options = {"delete": True} if delete else {}
    bar = _Bar(quiet, "uploading")
    try:
        report = repository.upload(root.resolve(), datasets, dry_run=dry_run, jobs=jobs, progress=bar, **options)
        if describe and not dry_run and not report.failed:
            click.echo(repository.describe(root.resolve(), datasets))
    except TypeError as e:
        if not delete or "delete" not in str(e):
            raise
        raise click.ClickException(f"repository type {repository.type!r} does not support --delete") from None
    except KeyboardInterrupt as e:
        bar.done()
        signum = getattr(e, "signum", 2)
        click.echo(
            "\nInterrupted: no new file was started; the remote index lists every file sent so far. "
            "Run the same command again to finish (partial uploads resume).",
            err=True,
        )
        sys.exit(128 + signum)
    finally:
        bar.done()
        repository.close()
    from .upload import summary_lines

    failed = False
    for line, to_err in summary_lines(report, repository.name, dry_run, len(bad) + len(problems), everything):
        click.echo(line, err=to_err)
        failed = failed or to_err
    if failed:
        sys.exit(1)


@cli.command("publish")
@repo_option
def publish_cmd(repo: str | None) -> None:
    """Publish what was uploaded (e.g. make a figshare article public)."""
    repository = _repository(repo)
    try:
        click.echo(repository.publish())
    finally:
        repository.close()


# -------------------------------------------------------------------------------------------------
# Configuration
# -------------------------------------------------------------------------------------------------
# -------------------------------------------------------------------------------------------------
# Data users: search, list, download
# -------------------------------------------------------------------------------------------------
@cli.command("search")
@click.argument("datasets", nargs=-1)
@click.option("--lab", multiple=True, help="Lab name (repeatable).")
@click.option("--subject", multiple=True, help="Subject name (repeatable; wildcards allowed).")
@click.option("--date-range", nargs=2, metavar="START END", help="Inclusive dates; '-' leaves an end open.")
@click.option("--date", help="A single day (yyyy-mm-dd).")
@click.option("--number", type=int, help="Session number (2 matches 002).")
@click.option("--collection", help="Only sessions with datasets in this collection.")
@click.option("--revision", help="Only sessions with datasets of this revision ('2023-01-01' or '#2023-01-01#').")
@click.option("--term", "terms", multiple=True, metavar="KEY=VALUE", help="Another search term of the repository.")
@click.option("--refresh", is_flag=True, help="Rebuild the catalog from the repository first (= --mode refresh).")
@click.option("--details", is_flag=True, help="Print session records.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of session ids.")
@repo_option
@mode_options
def search_cmd(
    datasets: tuple[str, ...],
    lab: tuple[str, ...],
    subject: tuple[str, ...],
    date_range: tuple[str, str] | None,
    date: str | None,
    number: int | None,
    collection: str | None,
    revision: str | None,
    terms: tuple[str, ...],
    refresh: bool,
    details: bool,
    as_json: bool,
    repo: str | None,
    mode: str,
) -> None:
    """Search sessions having all DATASETS (objects, object.attribute, file names, collections, wildcards).

    Prints the session ids, then (on stderr) how many; with no match on a terminal, the nearest
    existing labs and subjects.
    """
    one = _one(repo, mode="refresh" if refresh else mode)
    filters: dict[str, Any] = dict(_parse_sets(terms))
    if datasets:
        filters["datasets"] = list(datasets)
    if lab:
        filters["lab"] = list(lab)
    if subject:
        filters["subject"] = list(subject)
    if date_range:
        filters["date_range"] = [None if d in ("-", "") else d for d in date_range]
    if date:
        filters["date_range"] = date
    for k, v in (("number", number), ("collection", collection), ("revision", _revision(revision))):
        if v is not None:
            filters[k] = v
    result = one.search(details=details, **filters)
    if details:  # the catalog's session records (ONE-api's (eids, details) tuple is for Python)
        result = [one.catalog.session(e) for e in result[0]]
    if as_json:
        _echo_json(result)
        return
    for r in result:
        click.echo(_echo_line(r) if details else r)
    click.echo(f"{_count(len(result), 'session')}{' (offline: cached catalog)' if one.offline else ''}", err=True)
    if not result and _hints_enabled():
        for line in _nearest_values(one, filters):
            click.echo(line, err=True)


@cli.command("list")
@click.argument("session")
@click.option("--collection", help="Only this collection (wildcards allowed).")
@click.option("--revision", help="This revision instead of the default one ('2023-01-01' or '#2023-01-01#').")
@click.option("--details", is_flag=True, help="Print dataset records.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of paths relative to the session.")
@repo_option
@mode_options
def list_cmd(
    session: str,
    collection: str | None,
    revision: str | None,
    details: bool,
    as_json: bool,
    repo: str | None,
    mode: str,
) -> None:
    """List the datasets of SESSION (a session id or path)."""
    one = _one(repo, mode=mode)
    recs = one._select(one._loadable(session), collection, _revision(revision))  # the default (or --revision) ones
    result = [r.as_dict() for r in recs] if details else [r.rel_path for r in recs]
    if as_json:
        _echo_json(result)
        return
    for r in result:
        click.echo(_echo_line(r) if details else r)
    if not result:
        click.echo(_count(0, "dataset"), err=True)
        if collection is not None:
            click.echo(_no_collection(one, session, collection), err=True)


@cli.command("download")
@click.argument("session")
@click.argument("objects", nargs=-1)
@click.option("--collection", help="Only this collection.")
@click.option("--revision", help="This revision instead of the default one ('2023-01-01' or '#2023-01-01#').")
@click.option(
    "--dir",
    "dest",
    type=click.Path(file_okay=False, path_type=Path),
    help="Download into DIR/<path from the lab folder> instead of the cache.",
)
@click.option("--jobs", type=click.IntRange(min=1), default=8, show_default=True, help="Parallel downloads.")
@click.option("--dry-run", is_flag=True, help="Only list what would be downloaded (and what is cached), with sizes.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar, no line per file: failures and the summary only.")
@repo_option
@mode_options
def download_cmd(
    session: str,
    objects: tuple[str, ...],
    collection: str | None,
    revision: str | None,
    dest: Path | None,
    jobs: int,
    dry_run: bool,
    quiet: bool,
    repo: str | None,
    mode: str,
) -> None:
    """Download a session's datasets into the cache, verified, mirroring their paths.

    OBJECTS narrows the download: an object (spikes), object.attribute (spikes.times), a file name
    or a dataset path as `one list` shows it (alf/spikes.times.npy); wildcards allowed.
    """
    from .errors import NotFound

    one = _one(repo, mode=mode)
    bar = _Bar(quiet)
    try:
        res = one.download(
            session,
            objects or None,
            collection=collection,
            revision=_revision(revision),
            dest=dest,
            jobs=jobs,
            dry_run=dry_run,
            progress=bar,
        )
    finally:
        bar.done()
    if dry_run:
        if not res and collection is not None:
            raise NotFound(_no_collection(one, session, collection))
        _dry_run_report(one, res, dest)
        return
    if not (res.downloaded or res.skipped or res.failed) and collection is not None:
        raise NotFound(_no_collection(one, session, collection))
    if not quiet:
        for p in res.downloaded:
            click.echo(f"fetched {p}")
        for p in res.skipped:
            click.echo(f"up to date {p}")
    for line in res.failure_lines():  # names each path once
        click.echo(_cli_message(line), err=True)
    where = dest or one.repository.data_dir
    click.echo(f"{res.summary()} into {where}", err=True)  # -q: this one line (and failures) only
    if res.failed:
        sys.exit(1)


from .cli_repos import COMMANDS as _REPO_COMMANDS  # noqa: E402 - add-repo, edit-repo, remove-repo, repo, repos

for _command in _REPO_COMMANDS:
    cli.add_command(_command)

if __name__ == "__main__":  # pragma: no cover - `python -m onecore.cli`: run the module that holds every command
    from onecore.cli import main as _main

    _main()


def _echo_line(record: object) -> str:
    import json

    return json.dumps(record, default=str)
