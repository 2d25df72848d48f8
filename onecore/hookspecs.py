"""The onecore hook contract: the only way plugins extend onecore.

A plugin is a module (or object) with functions decorated by :data:`onecore.hookimpl` whose names are
the hooks below. Every hook receives a ``register`` callable; the plugin calls it once per thing it
provides and never touches onecore's registries itself. Registering a name that another plugin already
registered is an error naming both plugins. A plugin joins through the entry-point group ``onecore``::

    [project.entry-points.onecore]
    mylab = "mylab_one.plugin"

The built-in repository types (``local``, ``http``), loaders (npy, csv, tsv, json, ...) and commands
are registered through these same hooks (see ``onecore/builtins/``).

Each hook is documented in ``docs/hooks.md``; a test fails when a hook lacks a docs entry or a test.
"""

from __future__ import annotations

from typing import Any, Callable

import pluggy

_hookspec = pluggy.HookspecMarker("onecore")


@_hookspec
def one_register_repository_types(register: Callable[[type], None]) -> None:
    """Register repository types.

    Call ``register(cls)`` with a subclass of :class:`onecore.repository.Repository` for each type.
    The class's ``type`` attribute (e.g. ``"ftp"``) is the name users write in their configuration;
    its ``fields`` declare the settings ``one add-repo`` asks for.
    """


@_hookspec
def one_register_loaders(register: Callable[..., None]) -> None:
    """Register file loaders by extension.

    Call ``register(extension, function)``, e.g. ``register("npy", load_npy)``, with the extension
    without its dot. ``function(path, **options)`` returns the loaded data; options it does not know
    must be ignored (``mmap`` is passed to every loader when the user asks for memory mapping).
    """


@_hookspec
def one_register_commands(register: Callable[[Any], None]) -> None:
    """Add commands to the ``one`` command line.

    Call ``register(command)`` with a :class:`click.Command` (or group). This hook is only called by
    the CLI, so a plugin may import ``click`` inside its implementation without slowing ``import
    onecore``.
    """
