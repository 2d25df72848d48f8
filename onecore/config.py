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

A malformed config is an error naming the file and line; it is never overwritten silently. A file
larger than :data:`MAX_CONFIG_BYTES` (1 MiB) is refused without being read whole.

Writes are safe against other processes: every change is a read-modify-write under a lock
(``$ONE_HOME/.config.lock``): :meth:`Config.save` re-reads the file under the lock and applies only
what this process changed, so eight concurrent ``one add-repo`` keep all eight repositories. Edits
keep the user's comments and layout (:mod:`onecore.config_yaml`). The parsed config is kept in
``$ONE_HOME/.config.parsed.json`` (0600) and reused while ``config.yaml`` holds the same text, so a
command does not pay for a YAML parser.

:func:`add_repo`, :func:`edit_repo` and :func:`remove_repo` are what ``one add-repo``, ``one
edit-repo`` and ``one remove-repo`` call: settings are validated by the repository type (and by
default checked against the server) before anything is written; a failure leaves the file as it was.
A password written inside a URL (``http://alice:secret@host/``) is accepted with a warning that
recommends the ``password`` field, and masked wherever it is shown (:func:`mask_url`).
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from .errors import ConfigError
from .lazy import LazyPattern

ENV_HOME = "ONE_HOME"
CONFIG_NAME = "config.yaml"
LOCK_NAME = ".config.lock"
#: The largest config file read (bytes): a config is a few lines; anything bigger is a mistake.
MAX_CONFIG_BYTES = 1 << 20
#: How long a config change waits for another process's change to finish (seconds).
LOCK_TIMEOUT = 30.0
_USERINFO = LazyPattern(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)([^/@\s:]*):([^/@\s]+)@")
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


def mask_url(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@host`` replaced by ``****``."""
    return _USERINFO.sub(r"\1\2:****@", text) if "@" in text else text


def url_password_fields(settings: Mapping[str, Any]) -> list[str]:
    """The settings whose value is a URL holding a password (``http://alice:secret@host/``)."""
    return [k for k, v in settings.items() if isinstance(v, str) and _USERINFO.search(v)]


_HELD: dict[str, int] = {}
_HELD_LOCK = threading.RLock()


@contextlib.contextmanager
def config_lock(home_dir: Path | None = None, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the config lock of ``home_dir`` (re-entrant in a process; other processes wait)."""
    base = Path(home_dir) if home_dir is not None else home()
    key = os.path.abspath(base)
    with _HELD_LOCK:
        if _HELD.get(key):
            _HELD[key] += 1
            try:
                yield
            finally:
                _HELD[key] -= 1
            return
        fd = _acquire(base, timeout)
        _HELD[key] = 1
        try:
            yield
        finally:
            _HELD.pop(key, None)
            os.close(fd)  # closing releases the lock


def _acquire(base: Path, timeout: float) -> int:
    import fcntl

    try:
        base.mkdir(parents=True, exist_ok=True)
        fd = os.open(base / LOCK_NAME, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError as e:
        raise ConfigError(f"cannot lock the config in {base}: {e.strerror or e}; is the folder writable?") from None
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise ConfigError(
                    f"another onecore process has been changing {base / CONFIG_NAME} for {timeout:.0f} s; "
                    "try again when it is done"
                ) from None
            time.sleep(0.01)


#: Where the parsed config is kept, so that a command does not pay for importing a YAML parser (~10 ms)
#: while config.yaml holds the same text (same length and CRC-32).
PARSED_NAME = ".config.parsed.json"


def _stamp(text: str) -> list[int]:
    import zlib

    raw = text.encode("utf-8")
    return [len(raw), zlib.crc32(raw)]


def _read_parsed(base: Path, text: str) -> dict[str, Any] | None:
    from .jsontext import loads  # json.loads without importing json

    try:
        with open(base / PARSED_NAME, encoding="utf-8") as f:
            cached = loads(f.read(MAX_CONFIG_BYTES + 1))
    except (OSError, ValueError):
        return None
    if not isinstance(cached, dict) or cached.get("stamp") != _stamp(text):
        return None
    return cached.get("data")


def _write_parsed(base: Path, text: str, config: Config) -> None:
    import json

    data: dict[str, Any] = {"repositories": {n: {"type": t, **s} for n, (t, s) in config._snapshot()[0].items()}}
    if config.current:
        data["current"] = config.current
    try:
        write_private(base / PARSED_NAME, json.dumps({"stamp": _stamp(text), "data": data}))  # 0600, as config.yaml
    except (TypeError, ValueError, OSError):  # a value JSON cannot hold, a read-only home: no cache
        pass


def read_config_text(path: Path) -> str | None:
    """The text of a config file read with a bound (None if missing); too big or unreadable is an error."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            data = f.read(MAX_CONFIG_BYTES + 1) if size <= MAX_CONFIG_BYTES else b""
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ConfigError(f"cannot read the config file {path}: {e}") from None
    if size > MAX_CONFIG_BYTES or len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"the config file {path} is larger than {MAX_CONFIG_BYTES >> 20} MiB ({max(size, len(data))} bytes "
            "or more), which no onecore config is; fix or remove it (it was left untouched)"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"cannot read the config file {path}: {e}") from None


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
        self._base = self._snapshot()  # what was read: save() applies only the differences

    def _snapshot(self) -> tuple[dict[str, tuple[str, dict[str, Any]]], str | None]:
        return {n: (r.type, dict(r.settings)) for n, r in self.repositories.items()}, self.current

    @property
    def home(self) -> Path:
        return self.path.parent

    @classmethod
    def load(cls, home_dir: Path | None = None) -> Config:
        """Read the config of ``home_dir`` (default :func:`home`); a missing file is an empty config."""
        base = Path(home_dir) if home_dir is not None else home()
        path = base / CONFIG_NAME
        text = read_config_text(path)
        if text is None:
            return cls(path, {}, None)
        cached = _read_parsed(base, text)
        if cached is not None:
            return cls.from_data(cached, path)
        config = cls.parse(text, path)
        _write_parsed(base, text, config)
        return config

    @classmethod
    @contextlib.contextmanager
    def edit(cls, home_dir: Path | None = None) -> Iterator[Config]:
        """Read, change and save the config under the lock: ``with Config.edit() as c: c.add(...)``.

        Nothing is written if the block raises.
        """
        base = Path(home_dir) if home_dir is not None else home()
        with config_lock(base):
            config = cls.load(base)
            yield config
            config.save()

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
        return cls.from_data(data, path)

    @classmethod
    def from_data(cls, data: Any, path: Path) -> Config:
        """A config from parsed YAML data, validated (every problem a :class:`ConfigError` naming ``path``)."""
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

    def remove(self, name: str) -> RepoConfig:
        """Forget the repository ``name``; if it was the current one, no repository is current."""
        rc = self.get(name)
        del self.repositories[name]
        if self.current == name:
            self.current = None
        return rc

    def to_yaml(self) -> str:
        from .config_yaml import plain

        return plain(self._snapshot()[0], self.current)

    def save(self) -> None:
        """Write the changes made since :meth:`load` atomically, 0600, keeping comments.

        Under the config lock, the file is read again and only what this object changed (repositories
        added, removed, fields edited, the current one) is applied to it: a concurrent change made by
        another process is kept, never overwritten.
        """
        from .config_yaml import render

        with config_lock(self.home):
            text = read_config_text(self.path) or ""
            fresh = type(self).parse(text, self.path) if text else type(self)(self.path, {}, None)
            repos, current = _merge(self._base, self._snapshot(), fresh._snapshot())
            if current is not None and current not in repos:
                current = None
            new = render(text, repos, current)
            if new != text or not self.path.exists():
                write_private(self.path, new)
            self.repositories = {n: RepoConfig(n, t, dict(s)) for n, (t, s) in repos.items()}
            self.current = current
            self._base = self._snapshot()


_State = tuple[dict[str, tuple[str, dict[str, Any]]], "str | None"]


def _merge(base: _State, mine: _State, theirs: _State) -> _State:
    """``theirs`` (the file now) with the changes from ``base`` to ``mine`` applied, field by field."""
    repos = {n: (t, dict(s)) for n, (t, s) in theirs[0].items()}
    for name in set(base[0]) | set(mine[0]):
        before, after = base[0].get(name), mine[0].get(name)
        if before == after:
            continue
        if after is None:
            repos.pop(name, None)
        elif before is None or name not in repos or before[0] != after[0] or repos[name][0] != after[0]:
            repos[name] = (after[0], dict(after[1]))
        else:
            settings = repos[name][1]
            for key in set(before[1]) | set(after[1]):
                if before[1].get(key, _MISSING) != after[1].get(key, _MISSING):
                    if key in after[1]:
                        settings[key] = after[1][key]
                    else:
                        settings.pop(key, None)
    current = mine[1] if mine[1] != base[1] else theirs[1]
    return repos, current


_MISSING = object()


def mask(settings: Mapping[str, Any], secret_fields: set[str]) -> dict[str, Any]:
    """A copy of ``settings`` with secret values replaced by ``'****'`` (env references are shown)
    and the password of any URL with user info masked (``http://alice:****@host/``)."""
    out = {}
    for k, v in settings.items():
        if k in secret_fields and v not in (None, ""):
            out[k] = v if isinstance(v, str) and _ENV_REF.match(v.strip()) else "****"
        else:
            out[k] = mask_url(v) if isinstance(v, str) else v
    return out


# -------------------------------------------------------------------------------------------------
# Adding, editing and removing repositories (what `one add-repo / edit-repo / remove-repo` call)
# -------------------------------------------------------------------------------------------------
def _base_dir(home_dir: Path | None) -> Path:
    return Path(home_dir) if home_dir is not None else home()


def _warn(message: str) -> None:
    import warnings

    warnings.warn(message, UserWarning, stacklevel=3)


def build_repository(
    name: str, type: str, values: Mapping[str, Any], *, home_dir: Path | None = None, registry: Any = None
) -> tuple[Any, RepoConfig]:
    """Validate ``values`` for a repository of ``type``: the opened repository and what to store.

    Unknown fields, missing required ones and values the type refuses raise :class:`ConfigError`.
    ``${VAR}`` references are kept as written, and a secret taken from the environment is not stored.
    """
    from .plugins import get_registry

    check_repo_name(name)
    reg = registry or get_registry()
    cls = reg.repository_type(type)
    known = {f.name for f in cls.fields}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(
            f"type {type!r} has no field(s) {', '.join(sorted(unknown))}; its fields: {', '.join(sorted(known))}"
        )
    repo = cls(name, RepoConfig(name, type, dict(values)).resolved(), home=home_dir)
    settings = {k: v for k, v in repo.settings.items() if v is not None}
    for secret in repo.secret_fields() - set(values):  # a secret from the environment stays there
        settings.pop(secret, None)
    for key, value in values.items():  # keep ${VAR} references as written rather than their values
        if isinstance(value, str) and _ENV_REF.match(value.strip()):
            settings[key] = value
    return repo, RepoConfig(name, type, settings)


def _checked(repo: Any, check: bool) -> None:
    try:
        if check:
            repo.check()
    finally:
        repo.close()


def _warn_url_passwords(name: str, settings: Mapping[str, Any]) -> None:
    for key in url_password_fields(settings):
        _warn(
            f"repository {name!r}: {key} holds a password ({mask_url(settings[key])}); it is stored 0600 and "
            "masked when shown, but prefer the 'password' field (e.g. --set password='${MY_PASSWORD}')"
        )


def add_repo(
    name: str,
    type: str,
    settings: Mapping[str, Any] | None = None,
    *,
    check: bool = True,
    make_current: bool = True,
    home: Path | None = None,
    registry: Any = None,
) -> RepoConfig:
    """Add the repository ``name`` of ``type`` with ``settings`` (field -> value) to the config.

    The settings are validated, then (``check=True``) verified against the server, before the config
    is changed; a name already configured is an error. Safe against concurrent changes.
    """
    base = _base_dir(home)
    values = dict(settings or {})
    with config_lock(base):
        if name in Config.load(base).repositories:
            raise ConfigError(
                f"a repository named {name!r} already exists in {base / CONFIG_NAME}; choose another name "
                f"or change it with 'one edit-repo {name} --set KEY=VALUE'"
            )
    repo, rc = build_repository(name, type, values, home_dir=base, registry=registry)
    _checked(repo, check)  # outside the lock: a slow server must not block other config changes
    _warn_url_passwords(name, rc.settings)
    with Config.edit(base) as config:
        if name in config.repositories:
            raise ConfigError(f"a repository named {name!r} was added meanwhile to {config.path}; choose another name")
        config.add(rc, make_current=make_current)
    return rc


def edit_repo(
    name: str,
    settings: Mapping[str, Any] | None = None,
    *,
    unset: tuple[str, ...] | list[str] = (),
    check: bool = True,
    home: Path | None = None,
    registry: Any = None,
) -> RepoConfig:
    """Change fields of the repository ``name`` (``settings``: field -> new value; ``unset``: fields to
    drop back to their default). Validated and checked like :func:`add_repo`; on any failure the
    config file is left unchanged."""
    base = _base_dir(home)
    old = Config.load(base).get(name)
    values = {**old.settings, **dict(settings or {})}
    for key in unset:
        values.pop(key, None)
    repo, rc = build_repository(name, old.type, values, home_dir=base, registry=registry)
    _checked(repo, check)
    _warn_url_passwords(name, {k: v for k, v in rc.settings.items() if k in (settings or {})})
    with Config.edit(base) as config:
        config.get(name)  # still there?
        config.repositories[name] = rc
    return rc


def remove_repo(name: str, *, home: Path | None = None) -> RepoConfig:
    """Remove the repository ``name`` from the config (its cache and catalog are left on disk)."""
    base = _base_dir(home)
    with Config.edit(base) as config:
        return config.remove(name)


def open_repository(name: str | None = None, home: Path | None = None, registry: Any = None) -> Any:
    """The configured repository ``name`` (the current one when None) of the config in ``home``, opened.

    For plugins that work with another configured repository (e.g. Alyx storing files through an FTP
    one) and for embedding applications; unknown names and types are clear errors.
    """
    from .plugins import get_registry

    base = _base_dir(home)
    rc = Config.load(base).get(name)
    cls = (registry or get_registry()).repository_type(rc.type)
    return cls(rc.name, rc.resolved(), home=base)
