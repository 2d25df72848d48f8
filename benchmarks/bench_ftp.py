"""Benchmark of the ``ftp`` repository type against a raw ``ftplib`` loop on the same local server.

Run: ``.venv/bin/python benchmarks/bench_ftp.py`` (needs ``pyftpdlib``: ``pip install 'onelight-ftp[test]'``).

Measures, on a pyftpdlib server on 127.0.0.1:

- upload and download of one big file (``BENCH_FTP_BIG_MB``, default 256 MiB; 1024 for the 1 GiB case);
- upload and download of many small files (``BENCH_FTP_SMALL_N``, default 2000, of ``BENCH_FTP_SMALL_KB``
  = 16 KB each);
- an unchanged re-upload of everything vs the full upload.

The server runs in its own process. The raw baseline is what one would write by hand: one
connection, ``storbinary``/``retrbinary`` with 1 MiB blocks, one file after the other. onecore adds
md5 hashing of the bytes as they are sent (in a helper thread for files over 8 MiB), ``.NAME.part``
names + rename, ``SIZE`` checks, the local journal and the two index files; it runs with its default
parallelism (and with one job, for comparison).
Targets (issues 5 and 15): >= 80% of raw throughput; unchanged re-upload < 5% of a full upload's time.
On a loaded 2-core machine the md5 competes with the client and the server for CPU: compare runs
made on an idle machine.
"""

from __future__ import annotations

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

    def __init__(self, home: Path):
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self._parent, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(str(home), child), daemon=True)

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


def _serve(home: str, conn) -> None:
    from onelight_ftp.testing import FTPTestServer

    with FTPTestServer(Path(home)) as server:
        conn.send((server.host, server.port))
        conn.recv()


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


def _wipe(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def main(quick: bool = False) -> dict:
    """Run the FTP benchmark; returns the figures (``quick``: 32 MiB and 300 small files)."""
    try:
        import onelight_ftp.testing  # noqa: F401  (needs pyftpdlib)
        from onelight_ftp import FTPRepository
    except ImportError as e:  # pragma: no cover
        sys.exit(f"bench_ftp needs the onelight-ftp plugin and pyftpdlib ({e}); run `make venv` first")

    big_mb = _env_int("BENCH_FTP_BIG_MB", 32 if quick else 256)
    small_n = _env_int("BENCH_FTP_SMALL_N", 300 if quick else 2000)
    small_kb = _env_int("BENCH_FTP_SMALL_KB", 16)
    with tempfile.TemporaryDirectory(prefix="bench_ftp_") as tmp:
        work = Path(tmp)
        os.environ["ONE_HOME"] = str(work / "one_home")
        root = work / "root"
        print(f"generating {big_mb} MiB + {small_n} x {small_kb} KB in {root} ...", flush=True)
        big, small = make_root(root, big_mb, small_n, small_kb)
        big_bytes = (root / big[0]).stat().st_size
        small_bytes = small_n * small_kb * 1024
        rows: list[tuple[str, float, float, float]] = []

        with _ServerProcess(work / "ftp_home") as server:

            def repo(name: str) -> FTPRepository:
                return FTPRepository(name, server.settings(remote_root=f"/{name}", timeout=120))

            def mbps(n: int, dt: float) -> float:
                return n / dt / 1e6

            # -- one big file -----------------------------------------------------------------
            t_raw_up = raw_upload(server, root, big, "raw")
            r = repo("big")
            t_up, _ = one_upload(r, root, big, jobs=4)
            t_raw_dn = raw_download(server, big, "raw", work / "dl_raw")
            t_dn = one_download(r, big, work / "dl_one", jobs=8)
            r.close()
            rows.append((f"upload {big_mb} MiB file", mbps(big_bytes, t_raw_up), mbps(big_bytes, t_up), 0))
            rows.append((f"download {big_mb} MiB file", mbps(big_bytes, t_raw_dn), mbps(big_bytes, t_dn), 0))
            _wipe(work / "dl_raw")
            t_raw_dn_md5 = raw_download(server, big, "raw", work / "dl_raw", md5=True)
            rows.append(
                (f"download {big_mb} MiB file vs raw+md5", mbps(big_bytes, t_raw_dn_md5), mbps(big_bytes, t_dn), 0)
            )
            _wipe(work / "dl_raw")
            _wipe(work / "dl_one")

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
            rows.append((f"upload {files} (1 job)", mbps(small_bytes, t_raw_up_s), mbps(small_bytes, t_up_s1), 0))
            rows.append((f"upload {files} (4 jobs)", mbps(small_bytes, t_raw_up_s), mbps(small_bytes, t_up_s4), 0))
            rows.append((f"download {files} (1 job)", mbps(small_bytes, t_raw_dn_s), mbps(small_bytes, t_dn_s1), 0))
            rows.append((f"download {files} (8 jobs)", mbps(small_bytes, t_raw_dn_s), mbps(small_bytes, t_dn_s8), 0))

            # -- unchanged re-upload ----------------------------------------------------------
            everything = big + small
            ra = repo("all")
            t_full, _ = one_upload(ra, root, everything, jobs=4)
            t_again, again = one_upload(ra, root, everything, jobs=4)
            ra.close()

        print()
        print(f"{'case':40} {'raw ftplib MB/s':>16} {'onecore MB/s':>13} {'ratio':>7}")
        for name, raw, ours, _ in rows:
            print(f"{name:40} {raw:16.1f} {ours:13.1f} {ours / raw:7.0%}")
        print()
        print(f"full upload of everything ({len(everything)} files): {t_full:.2f} s")
        print(
            f"unchanged re-upload: {t_again:.2f} s = {t_again / t_full:.1%} of the full upload "
            f"({len(again.skipped)} skipped, {len(again.downloaded)} sent)"
        )
    out: dict = {
        f"{name}: onecore/raw": f"{ours / raw:.0%} ({ours:.1f} vs {raw:.1f} MB/s)" for name, raw, ours, _ in rows
    }
    out["unchanged re-upload / full upload"] = f"{t_again / t_full:.1%} ({t_again:.2f} s / {t_full:.2f} s)"
    return out


if __name__ == "__main__":
    main()
