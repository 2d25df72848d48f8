"""Built-in plugin: the repository types shipped with onecore, ``local`` and ``http``.

They are registered as :class:`~onecore.plugins.LazyRepositoryType` entries, the way the example
plugin advises third-party authors to do: ``one --help`` and ``one plugins`` list them without
importing their modules (and what those import), which happens when a repository of the type is
first opened, configured or documented.
"""

from __future__ import annotations

from typing import Callable

from onecore import hookimpl
from onecore.plugins import LazyRepositoryType

#: The built-in types: name, ``module:Class``, one-line description (the class's ``description``).
TYPES = (
    ("local", "onecore.builtins.local:LocalRepository", "a data root on this computer or a mounted disk"),
    ("http", "onecore.builtins.http:HTTPRepository", "a data root served by a web server, with a .one_root index"),
)


@hookimpl
def one_register_repository_types(register: Callable) -> None:
    for name, target, description in TYPES:
        register(LazyRepositoryType(name, target, description))
