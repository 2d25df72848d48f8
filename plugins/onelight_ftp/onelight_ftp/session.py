"""FTP connections: opening one (plain or explicit FTPS), mapping ``ftplib`` errors to onecore's,
and the two transfer loops (store with resume, retrieve as a stream) shared by upload and download.

Error mapping (every message names the server, and the file when there is one):

- 530/532 (login refused, not logged in) -> :class:`~onecore.errors.AuthError`;
- 452/552 or a reply saying the disk is full -> :class:`~onecore.errors.TransferError` (not retried);
- other 5xx (550 permission denied or no such file, 553 bad name...) ->
  :class:`~onecore.errors.TransferError`;
- 4xx, connection lost, timeouts, protocol errors -> :class:`~onecore.errors.TransientError`
  (retried by the caller's :class:`~onecore.transfer.RetryPolicy`);
- a TLS certificate that does not verify -> :class:`~onecore.errors.TransferError` saying what to do.
"""

from __future__ import annotations

import ftplib
import socket
import ssl
from dataclasses import dataclass, field
from typing import IO, Callable, Iterator

from onecore.sdk import AuthError, OneError, TransferError, TransientError

BLOCK = 1 << 20  # bytes per send/recv on data connections
_DISK_FULL_WORDS = ("no space", "disk full", "quota", "insufficient storage", "storage allocation")


