"""A real Scrapyd for integration tests: the production deploy/scrapyd.conf, on loopback.

Why a real one: what can go wrong in production is between the pieces — the egg
``scrapyd-deploy`` builds from our pyproject, the environment a job inherits, the arguments
Scrapyd adds to every job (``_job``), basic auth — and a fake would only agree with us.

The server runs ``python -m scrapyd`` from a temporary folder holding a copy of
``deploy/scrapyd.conf`` (so its relative ``logs``, ``dbs``, ``eggs`` land there), with the
port (``SCRAPYD_HTTP_PORT``) and credentials (``SCRAPYD_USERNAME``/``SCRAPYD_PASSWORD``) in
its environment, as in production. The only test-only override is a shorter
``poll_interval``, in ``$HOME/.scrapyd.conf`` of a private HOME, which Scrapyd reads after
its working folder's file.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

from tests.services import free_port

ROOT = Path(__file__).resolve().parents[1]
DEPLOY_CONF = ROOT / "deploy" / "scrapyd.conf"
DEPLOY_UNIT = ROOT / "deploy" / "scrapyd.service"


def unit_environment(unit: Path = DEPLOY_UNIT) -> dict[str, str]:
    """The ``Environment=`` assignments of the shipped systemd unit, so the test server runs
    its jobs as production does."""
    env = {}
    for line in unit.read_text().splitlines():
        if line.startswith("Environment="):
            name, _, value = line.removeprefix("Environment=").strip('"').partition("=")
            env[name] = value
    return env


PROJECT = "newsarchive"


class ScrapydUnavailable(RuntimeError):
    """Scrapyd could not be started here; the message says why (with its log's tail)."""


class ScrapydServer:
    """``start()``/``stop()`` (or ``with``); ``api()`` calls the JSON API with credentials."""

    def __init__(self, root: Path, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.workdir = root / "scrapyd"
        self.home = root / "home"
        self.username = "scheduler"
        self.password = "pw-" + secrets.token_urlsafe(12)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.extra_env = env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.logfile = root / "scrapyd.out"

    # --- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> ScrapydServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def environment(self) -> dict[str, str]:
        """What the server (and so every job it starts) runs with."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SCRAPYD_", "SCRAPY_"))}
        env.pop("NEWSARCHIVE_DATABASE_URL", None)
        env.update(
            HOME=str(self.home),
            SCRAPYD_HTTP_PORT=str(self.port),
            SCRAPYD_USERNAME=self.username,
            SCRAPYD_PASSWORD=self.password,
            PYTHONUNBUFFERED="1",
        )
        env.update(unit_environment())
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 30.0) -> None:
        try:
            import scrapyd  # noqa: F401
        except ImportError as exc:
            raise ScrapydUnavailable(f"scrapyd is not installed: {exc}") from None
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(parents=True, exist_ok=True)
        shutil.copy(DEPLOY_CONF, self.workdir / "scrapyd.conf")
        (self.home / ".scrapyd.conf").write_text("[scrapyd]\npoll_interval = 0.2\n")
        with self.logfile.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "scrapyd"],
                cwd=self.workdir,
                env=self.environment,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ScrapydUnavailable(
                    f"scrapyd exited with status {self.process.returncode}: {self.log_tail()}"
                )
            with contextlib.suppress(OSError, ValueError):
                if self.api("daemonstatus.json").get("status") == "ok":
                    return
            time.sleep(0.1)
        self.stop()
        raise ScrapydUnavailable(f"scrapyd did not answer within {timeout:.0f}s: {self.log_tail()}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()  # twistd stops its jobs (SIGTERM each) and exits
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        return ""

    # --- API -----------------------------------------------------------------------------------

    def api(
        self,
        name: str,
        params: dict[str, str] | list[tuple[str, str]] | None = None,
        post: bool = False,
        auth: bool = True,
    ) -> dict[str, Any]:
        """The JSON answer; HTTPError for a non-2xx status."""
        query = urlencode(params or {})
        url = self.url + name + ("" if post or not query else "?" + query)
        request = Request(url, data=query.encode() if post else None)
        if auth:
            token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        with urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def status_without_auth(self, name: str = "daemonstatus.json") -> int:
        try:
            with urlopen(self.url + name, timeout=10) as response:
                return response.status
        except HTTPError as exc:
            return exc.code
        except URLError:
            return 0

    def wait_for_job(self, jobid: str, timeout: float = 120.0) -> dict[str, Any]:
        """The finished job's entry in listjobs.json; TimeoutError with the log's tail."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            jobs = self.api("listjobs.json", {"project": PROJECT})
            for job in jobs.get("finished", []):
                if job["id"] == jobid:
                    return job
            time.sleep(0.2)
        raise TimeoutError(f"job {jobid} did not finish in {timeout:.0f}s: {self.job_log(jobid)}")

    def job_log(self, jobid: str, spider: str = "naenara") -> str:
        path = self.workdir / "logs" / PROJECT / spider / f"{jobid}.log"
        with contextlib.suppress(OSError):
            return path.read_text(errors="replace")
        return f"(no log at {path})"

    def write_netrc(self) -> Path:
        """``$HOME/.netrc`` with our credentials, as an operator would set up scrapyd-deploy."""
        path = self.home / ".netrc"
        path.write_text(f"machine 127.0.0.1 login {self.username} password {self.password}\n")
        path.chmod(0o600)
        return path


def copy_project(destination: Path) -> Path:
    """The files ``scrapyd-deploy`` packages, copied so its build (setup.py, build/,
    *.egg-info) never touches the working tree other people are editing."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in ("scrapy.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, destination / name)
    shutil.copytree(
        ROOT / "newsarchive",
        destination / "newsarchive",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    return destination


def deploy(
    project_dir: Path, server: ScrapydServer, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """``scrapyd-deploy -d`` (debug: keeps the built egg) from ``project_dir``."""
    command = [str(Path(sys.executable).with_name("scrapyd-deploy")), "-d", "-v", "r1"]
    return subprocess.run(
        command, cwd=project_dir, env=env, capture_output=True, text=True, timeout=180
    )
