"""The ``one`` console script: a help request is answered from :mod:`onecore.helpcache` when it can
be, everything else runs :func:`onecore.cli.main`.

``one --help`` then costs little more than starting Python; the first request after an install, an
upgrade or an edit renders the text with click as before (and keeps it).
"""

from __future__ import annotations

import sys


def main() -> None:
    """Console-script entry point."""
    args = sys.argv[1:]
    from . import helpcache

    if helpcache.help_request(args) and helpcache.enabled():
        text = helpcache.lookup(args)
        if text is not None:
            try:
                sys.stdout.write(text)
                sys.stdout.flush()
                return
            except UnicodeEncodeError:
                pass  # this terminal's encoding: let click write it
        _render_and_keep(args)
        return
    from .cli import main as cli_main

    cli_main()


def _render_and_keep(args: list[str]) -> None:
    """Run the help request through click, show what it printed, and keep a clean answer."""
    import contextlib
    import io

    from .cli import cli

    out, err = io.StringIO(), io.StringIO()
    code: int | str | None = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            cli.main(args, prog_name="one")
        except SystemExit as e:
            code = e.code
    sys.stdout.write(out.getvalue())
    sys.stdout.flush()
    sys.stderr.write(err.getvalue())
    if code in (0, None) and not err.getvalue() and out.getvalue():
        from . import helpcache

        helpcache.store(args, out.getvalue())
    sys.exit(code)
