"""HTTP download benchmark: the onecore transfer engine against a raw ``requests`` loop and ONE-api.

A loopback HTTP server (``onecore.testing.servers.FileServer``: ``ThreadingHTTPServer``, keep-alive,
``sendfile`` for large bodies, in a process of its own so that it does not share our GIL) serves
2,000 small files (16 KB) and one large file (1 GiB; ``BENCH_HTTP_BIG_MB`` to change). Measured:

- small files, files/s: the engine (``onecore.transfer.download`` with ``HTTPFetcher``, default jobs,
  size and md5 verified), a raw single-threaded ``requests`` streaming loop, and ONE-api's
  ``one.webclient.http_download_file_list`` (its default 4 threads, ``return_md5=True`` as ONE does);
- the large file, MB/s: the engine with md5 verification (what it does when the index has an md5),
  the engine with size verification only (an index without md5), the raw loop, the raw loop hashing
  md5 as it goes, and ONE-api's ``http_download_file``.

ONE-api runs from its own virtual environment (``benchmarks/.venv-oneapi``, made with
``python3 -m venv benchmarks/.venv-oneapi && benchmarks/.venv-oneapi/bin/pip install ONE-api``); it is
skipped when that is missing. Each measurement is repeated ``BENCH_HTTP_REPEAT`` times (default 2),
interleaved, and the best is kept (the machine may be shared). Files go to a temporary folder
(``BENCH_HTTP_TMP`` to choose where) deleted at the end.

Run: ``.venv/bin/python benchmarks/bench_http.py [--quick]`` (``main()`` returns the figures as a dict).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ONEAPI_PYTHON = HERE / ".venv-oneapi" / "bin" / "python"
SMALL_KB = 16
TARGET_BIG = 0.8  # engine / raw on the large file
TARGET_SMALL = 2.0  # engine / ONE-api files per second


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


# ------------------------------------------------------------------------------------------------
# Data and server
# ------------------------------------------------------------------------------------------------
def make_data(root: Path, small_n: int, big_mb: int) -> tuple[dict[str, tuple[int, str]], str]:
    """Write the small files and the large one; returns ({rel: (size, md5)}, rel of the large file)."""
    files: dict[str, tuple[int, str]] = {}
    per_session = 100
    for i in range(small_n):
        s, k = divmod(i, per_session)
        rel = f"benchlab/Subjects/S{s:03d}/2024-01-01/001/alf/obj{k:03d}.values.bin"
        data = os.urandom(SMALL_KB * 1024)
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        files[rel] = (len(data), hashlib.md5(data).hexdigest())
    big = "benchlab/Subjects/BIG/2024-01-01/001/raw_ephys_data/ephys.raw.bin"
    p = root / big
    p.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.md5()
    block = os.urandom(1 << 20)
    with open(p, "wb") as f:
        for i in range(big_mb):
            b = block[i % 251 :] + block[: i % 251]  # not the same MiB over and over
            f.write(b)
            h.update(b)
    files[big] = (big_mb << 20, h.hexdigest())
    return files, big


class ServerProcess:
    """A FileServer serving ``root`` in a child process."""

    def __init__(self, root: Path):
        code = (
            "import sys\nfrom onecore.testing.servers import FileServer\n"
            f"s = FileServer({str(root)!r}).start()\nprint(s.url, flush=True)\nsys.stdin.read()\ns.stop()\n"
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url:
            raise RuntimeError("the benchmark server did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ------------------------------------------------------------------------------------------------
# The contenders
# ------------------------------------------------------------------------------------------------
def run_engine(url: str, files: dict[str, tuple[int, str]], dest: Path, md5: bool = True) -> float:
    from onecore.transfer import HTTPFetcher, RetryPolicy, TransferItem, download, url_join

    items = [
        TransferItem(rel, url_join(url, rel), size, digest if md5 else None) for rel, (size, digest) in files.items()
    ]
    fetcher = HTTPFetcher()
    t0 = time.perf_counter()
    report = download(items, dest, fetcher, retry=RetryPolicy(attempts=2))
    dt = time.perf_counter() - t0
    fetcher.close()
    if not report.ok or len(report.downloaded) != len(items):
        raise RuntimeError(f"engine run failed: {report.summary()}: {report.failed[:3]}")
    return dt


def run_raw(url: str, files: dict[str, tuple[int, str]], dest: Path, md5: bool = False) -> float:
    """A plain single-threaded requests loop: stream each file to disk in 1 MiB chunks."""
    import requests

    from onecore.transfer import url_join

    t0 = time.perf_counter()
    with requests.Session() as s:
        for rel, (_size, digest) in files.items():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            h = hashlib.md5() if md5 else None
            with s.get(url_join(url, rel), stream=True, timeout=(10, 60)) as r, open(target, "wb") as f:
                r.raise_for_status()
                for chunk in r.iter_content(1 << 20):
                    f.write(chunk)
                    if h is not None:
                        h.update(chunk)
            if h is not None and h.hexdigest() != digest:
                raise RuntimeError(f"raw loop: md5 mismatch for {rel}")
    return time.perf_counter() - t0


_ONEAPI_CODE = r"""
import json, sys, time, io, contextlib
from pathlib import Path
from one.webclient import http_download_file, http_download_file_list
jobs = json.load(sys.stdin)
urls = [j[0] for j in jobs]
dirs = [j[1] for j in jobs]
for d in set(dirs):
    Path(d).mkdir(parents=True, exist_ok=True)
