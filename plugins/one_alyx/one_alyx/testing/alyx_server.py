"""A real Alyx server for the tests: ``alyx-local`` (Django) on a private PostgreSQL cluster.

Everything runs on 127.0.0.1 on ports the OS picks:

- a Python 3.12 virtual environment with ``alyx-local`` (cached between runs, outside the repository:
  ``$ONE_ALYX_VENV`` or ``~/.cache/onecore-alyx-venv``);
- a PostgreSQL cluster in a temporary folder (``initdb -A trust``; run as the ``postgres`` user when we
  are root, since PostgreSQL refuses to run as root);
- ``python -m django migrate`` then ``runserver --noreload`` with a settings module of our own;
- an HTTP file server (with basic auth) serving the data repository's files.

:func:`unavailable_reason` says why the server cannot run here (no PostgreSQL, no Python 3.12): only
then do the tests skip. Any other failure raises :class:`AlyxSetupError` with the tail of the logs.

Run ``python alyx_server.py`` to start a seeded server by hand (Ctrl-C stops it).
"""

from __future__ import annotations

import base64
import glob
import hashlib
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onecore.testing.secrets import DATA_PASSWORD
from onecore.testing.servers import QuietThreadingHTTPServer

ALYX_LOCAL = "alyx-local==3.1.8"
ADMIN = ("admin", "admin")
DATA_LOGIN = ("fileuser", DATA_PASSWORD)  # the suite-wide leak check greps for it
STARTUP_TIMEOUT = float(os.environ.get("ONE_ALYX_STARTUP_TIMEOUT", "180"))


class AlyxSetupError(RuntimeError):
    """The Alyx test server could not be started (the message holds the log tail)."""


