"""A real FTP(S) server on loopback for tests and benchmarks (needs ``pyftpdlib``; FTPS also ``pyopenssl``).

:class:`FTPTestServer` runs ``pyftpdlib`` in a thread on ``127.0.0.1`` and a port picked by the OS,
with two users (``user``/``secret`` may write, ``reader``/``readpw`` may only read), counts the
transfer commands it serves (:class:`ServerStats`), and can misbehave on request: drop the connection
part way through an upload or a download (once), close only the data connection early (once; a download
is then reported complete with ``226``, as a lying server would), answer a transfer command with an error
reply such as ``421``/``451`` (N times), not answer it at all (N times: the client times out), answer
"disk full" for a file, refuse every rename, give MLSD sizes that are off by one or unparsable, or
wait before each upload.
:func:`self_signed_cert` makes a certificate for ``127.0.0.1`` at run time.
"""

from __future__ import annotations

import errno
import logging
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onecore.testing.data import write_datasets
from onecore.testing.secrets import PASSWORD  # the suite-wide leak check greps for it

USER = "user"
READER, READER_PASSWORD = "reader", "readpw"
BIG = "labA/Subjects/mouse1/2021-03-01/001/alf/probe00/spikes.amps.npy"


def make_data_root(root: Path) -> list[str]:
    """Write a small data root: 3 sessions in 2 labs, 19 ALF files (sub-collection ``alf/probe00``, a
    ``#revision#``, an empty file, a 3 MB file :data:`BIG`) and one non-ALF file; returns the ALF paths."""
    files = {}
    sessions = (
        ("labA", "mouse1", "2021-03-01", "001"),
        ("labA", "mouse1", "2021-03-02", "001"),
        ("labB", "rat7", "2022-11-30", "003"),
    )
    for lab, subj, date, num in sessions:
        s = f"{lab}/Subjects/{subj}/{date}/{num}"
        files[f"{s}/alf/spikes.times.npy"] = 20_000
        files[f"{s}/alf/spikes.clusters.npy"] = 5_000
        files[f"{s}/alf/trials.intervals.npy"] = 1_600
        files[f"{s}/alf/probe00/clusters.depths.npy"] = 800
        files[f"{s}/alf/probe00/#2021-05-01#/clusters.depths.npy"] = 900
        files[f"{s}/raw_behavior_data/_iblrig_taskData.raw.jsonable"] = 0 if lab == "labB" else 300
    files[BIG] = 3 * 1024 * 1024 + 17
    rels = write_datasets(root, files, seed=7)
    (root / "labA" / "README.txt").write_text("not a dataset")
    return rels


@dataclass
class ServerStats:
    """What the server did, and the faults it is asked to inject."""

    stor: list[tuple[str, str, int]] = field(default_factory=list)  # (STOR|APPE, path, REST offset)
    retr: list[tuple[str, int]] = field(default_factory=list)  # (path, REST offset)
    kill_upload: tuple[str, int] | None = None  # (name part, after bytes): drop once
    kill_download: tuple[str, int] | None = None
    disk_full: tuple[str, int] | None = None  # (name part, after bytes): ENOSPC on write
    short_download: tuple[str, int] | None = None  # (name part, after bytes): data closed early, "226", once
    short_upload: tuple[str, int] | None = None  # (name part, after bytes): data closed early, once
    refuse: tuple[str, str, int] | None = None  # (name part, reply, times): RETR/STOR answered with reply
    hang: tuple[str, int] | None = None  # (name part, times): RETR/STOR never answered
    no_replace: bool = False  # RNTO refuses to replace an existing file (as some servers do)
    no_mlsd: bool = False  # MLSD is not implemented (as on old servers)
    refuse_rename: bool = False  # RNFR answered "550" (a policy that forbids renames)
    mlsd_size: str | None = None  # "off_by_one" or "garbage": MLSD size facts that lie
    slow_stor: float = 0.0  # seconds the server waits before each STOR/APPE (to send signals mid-way)
    killed: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def stored(self, part: str = "") -> list[str]:
        """Paths of STOR/APPE commands whose path contains ``part``."""
        return [p for _, p, _ in self.stor if part in p]

    def reset(self) -> None:
        with self.lock:
            self.stor.clear()
            self.retr.clear()
            self.killed.clear()


