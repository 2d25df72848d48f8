"""Assertions for fault-injection tests of a transfer path (used by the plugins' fault matrices).

After a fault: :func:`assert_nothing_wrong` (no file under its final name has other bytes than the
source); after the re-run: :func:`assert_complete` (every file there, byte-identical, no ``.part`` left).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from onecore.transfer import PART_SUFFIX


def final_files(dest: Path) -> list[Path]:
    """Files under their final names in ``dest`` (not temporary ``.NAME.part`` files and their records,
    nothing in hidden folders such as locks)."""
    if not dest.exists():
        return []
    return [
        p
        for p in dest.rglob("*")
        if p.is_file()
        and not p.name.endswith(PART_SUFFIX)
        and not any(part.startswith(".") for part in p.relative_to(dest).parts)
    ]


def assert_nothing_wrong(dest: Path, root: Path) -> None:
    """Every file under its final name in ``dest`` has the bytes of the same path in ``root``."""
    for p in final_files(dest):
        rel = p.relative_to(dest).as_posix()
        assert p.read_bytes() == (root / rel).read_bytes(), f"{rel} has wrong content under its final name"


def assert_complete(dest: Path, root: Path, rels: list[str]) -> None:
    """Every ``rels`` is in ``dest`` with the bytes of ``root``, and no partial file is left."""
    for rel in rels:
        assert (dest / rel).read_bytes() == (root / rel).read_bytes(), rel
    assert not list(dest.rglob("*" + PART_SUFFIX))


def failed_names(report: Any) -> list[str]:
    """The dataset paths that failed in a transfer report, checking that each message names its file."""
    for rel, msg in report.failed:
        assert rel in msg, f"the message does not name the file: {msg}"
    return sorted(rel for rel, _ in report.failed)
