"""Run every ``benchmarks/bench_*.py`` and print one table (``make bench``).

Each benchmark module exposes ``main() -> dict``; ``main(quick=True)`` is used for ``--quick`` when its
signature takes ``quick`` (the environment variable ``ONE_BENCH_QUICK=1`` is set either way). A result
with a ``rows`` list of dicts (``measure``, ``value``/``shown``, ``vs``, ``ratio``, ``target``, ``ok``)
prints as a table; any other dict prints as ``key: value`` lines. A benchmark that fails is reported
and the others still run; the exit status is 1 if one failed (or, with ``--strict``, missed a target).

    .venv/bin/python benchmarks/run.py [--quick] [--big] [--strict] [--only catalog] [--json F] [--markdown F]
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def discover(only: list[str] | None = None) -> list[Path]:
    """The benchmark files, sorted; ``only`` keeps those whose name (without ``bench_``) is listed."""
    files = sorted(HERE.glob("bench_*.py"))
    if only:
        files = [f for f in files if f.stem.removeprefix("bench_") in only or f.stem in only]
    return files


def run_one(path: Path, quick: bool) -> dict[str, Any]:
    # Imported under its own name from benchmarks/ so that worker processes it spawns can import it too.
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    module = importlib.import_module(path.stem)
    main = getattr(module, "main", None)
    if main is None:
        raise RuntimeError(f"{path.name} has no main() -> dict")
    if quick and "quick" in inspect.signature(main).parameters:
        result = main(quick=True)
    else:
        result = main()
    if not isinstance(result, dict):
        raise RuntimeError(f"{path.name}: main() returned {type(result).__name__}, expected a dict")
    return result


def throughput_row(measure: str, ours: float, raw: float, vs: str, target: float | None = None) -> dict[str, Any]:
    """A row comparing two throughputs in MB/s (``target``: the least ratio ours/raw that passes)."""
    return {
        "measure": measure,
        "shown": f"{ours:.1f} MB/s",
        "vs": f"{vs} {raw:.1f} MB/s",
        "ratio": round(ours / raw, 2),
        "target": f">= {target:.0%}" if target else None,
        "ok": (ours / raw >= target) if target else None,
    }


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _row_cells(row: dict[str, Any]) -> list[str]:
    value = row.get("shown")
    if value is None:
        value = _cell(row.get("value")) + (f" {row['unit']}" if row.get("unit") else "")
    return [
        _cell(row.get("measure", row.get("name", ""))),
        value,
        _cell(row.get("vs")),
        _cell(row.get("ratio")),
        _cell(row.get("target")),
        _cell(row.get("ok")),
    ]


HEADER = ["measure", "onecore", "compared with", "ratio", "target", "met"]


def _flat(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        if isinstance(v, dict):
            out.extend(_flat(v, f"{prefix}{k}."))
        else:
            out.append((f"{prefix}{k}", v))
    return out


def render_text(name: str, result: dict[str, Any]) -> str:
    lines = [f"== {result.get('title', name)}"]
    if result.get("machine"):
        lines.append(f"   machine: {result['machine']}")
    rows = result.get("rows")
    if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
        cells = [HEADER] + [_row_cells(r) for r in rows]
        widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
        for i, c in enumerate(cells):
            lines.append("  " + "  ".join(x.ljust(w) for x, w in zip(c, widths)).rstrip())
            if i == 0:
                lines.append("  " + "  ".join("-" * w for w in widths))
        rest = {k: v for k, v in result.items() if k not in ("title", "machine", "rows")}
    else:
        rest = {k: v for k, v in result.items() if k not in ("title", "machine")}
    for k, v in _flat(rest):
        lines.append(f"   {k}: {_cell(v)}")
    return "\n".join(lines)


def render_markdown(name: str, result: dict[str, Any]) -> str:
    lines = [f"## {result.get('title', name)}", ""]
    if result.get("machine"):
        lines += [f"Machine: {result['machine']}", ""]
    rows = result.get("rows")
    if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
        lines.append("| " + " | ".join(HEADER) + " |")
        lines.append("|" + "---|" * len(HEADER))
        for r in rows:
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in _row_cells(r)) + " |")
        rest = {k: v for k, v in result.items() if k not in ("title", "machine", "rows")}
    else:
        rest = {k: v for k, v in result.items() if k not in ("title", "machine")}
    if rest:
        lines.append("")
        lines += [f"- {k}: {_cell(v)}" for k, v in _flat(rest)]
    return "\n".join(lines) + "\n"


def missed(result: dict[str, Any]) -> list[str]:
    rows = result.get("rows")
    if not isinstance(rows, list):
        return []
    return [str(r.get("measure", r.get("name"))) for r in rows if isinstance(r, dict) and r.get("ok") is False]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Run every benchmarks/bench_*.py and print a table.")
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--only", action="append", help="run only this benchmark (e.g. catalog); repeatable")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    ap.add_argument("--json", metavar="FILE", help="also write every result as JSON")
    ap.add_argument("--markdown", metavar="FILE", help="also write the tables as Markdown")
    ap.add_argument("--big", action="store_true", help="full-size runs that take long (catalog: 10M datasets)")
    a = ap.parse_args(argv)
    if a.quick:
        os.environ["ONE_BENCH_QUICK"] = "1"
    if a.big:
        os.environ["ONE_BENCH_BIG"] = "1"
    files = discover(a.only)
    if not files:
        print("no benchmark matched", file=sys.stderr)
        return 1
    results: dict[str, Any] = {}
    failed: list[str] = []
    texts: list[str] = []
    md: list[str] = []
    for f in files:
        name = f.stem.removeprefix("bench_")
        print(f"-- running {f.name}{' (quick)' if a.quick else ''}", file=sys.stderr, flush=True)
        t = time.perf_counter()
        try:
            result = run_one(f, a.quick)
        except Exception:
            traceback.print_exc()
            failed.append(name)
            result = {"title": name, "error": traceback.format_exc(limit=1).strip().splitlines()[-1]}
        result.setdefault("elapsed_s", round(time.perf_counter() - t, 1))
        results[name] = result
        texts.append(render_text(name, result))
        md.append(render_markdown(name, result))
    print()
    print("\n\n".join(texts))
    misses = [f"{n}: {m}" for n, r in results.items() for m in missed(r)]
    if misses:
        print("\nmissed targets:\n  " + "\n  ".join(misses))
    if failed:
        print(f"\nfailed benchmarks: {', '.join(failed)}")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1, default=str) + "\n")
    if a.markdown:
        head = f"# Benchmark results\n\n`make bench` ({'--quick, ' if a.quick else ''}{time.strftime('%Y-%m-%d')})\n\n"
        Path(a.markdown).write_text(head + "\n".join(md))
    return 1 if failed or (a.strict and misses) else 0


if __name__ == "__main__":
    sys.exit(main())
