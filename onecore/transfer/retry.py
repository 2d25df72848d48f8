"""The shared retry policy: exponential backoff with full jitter, honouring ``Retry-After``."""

from __future__ import annotations

import logging
import os
import random
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from ..errors import TransferError, TransientError

log = logging.getLogger("onecore.transfer")

T = TypeVar("T")


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter. ``attempts`` counts the first try."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    sleep: Callable[[float], None] = time.sleep

    @classmethod
    def from_env(cls) -> RetryPolicy:
        """Defaults, overridable with ``ONE_RETRY_ATTEMPTS`` and ``ONE_RETRY_BASE_DELAY``."""
        p = cls()
        try:
            p.attempts = max(1, int(os.environ.get("ONE_RETRY_ATTEMPTS", p.attempts)))
            p.base_delay = max(0.0, float(os.environ.get("ONE_RETRY_BASE_DELAY", p.base_delay)))
        except ValueError:
            pass
        return p

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(max(0.0, retry_after), self.max_delay)
        return random.uniform(0, min(self.max_delay, self.base_delay * (2 ** (attempt - 1))))

    def call(self, fn: Callable[[], T], what: str = "request") -> T:
        """Call ``fn`` until it succeeds, retrying :class:`TransientError`; the last error is raised."""
        for attempt in range(1, self.attempts + 1):
            try:
                return fn()
            except TransientError as e:
                if attempt >= self.attempts:
                    raise TransferError(f"{what} failed after {attempt} attempts: {e}") from None
                d = self.delay(attempt, e.retry_after)
                log.info("%s: %s; retrying in %.1fs (attempt %d/%d)", what, e, d, attempt + 1, self.attempts)
                self.sleep(d)
        raise AssertionError("unreachable")


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