# --------------------------------------------------------------------------------------------------
# What is needed
# --------------------------------------------------------------------------------------------------
def find_python312() -> str | None:
    """A working Python 3.12: ``$ONE_ALYX_PYTHON``, a pyenv one, or ``python3.12`` on PATH.

    Each candidate is run once to check it (a pyenv shim on PATH may exist without working).
    """
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    cands = [
        os.environ.get("ONE_ALYX_PYTHON"),
        *sorted(glob.glob(f"{pyenv_root}/versions/3.12*/bin/python3.12"), reverse=True),
        shutil.which("python3.12"),
        "/usr/bin/python3.12",
        "/usr/local/bin/python3.12",
    ]
    for c in cands:
        if not c or not os.access(c, os.X_OK):
            continue
        try:
            out = subprocess.run(
                [c, "-c", "import sys, venv; print(sys.version_info[:2] == (3, 12))"],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0 and out.stdout.strip() == "True":
            return c
    return None


def find_pg_bin() -> Path | None:
    """The folder holding PostgreSQL's ``initdb`` and ``pg_ctl`` (Debian layout, or on PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def unavailable_reason() -> str | None:
    """Why a real Alyx cannot run here (the only reasons to skip), or None."""
    if find_pg_bin() is None:
        return (
            "PostgreSQL is not installed (no initdb): install the Debian package 'postgresql' "
            "(.ci/system-deps does it) to run the Alyx integration tests"
        )
    if find_python312() is None:
        return "Python 3.12 is missing (alyx-local needs it): set ONE_ALYX_PYTHON or install python3.12"
    return None


def venv_dir() -> Path:
    return Path(os.environ.get("ONE_ALYX_VENV") or Path.home() / ".cache" / "onecore-alyx-venv")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, n: int = 40) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {path})"
    return "\n".join(lines[-n:])


def _run(cmd: list[str], log: Path, what: str, timeout: float = 900, **kw: Any) -> None:
    with open(log, "ab") as out:
        out.write(f"\n$ {' '.join(cmd)}\n".encode())
        out.flush()
        try:
            rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, **kw).returncode
        except subprocess.TimeoutExpired:
            raise AlyxSetupError(f"{what} timed out after {timeout}s; log tail:\n{_tail(log)}") from None
    if rc != 0:
        raise AlyxSetupError(f"{what} failed (exit {rc}); log tail ({log}):\n{_tail(log)}")


def ensure_venv(log: Path) -> Path:
    """The cached virtual environment's python, creating it (under a lock) when missing or outdated."""
    import fcntl

    vdir = venv_dir()
    py = vdir / "bin" / "python"
    stamp = vdir / ".onecore-alyx-stamp"
    vdir.parent.mkdir(parents=True, exist_ok=True)
    with open(str(vdir) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if py.exists() and stamp.exists() and stamp.read_text() == ALYX_LOCAL:
            return py
        python312 = find_python312()
        assert python312 is not None
        if vdir.exists():
            shutil.rmtree(vdir)
        _run([python312, "-m", "venv", str(vdir)], log, "creating the Python 3.12 venv")
        _run(
            [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", ALYX_LOCAL],
            log,
            f"pip install {ALYX_LOCAL}",
        )
        stamp.write_text(ALYX_LOCAL)
    return py


# --------------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------------
class Postgres:
    """A private PostgreSQL cluster in a temporary folder, listening on 127.0.0.1:``port`` only.

    The folder is its own ``mkdtemp`` (not inside the caller's folder, which the ``postgres`` user may
    not be allowed to enter) and is removed by :meth:`stop`.
    """

    def __init__(self, log: Path):
        self.bin = find_pg_bin()
        assert self.bin is not None
        self.folder = Path(tempfile.mkdtemp(prefix="onecore-alyx-pg-"))
        self.data = self.folder / "pgdata"
        self.log = log
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0

    def _cmd(self, *args: str) -> list[str]:
        cmd = [str(self.bin / args[0]), *args[1:]]
        return ["runuser", "-u", "postgres", "--", *cmd] if self.as_postgres else cmd

    def _chown(self, path: Path) -> None:
        if self.as_postgres:
            subprocess.run(["chown", "-R", "postgres:", str(path)], check=True)

    def init(self) -> None:
        """A new empty cluster."""
        self._chown(self.folder)
        os.chmod(self.folder, 0o700)
        _run(
            self._cmd("initdb", "-A", "trust", "-U", "postgres", "-E", "UTF8", "-D", str(self.data)),
            self.log,
            "initdb",
            timeout=120,
        )

    def init_from(self, template: Path) -> None:
        """A cluster copied from a stopped cluster's data folder (a migrated Alyx database)."""
        shutil.copytree(template, self.data, symlinks=True)
        self._chown(self.folder)
        os.chmod(self.folder, 0o700)
        os.chmod(self.data, 0o700)

    def save_template(self, template: Path) -> None:
        """Copy this (stopped) cluster's data folder to ``template``, atomically."""
        tmp = template.with_name(template.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(self.data, tmp, symlinks=True, ignore=shutil.ignore_patterns("postmaster.pid"))
        shutil.rmtree(template, ignore_errors=True)
        os.replace(tmp, template)

    def start(self) -> None:
        pglog = self.folder / "postgres.log"
        opts = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        try:
            _run(
                self._cmd("pg_ctl", "-D", str(self.data), "-l", str(pglog), "-o", opts, "-w", "-t", "60", "start"),
                self.log,
                "pg_ctl start",
                timeout=90,
            )
        except AlyxSetupError as e:
            raise AlyxSetupError(f"{e}\npostgres log:\n{_tail(pglog)}") from None

    def psql(self, sql: str) -> None:
        _run(
            self._cmd(
                "psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ),
            self.log,
            f"psql {sql!r}",
            timeout=60,
        )

    def stop(self, remove: bool = True) -> None:
        if self.data.exists():
            subprocess.run(
                self._cmd("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop"),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=60,
            )
        if remove:
            shutil.rmtree(self.folder, ignore_errors=True)


# --------------------------------------------------------------------------------------------------
# The file server
# --------------------------------------------------------------------------------------------------
def file_server(root: Path, auth: tuple[str, str] | None) -> http.server.ThreadingHTTPServer:
    """A threaded HTTP server for ``root`` on 127.0.0.1 (port 0), with HTTP basic auth if given."""
    expected = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode() if auth else None

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: Any, **kw: Any):
            super().__init__(*a, directory=str(root), **kw)

        def do_GET(self) -> None:  # noqa: N802
            if expected and self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="data"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            super().do_GET()

        def log_message(self, *a: Any) -> None:
            pass

    srv = QuietThreadingHTTPServer(("127.0.0.1", 0), Handler)  # handler errors go to the log
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True, name="alyx-files").start()
    return srv


# --------------------------------------------------------------------------------------------------
# Alyx
# --------------------------------------------------------------------------------------------------
CUSTOM_SETTINGS = """\
DEFAULT_LAB_NAME = "defaultlab"
TIME_ZONE = "UTC"
DEBUG = False
SECRET_KEY = "onecore-tests-not-secret"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
CSRF_TRUSTED_ORIGINS = ["http://127.0.0.1", "http://localhost"]
NARRATIVE_TEMPLATES = {}
DBBACKUP_HOSTNAME = "localhost"
AUTO_RESTORE_ON_STARTUP = False
"""

SETTINGS = """\
from alyx.base.settings import *  # noqa

DATABASES = {{"default": {{
    "ENGINE": "django.db.backends.postgresql", "NAME": "alyx", "USER": "postgres", "PASSWORD": "",
    "HOST": "127.0.0.1", "PORT": "{pg_port}",
}}}}
CACHES = {{"default": {{"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}}}
LOGGING = {{"version": 1, "disable_existing_loggers": False,
           "handlers": {{"console": {{"class": "logging.StreamHandler"}}}},
           "root": {{"handlers": ["console"], "level": "WARNING"}}}}
STATICFILES_DIRS = []
INSTALLED_APPS = list(INSTALLED_APPS)
if "django.contrib.postgres" not in INSTALLED_APPS:
    INSTALLED_APPS.append("django.contrib.postgres")
MEDIA_ROOT = {media!r}
STATIC_ROOT = {static!r}
TABLES_ROOT = {tables!r}
STORAGES["default"]["OPTIONS"]["location"] = MEDIA_ROOT
STORAGES["staticfiles"]["OPTIONS"]["location"] = STATIC_ROOT
STORAGES["dbbackup"]["OPTIONS"]["location"] = {backups!r}
"""


@dataclass
class AlyxServer:
    """A running Alyx (``base_url`` ends with ``/api``), its PostgreSQL and its file server."""

    workdir: Path
    base_url: str = ""
    files_root: Path = field(init=False)
    files_url: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    seeded: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.log = self.workdir / "setup.log"
        self.server_log = self.workdir / "alyx.log"
        self.files_root = self.workdir / "files"
        self.pg: Postgres | None = None
        self.proc: subprocess.Popen | None = None
        self.files: http.server.ThreadingHTTPServer | None = None
        self.token: str | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> AlyxServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        py = ensure_venv(self.log)
        self.timings["venv"] = time.monotonic() - t0
        env_py = py
        t0 = time.monotonic()
        self.pg = Postgres(self.log)
        template = venv_dir() / f"pgdata-template-{self.pg.bin.parent.name}"
        stamp = template / ".onecore-alyx-stamp"
        if template.is_dir() and stamp.exists() and stamp.read_text() == ALYX_LOCAL:
            self.pg.init_from(template)
            self.pg.start()
            self.timings["postgres"] = time.monotonic() - t0
        else:
            self.pg.init()
            self.pg.start()
            self.pg.psql("CREATE DATABASE alyx")
            self.timings["postgres"] = time.monotonic() - t0
            t0 = time.monotonic()
            _run(
                [str(env_py), "-m", "django", "migrate", "--no-input"],
                self.log,
                "django migrate",
                env=self._env(),
                cwd=self.workdir,
                timeout=900,
            )
            self.timings["migrate"] = time.monotonic() - t0
            self.pg.stop(remove=False)
            self.pg.save_template(template)
            (template / ".onecore-alyx-stamp").write_text(ALYX_LOCAL)
            self.pg.start()
        env = self._env()
        t0 = time.monotonic()
        port = free_port()
        out = open(self.server_log, "ab")
        self.proc = subprocess.Popen(
            [str(py), "-m", "django", "runserver", f"127.0.0.1:{port}", "--noreload", "--skip-checks"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.workdir,
        )
        out.close()
        self.base_url = f"http://127.0.0.1:{port}/api"
        self._wait_ready()
        self.timings["runserver"] = time.monotonic() - t0
        self.files_root.mkdir(exist_ok=True)
        self.files = file_server(self.files_root, DATA_LOGIN)
        self.files_url = f"http://127.0.0.1:{self.files.server_address[1]}/"
        return self

    def _env(self) -> dict[str, str]:
        conf = self.workdir / "conf"
        conf.mkdir(exist_ok=True)
        (conf / "custom_settings.py").write_text(CUSTOM_SETTINGS)
        dirs = {k: str(self.workdir / "django" / k) for k in ("media", "static", "tables", "backups")}
        for d in dirs.values():
            os.makedirs(d, exist_ok=True)
        (conf / "onetest_alyx_settings.py").write_text(SETTINGS.format(pg_port=self.pg.port, **dirs))
        pwfile = conf / "db-password"
        pwfile.write_text("unused\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "DJANGO"))}
        env.update(
            PYTHONPATH=str(conf),
            DJANGO_SETTINGS_MODULE="onetest_alyx_settings",
            POSTGRES_PASSWORD_FILE=str(pwfile),
            PYTHONUNBUFFERED="1",
            NO_COLOR="1",
        )
        return env

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AlyxSetupError(
                    f"the Alyx server exited with {self.proc.returncode}; log tail:\n{_tail(self.server_log)}"
                )
            try:
                with urllib.request.urlopen(self.base_url + "/labs", timeout=5):
                    return
            except urllib.error.HTTPError:
                return  # it answers (403 without a token)
            except OSError:
                time.sleep(0.3)
        raise AlyxSetupError(
            f"the Alyx server did not answer within {STARTUP_TIMEOUT}s; log tail:\n{_tail(self.server_log)}"
        )

    def stop(self) -> None:
        if self.files is not None:
            self.files.shutdown()
            self.files.server_close()
            self.files = None
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            self.proc = None
        if self.pg is not None:
            self.pg.stop()
            self.pg = None

    def __enter__(self) -> AlyxServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- REST as admin -------------------------------------------------------------------------
    def request(self, method: str, path: str, data: Any = None, token: bool = True) -> Any:
        """A JSON request as admin; returns the decoded answer, raises AlyxSetupError on HTTP errors."""
        url = path if path.startswith("http") else self.base_url + "/" + path.lstrip("/")
        body = json.dumps(data).encode() if data is not None else None
        req = urllib.request.Request(url, data=body, method=method)
        req.add_header("Content-Type", "application/json")
        req.add_header("Accept", "application/json")
        if token:
            req.add_header("Authorization", f"Token {self.admin_token()}")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                text = r.read()
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")[:2000]
            raise AlyxSetupError(
                f"{method} {url}: HTTP {e.code}: {detail}\nserver log tail:\n{_tail(self.server_log, 30)}"
            ) from None
        return json.loads(text) if text else None

    def admin_token(self) -> str:
        if self.token is None:
            self.token = self.request("POST", "auth-token", {"username": ADMIN[0], "password": ADMIN[1]}, token=False)[
                "token"
            ]
        return self.token

    def put_file(self, rel: str, content: bytes) -> tuple[int, str]:
        """Write a file under the file server root; returns (size, md5)."""
        path = self.files_root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        return len(content), hashlib.md5(content).hexdigest()


def main() -> None:  # pragma: no cover - manual use
    reason = unavailable_reason()
    if reason:
        sys.exit(reason)
    work = Path(tempfile.mkdtemp(prefix="alyx-manual-"))
    srv = AlyxServer(work)
    try:
        srv.start()
        from .seed_alyx import seed  # noqa: PLC0415

        seed(srv)
        print("Alyx at", srv.base_url, "files at", srv.files_url, "timings", srv.timings, flush=True)
        print(json.dumps(srv.seeded, indent=1, default=str), flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