class _FullFile:
    """A file object that fails with ENOSPC once ``limit`` bytes were written."""

    def __init__(self, f: Any, limit: int):
        self._f = f
        self._left = limit

    def write(self, data: bytes) -> int:
        if len(data) > self._left:
            raise OSError(errno.ENOSPC, "No space left on device")
        self._left -= len(data)
        return self._f.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)


def _fs_class(stats: ServerStats) -> type:
    """The server's file system: disk-full files, renames that will not replace, lying MLSD sizes."""
    from pyftpdlib.filesystems import AbstractedFS

    class FS(AbstractedFS):
        def open(self, filename: str, mode: str) -> Any:
            f = super().open(filename, mode)
            if stats.disk_full and stats.disk_full[0] in filename and any(c in mode for c in "wa+"):
                return _FullFile(f, stats.disk_full[1])
            return f

        def format_mlsx(self, *args: Any, **kwargs: Any) -> Any:
            for line in super().format_mlsx(*args, **kwargs):
                if stats.mlsd_size:
                    text = line.decode() if isinstance(line, bytes) else line
                    text = re.sub(
                        r"size=(\d+);",
                        lambda m: f"size={int(m.group(1)) + 1};" if stats.mlsd_size == "off_by_one" else "size=n/a;",
                        text,
                    )
                    line = text.encode() if isinstance(line, bytes) else text
                yield line

        def rename(self, src: str, dst: str) -> None:
            if stats.no_replace and self.lexists(dst):
                raise OSError(errno.EEXIST, "File exists")
            super().rename(src, dst)

    return FS


def _classes(stats: ServerStats, tls: bool, certfile: str | None) -> type:
    from pyftpdlib.handlers import DTPHandler, FTPHandler

    if tls:
        from pyftpdlib.handlers import TLS_DTPHandler, TLS_FTPHandler

        base_dtp, base_handler = TLS_DTPHandler, TLS_FTPHandler
    else:
        base_dtp, base_handler = DTPHandler, FTPHandler

    FS = _fs_class(stats)

    class DTP(base_dtp):  # type: ignore[valid-type,misc]
        _sent = 0

        def _kill(self, what: str) -> None:
            stats.killed.append(what)
            self.cmd_channel.close()

        def handle_read_event(self) -> None:
            super().handle_read_event()
            k = stats.kill_upload
            if (
                k
                and self.file_obj is not None
                and k[0] in str(self.file_obj.name)
                and self.tot_bytes_received >= k[1]
                and not self._closed
            ):
                stats.kill_upload = None
                self._kill(str(self.file_obj.name))
            s = stats.short_upload
            if (
                s
                and self.file_obj is not None
                and s[0] in str(self.file_obj.name)
                and self.tot_bytes_received >= s[1]
                and not self._closed
            ):
                stats.short_upload = None
                stats.killed.append(str(self.file_obj.name))
                self.handle_close()  # only the data connection: the control one goes on

        def handle_error(self) -> None:
            exc = sys.exc_info()[1]
            cause = getattr(exc, "__cause__", None) or exc
            if isinstance(cause, OSError) and cause.errno == errno.ENOSPC:
                # What a real server says (pyftpdlib itself loses the reason and answers "426 None").
                self._resp = ("552 Exceeded storage allocation; transfer aborted.", logging.debug)
                self.close()
                return
            super().handle_error()

        def send(self, data: Any) -> int:
            n = super().send(data)
            k = stats.kill_download
            if k and self.file_obj is not None and k[0] in str(self.file_obj.name):
                self._sent += n
                if self._sent >= k[1]:
                    stats.kill_download = None
                    self._kill(str(self.file_obj.name))
            s = stats.short_download
            if s and self.file_obj is not None and s[0] in str(self.file_obj.name):
                self._sent += n
                if self._sent >= s[1]:
                    stats.short_download = None
                    stats.killed.append(str(self.file_obj.name))
                    self.producer_fifo.clear()  # nothing left to send: "226 Transfer complete"
                    self.handle_close()
            return n

    attrs: dict[str, Any] = {"dtp_handler": DTP, "abstracted_fs": FS, "banner": "onecore test FTP server"}
    if tls:
        attrs.update(certfile=certfile, keyfile=certfile, ssl_context=None)

    class Handler(base_handler):  # type: ignore[valid-type,misc]
        def _misbehave(self, file: str) -> bool:
            """Apply a ``refuse`` or ``hang`` fault to a transfer command; True when one was applied."""
            with stats.lock:
                if stats.refuse and stats.refuse[0] in file and stats.refuse[2] > 0:
                    part, reply, times = stats.refuse
                    stats.refuse = (part, reply, times - 1)
                    self.respond(reply)
                    return True
                if stats.hang and stats.hang[0] in file and stats.hang[1] > 0:
                    stats.hang = (stats.hang[0], stats.hang[1] - 1)
                    return True  # no answer at all: the client times out
            return False

        def ftp_STOR(self, file: str, mode: str = "w") -> Any:
            if stats.slow_stor:
                import time

                time.sleep(stats.slow_stor)
            with stats.lock:
                stats.stor.append(("APPE" if "a" in mode else "STOR", file, self._restart_position))
            if self._misbehave(file):
                return None
            return super().ftp_STOR(file, mode)

        def ftp_RNFR(self, path: str) -> Any:
            if stats.refuse_rename:
                self.respond("550 Renaming is not allowed here.")
                return None
            return super().ftp_RNFR(path)

        def ftp_MLSD(self, path: str) -> Any:
            if stats.no_mlsd:
                self.respond("502 Command not implemented.")
                return None
            return super().ftp_MLSD(path)

        def ftp_RETR(self, file: str) -> Any:
            with stats.lock:
                stats.retr.append((file, self._restart_position))
            if self._misbehave(file):
                return None
            if any(k and k[0] in file for k in (stats.kill_download, stats.short_download)):
                self.use_sendfile = False  # the fault is injected in send()
            return super().ftp_RETR(file)

    for k, v in attrs.items():
        setattr(Handler, k, v)
    return Handler


