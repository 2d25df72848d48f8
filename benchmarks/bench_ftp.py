"""Benchmark of the ``ftp`` repository type against a raw ``ftplib`` loop on the same local server.

Run: ``.venv/bin/python benchmarks/bench_ftp.py`` (needs ``pyftpdlib``: ``pip install 'onelight-ftp[test]'``).

Measures, on a pyftpdlib server on 127.0.0.1 (in its own process):

- upload and download of one big file (``BENCH_FTP_BIG_MB``, default 256 MiB; 1024 for the 1 GiB case),
  best of ``BENCH_FTP_REPEAT`` (default 5) rounds, each kind in turn;
- upload and download of many small files (``BENCH_FTP_SMALL_N``, default 2000, of ``BENCH_FTP_SMALL_KB``
  = 16 KB each);
- an unchanged re-upload of everything vs the full upload.

The raw baseline is what one would write by hand: one connection, ``storbinary``/``retrbinary`` with
1 MiB blocks, one file after the other; it does **not** hash. "raw + md5" also hashes each block in the
``storbinary`` callback (what a hand-written upload that records md5s does). onecore adds the md5 of the
bytes sent (in a helper thread for files over 8 MiB), ``.NAME.part`` names + ``SIZE`` check + rename,
the local journal and the two index files. Its big-file upload is measured twice: with an empty hash
cache (it must hash every byte, so it cannot beat md5's own speed, shown as "md5 alone") and with the
md5 already in the hash cache for this very version of the file (after ``one index``, or an upload to
another repository: the file is then sent without hashing, its size/mtime/ctime/inode checked unchanged).
A first upload is also measured through a wire of ``BENCH_FTP_WIRE_MBIT`` Mbit/s (default 1000 and 4000,
the server receiving evenly at that rate), against raw STOR through the same wire: there md5 keeps up
with the wire, as it does on any network slower than md5 (~5.5 Gbit/s on one core here).
Targets (issues 5 and 15): >= 80% of raw throughput; unchanged re-upload < 5% of a full upload's time.
On a loaded 2-core machine the md5, the client and the server compete for CPU: compare the ratios.
"""

from __future__ import annotations

import contextlib
import ftplib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

BLOCK = 1 << 20


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def make_root(root: Path, big_mb: int, small_n: int, small_kb: int) -> tuple[list[str], list[str]]:
    big = "benchlab/Subjects/mouse/2024-01-01/001/raw_ephys_data/ephysData.raw.bin"
    p = root / big
    p.parent.mkdir(parents=True)
    chunk = os.urandom(BLOCK)
    with open(p, "wb") as f:
        for i in range(big_mb):
            f.write(chunk[i % 7 :] + chunk[: i % 7])  # cheap, not all-identical blocks
    small = []
    for i in range(small_n):
        rel = f"benchlab/Subjects/mouse/2024-01-01/002/alf/c{i // 250:02d}/obj{i:05d}.times.npy"
        q = root / rel
        q.parent.mkdir(parents=True, exist_ok=True)
        q.write_bytes(os.urandom(small_kb * 1024))
        small.append(rel)
    return [big], small


class _ServerProcess:
    """The pyftpdlib test server in its own process (so it does not share the client's GIL)."""

    def __init__(self, home: Path, read_limit: int = 0):
        import multiprocessing as mp

        self.home = home
        ctx = mp.get_context("spawn")
        self._parent, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(str(home), child, read_limit), daemon=True)

    def __enter__(self) -> _ServerProcess:
        self._proc.start()
        self.host, self.port = self._parent.recv()
        return self

    def settings(self, **extra: object) -> dict:
        from onelight_ftp.testing import PASSWORD, USER

        s = {"host": self.host, "port": self.port, "login": USER, "password": PASSWORD}
        s.update(extra)
        return s

    def __exit__(self, *exc: object) -> None:
        self._parent.send("stop")
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.terminate()