out = io.StringIO()
t0 = time.perf_counter()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
    if len(urls) == 1:
        res = [http_download_file(urls[0], target_dir=dirs[0], silent=True, return_md5=True)]
    else:
        paths, md5s = http_download_file_list(urls, target_dir=dirs, silent=True, return_md5=True)
        res = list(zip(paths, md5s))
dt = time.perf_counter() - t0
print(json.dumps({"seconds": dt, "md5": [m for _, m in res]}))
"""


def run_oneapi(url: str, files: dict[str, tuple[int, str]], dest: Path) -> float | None:
    """ONE-api's own HTTP download in its virtual environment; None when it is not installed."""
    if not ONEAPI_PYTHON.exists():
        return None
    from onecore.transfer import url_join

    jobs = [[url_join(url, rel), str((dest / rel).parent)] for rel in files]
    proc = subprocess.run(
        [str(ONEAPI_PYTHON), "-c", _ONEAPI_CODE], input=json.dumps(jobs), capture_output=True, text=True, timeout=3600
    )
    if proc.returncode != 0:
        raise RuntimeError(f"ONE-api run failed: {proc.stderr[-2000:]}")
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    if got["md5"] != [d for _, d in files.values()]:
        raise RuntimeError("ONE-api run: md5 mismatch")
    return float(got["seconds"])


# ------------------------------------------------------------------------------------------------
def _best(runs: list[float | None]) -> float | None:
    vals = [r for r in runs if r is not None]
    return min(vals) if vals else None


def _measure(contenders: dict[str, Callable[[Path], float | None]], work: Path, repeat: int) -> dict[str, float | None]:
    times: dict[str, list[float | None]] = {k: [] for k in contenders}
    for _ in range(repeat):
        for name, fn in contenders.items():
            dest = work / f"dl-{name}"
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir(parents=True)
            times[name].append(fn(dest))
            shutil.rmtree(dest, ignore_errors=True)
    return {k: _best(v) for k, v in times.items()}


