"""The demo: crawl the bundled replica end to end, as a user would run the spider."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from newsarchive.replica.server import ReplicaServer

ROOT = Path(__file__).resolve().parents[1]


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
    runs = sorted((ROOT / "data" / "runs" / "naenara").glob("*.json"), key=lambda p: p.stat().st_mtime)
    if not runs:
        print("demo: the crawl wrote no run summary", file=sys.stderr)
        return finished.returncode or 1
    summary = json.loads(runs[-1].read_text(encoding="utf-8"))
    for feed in summary["feeds"]:
        path = Path(feed)
        if path.exists():
            with path.open(encoding="utf-8") as lines:
                count = sum(1 for _ in lines)
            print(f"demo: feed {path} holds {count} articles")
    print(f"demo: run summary {runs[-1]}")
    return finished.returncode


if __name__ == "__main__":
    sys.exit(main())
