"""Benchmark of the ``s3`` repository type against raw boto3 calls on the same objects, same server, same run.

Run: ``.venv/bin/python benchmarks/bench_s3.py`` (needs ``pip install 'onecore-s3[test]'``: moto server).

A moto S3 server runs on 127.0.0.1 in its own process (so it does not share the client's GIL). Measured:

- upload and download of one big file (``BENCH_S3_BIG_MB``, default 128 MiB; multipart upload);
- upload and download of many small files (``BENCH_S3_SMALL_N``, default 500, of ``BENCH_S3_SMALL_KB`` =
  16 KB each), with 4 parallel jobs on both sides;
- an unchanged re-upload vs the full upload.

The raw baselines are what one writes by hand with boto3: ``put_object``/``get_object`` (streamed to a
file in 1 MiB reads) in a pool of the same number of threads, and boto3's managed transfer
(``upload_file``/``download_file``, s3transfer: 10 threads per file) for the big file. onecore adds md5
hashing and verification (the md5 of the file and a CRC32 of each part from one read before sending,
then each part's md5 for its ``Content-MD5`` and ETag check), metadata, the index; with the md5 in its hash
cache it skips the read before sending and hashes the parts in order as they are sent. Target (issue 16):
>= 80% of raw boto3 md5 + upload_file throughput (moto is a Python server on the same 2 cores: it takes
about one core itself). The big file's upload is compared with ``upload_file`` (a multipart upload, as onecore's); one
``put_object`` of the whole file is shown too (moto completes a multipart upload slowly: it copies the
parts in Python).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

BLOCK = 1 << 20
JOBS = 4


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
            f.write(chunk[i % 7 :] + chunk[: i % 7])
    small = []
    for i in range(small_n):
        rel = f"benchlab/Subjects/mouse/2024-01-01/002/alf/c{i // 250:02d}/obj{i:05d}.times.npy"
        q = root / rel
        q.parent.mkdir(parents=True, exist_ok=True)
        q.write_bytes(os.urandom(small_kb * 1024))
        small.append(rel)
    return [big], small


class _ServerProcess:
    """A moto S3 server in its own process."""

    def __enter__(self) -> _ServerProcess:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self._parent, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child,), daemon=True)
        self._proc.start()
        self.port = self._parent.recv()
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self._parent.send("stop")
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.terminate()


def _serve(conn: Any) -> None:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    conn.send(server.get_host_and_port()[1])
    conn.recv()
    server.stop()


def _client(url: str, sign_payload: bool = True) -> Any:
    """boto3's default client; without ``sign_payload``, bodies are not SHA-256 signed (as boto3 does over
    HTTPS; over this loopback HTTP it signs them by default)."""
    import boto3
    from botocore.config import Config

    s3: dict[str, Any] = {"addressing_style": "path"}
    if not sign_payload:
        s3["payload_signing_enabled"] = False
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(s3=s3, max_pool_connections=32),
    )


def raw_upload(c: Any, bucket: str, root: Path, rels: list[str], managed: bool = False, md5: bool = False) -> float:
    """Upload with raw boto3 calls; ``md5``: first hash the file and keep the md5 in metadata, as onecore."""
    from onecore.repository import md5_file

    t0 = time.perf_counter()

    def one(rel: str) -> None:
        if managed:
            extra = {"Metadata": {"md5": md5_file(root / rel)}} if md5 else None
            c.upload_file(str(root / rel), bucket, rel, ExtraArgs=extra)
        else:
            with open(root / rel, "rb") as f:
                c.put_object(Bucket=bucket, Key=rel, Body=f)

    if len(rels) == 1:
        one(rels[0])
    else:
        with ThreadPoolExecutor(JOBS) as pool:
            list(pool.map(one, rels))
    return time.perf_counter() - t0


def raw_download(c: Any, bucket: str, rels: list[str], dest: Path, managed: bool = False, md5: bool = False) -> float:
    import hashlib

    t0 = time.perf_counter()

    def one(rel: str) -> None:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if managed:
            c.download_file(bucket, rel, str(target))
            return
        body = c.get_object(Bucket=bucket, Key=rel)["Body"]
        h = hashlib.md5(usedforsecurity=False)
        with open(target, "wb") as f:
            for chunk in body.iter_chunks(BLOCK):
                f.write(chunk)
                if md5:
                    h.update(chunk)

    if len(rels) == 1:
        one(rels[0])
    else:
        with ThreadPoolExecutor(JOBS) as pool:
            list(pool.map(one, rels))
    return time.perf_counter() - t0


def one_upload(repo: Any, root: Path, rels: list[str], jobs: int) -> tuple[float, Any]:
    t0 = time.perf_counter()
    report = repo.upload(root, rels, jobs=jobs)
    dt = time.perf_counter() - t0
    if report.failed:
        raise SystemExit(f"upload failed: {report.failed[:3]}")
    return dt, report


def one_download(repo: Any, rels: list[str], dest: Path, jobs: int) -> float:
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


class _Bench:
    """One run's server, clients, buckets and rows."""

    def __init__(self, server: Any, work: Path, root: Path, repeat: int):
        self.server, self.work, self.root, self.repeat = server, work, root, repeat
        self.c = _client(server.url)
        self.c_uns = _client(server.url, sign_payload=False)
        self.made: set[str] = set()
        self.rows: list[dict[str, Any]] = []

    def bucket(self, name: str) -> str:
        if name not in self.made:
            self.c.create_bucket(Bucket=name)
            self.made.add(name)
        return name

    def repo(self, name: str, home: Path | None = None) -> Any:
        from onecore_s3.repository import S3Repository

        settings = {
            "bucket": self.bucket(f"bench-{name}"),
            "endpoint_url": self.server.url,
            "region": "us-east-1",
            "access_key": "bench",
            "secret_key": "bench",
            "timeout": 120,
        }
        return S3Repository(name, settings, home=home or self.work / f"home-{name}")  # its own hash cache

    def best_uploads(self, rels: list[str], tag: str, managed: bool) -> dict[str, float]:
        """Best of ``repeat`` rounds of raw put_object, onecore (nothing cached: a new ONE_HOME, so it
        hashes every file), and (``managed``) raw upload_file, raw md5 + upload_file (with and without
        SHA-256 body signing) and onecore with the md5s in its hash cache; each into new buckets."""
        c, root = self.c, self.root
        times: dict[str, list[float]] = {k: [] for k in ("raw", "ours", "man", "man_md5", "mm_uns", "warm")}
        warm_home = self.work / f"home-warm-{tag}"
        if managed:
            from onecore.hashcache import HashCache

            cache = HashCache(warm_home / "hashes.sqlite")  # as `one index` leaves it
            for rel in rels:
                cache.md5(root / rel)
            cache.close()
        for i in range(self.repeat):
            times["raw"].append(raw_upload(c, self.bucket(f"bench-raw-{tag}-{i}"), root, rels))
            r = self.repo(f"{tag}-{i}")
            times["ours"].append(one_upload(r, root, rels, jobs=JOBS)[0])
            r.close()
            if managed:
                times["man"].append(raw_upload(c, self.bucket(f"bench-man-{tag}-{i}"), root, rels, managed=True))
                bucket = self.bucket(f"bench-mm-{tag}-{i}")
                times["man_md5"].append(raw_upload(c, bucket, root, rels, managed=True, md5=True))
                bucket = self.bucket(f"bench-mu-{tag}-{i}")
                times["mm_uns"].append(raw_upload(self.c_uns, bucket, root, rels, managed=True, md5=True))
                r = self.repo(f"{tag}-warm-{i}", home=warm_home)
                times["warm"].append(one_upload(r, root, rels, jobs=JOBS)[0])
                r.close()
        return {k: min(v) for k, v in times.items() if v}

    def best(self, fn: Any, name: str) -> float:
        """The best of ``repeat`` timed runs of ``fn(dest)``, each into a fresh folder."""
        times = []
        for i in range(self.repeat):
            dest = self.work / f"{name}{i}"
            times.append(fn(dest))
            shutil.rmtree(dest, ignore_errors=True)
        return min(times)

    def row(self, measure: str, nbytes: int, t_raw: float, t_one: float, vs: str, target: float | None) -> None:
        from run import throughput_row  # benchmarks/run.py: the shared row format

        self.rows.append(throughput_row(measure, nbytes / t_one / 1e6, nbytes / t_raw / 1e6, vs, target))

    def big_file(self, big: list[str]) -> None:
        """One big file (multipart): uploads, then downloads."""
        c, root, row = self.c, self.root, self.row
        n = (root / big[0]).stat().st_size
        up = self.best_uploads(big, "big", managed=True)
        r = self.repo("big-0")
        c.upload_file(str(root / big[0]), self.bucket("bench-raw"), big[0])
        c.upload_file(str(root / big[0]), self.bucket("bench-managed"), big[0])
        t_raw_dn = self.best(lambda d: raw_download(c, "bench-raw", big, d), "dl_raw")
        t_man_dn = self.best(lambda d: raw_download(c, "bench-managed", big, d, managed=True), "dl_man")
        t_dn = self.best(lambda d: one_download(r, big, d, jobs=8), "dl_one")
        t_md5_dn = self.best(lambda d: raw_download(c, "bench-raw", big, d, md5=True), "dl_md5")
        name = f"{n >> 20} MiB file"
        row(f"upload {name}", n, up["man_md5"], up["ours"], "boto3 md5 + upload_file (md5 in metadata)", 0.8)
        row(f"upload {name}", n, up["mm_uns"], up["ours"], "the same, bodies not SHA-256 signed", None)
        row(f"upload {name}, md5 cached", n, up["man_md5"], up["warm"], "boto3 md5 + upload_file", None)
        row(f"upload {name}", n, up["man"], up["ours"], "boto3 upload_file (no md5)", None)
        row(f"upload {name}", n, up["raw"], up["ours"], "boto3 put_object (1 PUT, no md5)", None)
        row(f"download {name}", n, t_md5_dn, t_dn, "boto3 get_object + md5", 0.8)
        row(f"download {name}", n, t_raw_dn, t_dn, "boto3 get_object (no check)", None)
        row(f"download {name}", n, t_man_dn, t_dn, "boto3 download_file", None)
        for d in ("dl_raw", "dl_man", "dl_one", "dl_md5"):
            shutil.rmtree(self.work / d, ignore_errors=True)

    def small_files(self, small: list[str], small_kb: int) -> None:
        n = sum((self.root / rel).stat().st_size for rel in small)
        up = self.best_uploads(small, "small", managed=False)
        r = self.repo("small-0")
        raw_upload(self.c, "bench-raw", self.root, small)
        t_raw_dn = self.best(lambda d: raw_download(self.c, "bench-raw", small, d), "dl_raw")
        t_dn = self.best(lambda d: one_download(r, small, d, jobs=JOBS), "dl_one")
        files = f"{len(small)} x {small_kb} KB ({JOBS} jobs)"
        self.row(f"upload {files}", n, up["raw"], up["ours"], "boto3 put_object", 0.8)
        self.row(f"download {files}", n, t_raw_dn, t_dn, "boto3 get_object", 0.8)
        r.close()

    def reupload(self, rels: list[str]) -> None:
        ra = self.repo("all")
        t_full, _ = one_upload(ra, self.root, rels, jobs=JOBS)
        t_again, again = one_upload(ra, self.root, rels, jobs=JOBS)
        ra.close()
        self.rows.append(
            {
                "measure": "unchanged re-upload",
                "shown": f"{t_again:.2f} s",
                "vs": f"full upload {t_full:.2f} s",
                "ratio": round(t_again / t_full, 3),
                "target": None,
                "ok": None if not again.downloaded else False,
            }
        )


