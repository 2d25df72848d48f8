"""Plugin discovery and the registries built from the hooks.

:func:`make_plugin_manager` builds a fresh :class:`pluggy.PluginManager` (nothing is built at import):
it registers the built-ins, then loads the entry points of the group ``onecore`` one by one. A plugin
that fails to import is recorded (name, distribution, error) and the others still load.

The environment variable ``ONE_PLUGINS`` restricts loading of installed plugins: unset loads all,
``none`` (or an empty value) loads none, ``a,b`` loads only the entry points named ``a`` and ``b``.
Built-ins always load.

:func:`get_registry` returns the process-wide :class:`Registry`, built lazily once; tests build their
own with :func:`make_registry`.
"""

from __future__ import annotations

import importlib
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import pluggy

from . import hookspecs
from .errors import PluginError, UnknownRepositoryType

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "onecore"
ENV_PLUGINS = "ONE_PLUGINS"

BUILTIN_PLUGINS = (
    "onecore.builtins.local",
    "onecore.builtins.http",
    "onecore.builtins.loaders",
    "onecore.builtins.oneroot",
)

#: Where the repository types we know of live, for "pip install" hints.
KNOWN_TYPES = {"ftp": "onelight-ftp", "figshare": "onelight-figshare", "alyx": "one-alyx"}


@dataclass
class PluginInfo:
    """What ``one plugins`` shows about one plugin."""

    name: str
    distribution: str | None
    version: str | None
    hooks: list[str]
    builtin: bool = False
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        d = {"name": self.name, "distribution": self.distribution, "version": self.version, "hooks": self.hooks}
        if self.error:
            d["error"] = self.error
        return d


@dataclass
class Registry:
    """Everything the plugins registered, keyed by name, with the plugin that registered it."""

    pm: pluggy.PluginManager
    repository_types: dict[str, tuple[type, str]] = field(default_factory=dict)
    index_formats: dict[str, tuple[Any, str]] = field(default_factory=dict)
    loaders: dict[str, tuple[Callable[..., Any], str]] = field(default_factory=dict)
    failures: list[PluginInfo] = field(default_factory=list)
    _commands: list[tuple[Any, str]] | None = None

    # -- lookups -------------------------------------------------------------------------------
    def repository_type(self, type_name: str) -> type:
        """The repository class registered as ``type_name``, or a clear error with a pip hint."""
        try:
            return self.repository_types[type_name][0]
        except KeyError:
            pass
        hint = ""
        if type_name in KNOWN_TYPES:
            hint = f"; install it with: pip install {KNOWN_TYPES[type_name]}"
        failed = [f for f in self.failures if type_name in (f.name, f.distribution)]
        if failed:
            hint += f" (plugin {failed[0].name!r} is installed but failed to load: {failed[0].error})"
        known = ", ".join(sorted(self.repository_types)) or "none"
        raise UnknownRepositoryType(
            f"no installed plugin provides the repository type {type_name!r}{hint}. Known types: {known}"
        )

    def loader(self, extension: str) -> Callable[..., Any] | None:
        """The loader registered for ``extension`` (without dot, case-insensitive), or None."""
        entry = self.loaders.get(extension.lower())
        return entry[0] if entry else None

    def index_format(self, name: str) -> Any:
        try:
            return self.index_formats[name][0]
        except KeyError:
            known = ", ".join(sorted(self.index_formats))
            raise PluginError(f"unknown index format {name!r}; known formats: {known}") from None

    def commands(self) -> list[tuple[Any, str]]:
        """CLI commands registered by plugins (collected on first use: only the CLI asks)."""
        if self._commands is None:
            self._commands = []
            _collect(self, "one_register_commands", self._commands_register)
        return self._commands

    def _commands_register(self, plugin: str) -> Callable[[Any], None]:
        def register(command: Any) -> None:
            name = getattr(command, "name", None)
            for other, owner in self._commands or []:
                if other.name == name:
                    raise PluginError(f"command {name!r} is registered by both {owner!r} and {plugin!r}")
            self._commands.append((command, plugin))  # type: ignore[union-attr]

        return register

    # -- reporting -----------------------------------------------------------------------------
    def plugins(self, include_builtins: bool = False) -> list[PluginInfo]:
        """Loaded plugins (and failures) with distribution, version and implemented hooks."""
        out = []
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:
                continue
            builtin = name in BUILTIN_PLUGINS
            if builtin and not include_builtins:
                continue
            hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
            if builtin:
                from . import __version__

                dist_name, version = "onecore", __version__
            else:
                dist_name, version = getattr(self.pm, "dists", {}).get(name, (None, None))
            out.append(PluginInfo(name, dist_name, version, hooks, builtin=builtin))
        out.extend(self.failures)
        return out


class PluginManager(pluggy.PluginManager):
    """A pluggy manager that also remembers which distribution each entry-point plugin came from."""

    def __init__(self) -> None:
        super().__init__("onecore")
        self.dists: dict[str, tuple[str | None, str | None]] = {}