def _serve(home: str, conn, read_limit: int = 0) -> None:  # noqa: ANN001
    from onelight_ftp.testing import FTPTestServer

    with FTPTestServer(Path(home)) as server:
        if read_limit:
            server._server.handler.dtp_handler = _wire(read_limit)
        conn.send((server.host, server.port))
        conn.recv()


def _wire(rate: int) -> type:
    """A data channel that receives at most ``rate`` bytes/s, evenly (pyftpdlib's ThrottledDTPHandler only
    starts to throttle after a whole second's worth of bytes, so it does not limit a 256 MiB file at
    4 Gbit/s). Sleeping in the server's loop is fine here: one transfer at a time."""
    from pyftpdlib.handlers import DTPHandler

    class Wire(DTPHandler):
        _t0: float | None = None
        _n = 0

        def recv(self, buffer_size: int) -> bytes:
            chunk = super().recv(buffer_size)
            now = time.monotonic()
            if self._t0 is None:
                self._t0 = now
            self._n += len(chunk)
            ahead = self._n / rate - (now - self._t0)
            if ahead > 0.0005:
                time.sleep(ahead)
            return chunk

    return Wire


def _connect(server) -> ftplib.FTP:
    from onelight_ftp.testing import PASSWORD, USER

    ftp = ftplib.FTP()
    ftp.connect(server.host, server.port, timeout=60)
    ftp.login(USER, PASSWORD)
    ftp.voidcmd("TYPE I")
    return ftp


def raw_upload(server, root: Path, rels: list[str], prefix: str) -> float:
    t0 = time.perf_counter()
    ftp = _connect(server)
    made: set[str] = set()
    for rel in rels:
        folder = f"/{prefix}/{rel}".rsplit("/", 1)[0]
        if folder not in made:
            parts = folder.strip("/").split("/")
            for i in range(len(parts)):
                d = "/" + "/".join(parts[: i + 1])
                if d not in made:
                    try:
                        ftp.mkd(d)
                    except ftplib.error_perm:
                        pass
                    made.add(d)
        with open(root / rel, "rb") as f:
            ftp.storbinary(f"STOR /{prefix}/{rel}", f, blocksize=BLOCK)
    ftp.quit()
    return time.perf_counter() - t0


def raw_download(server, rels: list[str], prefix: str, dest: Path, md5: bool = False) -> float:
    import hashlib

    t0 = time.perf_counter()
    ftp = _connect(server)
    for rel in rels:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        h = hashlib.md5(usedforsecurity=False)
        with open(target, "wb") as f:

            def write(b: bytes, f=f, h=h) -> None:  # noqa: ANN001
                f.write(b)
                if md5:
                    h.update(b)

            ftp.retrbinary(f"RETR /{prefix}/{rel}", write, blocksize=BLOCK)
    ftp.quit()
    return time.perf_counter() - t0


def one_upload(repo, root: Path, rels: list[str], jobs: int) -> tuple[float, object]:
    t0 = time.perf_counter()
    report = repo.upload(root, rels, jobs=jobs)
    dt = time.perf_counter() - t0
    if report.failed:
        raise SystemExit(f"upload failed: {report.failed[:3]}")
    return dt, report


def one_download(repo, rels: list[str], dest: Path, jobs: int) -> float:
    from onecore.transfer import TransferItem, download

    t0 = time.perf_counter()
    update = repo.fetch_index(None)
    wanted = set(rels)
    items = [TransferItem(r.rel_path, r.url, r.size, r.md5) for r in update.rows if r.rel_path in wanted]
    report = download(items, dest, repo.fetcher(), jobs=jobs)
    dt = time.perf_counter() - t0
    if report.failed or len(report.downloaded) != len(rels):
        raise SystemExit(f"download failed: {report.failed[:3]}")
    return dt