def main(quick: bool = False) -> dict:
    """Run the S3 benchmark; returns the figures as rows (``quick``: 32 MiB and 100 small files, one round)."""
    try:
        import moto.server  # noqa: F401
        import onecore_s3.repository  # noqa: F401
    except ImportError as e:  # pragma: no cover
        sys.exit(f"bench_s3 needs the onecore-s3 plugin with its [test] extra ({e}); run `make venv` first")

    big_mb = _env_int("BENCH_S3_BIG_MB", 32 if quick else 128)
    small_n = _env_int("BENCH_S3_SMALL_N", 100 if quick else 500)
    small_kb = _env_int("BENCH_S3_SMALL_KB", 16)
    repeat = _env_int("BENCH_S3_REPEAT", 1 if quick else 3)  # best of this many rounds (a busy machine)
    with tempfile.TemporaryDirectory(prefix="bench_s3_") as tmp:
        work = Path(tmp)
        os.environ["ONE_HOME"] = str(work / "one_home")
        os.environ["AWS_CONFIG_FILE"] = str(work / "aws-config")  # never the real ~/.aws
        os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(work / "aws-credentials")
        root = work / "root"
        print(f"generating {big_mb} MiB + {small_n} x {small_kb} KB in {root} ...", file=sys.stderr, flush=True)
        big, small = make_root(root, big_mb, small_n, small_kb)
        with _ServerProcess() as server:
            bench = _Bench(server, work, root, repeat)
            bench.big_file(big)
            bench.small_files(small, small_kb)
            bench.reupload(big + small)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return {
        "title": "S3 repository (moto server on 127.0.0.1) vs raw boto3",
        "rows": bench.rows,
        "load average (1 min) at the end": round(load, 2),
        "raw baselines": (
            "one boto3 client made before timing; 'md5 + upload_file' = hashlib md5 of the file, then s3transfer "
            "upload_file (8 MiB parts, 10 threads, botocore's default CRC32 part checksums, md5 in metadata); "
            "upload_file / put_object alone do not hash with md5. Over this plain-HTTP loopback boto3 SHA-256 signs "
            "every body; onecore does not (its bodies carry a signed Content-MD5), nor does boto3 over HTTPS: the "
            "'bodies not SHA-256 signed' row is raw boto3 configured so"
        ),
    }


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import run

    print(run.render_text("s3", main(quick="--quick" in sys.argv)))
