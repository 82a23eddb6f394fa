"""Helpers shared by the benchmarks: free ports, nginx, child processes with peak memory."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRAPY = [sys.executable, "-m", "scrapy"]


#: For every crawl benchmark: no politeness delays against a local server, 16 in flight.
FAST_CRAWL_SETTINGS = {
    "DOWNLOAD_DELAY": "0",
    "AUTOTHROTTLE_ENABLED": "False",
    "CONCURRENT_REQUESTS": "16",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "16",
    "LOG_LEVEL": "INFO",
}
#: The crawl benchmarks' sides: as above, robots.txt read like the live site's.
CRAWL_SETTINGS = {**FAST_CRAWL_SETTINGS, "ROBOTSTXT_OBEY": "True"}


def setting_args(settings: dict[str, str]) -> list[str]:
    """``-s NAME=value`` arguments for scrapy."""
    args: list[str] = []
    for name, value in settings.items():
        args += ["-s", f"{name}={value}"]
    return args


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@dataclass
class Measured:
    seconds: float
    peak_rss_mib: float
    returncode: int
    output: str


def run_measured(command: list[str], cwd: Path = ROOT, env: dict | None = None) -> Measured:
    """Run a command to its end; wall time and that child's own peak RSS (from wait4)."""
    with tempfile.TemporaryFile("w+") as log:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=log, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4 already
        log.seek(0)
        output = log.read()
    return Measured(seconds, usage.ru_maxrss / 1024, process.returncode, output)


@contextmanager
def nginx_serving(site_dir: Path, port: int):
    """nginx (Debian's) serving a static replica export, as this user, until the block ends."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise SystemExit("bench: nginx is not installed (scripts/bootstrap installs it as root)")
    process = subprocess.Popen(
        [nginx, "-c", str(site_dir / "nginx.conf"), "-p", str(site_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port)
        yield
    finally:
        process.terminate()
        process.wait(10)


def count_lines(path: Path) -> int:
    with path.open(encoding="utf-8") as lines:
        return sum(1 for _ in lines)


def export_replica(articles: int, port: int, work: Path, theme: str = "specimen") -> Path:
    """A static replica export of ``articles`` Naenara articles in ``theme`` for nginx on
    ``port``; in a child process, because a child's peak RSS counts from its parent's and the
    parent must stay small."""
    site = work / f"site-{theme}-{articles}"
    command = [sys.executable, "-m", "newsarchive_replica.cli", "export", str(site)]
    options = [f"--base-url=http://127.0.0.1:{port}", f"--naenara-articles={articles}"]
    options.append(f"--theme={theme}")
    subprocess.run([*command, *options], check=True, capture_output=True, cwd=ROOT)
    return site
