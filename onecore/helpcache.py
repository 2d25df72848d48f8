"""The help cache: ``one --help`` and ``one COMMAND --help`` answered without importing click.

A help text is rendered by click the first time (about 45 ms, most of it importing click and the
plugins that add commands) and kept in ``$ONE_HOME/helpcache/``. The next identical request is
answered from there in a few milliseconds, but only when nothing it depends on has changed:

- the request itself (the command path) and the width click would wrap to;
- the interpreter (``sys.executable``, version, ``sys.path``) and the modification time of every
  ``sys.path`` folder, which changes whenever a distribution (a plugin) is installed, upgraded or
  removed there;
- the environment variables that shape help or plugin loading (every ``ONE_*`` variable, the locale
  variables, ``COLUMNS``); the values of variables that look secret are never written, only their
  presence;
- size, inode, modification and change times of every non-standard-library source file that was
  loaded while the text was rendered (onecore, click, pluggy, each plugin's command module) and of
  ``config.yaml`` (the change time moves even when an edit restores the modification time).

Anything else (an error, a warning on stderr, a terminal escape code in the text, a home that cannot
be written) means the text is not kept, and the next request renders it again. ``ONE_HELP_CACHE=0``
turns the cache off. The module imports only ``os``, ``sys`` and ``zlib``.
"""

from __future__ import annotations

import os
import sys

ENV_HELP_CACHE = "ONE_HELP_CACHE"
MAGIC = "onecore-help-cache 1"
MAX_FILES = 200  # texts kept; the oldest go first
_COMMAND_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")
_SECRET_WORDS = ("PASS", "TOKEN", "SECRET", "KEY", "AUTH", "CRED")
_LOCALE_VARS = ("LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LC_CTYPE", "COLUMNS")


def help_request(args: list[str]) -> bool:
    """Whether ``args`` is a plain help request: up to two command names, then ``--help`` or ``-h``."""
    if not args or args[-1] not in ("--help", "-h") or len(args) > 3:
        return False
    return all(a and a[0].isalpha() and set(a) <= _COMMAND_CHARS for a in args[:-1])


def enabled() -> bool:
    """False when ``ONE_HELP_CACHE`` is ``0`` (or ``no``, ``off``, ``false``)."""
    return os.environ.get(ENV_HELP_CACHE, "1").strip().lower() not in ("0", "no", "off", "false")


def home() -> str:
    """``$ONE_HOME`` (as :func:`onecore.config.home`), without importing pathlib or the config."""
    env = os.environ.get("ONE_HOME")
    return os.path.expanduser(env) if env else os.path.join(os.path.expanduser("~"), ".one")


def terminal_columns() -> int:
    """The columns :func:`shutil.get_terminal_size` reports (``COLUMNS``, else the terminal, else 80)."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def _stat(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return "-"
    return f"{st.st_mtime_ns} {st.st_ctime_ns} {st.st_size} {st.st_ino}"  # ctime: a restored mtime shows


def _env_lines() -> list[str]:
    lines = []
    for name in sorted(os.environ):
        if not (name.startswith("ONE_") or name in _LOCALE_VARS):
            continue
        secret = any(word in name.upper() for word in _SECRET_WORDS)
        lines.append(f"env {name}={'(set)' if secret else repr(os.environ[name])}")
    return lines


def request_key(args: list[str]) -> list[str]:
    """The lines that identify a help text: request, width, interpreter, ``sys.path`` state, env."""
    lines = [
        f"args {args[:-1]!r}",
        f"width {max(min(terminal_columns(), 80) - 2, 50)}",  # click's HelpFormatter width
        f"tty {sys.stdout.isatty() if sys.stdout else False}",
        f"python {sys.executable!r} {sys.version!r}",
        f"config {_stat(os.path.join(home(), 'config.yaml'))}",
    ]
    lines += [f"path {p!r} {_stat(p or '.')}" for p in sys.path]
    return lines + _env_lines()


def _cache_path(key: list[str]) -> str:
    import zlib

    text = "\n".join(key).encode("utf-8", "surrogateescape")
    name = f"{zlib.crc32(text):08x}{zlib.adler32(text):08x}.txt"
    return os.path.join(home(), "helpcache", name)


def lookup(args: list[str]) -> str | None:
    """The cached help text of ``args`` if it is still valid, else None."""
    key = request_key(args)
    try:
        with open(_cache_path(key), encoding="utf-8", errors="strict") as f:
            data = f.read()
    except (OSError, UnicodeDecodeError):
        return None
    head, sep, text = data.partition("\n\n")
    lines = head.split("\n")
    if not sep or lines[0] != MAGIC or lines[1 : len(key) + 1] != key or lines[-1] != f"text {len(text)}":
        return None  # another request, another format, or cut short (a crash before the data reached the disk)
    for line in lines[len(key) + 1 : -1]:
        stat, _, path = line.partition(" | ")
        if not path or _stat(path) != stat:
            return None
    return text


def _loaded_files() -> list[str]:
    """Source files of the loaded modules outside the standard library (it changes with sys.version)."""
    stdlib = os.path.dirname(os.__file__) + os.sep
    files = set()
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not isinstance(path, str) or not os.path.isabs(path):
            continue
        if path.startswith(stdlib) and "-packages" + os.sep not in path[len(stdlib) :]:
            continue
        files.add(path)
    return sorted(files)


def store(args: list[str], text: str) -> None:
    """Keep ``text`` as the help of ``args`` (best effort: any failure just leaves nothing kept)."""
    if "\x1b" in text:  # styled for this terminal: not kept
        return
    key = request_key(args)
    files = [f"{_stat(p)} | {p}" for p in _loaded_files() if "\n" not in p and " | " not in p]
    body = "\n".join([MAGIC, *key, *files, f"text {len(text)}"]) + "\n\n" + text
    path = _cache_path(key)
    folder = os.path.dirname(path)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:  # never through a planted link
            f.write(body)
        os.replace(tmp, path)
        _prune(folder)
    except (OSError, UnicodeEncodeError):
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _prune(folder: str) -> None:
    """Keep the newest :data:`MAX_FILES` texts; remove temporary files left by killed processes."""
    import time

    entries = []
    for e in os.scandir(folder):
        if e.name.endswith(".txt"):
            entries.append(e)
        elif e.name.endswith(".tmp") and e.stat(follow_symlinks=False).st_mtime < time.time() - 60:
            try:
                os.unlink(e.path)
            except OSError:
                pass
    if len(entries) <= MAX_FILES:
        return
    entries.sort(key=lambda e: e.stat().st_mtime_ns)
    for entry in entries[: len(entries) - MAX_FILES]:
        try:
            os.unlink(entry.path)
        except OSError:
            pass
