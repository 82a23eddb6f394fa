"""The demo: the whole life of the archive against the bundled offline replica of KCNA Watch.

1. A database: NEWSARCHIVE_DATABASE_URL if set, else a private PostgreSQL server started
   under the data folder (``newsarchive.pgserver``, a real server, as the tests use).
2. ``scrapy crawl naenara`` of the replica into it.
3. One edit and one deletion through the replica's ``/_replica/`` admin endpoints.
4. A re-crawl that re-checks every archived article, so both are seen.
5. ``scrapy export --format sqlite``: the snapshot, with its manifest.
6. The ``scrapy browse`` command for that snapshot (``--browse`` starts it).

Options other than ``--browse`` / ``--port`` are passed to both crawls.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gzip
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from newsarchive.pgserver import PostgresServer, PostgresUnavailable
from newsarchive.snapshot import SNAPSHOT_NAME
from newsarchive_replica.server import ReplicaServer

ROOT = Path(__file__).resolve().parents[1]
SCRAPY = str(ROOT / ".venv" / "bin" / "scrapy")
#: The replica is local: no need for the live site's politeness delays.
FAST = [
    "-s", "DOWNLOAD_DELAY=0",
    "-s", "AUTOTHROTTLE_ENABLED=False",
    "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=8",
    "-s", "RETRY_TIMES=2",
    "-s", "NEWSARCHIVE_PROGRESS_INTERVAL=2",
]  # fmt: skip
#: Re-fetch every archived article on the re-crawl (the replica's are all younger than this).
RECHECK_ALL = "recheck_days=36500"


def say(line: str) -> None:
    print(f"demo: {line}", flush=True)


def count_rows(path: Path) -> int:
    """Rows of a feed file: JSON Lines (gzip or not) count lines, CSV counts records."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as stream:
        if ".csv" in path.suffixes:
            return max(0, sum(1 for _ in csv.reader(stream)) - 1)  # minus the header
        return sum(1 for line in stream if line.strip())


def data_folder() -> Path:
    configured = os.environ.get("NEWSARCHIVE_DATA_DIR")
    return Path(configured).expanduser().resolve() if configured else ROOT / "data"


@contextlib.contextmanager
def database(data: Path) -> Iterator[str]:
    """NEWSARCHIVE_DATABASE_URL, or a private server under ``data`` for the demo's length."""
    configured = os.environ.get("NEWSARCHIVE_DATABASE_URL", "").strip()
    if configured:
        say("using the database of NEWSARCHIVE_DATABASE_URL")
        yield configured
        return
    root = data / "demo-postgres"
    shutil.rmtree(root, ignore_errors=True)  # the previous demo's cluster (it was stopped)
    data.mkdir(parents=True, exist_ok=True)
    with PostgresServer(root=root) as server:
        say(
            f"private PostgreSQL {server.bindir.parent.name} on 127.0.0.1:{server.port}, "
            f"in {server.root}"
        )
        yield server.url


def run_scrapy(url: str, *arguments: str) -> int:
    command = [SCRAPY, *arguments]
    shown = " ".join(
        "start_url=<replica>" if a.startswith("start_url=") else a for a in command[1:]
    )
    say(f"scrapy {shown}")
    env = {**os.environ, "NEWSARCHIVE_DATABASE_URL": url}
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode


def admin(replica: ReplicaServer, action: str, **params: str) -> dict:
    """POST to the replica's admin endpoint ``/_replica/<action>``."""
    request = urllib.request.Request(
        f"{replica.base_url}/_replica/{action}?{urlencode(params)}", data=b"", method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def expected_ids(replica: ReplicaServer) -> list[str]:
    with urllib.request.urlopen(f"{replica.base_url}/_replica/expected?stream=naenara") as answer:
        return [json.loads(line)["article_id"] for line in answer.read().decode().splitlines()]


def report_feeds(data: Path) -> None:
    runs = sorted((data / "runs" / "naenara").glob("*.json"), key=lambda p: p.stat().st_mtime)
    if not runs:
        return
    summary = json.loads(runs[-1].read_text(encoding="utf-8"))
    # feed_files: the files the run wrote (batches, gzip); feeds: their templates.
    for feed in summary.get("feed_files") or summary["feeds"]:
        path = Path(feed)
        if path.exists():
            say(f"feed {path} holds {count_rows(path)} articles")
    say(f"run summary {runs[-1]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--browse", action="store_true", help="start scrapy browse at the end")
    parser.add_argument("--port", default="8001", help="scrapy browse's port (default 8001)")
    options, crawl_options = parser.parse_known_args()
    data = data_folder()
    snapshot_folder = data / "exports" / f"demo-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    try:
        with database(data) as url, ReplicaServer() as replica:
            say(f"offline replica of KCNA Watch at {replica.base_url}")
            if run_scrapy(url, "dbmigrate") != 0:
                return 1
            start = ["-a", f"start_url={replica.start_url('naenara', 'listing')}", *FAST]
            if run_scrapy(url, "crawl", "naenara", *start, *crawl_options) != 0:
                return 1
            report_feeds(data)
            edited, deleted = expected_ids(replica)[:2]
            admin(replica, "edit", article_id=edited)
            admin(replica, "delete", article_id=deleted, status="410")
            say(f"the replica edited {edited} and deleted {deleted} (410)")
            again = ["-a", RECHECK_ALL, *crawl_options]
            if run_scrapy(url, "crawl", "naenara", *start, *again) != 0:
                return 1
            report_feeds(data)
            exported = ["export", "--format", "sqlite", "--output", str(snapshot_folder)]
            if run_scrapy(url, *exported) != 0:
                return 1
    except PostgresUnavailable as exc:
        print(f"demo: error: cannot start a private PostgreSQL: {exc}", file=sys.stderr)
        return 1
    snapshot = snapshot_folder / SNAPSHOT_NAME
    browse = [SCRAPY, "browse", "--file", str(snapshot), "--port", options.port]
    say(f"snapshot {snapshot} (manifest {snapshot_folder / 'manifest.json'})")
    if not options.browse:
        say("explore it in a browser: " + " ".join(browse))
        return 0
    return subprocess.run(browse, cwd=ROOT, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
