"""Per-thread ``requests`` sessions, shared by the HTTP fetcher and the plugins' API clients."""

from __future__ import annotations

import threading
from typing import Any, Callable


class ThreadSessions:
    """One ``requests.Session`` per thread (connection reuse without sharing a session across threads),
    all closed together by :meth:`close`. ``configure(session)`` sets each new session up."""

    def __init__(self, configure: Callable[[Any], None] | None = None):
        self._configure = configure
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()

    def get(self) -> Any:
        """This thread's session (made on first use)."""
        s = getattr(self._local, "session", None)
        if s is None:
            import requests

            s = requests.Session()
            if self._configure is not None:
                self._configure(s)
            with self._lock:
                self._all.append(s)
            self._local.session = s
        return s

    def close(self) -> None:
        """Close every session; new ones are made on demand afterwards."""
        with self._lock:
            for s in self._all:
                s.close()
            self._all.clear()
        self._local = threading.local()
