"""The demo: crawl the bundled replica end to end, as a user would run the spider."""

from __future__ import annotations

import csv
import gzip
import json
import subprocess
import sys
from pathlib import Path

from newsarchive_replica.server import ReplicaServer

ROOT = Path(__file__).resolve().parents[1]


def count_rows(path: Path) -> int:
    """Rows of a feed file: JSON Lines (gzip or not) count lines, CSV counts records."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as stream:
        if ".csv" in path.suffixes:
            return max(0, sum(1 for _ in csv.reader(stream)) - 1)  # minus the header
        return sum(1 for line in stream if line.strip())


def main() -> int:
    with ReplicaServer() as replica:
        start_url = replica.start_url("naenara", "listing")
        print(f"demo: offline replica of KCNA Watch at {replica.base_url}", flush=True)
        command = [
            str(ROOT / ".venv" / "bin" / "scrapy"),
            "crawl",
            "naenara",
            "-a",
            f"start_url={start_url}",
            # The replica is local: no need for the live site's politeness delays.
            "-s",
            "DOWNLOAD_DELAY=0",
            "-s",
            "AUTOTHROTTLE_ENABLED=False",
            "-s",
            "CONCURRENT_REQUESTS_PER_DOMAIN=8",
            "-s",
            "RETRY_TIMES=2",
            "-s",
            "NEWSARCHIVE_PROGRESS_INTERVAL=2",
            *sys.argv[1:],
        ]
        print("demo: " + " ".join(command[1:]), flush=True)
        finished = subprocess.run(command, cwd=ROOT, check=False)
    runs = sorted(
        (ROOT / "data" / "runs" / "naenara").glob("*.json"), key=lambda p: p.stat().st_mtime
    )
    if not runs:
        print("demo: the crawl wrote no run summary", file=sys.stderr)
        return finished.returncode or 1
    summary = json.loads(runs[-1].read_text(encoding="utf-8"))
    # feed_files: the files the run wrote (batches, gzip); feeds: their templates.
    for feed in summary.get("feed_files") or summary["feeds"]:
        path = Path(feed)
        if path.exists():
            print(f"demo: feed {path} holds {count_rows(path)} articles")
    if summary.get("manifest"):
        print(f"demo: manifest (files, rows, sha256) {summary['manifest']}")
    print(f"demo: run summary {runs[-1]}")
    return finished.returncode


if __name__ == "__main__":
    sys.exit(main())