def _served_folder(work: Path) -> Path:
    """Where the server writes: in memory (``/dev/shm``) when there is one, so that the disk's writeback of
    what the server received does not add noise to the timings (the same for every client measured)."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return Path(tempfile.mkdtemp(prefix="bench_ftp_served_", dir=shm))
    return work / "ftp_home"


def _wipe(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def raw_upload_md5(server, root: Path, rels: list[str], prefix: str) -> float:  # noqa: ANN001
    """:func:`raw_upload` that also hashes each block in the ``storbinary`` callback."""
    import hashlib

    t0 = time.perf_counter()
    ftp = _connect(server)
    for rel in rels:
        parts = f"/{prefix}/{rel}".rsplit("/", 1)[0].strip("/").split("/")
        for i in range(len(parts)):
            try:
                ftp.mkd("/" + "/".join(parts[: i + 1]))
            except ftplib.error_perm:
                pass
        h = hashlib.md5(usedforsecurity=False)
        with open(root / rel, "rb") as f:
            ftp.storbinary(f"STOR /{prefix}/{rel}", f, blocksize=BLOCK, callback=h.update)
    ftp.quit()
    return time.perf_counter() - t0


def md5_alone(path: Path) -> float:
    """Seconds to md5 ``path`` (page-cached) in 1 MiB blocks: the bound of any upload that hashes."""
    from onecore.hashcache import md5_file

    t0 = time.perf_counter()
    md5_file(path)
    return time.perf_counter() - t0


def _row(measure: str, ours: float, raw: float, vs: str, target: float | None = None) -> dict:
    from run import throughput_row  # benchmarks/run.py: the shared row format

    return throughput_row(measure, ours, raw, vs, target)


def big_file_uploads(server, root: Path, big: list[str], work: Path, repeat: int) -> list[dict]:  # noqa: ANN001
    """Best of ``repeat`` rounds of: raw, raw + md5, md5 alone, onecore (nothing cached), onecore (md5 cached)."""
    from onelight_ftp import FTPRepository

    from onecore.hashcache import HashCache

    path = root / big[0]
    n = path.stat().st_size
    warm_home = work / "home-warm"
    cache = HashCache(warm_home / "hashes.sqlite")  # as `one index` leaves it
    time.sleep(max(0.0, os.stat(path).st_ctime + 2.1 - time.time()))  # (a file just written is not trusted)
    cache.md5(path)
    cache.close()
    times: dict[str, list[float]] = {k: [] for k in ("raw", "raw_md5", "md5", "cold", "warm")}

    def one(tag: str, home: Path) -> float:
        r = FTPRepository(tag, server.settings(remote_root=f"/{tag}", timeout=120), home=home)
        try:
            return one_upload(r, root, big, jobs=4)[0]
        finally:
            r.close()

    served = server.home
    for i in range(repeat):  # (what the server wrote is deleted before the next upload: less writeback)
        times["raw"].append(raw_upload(server, root, big, f"raw{i}"))
        if i:
            _wipe(served / f"raw{i}")
        times["raw_md5"].append(raw_upload_md5(server, root, big, f"rawmd5{i}"))
        _wipe(served / f"rawmd5{i}")
        times["md5"].append(md5_alone(path))
        times["cold"].append(one(f"cold{i}", work / f"home-cold-{i}"))
        _wipe(served / f"cold{i}")
        times["warm"].append(one(f"warm{i}", warm_home))
        _wipe(served / f"warm{i}")
    mb = {k: n / min(v) / 1e6 for k, v in times.items()}
    name = f"upload {n >> 20} MiB file"
    return [
        _row(f"{name}, md5 in the hash cache", mb["warm"], mb["raw"], "raw ftplib STOR (no md5)", 0.8),
        _row(f"{name}, nothing cached (md5 as sent)", mb["cold"], mb["raw"], "raw ftplib STOR (no md5)", 0.8),
        _row(f"{name}, nothing cached (md5 as sent)", mb["cold"], mb["raw_md5"], "raw ftplib STOR + md5"),
        _row("md5 alone (hashlib, 1 MiB blocks)", mb["md5"], mb["raw"], "raw ftplib STOR (no md5)"),
    ]


def wire_limited_rows(root: Path, big: list[str], work: Path, repeat: int) -> list[dict]:
    """First uploads (nothing cached) against raw STOR through a wire of ``BENCH_FTP_WIRE_MBIT`` Mbit/s
    (default ``1000,4000``; ``0``: skipped): below md5's speed the md5 is computed as fast as the wire
    brings the bytes, so a first upload runs at the wire's speed, as raw STOR does."""
    from onelight_ftp import FTPRepository

    rates = [
        int(x) for x in os.environ.get("BENCH_FTP_WIRE_MBIT", "1000,4000").split(",") if x.strip() not in ("", "0")
    ]
    rows = []
    n = (root / big[0]).stat().st_size
    for mbit in rates:
        served = _served_folder(work)
        with _ServerProcess(served, read_limit=mbit * 1_000_000 // 8) as server:
            raw, cold = [], []
            for i in range(repeat):
                raw.append(raw_upload(server, root, big, f"raw{i}"))
                _wipe(served / f"raw{i}")
                r = FTPRepository(
                    f"c{i}", server.settings(remote_root=f"/cold{i}", timeout=120), home=work / f"h-w{mbit}-{i}"
                )
                try:
                    cold.append(one_upload(r, root, big, jobs=4)[0])
                finally:
                    r.close()
                _wipe(served / f"cold{i}")
        _wipe(served)
        rows.append(
            _row(
                f"upload {n >> 20} MiB file through a {mbit} Mbit/s wire, nothing cached",
                n / min(cold) / 1e6,
                n / min(raw) / 1e6,
                "raw ftplib STOR, same wire",
                0.8,
            )
        )
    return rows


def small_file_rows(server, root: Path, small: list[str], work: Path, repo, small_kb: int) -> list[dict]:  # noqa: ANN001
    """Uploads and downloads of the many small files: onecore (1 and 4 jobs; 1 and 8 for downloads) vs a
    raw STOR/RETR loop."""

    def mbps(n: int, dt: float) -> float:
        return n / dt / 1e6

    if not small:  # (BENCH_FTP_SMALL_N=0)
        return []
    small_bytes = sum((root / rel).stat().st_size for rel in small)
    small_n = len(small)
    rows: list[dict] = []
    # -- many small files -------------------------------------------------------------
    t_raw_up_s = raw_upload(server, root, small, "raws")
    r1 = repo("small1")
    t_up_s1, _ = one_upload(r1, root, small, jobs=1)
    r1.close()
    r4 = repo("small4")
    t_up_s4, _ = one_upload(r4, root, small, jobs=4)
    t_raw_dn_s = raw_download(server, small, "raws", work / "dl_raw")
    t_dn_s1 = one_download(r4, small, work / "dl_one1", jobs=1)
    t_dn_s8 = one_download(r4, small, work / "dl_one8", jobs=8)
    r4.close()
    files = f"{small_n} x {small_kb} KB"
    raw_up, raw_dn = mbps(small_bytes, t_raw_up_s), mbps(small_bytes, t_raw_dn_s)
    rows.append(_row(f"upload {files} (1 job)", mbps(small_bytes, t_up_s1), raw_up, "raw STOR loop"))
    rows.append(_row(f"upload {files} (4 jobs)", mbps(small_bytes, t_up_s4), raw_up, "raw STOR loop", 0.8))
    rows.append(_row(f"download {files} (1 job)", mbps(small_bytes, t_dn_s1), raw_dn, "raw RETR loop"))
    rows.append(_row(f"download {files} (8 jobs)", mbps(small_bytes, t_dn_s8), raw_dn, "raw RETR loop"))

    return rows


def main(quick: bool = False) -> dict:
    """Run the FTP benchmark; returns the figures as rows (``quick``: 32 MiB and 300 small files)."""
    try:
        import onelight_ftp.testing  # noqa: F401  (needs pyftpdlib)
        from onelight_ftp import FTPRepository
    except ImportError as e:  # pragma: no cover
        sys.exit(f"bench_ftp needs the onelight-ftp plugin and pyftpdlib ({e}); run `make venv` first")

    big_mb = _env_int("BENCH_FTP_BIG_MB", 32 if quick else 256)
    small_n = _env_int("BENCH_FTP_SMALL_N", 300 if quick else 2000)
    small_kb = _env_int("BENCH_FTP_SMALL_KB", 16)
    repeat = _env_int("BENCH_FTP_REPEAT", 1 if quick else 5)
    with tempfile.TemporaryDirectory(prefix="bench_ftp_") as tmp:
        work = Path(tmp)
        os.environ["ONE_HOME"] = str(work / "one_home")
        root = work / "root"
        print(f"generating {big_mb} MiB + {small_n} x {small_kb} KB in {root} ...", file=sys.stderr, flush=True)
        big, small = make_root(root, big_mb, small_n, small_kb)
        big_bytes = (root / big[0]).stat().st_size
        rows: list[dict] = []

        served = _served_folder(work)
        with contextlib.ExitStack() as stack:
            stack.callback(_wipe, served)
            server = stack.enter_context(_ServerProcess(served))

            def repo(name: str) -> FTPRepository:
                return FTPRepository(name, server.settings(remote_root=f"/{name}", timeout=120))

            def mbps(n: int, dt: float) -> float:
                return n / dt / 1e6

            # -- one big file -----------------------------------------------------------------
            rows += big_file_uploads(server, root, big, work, repeat)
            rows += wire_limited_rows(root, big, work, max(1, min(repeat, 3)))
            r = repo("big")
            one_upload(r, root, big, jobs=4)
            t_raw_dn, t_raw_dn_md5, t_dn = [], [], []
            for _ in range(repeat):  # best of repeat, each into an empty folder
                t_raw_dn.append(raw_download(server, big, "raw0", work / "dl_raw"))
                _wipe(work / "dl_raw")
                t_raw_dn_md5.append(raw_download(server, big, "raw0", work / "dl_raw", md5=True))
                _wipe(work / "dl_raw")
                t_dn.append(one_download(r, big, work / "dl_one", jobs=8))
                _wipe(work / "dl_one")
            r.close()
            t_raw_dn, t_raw_dn_md5, t_dn = min(t_raw_dn), min(t_raw_dn_md5), min(t_dn)
            name = f"download {big_mb} MiB file"
            rows.append(_row(name, mbps(big_bytes, t_dn), mbps(big_bytes, t_raw_dn), "raw ftplib RETR (no md5)"))
            rows.append(_row(name, mbps(big_bytes, t_dn), mbps(big_bytes, t_raw_dn_md5), "raw ftplib RETR + md5", 0.8))
            _wipe(work / "dl_raw")
            _wipe(work / "dl_one")

            rows += small_file_rows(server, root, small, work, repo, small_kb)

            # -- unchanged re-upload ----------------------------------------------------------
            everything = big + small
            ra = repo("all")
            t_full, _ = one_upload(ra, root, everything, jobs=4)
            t_again, again = one_upload(ra, root, everything, jobs=4)
            ra.close()
            rows.append(
                {
                    "measure": f"unchanged re-upload ({len(everything)} files)",
                    "shown": f"{t_again:.2f} s",
                    "vs": f"full upload {t_full:.2f} s",
                    "ratio": round(t_again / t_full, 3),
                    "target": "< 5%",
                    "ok": t_again / t_full < 0.05 and not again.downloaded,
                }
            )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return {
        "title": "FTP repository (pyftpdlib on 127.0.0.1, own process) vs raw ftplib",
        "rows": rows,
        "load average (1 min) at the end": round(load, 2),
        "raw baselines": "one connection, storbinary/retrbinary, 1 MiB blocks; no md5 unless '+ md5' (callback)",
    }


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import run

    print(run.render_text("ftp", main(quick="--quick" in sys.argv)))
