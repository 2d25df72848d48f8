"""Configuration and homes.

All state lives under one home directory: ``$ONE_HOME`` if set, else ``~/.one``::

    $ONE_HOME/config.yaml       named repositories and the current one (mode 0600: it may hold secrets)
    $ONE_HOME/catalog/          one SQLite catalog per repository
    $ONE_HOME/data/<repo>/...   downloaded files, mirroring their relative paths

``config.yaml``::

    current: mylab
    repositories:
      mylab:
        type: http
        base_url: https://data.mylab.org/
        password: ${MYLAB_PASSWORD}     # taken from the environment when used

A malformed config is an error naming the file and line; it is never overwritten silently.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError

ENV_HOME = "ONE_HOME"
CONFIG_NAME = "config.yaml"
_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}\Z")
_REPO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")


def home() -> Path:
    """The onecore home: ``$ONE_HOME`` if set, else ``~/.one``."""
    env = os.environ.get(ENV_HOME)
    return Path(env).expanduser() if env else Path.home() / ".one"


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically with mode 0600 (temp file in the same folder, then rename)."""
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def check_repo_name(name: str) -> str:
    if not isinstance(name, str) or not _REPO_NAME.match(name):
        raise ConfigError(
            f"invalid repository name {name!r}: use letters, digits, '_', '.', '-' (starting with a letter "
            "or digit, at most 64 characters)"
        )
    return name


@dataclass
class RepoConfig:
    """One named repository: its type and its settings, as written in the config file."""

    name: str
    type: str
    settings: dict[str, Any] = field(default_factory=dict)

    def resolved(self) -> dict[str, Any]:
        """The settings with ``${VAR}`` references replaced by the environment's values."""
        out = {}
        for key, value in self.settings.items():
            if isinstance(value, str):
                m = _ENV_REF.match(value.strip())
                if m:
                    var = m.group(1)
                    if var not in os.environ:
                        raise ConfigError(
                            f"repository {self.name!r}: field {key!r} takes its value from the environment "
                            f"variable {var}, which is not set"
                        )
                    value = os.environ[var]
            out[key] = value
        return out


class Config:
    """The parsed ``config.yaml`` of a home directory."""

    def __init__(self, path: Path, repositories: dict[str, RepoConfig], current: str | None):
        self.path = path
        self.repositories = repositories
        self.current = current

    @property
    def home(self) -> Path:
        return self.path.parent

    @classmethod
    def load(cls, home_dir: Path | None = None) -> Config:
        """Read the config of ``home_dir`` (default :func:`home`); a missing file is an empty config."""
        base = Path(home_dir) if home_dir is not None else home()
        path = base / CONFIG_NAME
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path, {}, None)
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"cannot read the config file {path}: {e}") from None
        return cls.parse(text, path)

    @classmethod
    def parse(cls, text: str, path: Path) -> Config:
        """Parse config text; every problem is a :class:`ConfigError` naming ``path`` (and the line)."""
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            raise ConfigError(
                f"the config file {path} is not valid YAML ({problem}) at{where or ' an unknown place'}; "
                "fix or remove it (it was left untouched)"
            ) from None
        if data is None:
            return cls(path, {}, None)
        if not isinstance(data, dict):
            raise ConfigError(f"the config file {path} must be a mapping with 'repositories' and 'current'")
        unknown = set(data) - {"repositories", "current"}
        if unknown:
            raise ConfigError(f"the config file {path} has unknown keys: {', '.join(sorted(map(str, unknown)))}")
        repos_raw = data.get("repositories") or {}
        if not isinstance(repos_raw, dict):
            raise ConfigError(f"the config file {path}: 'repositories' must be a mapping of name to settings")
        repos: dict[str, RepoConfig] = {}
        for name, body in repos_raw.items():
            name = str(name)
            try:
                check_repo_name(name)
            except ConfigError as e:
                raise ConfigError(f"the config file {path}: {e}") from None
            if not isinstance(body, dict) or not isinstance(body.get("type"), str):
                raise ConfigError(f"the config file {path}: repository {name!r} needs a 'type' (e.g. local, http)")
            settings = {str(k): v for k, v in body.items() if k != "type"}
            for k, v in settings.items():
                if isinstance(v, (dict, list)):
                    raise ConfigError(f"the config file {path}: repository {name!r} field {k!r} must be a scalar")
            repos[name] = RepoConfig(name, body["type"], settings)
        current = data.get("current")
        if current is not None and not isinstance(current, str):
            raise ConfigError(f"the config file {path}: 'current' must be a repository name")
        if current is not None and current not in repos:
            raise ConfigError(
                f"the config file {path}: the current repository {current!r} is not defined; "
                f"defined: {', '.join(repos) or 'none'}"
            )
        return cls(path, repos, current)

    def get(self, name: str | None = None) -> RepoConfig:
        """The repository ``name`` (default: the current one); unknown names are errors, never a fallback."""
        if name is None:
            name = self.current
            if name is None:
                if not self.repositories:
                    raise ConfigError(
                        f"no repository is configured in {self.path}; add one with "
                        "'one add-repo NAME --type local --set root_dir=PATH'"
                    )
                raise ConfigError(
                    f"no current repository is selected; choose one with 'one repo NAME' "
                    f"(defined: {', '.join(self.repositories)})"
                )
        try:
            return self.repositories[name]
        except KeyError:
            raise ConfigError(
                f"unknown repository {name!r}; defined in {self.path}: {', '.join(self.repositories) or 'none'}"
            ) from None

    def add(self, repo: RepoConfig, make_current: bool = True) -> None:
        check_repo_name(repo.name)
        self.repositories[repo.name] = repo
        if make_current or self.current is None:
            self.current = repo.name

    def select(self, name: str) -> None:
        self.get(name)
        self.current = name

    def to_yaml(self) -> str:
        import yaml

        data: dict[str, Any] = {}
        if self.current:
            data["current"] = self.current
        data["repositories"] = {r.name: {"type": r.type, **r.settings} for r in self.repositories.values()}
        return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)

    def save(self) -> None:
        """Write the config atomically with mode 0600."""
        write_private(self.path, self.to_yaml())


def mask(settings: Mapping[str, Any], secret_fields: set[str]) -> dict[str, Any]:
    """A copy of ``settings`` with secret values replaced by ``'****'`` (env references are shown)."""
    out = {}
    for k, v in settings.items():
        if k in secret_fields and v not in (None, ""):
            out[k] = v if isinstance(v, str) and _ENV_REF.match(v.strip()) else "****"
        else:
            out[k] = v
    return out