class FTPTestServer:
    """``pyftpdlib`` serving ``home`` on 127.0.0.1 in a thread; use as a context manager."""

    def __init__(self, home: Path, *, tls: bool = False, certfile: str | Path | None = None, port: int = 0):
        from pyftpdlib.authorizers import DummyAuthorizer
        from pyftpdlib.servers import FTPServer

        ftplog = logging.getLogger("pyftpdlib")  # one line per command otherwise
        ftplog.setLevel(logging.WARNING)
        if not ftplog.handlers:
            ftplog.addHandler(logging.NullHandler())  # stops pyftpdlib from configuring logging itself
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.tls = tls
        self.stats = ServerStats()
        auth = DummyAuthorizer()
        auth.add_user(USER, PASSWORD, str(self.home), perm="elradfmwMT")
        auth.add_user(READER, READER_PASSWORD, str(self.home), perm="elr")
        handler = _classes(self.stats, tls, str(certfile) if certfile else None)
        handler.authorizer = auth
        handler.auth_failed_timeout = 0.01  # pyftpdlib waits 3 s before answering a bad password
        handler.passive_ports = None
        handler.masquerade_address = None
        self._server = FTPServer(("127.0.0.1", port), handler)  # port: 0 for a free one, or a stopped server's
        self._server.max_cons = 256
        self.host, self.port = self._server.address[:2]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="ftp-test-server", daemon=True)

    def _serve(self) -> None:
        try:
            while not self._stop.is_set():
                self._server.ioloop.loop(0.05, blocking=False)
        finally:
            self._server.close_all()

    def start(self) -> FTPTestServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def settings(self, **extra: Any) -> dict[str, Any]:
        """Repository settings for the writing user (override with keyword arguments)."""
        s: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "login": USER,
            "password": PASSWORD,
            "tls": self.tls,
            "timeout": 10,
        }
        s.update(extra)
        return s

    def __enter__(self) -> FTPTestServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def self_signed_cert(folder: Path) -> Path | None:
    """A PEM file (key + certificate) for ``127.0.0.1``/``localhost``, or None if nothing can make one.

    Uses the ``cryptography`` package when installed, else the ``openssl`` command.
    """
    folder.mkdir(parents=True, exist_ok=True)
    pem = folder / "cert.pem"
    try:
        _cert_with_cryptography(pem)
        return pem
    except ImportError:
        pass
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    key, crt = folder / "key.pem", folder / "crt.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(crt),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    pem.write_bytes(key.read_bytes() + crt.read_bytes())
    return pem


def _cert_with_cryptography(pem: Path) -> None:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
        + cert.public_bytes(serialization.Encoding.PEM)
    )
