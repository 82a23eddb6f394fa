"""A private PostgreSQL server on loopback, started by the project itself: for the tests, the
benchmarks and the demo (which runs one under its data folder when no database is configured).

Why a real server: the archive's guarantees (ON CONFLICT upserts, typed columns, what happens
when the server dies mid-crawl) live in PostgreSQL itself, and a fake would only agree with
our own assumptions. The server runs from the Debian ``postgresql`` binaries in a temporary
data folder, with password (scram) authentication on 127.0.0.1 and a free port, so tests can
also show what a wrong password or a dead server looks like.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

from newsarchive.extensions.jobstate import process_alive

#: Where Debian and Ubuntu keep the server binaries (one folder per major version).
DEBIAN_BIN_GLOB = "/usr/lib/postgresql/*/bin"
#: The system user that owns the data folder when tests run as root (PostgreSQL refuses root).
DEFAULT_SERVICE_USER = "postgres"
#: Created when running as root on a machine without a ``postgres`` user.
FALLBACK_SERVICE_USER = "newsarchive-pg"


class PostgresUnavailable(RuntimeError):
    """No server could be started here (no binaries, no usable user, initdb failed, ...)."""


def find_bindir() -> Path:
    """The newest PostgreSQL bin folder: $NEWSARCHIVE_PG_BINDIR, Debian's, else on PATH."""
    configured = os.environ.get("NEWSARCHIVE_PG_BINDIR")
    if configured:
        return Path(configured)
    candidates = sorted(
        Path("/").glob(DEBIAN_BIN_GLOB.lstrip("/")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    for candidate in reversed(candidates):
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    raise PostgresUnavailable(
        "no PostgreSQL server binaries (initdb, pg_ctl) found; install the Debian package "
        "`postgresql` (scripts/bootstrap does) or set NEWSARCHIVE_PG_BINDIR"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _service_user() -> str | None:
    """The user to run the server as: None when we are not root (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in (DEFAULT_SERVICE_USER, FALLBACK_SERVICE_USER):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    try:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
             FALLBACK_SERVICE_USER],
            check=True,
            capture_output=True,
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError) as exc:
        raise PostgresUnavailable(
            f"running as root and cannot create a server user: {exc}"
        ) from None
    return FALLBACK_SERVICE_USER


def _reachable_by(user: str | None, folder: Path) -> bool:
    """Whether ``user`` (None: this process) can enter ``folder``, asked as that user."""
    if not user:
        return True
    probe = subprocess.run(
        ["runuser", "-u", user, "--", "test", "-x", str(folder)], capture_output=True, check=False
    )
    return probe.returncode == 0


class PostgresServer:
    """A private PostgreSQL cluster: ``start``, ``stop``, ``kill``, ``restart``, ``cleanup``.

    ``url`` connects as the superuser ``newsarchive`` with its password over TCP to the
    ``newsarchive`` database; ``url_for(db)`` names another database; ``create_database()``
    makes a fresh one for a test.
    """

    user = "newsarchive"
    dbname = "newsarchive"
    host = "127.0.0.1"

    def __init__(
        self, port: int | None = None, fsync: bool = False, root: Path | None = None
    ) -> None:
        """``root``: the folder to hold the cluster (created; removed by ``cleanup``), else a
        fresh temporary folder."""
        self.bindir = find_bindir()
        self.service_user = _service_user()
        self.password = "pw-" + secrets.token_urlsafe(12)
        self.port = port or free_port()
        self.fsync = fsync
        if root is not None and not _reachable_by(self.service_user, root.resolve().parent):
            # The service user (postgres, when run as root) cannot enter a checkout under a
            # private folder such as /root or a 0700 temporary folder: keep the cluster in a
            # fresh temporary folder instead, which it can.
            root = None
        if root is None:
            self.root = Path(tempfile.mkdtemp(prefix="newsarchive-pg-"))
        else:
            self.root = root.resolve()
            self.root.mkdir(parents=True)
        self.datadir = self.root / "data"
        self.sockdir = self.root / "sock"
        self.logfile = self.root / "server.log"
        self._initialized = False

    # --- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> PostgresServer:
        try:
            self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a server binary as the service user; PostgresUnavailable with its output."""
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.service_user:
            command = ["runuser", "-u", self.service_user, "--", *command]
        try:
            return subprocess.run(
                command, check=True, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.CalledProcessError as exc:
            raise PostgresUnavailable(
                f"{args[0]} failed ({exc.returncode}): {(exc.stderr or exc.stdout).strip()}"
            ) from None
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PostgresUnavailable(f"{args[0]} failed: {exc}") from None

    def _initdb(self) -> None:
        self.sockdir.mkdir(parents=True, exist_ok=True)
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self.service_user:
            entry = pwd.getpwnam(self.service_user)
            for path in (self.root, self.sockdir, pwfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        os.chmod(self.root, 0o700)
        try:
            self._run(
                "initdb",
                "-D", str(self.datadir),
                "-U", self.user,
                "--pwfile", str(pwfile),
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "-E", "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)
        self._initialized = True

    def start(self, timeout: float = 60) -> None:
        if not self._initialized:
            self._initdb()
        options = (
            f"-p {self.port} -k {self.sockdir} -c listen_addresses={self.host} "
            f"-c fsync={'on' if self.fsync else 'off'} "
            "-c full_page_writes=off -c max_connections=50"
        )
        self._run(
            "pg_ctl", "-D", str(self.datadir), "-l", str(self.logfile), "-o", options,
            "-w", "-t", str(int(timeout)), "start",
        )  # fmt: skip
        if self._initialized and not self._database_exists(self.dbname):
            self.create_database(self.dbname)

    def stop(self) -> None:
        """A clean shutdown (waits for it)."""
        if self.running:
            self._run("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop")

    def kill(self) -> None:
        """Kill the server the way a crash would: SIGKILL to the postmaster and its children."""
        pid = self.pid
        if pid is None:
            return
        children = subprocess.run(
            ["pgrep", "-P", str(pid)], capture_output=True, text=True
        ).stdout.split()
        for target in [pid, *map(int, children)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(target, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process_alive(pid):
            time.sleep(0.05)
        # A crashed server leaves postmaster.pid behind; the server treats it as stale unless
        # the pid still exists, and where nobody reaps orphans (some container inits) the dead
        # postmaster stays a zombie with that pid. It is dead either way: drop the lock file.
        if not process_alive(pid):
            for lock in [self.datadir / "postmaster.pid", *self.sockdir.glob(".s.PGSQL.*.lock")]:
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        with contextlib.suppress(PostgresUnavailable):
            self.stop()
        if self.running:
            self.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    # --- state -----------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        pidfile = self.datadir / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        return pid if process_alive(pid) else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    # --- addresses ---------------------------------------------------------------------------

    def url_for(self, dbname: str | None = None, password: str | None = None) -> str:
        secret = quote(self.password if password is None else password, safe="")
        return f"postgresql://{self.user}:{secret}@{self.host}:{self.port}/{dbname or self.dbname}"

    @property
    def url(self) -> str:
        return self.url_for()

    def url_with_password(self, password: str) -> str:
        """The same server and database with another (e.g. a wrong) password."""
        return self.url_for(password=password)

    # --- databases ---------------------------------------------------------------------------

    def _database_exists(self, name: str) -> bool:
        with psycopg.connect(self.url_for("postgres"), autocommit=True) as conn:
            return bool(
                conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            )

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (a fresh name unless given) and return its URL."""
        name = name or f"test_{secrets.token_hex(6)}"
        with psycopg.connect(self.url_for("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.url_for("postgres"), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
