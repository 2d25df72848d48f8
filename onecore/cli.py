"""The ``one`` command line.

Every command loads what it needs inside its body, so ``one --help`` stays fast. Errors of type
:class:`onecore.errors.OneError` are printed as one clear line (``Error: ...``) with exit code 1;
usage errors exit with 2. Plugins add commands through the ``one_register_commands`` hook.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import click

from . import __version__


def _registry() -> Any:
    from .plugins import get_registry

    return get_registry()


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
            raise click.ClickException(str(e)) from None
        except KeyboardInterrupt:
            click.echo("\nInterrupted; partial downloads are kept and resume on the next run.", err=True)
            sys.exit(130)


@click.group(cls=_OneGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="onecore")
def cli() -> None:
    """ONE: share, search, download and load neurophysiology data named by the ALF convention.

    Configuration and downloads live in $ONE_HOME (default ~/.one).
    """


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="one")


def _is_terminal() -> bool:
    """Whether prompts can be shown (standard input is a terminal)."""
    return sys.stdin.isatty()


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


repo_option = click.option(
    "--repo", "repo", metavar="NAME", help="Use this configured repository instead of the current one."
)


def _one(repo: str | None, **kwargs: Any) -> Any:
    from .api import One

    return One(repo=repo, **kwargs)


def _repository(repo: str | None) -> Any:
    """The configured repository alone, without its catalog (a fresh upload target has no index yet)."""
    from .config import Config, home

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
def index_cmd(root: Path, base_url: str, follow_symlinks: bool) -> None:
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
    n = write_index_file(rows, root / ".one_root")
    click.echo(f"Wrote {root / '.one_root'} and {root / '.one_index.tsv'} with {n} datasets.")


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
def upload_cmd(
    root: Path,
    repo: str | None,
    dry_run: bool,
    limit: int | None,
    jobs: int,
    quiet: bool,
    delete: bool,
    follow_symlinks: bool,
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
def _parse_sets(sets: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for s in sets:
        if "=" not in s:
            raise click.BadParameter(f"{s!r} is not key=value", param_hint="--set")
        k, v = s.split("=", 1)
        out[k.strip()] = v
    return out


@cli.command("add-repo")
@click.argument("name", required=False)
@click.option("--type", "type_", help="Repository type (local, http, and those of installed plugins).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="A field value (repeatable).")
@click.option("--no-check", is_flag=True, help="Do not verify the settings against the server.")
@click.option("--current/--no-current", default=True, show_default=True, help="Make it the current repository.")
def add_repo_cmd(name: str | None, type_: str | None, sets: tuple[str, ...], no_check: bool, current: bool) -> None:
    """Add a repository. With NAME and --type nothing is asked; otherwise, in a terminal, it prompts.

    Fields not given take their declared defaults; secrets are prompted hidden and stored 0600. A
    value written as ${VAR} is read from the environment variable VAR when used.
    """
    from .config import Config, RepoConfig, check_repo_name
    from .errors import ConfigError

    reg = _registry()
    values = _parse_sets(sets)
    interactive = name is None or type_ is None
    if interactive and not _is_terminal():
        raise ConfigError("give NAME and --type (and --set key=value for fields) when not in a terminal")
    config = Config.load()
    if name is None:
        name = click.prompt("Repository name")
    check_repo_name(name)
    if name in config.repositories:
        raise ConfigError(f"a repository named {name!r} already exists in {config.path}; choose another name")
    if type_ is None:
        click.echo(
            "Available types: "
            + ", ".join(
                f"{t} ({c[0].description})" if c[0].description else t for t, c in sorted(reg.repository_types.items())
            )
        )
        type_ = click.prompt("Type", type=click.Choice(sorted(reg.repository_types)))
    cls = reg.repository_type(type_)
    known = {f.name for f in cls.fields}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(
            f"type {type_!r} has no field(s) {', '.join(sorted(unknown))}; its fields: {', '.join(sorted(known))}"
        )
    if interactive:
        for f in cls.fields:
            if f.name in values:
                continue
            label = f"{f.name}" + (f" ({f.help})" if f.help else "")
            default = f.default if f.default is not None else ("" if not f.required else None)
            if f.type is bool:
                values[f.name] = str(click.confirm(label, default=bool(f.default))).lower()
            else:
                v = click.prompt(label, default=default, hide_input=f.secret, show_default=not f.secret)
                if v not in (None, ""):
                    values[f.name] = str(v)
    repo_obj = cls(name, RepoConfig(name, type_, values).resolved(), home=config.home)  # ${VAR} -> value
    if not no_check:
        repo_obj.check()
    settings = {k: v for k, v in repo_obj.settings.items() if v is not None and (k in values or k != "index_format")}
    for secret in repo_obj.secret_fields() - set(values):  # a secret from the environment stays there
        settings.pop(secret, None)
    for f in cls.fields:  # keep ${VAR} references as written rather than their values
        if f.name in values and values[f.name].startswith("${"):
            settings[f.name] = values[f.name]
    config.add(RepoConfig(name, type_, settings), make_current=current)
    config.save()
    repo_obj.close()
    click.echo(f"Added repository {name!r} (type {type_}){' and made it current' if current else ''}.")


_add_repo_alias = copy.copy(add_repo_cmd)
_add_repo_alias.hidden = True  # ONE light's spelling: works, but is not listed twice in --help
cli.add_command(_add_repo_alias, "add_repo")


@cli.command("repo")
@click.argument("name", required=False)
def repo_cmd(name: str | None) -> None:
    """Show the current repository, or select NAME as the current one."""
    from .config import Config

    config = Config.load()
    if name is None:
        rc = config.get()
        click.echo(f"{rc.name} ({rc.type})")
        return
    config.select(name)
    config.save()
    click.echo(f"Current repository: {name}")


@cli.command("repos")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (secrets masked).")
def repos_cmd(as_json: bool) -> None:
    """List the configured repositories (secrets masked)."""
    from .config import Config, mask

    config = Config.load()
    reg = _registry()
    out = []
    for rc in config.repositories.values():
        try:
            secrets = reg.repository_type(rc.type).secret_fields()
        except Exception:
            secrets = {k for k in rc.settings if any(w in k for w in ("password", "token", "secret", "key"))}
        out.append(
            {
                "name": rc.name,
                "type": rc.type,
                "current": rc.name == config.current,
                "settings": mask(rc.settings, secrets),
            }
        )
    if as_json:
        _echo_json(out)
        return
    if not out:
        click.echo(f"No repositories configured in {config.path}. Add one with 'one add-repo'.")
    for r in out:
        fields = ", ".join(f"{k}={v}" for k, v in r["settings"].items())
        click.echo(f"{'*' if r['current'] else ' '} {r['name']} ({r['type']}): {fields}")


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
@click.option("--revision", help="Only sessions with datasets of this revision.")
@click.option("--term", "terms", multiple=True, metavar="KEY=VALUE", help="Another search term of the repository.")
@click.option("--refresh", is_flag=True, help="Rebuild the catalog from the repository first.")
@click.option("--details", is_flag=True, help="Print session records.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of session ids.")
@repo_option
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
) -> None:
    """Search sessions having all DATASETS (objects, object.attribute, file names, collections, wildcards)."""
    one = _one(repo, mode="refresh" if refresh else "auto")
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
    for k, v in (("number", number), ("collection", collection), ("revision", revision)):
        if v is not None:
            filters[k] = v
    result = one.search(details=details, **filters)
    if as_json:
        _echo_json(result)
    else:
        for r in result:
            click.echo(json.dumps(r, default=str) if details else r)
        click.echo(f"{len(result)} session(s){' (offline: cached catalog)' if one.offline else ''}", err=True)


@cli.command("list")
@click.argument("session")
@click.option("--collection", help="Only this collection (wildcards allowed).")
@click.option("--revision", help="This revision instead of the default one.")
@click.option("--details", is_flag=True, help="Print dataset records.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of paths relative to the session.")
@repo_option
def list_cmd(
    session: str, collection: str | None, revision: str | None, details: bool, as_json: bool, repo: str | None
) -> None:
    """List the datasets of SESSION (a session id or path)."""
    one = _one(repo)
    result = one.list_datasets(session, collection=collection, revision=revision, details=details)
    if as_json:
        _echo_json(result)
    else:
        for r in result:
            click.echo(json.dumps(r, default=str) if details else r)


@cli.command("download")
@click.argument("session")
@click.argument("objects", nargs=-1)
@click.option("--collection", help="Only this collection.")
@click.option("--revision", help="This revision instead of the default one.")
@click.option(
    "--dir",
    "dest",
    type=click.Path(file_okay=False, path_type=Path),
    help="Download into DIR/<path from the lab folder> instead of the cache.",
)
@click.option("--jobs", type=click.IntRange(min=1), default=8, show_default=True, help="Parallel downloads.")
@click.option("--dry-run", is_flag=True, help="Only list what would be downloaded.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@repo_option
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
) -> None:
    """Download a session's datasets (or only OBJECTS) into the cache, verified, mirroring their paths."""
    one = _one(repo)
    bar = _Bar(quiet)
    try:
        res = one.download(
            session,
            objects or None,
            collection=collection,
            revision=revision,
            dest=dest,
            jobs=jobs,
            dry_run=dry_run,
            progress=bar,
        )
    finally:
        bar.done()
    if dry_run:
        for r in res:
            click.echo(f"would download {r.full_path}")
        click.echo(f"Dry run: {len(res)} dataset(s).")
        return
    for p in res.downloaded:
        click.echo(f"fetched {p}")
    for p in res.skipped:
        click.echo(f"up to date {p}")
    for p, err in res.failed:
        click.echo(f"FAILED {p}: {err}", err=True)
    where = dest or one.repository.data_dir
    click.echo(f"{res.summary()} into {where}", err=True)
    if res.failed:
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
