"""Benchmark: `one site` on a 100,000-session / 1,000,000-dataset catalog (generated rows, no files).

Measured in the same run: the site build against a plain read of the same catalog (every session's
datasets, what any site generator must do), the data files against a naive JSON dump of the same
rows, and, when headless Chromium is available, the time to open the index and to filter it (by
dataset type, by subject, and both) in the browser, against the 1 s target; a session page opening
is timed too.

``python benchmarks/bench_site.py [--quick] [--json]``  (--quick: 10,000 sessions)
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work"
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_catalog import Rows, big_rows, fmt_time  # noqa: E402

from onecore.catalog import Catalog  # noqa: E402
from onecore.repository import Dataset  # noqa: E402


def rows_with_urls(n_sessions: int) -> Iterator[Dataset]:
    """The catalog benchmark's rows, with a URL and a size each (as an http or FTP index has)."""
    rng = random.Random(2)
    for row in big_rows(n_sessions):
        row.url = f"https://data.example.org/share/{row.rel_path}"
        row.size = rng.randrange(1_000, 50_000_000)
        yield row


def _catalog(n_sessions: int) -> tuple[Catalog, float]:
    path = WORK / f"site-catalog-{n_sessions}.sqlite"
    WORK.mkdir(parents=True, exist_ok=True)
    cat = Catalog(path)
    if cat.exists() and cat.count()[0] == n_sessions:
        return cat, 0.0
    t = time.perf_counter()
    cat.rebuild(rows_with_urls(n_sessions))
    return cat, time.perf_counter() - t


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def bench_browser(site: Path, rows: Rows, subject: str, dtype: str) -> None:
    from onecore.site.browser import Browser, unavailable_reason

    reason = unavailable_reason()
    if reason:
        print(f"  browser: not run ({reason})", file=sys.stderr)
        rows.add("browser open + filter", 0.0, vs=f"not run: {reason}")
        return
    with Browser() as b:
        t = time.perf_counter()
        b.open((site / "index.html").as_uri(), timeout=120)
        wall = time.perf_counter() - t
        ready = b.driver.execute_script("return window.ONE_SITE_READY_MS") / 1000
        rows.add("browser: open index (load + parse + first page)", ready, vs=f"wall {fmt_time(wall)}",
                 target="< 1 s", ok=ready < 1.0)  # fmt: skip
        js = (
            "var t = performance.now(), f = document.getElementById(arguments[0]); f.value = arguments[1];"
            "f.dispatchEvent(new Event(arguments[2])); return [performance.now() - t,"
            "document.getElementById('count').textContent];"
        )
        for label, fid, value, event in (
            ("filter by dataset type", "f-type", b.driver.execute_script(
                "var o=[...document.querySelectorAll('#f-type option')].find(o=>o.text===arguments[0]);return o.value",
                dtype), "change"),
            ("filter by subject (and type)", "f-subject", subject, "input"),
        ):  # fmt: skip
            if event == "input":  # the input handler is debounced: time the filtering itself
                js_now = js.replace(
                    "f.dispatchEvent(new Event(arguments[2]))", "f.form.dispatchEvent(new Event('submit'))"
                )
                ms, count = b.driver.execute_script(js_now, fid, value)
            else:
                ms, count = b.driver.execute_script(js, fid, value, event)
            rows.add(f"browser: {label}", ms / 1000, vs=count, target="< 1 s", ok=ms < 1000)
        ms, _ = b.driver.execute_script(
            "var t = performance.now(); document.querySelector('th[data-key=size]').click();"
            "document.getElementById('f-type').value=''; document.getElementById('f-subject').value='';"
            "document.getElementById('filters').dispatchEvent(new Event('submit'));"
            "return [performance.now() - t, 0];"
        )
        rows.add("browser: sort all sessions by size", ms / 1000, target="< 1 s", ok=ms < 1000)
        href = b.driver.find_element("css selector", "#sessions tbody a").get_attribute("href")
        t = time.perf_counter()
        b.open(href, timeout=60)
        page = b.driver.execute_script("return window.ONE_SITE_READY_MS") / 1000
        rows.add("browser: open a session page", page, vs=f"wall {fmt_time(time.perf_counter() - t)}",
                 target="< 1 s", ok=page < 1.0)  # fmt: skip
        errors = b.console_errors()
        if errors:
            raise RuntimeError(f"console errors: {errors[:3]}")


def main(quick: bool = False) -> dict[str, Any]:
    from onecore.site.build import build_site

    n_sessions = 10_000 if quick else 100_000
    rows = Rows()
    cat, built = _catalog(n_sessions)
    n_sessions, n_datasets = cat.count()
    label = f"{n_datasets:,} datasets / {n_sessions:,} sessions"
    if built:
        rows.add(f"catalog build ({label})", built)

    t = time.perf_counter()  # the baseline: read everything the site shows
    sessions = cat.search(details=True)
    naive = [[s, [r.as_dict() for r in cat.datasets(s["eid"])]] for s in sessions]
    read = time.perf_counter() - t
    naive_bytes = len(json.dumps(naive, default=str).encode())
    del naive
    rows.add("read the catalog (sessions + all datasets)", read, vs="baseline")

    site = WORK / f"site-{n_sessions}"
    shutil.rmtree(site, ignore_errors=True)
    one = SimpleNamespace(repository=SimpleNamespace(name="bench", is_local=False), catalog=cat)
    t = time.perf_counter()
    stats = build_site(site, one)
    build = time.perf_counter() - t
    rows.add(f"one site build ({label})", build, vs=f"read {fmt_time(read)}", ratio=f"{build / read:.1f}x the read")
    index = (site / "data" / "index.js").stat().st_size
    shards = sorted(f.stat().st_size for f in (site / "data" / "sessions").glob("*.js"))
    total = _size(site)
    rows.add("index data file (data/index.js)", index / 2**20, unit="MB", vs=f"{index / n_sessions:.0f} bytes/session")
    rows.add(
        f"session shards ({len(shards)} files)",
        sum(shards) / 2**20,
        unit="MB",
        vs=f"largest {shards[-1] / 1024:.0f} kB",
        ratio=f"{sum(shards) / n_datasets:.0f} bytes/dataset",
    )
    rows.add(
        "whole site",
        total / 2**20,
        unit="MB",
        vs=f"naive JSON {naive_bytes / 2**20:,.0f} MB",
        ratio=f"{naive_bytes / total:.1f}x smaller",
    )
    subject = stats.subjects[len(stats.subjects) // 2]
    dtype = stats.types[-1]  # the rarest types come last
    bench_browser(site, rows, subject, dtype)
    cat.close()
    return {"rows": rows.rows, "sessions": n_sessions, "datasets": n_datasets}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out = main(quick=args.quick)
    if args.json:
        print(json.dumps(out, indent=2, default=str))