def _allowed_plugins() -> set[str] | None:
    raw = os.environ.get(ENV_PLUGINS)
    if raw is None:
        return None
    raw = raw.strip()
    if raw.lower() in ("", "none", "0", "false"):
        return set()
    return {p.strip() for p in raw.split(",") if p.strip()}


def make_plugin_manager(
    load_entrypoints: bool = True,
    plugins: Iterable[Any] = (),
    failures: list[PluginInfo] | None = None,
) -> PluginManager:
    """Build a plugin manager: built-ins, then ``plugins`` (objects or module names), then entry points.

    Import failures of entry points are appended to ``failures`` (one :class:`PluginInfo` each)
    instead of raising. A hook implementation with no matching spec is an error (``check_pending``).
    """
    pm = PluginManager()
    pm.add_hookspecs(hookspecs)
    for modname in BUILTIN_PLUGINS:
        pm.register(importlib.import_module(modname), name=modname)
    for plugin in plugins:
        if isinstance(plugin, str):
            pm.register(importlib.import_module(plugin), name=plugin)
        else:
            pm.register(plugin, name=getattr(plugin, "__name__", None))
    if load_entrypoints:
        _load_entrypoints(pm, failures if failures is not None else [])
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as e:
        raise PluginError(f"a plugin implements a hook that does not exist: {e}") from None
    return pm


def _load_entrypoints(pm: pluggy.PluginManager, failures: list[PluginInfo]) -> None:
    from importlib.metadata import entry_points

    allowed = _allowed_plugins()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if allowed is not None and ep.name not in allowed:
            continue
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["name"] if dist is not None else None
        version = dist.version if dist is not None else None
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as e:  # a broken plugin must not take the others down
            msg = f"{type(e).__name__}: {e}"
            log.warning("plugin %r (%s) failed to load: %s", ep.name, dist_name, msg)
            failures.append(PluginInfo(ep.name, dist_name, version, [], error=msg))
            continue
        pm.dists[ep.name] = (dist_name, version)


def _collect(registry: Registry, hook_name: str, make_register: Callable[[str], Callable[..., None]]) -> None:
    """Call each implementation of a hook on its own, so one broken plugin is reported by name."""
    caller = getattr(registry.pm.hook, hook_name)
    for impl in caller.get_hookimpls():  # registration order: built-ins first
        try:
            impl.function(register=make_register(impl.plugin_name))
        except PluginError:
            raise
        except Exception as e:
            msg = f"{type(e).__name__} in {hook_name}: {e}"
            log.warning("plugin %r failed: %s", impl.plugin_name, msg)
            registry.failures.append(PluginInfo(impl.plugin_name, None, None, [hook_name], error=msg))


def _named_register(table: dict[str, tuple[Any, str]], kind: str, key: Callable[[Any], str]):
    def make(plugin: str) -> Callable[[Any], None]:
        def register(obj: Any) -> None:
            name = key(obj)
            if name in table:
                raise PluginError(f"{kind} {name!r} is registered by both {table[name][1]!r} and {plugin!r}")
            table[name] = (obj, plugin)

        return register

    return make


def make_registry(pm: pluggy.PluginManager | None = None, failures: list[PluginInfo] | None = None) -> Registry:
    """Build a :class:`Registry` by calling the registration hooks of ``pm`` (a new manager by default)."""
    failures = [] if failures is None else failures
    if pm is None:
        pm = make_plugin_manager(failures=failures)
    reg = Registry(pm=pm, failures=failures)
    _collect(reg, "one_register_repository_types", _named_register(reg.repository_types, "repository type", _type_name))
    _collect(reg, "one_register_index_formats", _named_register(reg.index_formats, "index format", lambda f: f.name))

    def loader_register(plugin: str) -> Callable[..., None]:
        def register(extension: str, function: Callable[..., Any]) -> None:
            ext = extension.lower().lstrip(".")
            if ext in reg.loaders and reg.loaders[ext][1] in BUILTIN_PLUGINS and plugin not in BUILTIN_PLUGINS:
                reg.loaders[ext] = (function, plugin)  # a plugin's loader replaces the built-in default
                return
            if ext in reg.loaders:
                raise PluginError(f"loader for '.{ext}' is registered by both {reg.loaders[ext][1]!r} and {plugin!r}")
            reg.loaders[ext] = (function, plugin)

        return register

    _collect(reg, "one_register_loaders", loader_register)
    return reg


def _type_name(cls: type) -> str:
    name = getattr(cls, "type", None)
    if not isinstance(name, str) or not name:
        raise PluginError(f"repository class {cls!r} has no 'type' name")
    return name


_REGISTRY: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, built on first use (never at import)."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = make_registry()
    return _REGISTRY


def set_registry(registry: Registry | None) -> None:
    """Replace (or with None, reset) the process-wide registry; used by tests and embedding apps."""
    global _REGISTRY
    _REGISTRY = registry
