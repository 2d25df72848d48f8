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
import os
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import pluggy

from . import hookspecs
from .errors import PluginError, UnknownRepositoryType
from .lazy import lazy_logger

log = lazy_logger(__name__)  # logging is imported when something is logged

ENTRY_POINT_GROUP = "onecore"
ENV_PLUGINS = "ONE_PLUGINS"

BUILTIN_PLUGINS = (
    "onecore.builtins.types",
    "onecore.builtins.loaders",
    "onecore.builtins.viewers",
)

#: Where the repository types we know of live, for "pip install" hints: type -> (distribution, folder).
KNOWN_TYPES = {
    "ftp": ("onelight-ftp", "onelight_ftp"),
    "figshare": ("onelight-figshare", "onelight_figshare"),
    "alyx": ("one-alyx", "one_alyx"),
    "s3": ("onecore-s3", "onecore_s3"),
}


def install_hint(type_name: str) -> str:
    """``pip install DIST`` for a known type, plus ``pip install ./plugins/FOLDER`` when the source tree is here."""
    dist, folder = KNOWN_TYPES[type_name]
    hint = f"pip install {dist}"
    tree = Path(__file__).resolve().parent.parent / "plugins" / folder / "pyproject.toml"
    if tree.is_file():
        hint += f" (or, from the source tree: pip install {tree.parent})"
    return hint


@dataclass
class PluginInfo:
    """What ``one plugins`` shows about one plugin."""

    name: str
    distribution: str | None
    version: str | None
    hooks: list[str]
    builtin: bool = False
    error: str | None = None
    #: ``"kind name"`` of each name this plugin registered that another plugin registered too (disabled).
    conflicts: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        d = {"name": self.name, "distribution": self.distribution, "version": self.version, "hooks": self.hooks}
        if self.error:
            d["error"] = self.error
        if self.conflicts:
            d["conflicts"] = self.conflicts
        return d


class LazyRepositoryType:
    """A repository type registered by name, imported only when it is used.

    ``register(LazyRepositoryType("mylab", "onecore_mylab.repository:MyLabRepository", "my server"))``
    keeps ``one --help`` and ``one plugins`` from importing the type's transfer code: the class is
    imported the first time a repository of that type is opened, configured or documented.
    """

    def __init__(self, type: str, target: str, description: str = ""):
        if ":" not in target:
            raise PluginError(f"lazy repository type {type!r}: target {target!r} must be 'module:ClassName'")
        self.type = type
        self.target = target
        self.description = description

    def load(self) -> type:
        """Import and return the class; its ``type`` must be the registered name."""
        module, _, attr = self.target.partition(":")
        cls = getattr(importlib.import_module(module), attr)
        if getattr(cls, "type", None) != self.type:
            raise PluginError(f"{self.target} has type {getattr(cls, 'type', None)!r}, registered as {self.type!r}")
        return cls

    def __repr__(self) -> str:
        return f"LazyRepositoryType({self.type!r}, {self.target!r})"


