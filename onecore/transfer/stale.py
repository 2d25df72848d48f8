"""A stale catalog is not the server's fault: when downloads fail because the server's copy differs
from the catalog's size or md5, the index is checked for a change (its validator), the catalog
refreshed once and the failed files fetched once more; only then is the server blamed."""

from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

from ..errors import TransferError, VerificationError
from .progress import TransferReport

log = logging.getLogger("onecore.transfer")


def retry_if_stale(
    report: TransferReport,
    recs: Sequence[Any],
    refresh: Callable[[], bool],
    reload: Callable[[Sequence[Any]], list[Any]],
    refetch: Callable[[list[Any]], TransferReport],
) -> TransferReport:
    """``report`` with the verification failures fetched again after one catalog refresh, when the
    index changed (``refresh()`` True); ``reload(recs)`` gives the refreshed records of ``recs``."""
    stale = {p for p, e in report.errors.items() if isinstance(e, VerificationError)}
    if not stale:
        return report
    try:
        changed = refresh()
    except TransferError:
        return report
    if not changed:
        return report
    log.info("the repository's index changed: catalog refreshed; fetching %d file(s) again", len(stale))
    again = refetch([r for r in reload([r for r in recs if r.full_path in stale]) if r.full_path in stale])
    redone = set(again.downloaded) | set(again.skipped)
    report.failed = [(p, m) for p, m in report.failed if p not in redone and p not in again.errors]
    report.failed += again.failed
    for p in redone:
        report.errors.pop(p, None)
        report.downloaded.append(p)
        report.paths[p] = again.paths[p]
    report.errors.update(again.errors)
    report.bytes += again.bytes
    return report
