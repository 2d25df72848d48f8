"""The configuration commands of ``one``: add-repo, edit-repo, remove-repo, repo, repos.

They are thin: validation, masking, locking and the 0600 writes are in :mod:`onecore.config`
(:func:`~onecore.config.add_repo`, :func:`~onecore.config.edit_repo`, :func:`~onecore.config.remove_repo`),
so Python and the command line behave the same.
"""

from __future__ import annotations

import contextlib
import copy
import re
from typing import Any, Callable, Iterator

import click

from . import cli_helpers
from .cli_helpers import echo_json as _echo_json
from .cli_helpers import parse_sets as _parse_sets
from .cli_helpers import registry as _registry

#: How many times an interactive add-repo asks again for the fields the server check refused.
MAX_ATTEMPTS = 3


@contextlib.contextmanager
def _warnings_shown() -> Iterator[None]:
    """Print the warnings of the block as ``Warning: ...`` lines on stderr (URLs masked)."""
    import warnings

    from .config import mask_url

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for w in caught:
                click.echo(f"Warning: {mask_url(str(w.message))}", err=True)


def _prompt_field(f: Any, current: Any = None) -> str | None:
    label = f"{f.name}" + (f" ({f.help})" if f.help else "")
    if f.type is bool:
        default = current if current is not None else f.default
        return str(click.confirm(label, default=str(default).lower() in ("true", "1", "yes"))).lower()
    default = current if current not in (None, "") else f.default
    if default is None and not f.required:
        default = ""
    v = click.prompt(label, default=default, hide_input=f.secret, show_default=not f.secret)
    return None if v in (None, "") else str(v)


def _choose_type(type_: str | None) -> str:
    reg = _registry()
    if type_ is not None:
        return type_
    click.echo(
        "Available types: "
        + ", ".join(
            f"{t} ({c[0].description})" if c[0].description else t for t, c in sorted(reg.repository_types.items())
        )
    )
    return click.prompt("Type", type=click.Choice(sorted(reg.repository_types)))


def failing_fields(cls: type, error: BaseException, asked: list[str]) -> list[str]:
    """The fields of ``cls`` to ask again after the server check failed with ``error``.

    Those the error names (``error.fields`` if the type sets it, else field names in the message),
    else by kind: credentials for a refused login, addresses for an unreachable server; else all.
    """
    names = [f.name for f in cls.fields if f.name in asked]
    explicit = [f for f in getattr(error, "fields", None) or () if f in names]
    if explicit:
        return explicit
    text = str(error).lower()
    named = [n for n in names if re.search(rf"\b{re.escape(n.lower())}\b", text)]
    if named:
        return named
    groups: list[tuple[tuple[str, ...], Callable[[Any], bool]]] = [
        (("401", "403", "denied", "refused access", "unauthori", "credential", "login"), lambda f: f.secret),
        (
            ("refused", "unreachable", "resolve", "timed out", "404", "not found", "name or service", "no route"),
            lambda f: any(w in f.name for w in ("url", "host", "port", "dir", "root", "path", "server")),
        ),
    ]
    for words, pick in groups:
        if any(w in text for w in words):
            chosen = [f.name for f in cls.fields if f.name in asked and pick(f)]
            if chosen:
                return chosen
    return names