@dataclass
class Registry:
    """Everything the plugins registered, keyed by name, with the plugin that registered it.

    The registration hooks run on first use of a table (``repository_types``, ``loaders``), and the
    command hook on first :meth:`commands`: ``one --help`` runs only the latter.
    """

    pm: pluggy.PluginManager
    failures: list[PluginInfo] = field(default_factory=list)
    #: Names registered by more than one plugin, ``(kind, name) -> [plugins]``: disabled, reported on use.
    conflicts: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    _commands: list[tuple[Any, str]] | None = None
    _tables: dict[str, dict[str, tuple[Any, str]]] | None = None

    @property
    def repository_types(self) -> dict[str, tuple[Any, str]]:
        """Type name -> (class or :class:`LazyRepositoryType`, plugin name)."""
        return self._collected("repository_types")

    @property
    def loaders(self) -> dict[str, tuple[Callable[..., Any], str]]:
        return self._collected("loaders")

    def _collected(self, table: str | None = None) -> dict[str, tuple[Any, str]]:
        """One table, its hook run on first use (``None``: run every registration hook)."""
        if self._tables is None:
            self._tables = {}
        for name in (table,) if table else _TABLE_HOOKS:
            if name not in self._tables:
                self._tables[name] = {}
                _collect_table(self, name, self._tables[name])
        return self._tables[table] if table else {}

    def load_all(self) -> Registry:
        """Run every registration hook now (conflicts and failures are then known); returns self."""
        self._collected()
        return self

    def _check_conflict(self, kind: str, name: str) -> None:
        plugins = self.conflicts.get((kind, name))
        if plugins:
            names = " and ".join(repr(p) for p in plugins)
            raise PluginError(
                f"{kind} {name!r} is registered by both {names}, so it is disabled; "
                f"uninstall one of them or restrict loading with {ENV_PLUGINS}"
            )

    def conflict_lines(self) -> list[str]:
        """One line per conflicting name, for ``one plugins``."""
        self._collected()
        return [
            f"CONFLICT: {kind} {name!r} is registered by " + " and ".join(repr(p) for p in plugins) + " (disabled)"
            for (kind, name), plugins in sorted(self.conflicts.items())
        ]

    # -- lookups -------------------------------------------------------------------------------
    def repository_type(self, type_name: str) -> type:
        """The repository class registered as ``type_name``, or a clear error with a pip hint."""
        entry = self.repository_types.get(type_name)
        if entry is not None:
            if isinstance(entry[0], LazyRepositoryType):
                try:
                    cls = entry[0].load()
                except PluginError:
                    raise
                except Exception as e:
                    raise PluginError(
                        f"plugin {entry[1]!r} failed to load the repository type {type_name!r}: {type(e).__name__}: {e}"
                    ) from None
                entry = self.repository_types[type_name] = (cls, entry[1])
            return entry[0]
        self._check_conflict("repository type", type_name)
        hint = ""
        if type_name in KNOWN_TYPES:
            hint = "; install it with: " + install_hint(type_name)
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
        if entry is None:
            self._check_conflict("loader", extension.lower())
        return entry[0] if entry else None

    def commands(self) -> list[tuple[Any, str]]:
        """CLI commands registered by plugins (collected on first use: only the CLI asks)."""
        if self._commands is None:
            self._commands = []
            _collect(self, "one_register_commands", self._commands_register)
        return self._commands

    def _commands_register(self, plugin: str) -> Callable[[Any], None]:
        def register(command: Any) -> None:
            name = getattr(command, "name", None)
            commands = self._commands if self._commands is not None else []
            if ("command", name) in self.conflicts:
                self.conflicts[("command", name)].append(plugin)
                return
            for i, (other, owner) in enumerate(commands):
                if other.name == name:
                    del commands[i]
                    self.conflicts[("command", name)] = [owner, plugin]
                    log.warning("command %r is registered by both %r and %r: disabled", name, owner, plugin)
                    return
            commands.append((command, plugin))

        return register

    # -- reporting -----------------------------------------------------------------------------
    def plugins(self, include_builtins: bool = False) -> list[PluginInfo]:
        """Loaded plugins (and failures) with distribution, version and implemented hooks."""
        self._collected()  # so that failures of the registration hooks are listed too
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
            clashes = [f"{kind} {key}" for (kind, key), owners in sorted(self.conflicts.items()) if name in owners]
            out.append(PluginInfo(name, dist_name, version, hooks, builtin=builtin, conflicts=clashes))
        out.extend(self.failures)
        return out


#: What pluggy takes as a hook implementation (a function, a method, a classmethod or staticmethod).
_HOOKABLE = (types.FunctionType, types.MethodType, classmethod, staticmethod)


