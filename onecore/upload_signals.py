"""Signals during an upload: ``SIGTERM`` and ``SIGHUP`` handled as Ctrl-C is, and held while the index
is written (:func:`signals_as_interrupts`)."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Iterator

__all__ = ["UploadInterrupted", "signals_as_interrupts"]


class UploadInterrupted(KeyboardInterrupt):
    """The upload was stopped by Ctrl-C, ``SIGTERM`` or ``SIGHUP`` (``signum``); the index was written."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _Deferred:
    """Signals received while held are re-raised (as :class:`UploadInterrupted`) on :meth:`release`."""

    def __init__(self) -> None:
        self.held = False
        self.pending: int | None = None

    def hold(self) -> None:
        self.held = True

    def handler(self, signum: int, frame: Any) -> None:
        if self.held:
            self.pending = signum
            return
        raise UploadInterrupted(signum)


@contextlib.contextmanager
def signals_as_interrupts() -> Iterator[_Deferred]:
    """In the main thread, turn ``SIGTERM`` and ``SIGHUP`` into :class:`UploadInterrupted` (as Ctrl-C
    is), unless the program set another handler or ignores them (``nohup``)."""
    deferred = _Deferred()
    saved: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for name in ("SIGTERM", "SIGHUP"):
            s = getattr(signal, name, None)
            if s is not None and signal.getsignal(s) == signal.SIG_DFL:
                saved[s] = signal.signal(s, deferred.handler)
    try:
        yield deferred
    except KeyboardInterrupt as e:
        if not isinstance(e, UploadInterrupted):
            raise UploadInterrupted(signal.SIGINT) from None
        raise
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
    if deferred.pending is not None:
        raise UploadInterrupted(deferred.pending)