@click.command("add-repo")
@click.argument("name", required=False)
@click.option("--type", "type_", help="Repository type (local, http, and those of installed plugins).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="A field value (repeatable).")
@click.option("--no-check", is_flag=True, help="Do not verify the settings against the server.")
@click.option("--current/--no-current", default=True, show_default=True, help="Make it the current repository.")
def add_repo_cmd(name: str | None, type_: str | None, sets: tuple[str, ...], no_check: bool, current: bool) -> None:
    """Add a repository. With NAME and --type nothing is asked; otherwise, in a terminal, it prompts.

    Fields not given take their declared defaults; secrets are prompted hidden and stored 0600. A
    value written as ${VAR} is read from the environment variable VAR when used. When the check
    against the server fails, only the fields it refused are asked again.
    """
    from .config import Config, add_repo, check_repo_name
    from .errors import ConfigError, OneError

    values: dict[str, Any] = dict(_parse_sets(sets))
    interactive = name is None or type_ is None
    if interactive and not cli_helpers.is_terminal():
        raise ConfigError("give NAME and --type (and --set key=value for fields) when not in a terminal")
    config = Config.load()
    if name is None:
        name = click.prompt("Repository name")
    check_repo_name(name)
    if name in config.repositories:
        raise ConfigError(
            f"a repository named {name!r} already exists in {config.path}; choose another name "
            f"or change it with 'one edit-repo {name} --set KEY=VALUE'"
        )
    type_ = _choose_type(type_)
    cls = _registry().repository_type(type_)
    known = {f.name for f in cls.fields}
    if set(values) - known:
        unknown = ", ".join(sorted(set(values) - known))
        raise ConfigError(f"type {type_!r} has no field(s) {unknown}; its fields: {', '.join(sorted(known))}")
    if interactive:
        for f in cls.fields:
            if f.name not in values:
                v = _prompt_field(f)
                if v is not None:
                    values[f.name] = v
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            with _warnings_shown():
                add_repo(name, type_, values, check=not no_check, make_current=current)
            break
        except OneError as e:
            if not interactive or attempt == MAX_ATTEMPTS or "already exists" in str(e):
                raise
            again = failing_fields(cls, e, [f.name for f in cls.fields])
            click.echo(f"The check failed: {e}", err=True)
            click.echo(f"Enter again: {', '.join(again)} (Enter keeps the value shown).", err=True)
            for f in cls.fields:
                if f.name in again:
                    v = _prompt_field(f, values.get(f.name))
                    if v is None:
                        values.pop(f.name, None)
                    else:
                        values[f.name] = v
    click.echo(f"Added repository {name!r} (type {type_}){' and made it current' if current else ''}.")


_add_repo_alias = copy.copy(add_repo_cmd)
_add_repo_alias.hidden = True  # ONE light's spelling: works, but is not listed twice in --help
_add_repo_alias.name = "add_repo"


@click.command("edit-repo")
@click.argument("name")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="A new field value (repeatable).")
@click.option("--unset", "unsets", multiple=True, metavar="KEY", help="Drop a field back to its default.")
@click.option("--no-check", is_flag=True, help="Do not verify the new settings against the server.")
def edit_repo_cmd(name: str, sets: tuple[str, ...], unsets: tuple[str, ...], no_check: bool) -> None:
    """Change fields of the repository NAME (validated and checked as add-repo does).

    An edit that fails validation or the server check leaves the config file unchanged.
    """
    from .config import edit_repo
    from .errors import ConfigError

    values = _parse_sets(sets)
    if not values and not unsets:
        raise ConfigError(f"nothing to change: give --set KEY=VALUE or --unset KEY (see 'one repos' for {name!r})")
    with _warnings_shown():
        rc = edit_repo(name, values, unset=unsets, check=not no_check)
    changed = ", ".join([*(f"{k}={v}" for k, v in _masked(rc, values).items()), *(f"{k} unset" for k in unsets)])
    click.echo(f"Updated repository {name!r}: {changed}.")


def _masked(rc: Any, keys: dict[str, Any]) -> dict[str, Any]:
    from .config import mask

    shown = mask(rc.settings, _secrets(rc))
    return {k: shown.get(k, "") for k in keys}


def _secrets(rc: Any) -> set[str]:
    try:
        return _registry().repository_type(rc.type).secret_fields()
    except Exception:  # an uninstalled type: guess from the names
        return {k for k in rc.settings if any(w in k for w in ("password", "token", "secret", "key"))}


@click.command("remove-repo")
@click.argument("name")
def remove_repo_cmd(name: str) -> None:
    """Remove the repository NAME from the configuration (downloaded files are left in place)."""
    from .config import Config, remove_repo

    remove_repo(name)
    click.echo(f"Removed repository {name!r}.")
    config = Config.load()
    if config.current is None and config.repositories:
        click.echo(f"No repository is current now; choose one with 'one repo NAME' ({', '.join(config.repositories)}).")


@click.command("repo")
@click.argument("name", required=False)
def repo_cmd(name: str | None) -> None:
    """Show the current repository, or select NAME as the current one."""
    from .config import Config

    if name is None:
        rc = Config.load().get()
        click.echo(f"{rc.name} ({rc.type})")
        return
    with Config.edit() as config:
        config.select(name)
    click.echo(f"Current repository: {name}")


@click.command("repos")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (secrets masked).")
def repos_cmd(as_json: bool) -> None:
    """List the configured repositories (secrets masked)."""
    from .config import Config, mask

    config = Config.load()
    out = [
        {
            "name": rc.name,
            "type": rc.type,
            "current": rc.name == config.current,
            "settings": mask(rc.settings, _secrets(rc)),
        }
        for rc in config.repositories.values()
    ]
    if as_json:
        _echo_json(out)
        return
    if not out:
        click.echo(f"No repositories configured in {config.path}. Add one with 'one add-repo'.")
    for r in out:
        fields = ", ".join(f"{k}={v}" for k, v in r["settings"].items())
        click.echo(f"{'*' if r['current'] else ' '} {r['name']} ({r['type']}): {fields}")


#: The configuration commands, added to ``one`` by :mod:`onecore.cli`.
COMMANDS = (add_repo_cmd, _add_repo_alias, edit_repo_cmd, remove_repo_cmd, repo_cmd, repos_cmd)