class PluginManager(pluggy.PluginManager):
    """A pluggy manager that also remembers which distribution each entry-point plugin came from."""

    def __init__(self) -> None:
        super().__init__("onecore")
        self.dists: dict[str, tuple[str | None, str | None]] = {}

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        """pluggy's answer; a module's attribute that is no function is skipped without asking pluggy.

        pluggy looks every name of a plugin up with :func:`inspect.getattr_static` (a third of the
        registry's cost): for a plain module that lookup gives the module's own value, and pluggy
        only takes functions, methods, classmethods and staticmethods.
        """
        if type(plugin) is types.ModuleType and not isinstance(plugin.__dict__.get(name), _HOOKABLE):
            return None
        return super().parse_hookimpl_opts(plugin, name)


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
    from .entrypoints import entry_points

    allowed = _allowed_plugins()
    eps = list(entry_points(group=ENTRY_POINT_GROUP))
    unknown = sorted((allowed or set()) - {ep.name for ep in eps})
    if unknown:
        installed = ", ".join(sorted(ep.name for ep in eps)) or "none"
        log.warning(
            "%s names %s, which no installed plugin is called; installed plugins: %s",
            ENV_PLUGINS,
            ", ".join(map(repr, unknown)),
            installed,
        )
    for ep in eps:
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
    """Call a registration hook once per plugin, through pluggy, so one broken plugin is reported by name.

    Each plugin's implementation is called through :meth:`pluggy.PluginManager.subset_hook_caller`
    with every other plugin's plain implementation left out (hookwrappers of all plugins stay in), so
    pluggy's own calling convention applies: hookwrappers run, and an implementation may take fewer
    arguments than the spec. An exception is recorded as a failure of that plugin only.
    """
    pm = registry.pm
    impls = getattr(pm.hook, hook_name).get_hookimpls()  # registration order: built-ins first
    plain = [i for i in impls if not (i.hookwrapper or i.wrapper)]
    for impl in plain:
        others = [i.plugin for i in plain if i.plugin is not impl.plugin]
        caller = pm.subset_hook_caller(hook_name, remove_plugins=others)
        try:
            caller(register=make_register(impl.plugin_name))
        except Exception as e:
            msg = f"{type(e).__name__} in {hook_name}: {e}"
            log.warning("plugin %r failed: %s", impl.plugin_name, msg)
            registry.failures.append(PluginInfo(impl.plugin_name, None, None, [hook_name], error=msg))


def _named_register(registry: Registry, table: dict[str, tuple[Any, str]], kind: str, key: Callable[[Any], str]):
    """A ``register`` factory for one table: a name registered twice is disabled and remembered as a conflict."""

    def make(plugin: str) -> Callable[[Any], None]:
        def register(obj: Any) -> None:
            name = key(obj)
            _add(registry, table, kind, name, obj, plugin)

        return register

    return make


def _add(registry: Registry, table: dict[str, tuple[Any, str]], kind: str, name: str, obj: Any, plugin: str) -> None:
    conflict = registry.conflicts.get((kind, name))
    if conflict is not None:
        if plugin not in conflict:
            conflict.append(plugin)
    elif name in table:
        owner = table.pop(name)[1]
        registry.conflicts[(kind, name)] = [owner, plugin]
        log.warning("%s %r is registered by both %r and %r: disabled", kind, name, owner, plugin)
    else:
        table[name] = (obj, plugin)


def make_registry(pm: pluggy.PluginManager | None = None, failures: list[PluginInfo] | None = None) -> Registry:
    """A :class:`Registry` over ``pm`` (a new manager by default); its hooks run when a table is first used."""
    failures = [] if failures is None else failures
    if pm is None:
        pm = make_plugin_manager(failures=failures)
    return Registry(pm=pm, failures=failures)


_TABLE_HOOKS = {
    "repository_types": "one_register_repository_types",
    "loaders": "one_register_loaders",
}


def _collect_table(reg: Registry, table: str, entries: dict[str, tuple[Any, str]]) -> None:
    if table == "repository_types":
        _collect(reg, _TABLE_HOOKS[table], _named_register(reg, entries, "repository type", _type_name))
        return

    def loader_register(plugin: str) -> Callable[..., None]:
        def register(extension: str, function: Callable[..., Any]) -> None:
            ext = extension.lower().lstrip(".")
            current = entries.get(ext)
            if current is not None and current[1] in BUILTIN_PLUGINS and plugin not in BUILTIN_PLUGINS:
                entries[ext] = (function, plugin)  # a plugin's loader replaces the built-in default
                return
            _add(reg, entries, "loader", ext, function, plugin)

        return register

    _collect(reg, "one_register_loaders", loader_register)


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
