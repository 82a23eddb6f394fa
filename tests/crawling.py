"""Run ``scrapy crawl`` as a user would, in a subprocess, against a local server."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRAPY = [sys.executable, "-m", "scrapy"]

#: The replica is on loopback: the live site's politeness delays would only slow tests down.
FAST = {
    "DOWNLOAD_DELAY": "0",
    "AUTOTHROTTLE_ENABLED": "False",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "8",
    "RETRY_TIMES": "2",
    # Retries wait (newsarchive.middlewares.resilience): a blink here, seconds on the live site.
    "NEWSARCHIVE_RETRY_BACKOFF_BASE": "0.05",
    "NEWSARCHIVE_RETRY_BACKOFF_MAX": "0.5",
    "NEWSARCHIVE_RETRY_AFTER_MAX": "1",
    "LOG_LEVEL": "INFO",
}


@dataclass
class CrawlResult:
    returncode: int
    log: str
    items: list[dict]
    summary: dict | None


def after_this_second() -> None:
    """Wait until the clock has entered the next whole second. The archive records sightings
    and 404/410 answers to the second (a capture's WARC-Date), and two crawls of the replica
    can be under a second apart. So a test that expects a re-crawl to be seen after the crawl
    before it (a later ``last_seen_at``, an edit first seen after the last sighting, a
    deletion recorded only when answered after the last sighting) re-crawls in a later
    second."""
    now = time.time()
    time.sleep(1 - (now % 1) + 0.01)


def read_jsonl(path: Path) -> list[dict]:
    """The items of a JSON Lines feed, gzip-compressed (``.gz``) or not."""
    if not path.exists():
        return []
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def crawl(
    data_dir: Path,
    *arguments: str,
    spider: str = "naenara",
    settings: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 240,
) -> CrawlResult:
    """``scrapy crawl <spider> -a k=v … -O data_dir/out.jsonl`` with FAST settings."""
    output = data_dir / "out.jsonl"
    output.unlink(missing_ok=True)
    command = [*SCRAPY, "crawl", spider, "-O", f"{output}:jsonlines"]
    for argument in arguments:
        command += ["-a", argument]
    for name, value in {**FAST, "NEWSARCHIVE_DATA_DIR": str(data_dir), **(settings or {})}.items():
        command += ["-s", f"{name}={value}"]
    # A database URL in the developer's shell must not leak into a feeds-only test.
    process_env = {k: v for k, v in os.environ.items() if k != "NEWSARCHIVE_DATABASE_URL"}
    process_env.update(env or {})
    finished = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=process_env
    )
    summaries = sorted((data_dir / "runs" / spider).glob("*.json"), key=lambda p: p.stat().st_mtime)
    summary = json.loads(summaries[-1].read_text(encoding="utf-8")) if summaries else None
    return CrawlResult(
        finished.returncode, finished.stderr + finished.stdout, read_jsonl(output), summary
    )


def crawl_listing_modules(
    tmp_path: Path, start_url: str, roots: tuple[str, ...], **settings: str
) -> tuple[subprocess.CompletedProcess, Path]:
    """A static crawl from ``start_url`` whose process prints, as the last line at its exit,
    the imported modules under ``roots`` (``imported: [...]``, see ``scrapy_modules``)."""
    output = tmp_path / "out.jsonl"
    line = ["crawl", "naenara", f"-astart_url={start_url}", "-O", f"{output}:jsonlines"]
    for name, value in {**FAST, "NEWSARCHIVE_DATA_DIR": str(tmp_path), **settings}.items():
        line += ["-s", f"{name}={value}"]
    return scrapy_modules(line, roots), output


def scrapy_modules(arguments: list[str], roots: tuple[str, ...]) -> subprocess.CompletedProcess:
    """``scrapy <arguments>`` in a process that prints, as the last line at its exit, the
    imported modules that are one of ``roots`` or under one (``imported: [...]``): start-up
    cost checked in the command's process itself."""
    probe = (
        "import atexit, runpy, sys\n"
        f"roots = {roots!r}\n"
        "atexit.register(lambda: print('imported:', sorted(m for m in sys.modules"
        " if any(m == r or m.startswith(r + '.') for r in roots))))\n"
        f"sys.argv = ['scrapy', *{arguments!r}]\n"
        "runpy.run_module('scrapy', run_name='__main__', alter_sys=True)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NEWSARCHIVE_DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=180,
    )  # fmt: skip
