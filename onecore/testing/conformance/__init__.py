"""The repository conformance suite: one set of tests every repository type must pass.

A plugin's test module subclasses :class:`RepositoryConformance` (or, for a read-only type,
:class:`ReadOnlyRepositoryConformance`, which leaves out the upload mixin) (the subclass name must start with
``Test`` so that pytest collects it) and overrides one fixture, ``repository``::

    import pytest
    from onecore.testing.conformance import RepositoryConformance
    from mylab_one.repository import MyRepository

    class TestMyRepository(RepositoryConformance):
        @pytest.fixture
        def repository(self, one_home, my_server):
            with MyRepository("conformance", {"url": my_server.url}, home=one_home) as repo:
                yield repo

The contract, precisely:

``repository`` (required)
    Yields a configured, **empty** repository instance of the type under test, constructed with
    ``home=one_home`` (the isolated ``$ONE_HOME``; ``one_home`` is set up before it by an autouse
    fixture of the suite). Its ``name`` is the name the suite writes into the isolated config, its
    ``settings`` must be what a user would write in ``config.yaml`` (they are written there as they
    are). The fixture stops whatever it started (servers) after the ``yield``.

``publish_root`` (required for read-only types, ``can_upload = False``)
    Returns a callable ``publish(root: Path) -> None`` that makes the ALF data root ``root``
    available through the repository, replacing what was published before (the suite calls it again
    after changing ``root``, and then expects ``fetch_index`` to notice the change). The default
    uploads with ``repository.upload(root, scan(root))``. For ``http`` it copies ``root`` into the
    served folder and writes its ``.one_root`` with ``one index``.

``publish_index_text`` (optional)
    For types whose index is a ``.one_root`` file the test can write: returns a callable
    ``write(text: str) -> None`` that replaces the published index with ``text`` verbatim. The
    default ``None`` skips :meth:`~RepositoryConformance.test_unsafe_index_rows_are_never_written`.

``unreachable_repository`` (optional)
    Returns a repository of the type configured to point at nothing (a closed port, a folder that
    does not exist), or ``None`` (the default) to skip the test. Its ``fetch_index`` must raise
    :attr:`~RepositoryConformance.expected_unreachable_error` (``TransferError`` by default).

``data_root_overrides`` (optional)
    Returns a dict of keyword arguments of :func:`onecore.testing.make_data_root` merged over
    ``data_root_options`` for one test (default ``{}``): names that must be fresh for each test,
    e.g. ``{"labs": (lab,)}`` with a lab the fixture creates on a shared database server, so that
    every test starts from an empty repository. The fixtures ``repository`` and ``data_root``
    receive the same value within a test.

Class attributes to adjust: ``expected_unreachable_error``; ``data_root_options`` (keyword
arguments of :func:`onecore.testing.make_data_root`, e.g. ``{"n": 50}`` for a slow emulator);
``missing_url(url)`` (a method turning a dataset URL into one that the server does not have; the
default appends ``.missing`` to the URL's path).

What the suite checks, through the real API (``One(repo=...)`` with the repository written into the
isolated config, the ``one`` CLI, and :func:`onecore.transfer.download` with the type's fetcher):

- the type's declaration: ``type``, ``fields``; bad settings raise :class:`~onecore.errors.ConfigError`;
  secrets never appear in ``repr``;
- an empty repository's index: no rows, or a :class:`~onecore.errors.OneError` (never a bare
  exception); types that can upload must return an empty index, so that a first upload works;
- upload (``can_upload``): the report, a subset upload, a dry run that sends nothing, an unchanged
  re-upload that sends nothing, a changed or new dataset sent alone; without upload:
  :class:`~onecore.errors.UnsupportedOperation`;
- the index round trip: ``fetch_index`` rows are exactly the scanned datasets, safe ALF paths, with
  a URL (unless ``is_local``) and correct size and md5 where given; the validator state returns
  ``None`` (or the same rows) when nothing changed and a new index when something did;
- search, list, load and download through ``One``, with bytes identical to the data root, a second
  download that transfers nothing, and a corrupted cached file downloaded again (when md5 is known);
- unsafe paths: items with ``..``, absolute paths or symlinks leading outside are refused by the
  engine with the type's fetcher, and unsafe index rows never produce a file outside the cache;
- errors: missing datasets and sessions raise :class:`~onecore.errors.NotFound`, a missing file on
  the server a :class:`~onecore.errors.TransferError`, an unreachable server the expected error
  (and ``One`` falls back to its cached catalog when that error is a ``TransferError``);
- the CLI: ``one search``, ``one list``, ``one download`` (and ``one upload`` when supported).

Every test uses the fixtures ``one_home`` and ``alf_data_root``-like data from
:mod:`onecore.testing.fixtures` (exposed by onecore's pytest plugin); a test skipped because a type
does not support something says why.

The suite is made of mixins, each a class of tests on the fixtures of :class:`ConformanceBase`, in the
style of fsspec's ``tests/abstract``: :class:`ReadConformance`, :class:`OneApiConformance`,
:class:`SafetyConformance`, :class:`CliConformance`, :class:`UploadConformance` and
:class:`ReadOnlyConformance`. A type may combine them as it needs; the two classes below are the usual
combinations.
"""

from __future__ import annotations

from .base import ConformanceBase, CountingFetcher, session_of
from .cli import CliConformance
from .one_api import OneApiConformance
from .read import ReadConformance
from .readonly import ReadOnlyConformance
from .safety import SafetyConformance
from .upload import UploadConformance

__all__ = [
    "RepositoryConformance",
    "ReadOnlyRepositoryConformance",
    "ConformanceBase",
    "ReadConformance",
    "OneApiConformance",
    "SafetyConformance",
    "CliConformance",
    "UploadConformance",
    "ReadOnlyConformance",
    "session_of",
    "CountingFetcher",
]


class RepositoryConformance(ReadConformance, OneApiConformance, SafetyConformance, CliConformance, UploadConformance):
    """Every conformance test, for a type that can upload; see the module docstring for the contract."""


class ReadOnlyRepositoryConformance(
    ReadConformance, OneApiConformance, SafetyConformance, CliConformance, ReadOnlyConformance
):
    """Every conformance test that applies to a read-only type (``can_upload = False``)."""
