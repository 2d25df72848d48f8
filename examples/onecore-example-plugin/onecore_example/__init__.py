"""An example onecore plugin: the ``zipfile`` repository type, a ``.npz`` loader and ``one zip-root``.

Copy this package to start your own plugin; see README.md.
"""

__version__ = "0.1.0"