def main(argv: list[str] | None = None, quick: bool = False) -> dict[str, Any]:
    """Run the benchmark, print a table and return the figures (``quick``: 200 files, 64 MiB, once)."""
    from onecore.transfer import DEFAULT_JOBS

    quick = quick or "--quick" in (argv or [])
    small_n = _env_int("BENCH_HTTP_SMALL_N", 200 if quick else 2000)
    big_mb = _env_int("BENCH_HTTP_BIG_MB", 64 if quick else 1024)
    repeat = max(1, _env_int("BENCH_HTTP_REPEAT", 1 if quick else 2))
    tmp = Path(tempfile.mkdtemp(prefix="bench_http_", dir=os.environ.get("BENCH_HTTP_TMP") or None))
    server = None
    try:
        root = tmp / "served"
        t0 = time.perf_counter()
        files, big = make_data(root, small_n, big_mb)
        print(f"data: {small_n} x {SMALL_KB} KB + {big_mb} MiB in {tmp} ({time.perf_counter() - t0:.1f}s)", flush=True)
        server = ServerProcess(root)
        small = {k: v for k, v in files.items() if k != big}
        large = {big: files[big]}
        mb_small = sum(s for s, _ in small.values()) / 1e6
        mb_large = files[big][0] / 1e6
        work = tmp / "work"
        url = server.url

        s = _measure(
            {
                "engine": lambda d: run_engine(url, small, d),
                "raw": lambda d: run_raw(url, small, d),
                "oneapi": lambda d: run_oneapi(url, small, d),
            },
            work,
            repeat,
        )
        b = _measure(
            {
                "engine_md5": lambda d: run_engine(url, large, d, md5=True),
                "engine_size_only": lambda d: run_engine(url, large, d, md5=False),
                "raw": lambda d: run_raw(url, large, d),
                "raw_md5": lambda d: run_raw(url, large, d, md5=True),
                "oneapi": lambda d: run_oneapi(url, large, d),
            },
            work,
            repeat,
        )
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    def rate(n: float, t: float | None) -> float | None:
        return None if t is None else n / t

    def ratio(a: float | None, c: float | None) -> float | None:
        return None if a is None or c is None or c == 0 else a / c

    fig: dict[str, Any] = {
        "small_files": small_n,
        "small_kb": SMALL_KB,
        "big_mb": big_mb,
        "jobs": DEFAULT_JOBS,
        "repeat": repeat,
        "small_engine_files_s": rate(small_n, s["engine"]),
        "small_raw_files_s": rate(small_n, s["raw"]),
        "small_oneapi_files_s": rate(small_n, s["oneapi"]),
        "small_engine_mb_s": rate(mb_small, s["engine"]),
        "small_raw_mb_s": rate(mb_small, s["raw"]),
        "small_oneapi_mb_s": rate(mb_small, s["oneapi"]),
        "big_engine_md5_mb_s": rate(mb_large, b["engine_md5"]),
        "big_engine_size_only_mb_s": rate(mb_large, b["engine_size_only"]),
        "big_raw_mb_s": rate(mb_large, b["raw"]),
        "big_raw_md5_mb_s": rate(mb_large, b["raw_md5"]),
        "big_oneapi_mb_s": rate(mb_large, b["oneapi"]),
    }
    fig["ratio_small_engine_vs_oneapi"] = ratio(fig["small_engine_files_s"], fig["small_oneapi_files_s"])
    fig["ratio_small_engine_vs_raw"] = ratio(fig["small_engine_files_s"], fig["small_raw_files_s"])
    fig["ratio_big_engine_md5_vs_raw"] = ratio(fig["big_engine_md5_mb_s"], fig["big_raw_mb_s"])
    fig["ratio_big_engine_size_only_vs_raw"] = ratio(fig["big_engine_size_only_mb_s"], fig["big_raw_mb_s"])
    fig["ratio_big_engine_md5_vs_raw_md5"] = ratio(fig["big_engine_md5_mb_s"], fig["big_raw_md5_mb_s"])
    fig["ratio_big_engine_md5_vs_oneapi"] = ratio(fig["big_engine_md5_mb_s"], fig["big_oneapi_mb_s"])
    fig["target_big_met"] = (fig["ratio_big_engine_size_only_vs_raw"] or 0) >= TARGET_BIG and (
        fig["ratio_big_engine_md5_vs_raw_md5"] or 0
    ) >= TARGET_BIG
    fig["target_small_met"] = (
        None if fig["ratio_small_engine_vs_oneapi"] is None else fig["ratio_small_engine_vs_oneapi"] >= TARGET_SMALL
    )
    _print(fig)
    return fig


def _print(fig: dict[str, Any]) -> None:
    def f(v: Any, unit: str = "") -> str:
        return "n/a" if v is None else (f"{v:,.1f}{unit}" if isinstance(v, float) else str(v))

    print(f"\n{fig['small_files']} files of {fig['small_kb']} KB (engine: {fig['jobs']} jobs, best of {fig['repeat']})")
    for k in ("engine", "raw", "oneapi"):
        print(f"  {k:<18} {f(fig[f'small_{k}_files_s'], ' files/s'):>16} {f(fig[f'small_{k}_mb_s'], ' MB/s'):>12}")
    print(f"one file of {fig['big_mb']} MiB")
    for k in ("engine_md5", "engine_size_only", "raw", "raw_md5", "oneapi"):
        print(f"  {k:<18} {f(fig[f'big_{k}_mb_s'], ' MB/s'):>16}")
    print("ratios")
    for k, v in fig.items():
        if k.startswith("ratio_"):
            print(f"  {k[6:]:<34} {f(v, 'x')}")
    print(
        f"targets: large file >= {TARGET_BIG:.0%} of raw: {fig['target_big_met']}; "
        f"small files >= {TARGET_SMALL:.0f}x ONE-api: {f(fig['target_small_met'])}"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