@dataclass(frozen=True)
class Endpoint:
    """Where and how to log in. The password is never shown (``repr`` hides it)."""

    host: str
    port: int = 21
    login: str = "anonymous"
    password: str = field(default="", repr=False)
    tls: bool = False
    timeout: float = 30.0

    @property
    def where(self) -> str:
        """``host:port`` as shown in messages (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def connect(self) -> ftplib.FTP:
        """A logged-in connection in binary mode (``TYPE I``), passive, with ``PROT P`` when TLS.

        Raises :class:`AuthError` when the login is refused, :class:`TransientError` when the server
        cannot be reached (worth retrying) and :class:`TransferError` for other failures.
        """
        if self.tls:
            ftp: ftplib.FTP = ftplib.FTP_TLS(context=ssl.create_default_context(), timeout=self.timeout)
        else:
            ftp = ftplib.FTP(timeout=self.timeout)
        step = f"connecting to the FTP server {self.where}"
        try:
            ftp.connect(self.host, self.port)
            if self.tls:
                step = f"starting TLS (AUTH TLS) with {self.where}"
                ftp.auth()  # type: ignore[attr-defined]
            step = f"logging in to {self.where} as {self.login!r}"
            ftp.login(self.login, self.password or "")
            if self.tls:
                step = f"protecting data connections (PROT P) with {self.where}"
                ftp.prot_p()  # type: ignore[attr-defined]
            ftp.voidcmd("TYPE I")
            ftp.set_pasv(True)
        except BaseException as e:
            _quiet_close(ftp)
            if isinstance(e, ftplib.error_perm) and self.tls and step.startswith("starting TLS"):
                raise TransferError(
                    f"{step}: the server refused ({_reply(e)}); it does not offer explicit FTPS: "
                    "set tls to false, or ask for FTPS on this server"
                ) from None
            if isinstance(e, (ftplib.Error, OSError, EOFError)):
                raise self.error(e, step) from None
            raise
        return ftp

    def error(self, e: BaseException, what: str, *, write: bool = False) -> OneError:
        """The onecore error for an ``ftplib``/socket error that happened while doing ``what``."""
        if isinstance(e, OneError):
            return e
        if isinstance(e, (ftplib.error_perm, ftplib.error_temp, ftplib.error_reply)):
            text = _reply(e)
            code = text[:3]
            if code in ("530", "532"):
                return AuthError(
                    f"{what}: the FTP server {self.where} refused the login of user {self.login!r} ({text}); "
                    "check the login and password of this repository (one add-repo)"
                )
            if code in ("452", "552") or any(w in text.lower() for w in _DISK_FULL_WORDS):
                return TransferError(
                    f"{what}: the FTP server {self.where} has no space left ({text}); free space or raise "
                    "the quota on the server, then run the upload again (it resumes)"
                )
            if code.startswith("4") or isinstance(e, ftplib.error_reply):
                return TransientError(f"{what}: the FTP server {self.where} answered {text}")
            if code == "550":
                hint = (
                    f"user {self.login!r} may not write there (permission denied), or a folder on the "
                    "way is missing or is a file"
                    if write
                    else f"no such file, or user {self.login!r} may not read it"
                )
                return TransferError(f"{what}: the FTP server {self.where} refused ({text}): {hint}")
            return TransferError(f"{what}: the FTP server {self.where} refused ({text})")
        if isinstance(e, ssl.SSLCertVerificationError):
            return TransferError(
                f"{what}: the TLS certificate of {self.where} was not accepted ({e.verify_message}); if the "
                "server uses a self-signed or private certificate, set the environment variable "
                "SSL_CERT_FILE to a file holding it (PEM)"
            )
        if isinstance(e, socket.gaierror):
            return TransferError(f"{what}: cannot resolve the host name {self.host!r} ({e}); check the host")
        if isinstance(e, (OSError, EOFError, ftplib.error_proto)):
            detail = str(e) or "connection closed by the server"
            return TransientError(f"{what}: connection to {self.where} failed ({type(e).__name__}: {detail})")
        return TransferError(f"{what}: {type(e).__name__}: {e}")


def _reply(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def _quiet_close(ftp: ftplib.FTP) -> None:
    try:
        ftp.close()
    except Exception:  # noqa: BLE001 - closing a broken connection
        pass


def quit_quietly(ftp: ftplib.FTP) -> None:
    """Say QUIT (briefly) and close; never raises."""
    try:
        if ftp.sock is not None:
            ftp.sock.settimeout(2)
            ftp.quit()
    except Exception:  # noqa: BLE001
        pass
    _quiet_close(ftp)


def _pending_reply(ftp: ftplib.FTP) -> BaseException | None:
    """After a data connection broke, the error reply the server may have sent on the control one."""
    try:
        if ftp.sock is not None:
            ftp.sock.settimeout(min(5.0, ftp.timeout or 5.0))
        ftp.getresp()
    except (ftplib.error_perm, ftplib.error_temp) as reply:
        return reply
    except Exception:  # noqa: BLE001 - nothing usable was said
        return None
    return None


def _finish_data(conn: socket.socket) -> None:
    if isinstance(conn, ssl.SSLSocket):
        conn.unwrap()


def store(ftp: ftplib.FTP, path: str, f: IO[bytes], offset: int, progress: Callable[[int], None]) -> None:
    """Send ``f`` to ``path``; with ``offset`` > 0 resume there (``REST`` + ``STOR``, else ``APPE``).

    Falls back to a full ``STOR`` when the server can resume neither way. Raises ``ftplib``/socket
    errors (the caller maps them); when the data connection breaks, the server's own reply (disk
    full, permission...) is raised instead when it sent one.
    """
    cmd = f"STOR {path}"
    if offset:
        try:
            ftp.sendcmd(f"REST {offset}")
        except ftplib.error_perm:
            cmd = f"APPE {path}"
    try:
        conn = ftp.transfercmd(cmd)
    except ftplib.error_perm as e:
        if not (offset and cmd.startswith("APPE") and _reply(e)[:3] in ("500", "502", "504")):
            raise
        offset, cmd = 0, f"STOR {path}"
        conn = ftp.transfercmd(cmd)
    f.seek(offset)
    try:
        with conn:
            while True:
                buf = f.read(BLOCK)
                if not buf:
                    break
                conn.sendall(buf)
                progress(len(buf))
            _finish_data(conn)
    except OSError:
        reply = _pending_reply(ftp)
        if reply is not None:
            raise reply from None
        raise
    ftp.voidresp()


class Retrieval:
    """An open ``RETR``: ``offset`` is where the bytes start, ``chunks()`` yields them.

    ``close()`` before the end drops the whole connection (``on_abort``), since the control channel
    is then in an unknown state.
    """

    def __init__(self, ftp: ftplib.FTP, path: str, offset: int, on_abort: Callable[[], None]):
        self.ftp = ftp
        self.offset = 0
        self.done = False
        self._on_abort = on_abort
        if offset:
            try:
                ftp.sendcmd(f"REST {offset}")
                self.offset = offset
            except ftplib.error_perm:
                self.offset = 0
        self.conn = ftp.transfercmd(f"RETR {path}")

    def chunks(self) -> Iterator[bytes]:
        buf = bytearray(BLOCK)
        view = memoryview(buf)
        with self.conn:
            while True:
                n = self.conn.recv_into(view)
                if not n:
                    break
                yield bytes(view[:n])
            _finish_data(self.conn)
        self.ftp.voidresp()
        self.done = True

    def close(self) -> None:
        if not self.done:
            try:
                self.conn.close()
            finally:
                self._on_abort()


class Connection:
    """One lazily opened FTP connection, re-opened after a failure.

    :meth:`run` calls ``fn(ftp)`` and maps errors; after a transient error (or any error that leaves
    the control channel in an unknown state) the connection is dropped, so the next call reconnects.
    """

    def __init__(self, endpoint: Endpoint):
        self.endpoint = endpoint
        self._ftp: ftplib.FTP | None = None

    @property
    def ftp(self) -> ftplib.FTP:
        if self._ftp is None:
            self._ftp = self.endpoint.connect()
        return self._ftp

    def run(self, fn: Callable[[ftplib.FTP], object], what: str, *, write: bool = False) -> object:
        try:
            return fn(self.ftp)
        except OneError as e:
            if isinstance(e, TransientError):
                self.drop()
            raise
        except (ftplib.Error, OSError, EOFError) as e:
            err = self.endpoint.error(e, what, write=write)
            if isinstance(err, TransientError) or not isinstance(e, (ftplib.error_perm, ftplib.error_temp)):
                self.drop()
            raise err from None

    def drop(self) -> None:
        """Forget (and close) the connection without a goodbye."""
        ftp, self._ftp = self._ftp, None
        if ftp is not None:
            _quiet_close(ftp)

    def close(self) -> None:
        """Say goodbye and close."""
        ftp, self._ftp = self._ftp, None
        if ftp is not None:
            quit_quietly(ftp)
