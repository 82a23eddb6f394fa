"""What a listing that only a browser can page costs: the scripted crawl next to the static one.

One replica, one run of each: the same stream served with linked listing pages, then with
"More Articles" driven by a script (``&scripted=1``), which the spider renders in Chromium and
clicks while it fetches the articles over plain HTTP. Both must archive the same items.
Memory is the crawl process's peak RSS and Scrapy's ``memusage/max``, which with
scrapy-playwright's extension adds the Playwright driver's and Chromium's resident memory.

    .venv/bin/python bench/bench_render.py [--articles 1000]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import FAST_CRAWL_SETTINGS, SCRAPY, Measured, run_measured, setting_args

from newsarchive.items import PER_RUN_FIELDS
from newsarchive_replica.server import ReplicaServer

#: As bench_crawl.py: no politeness delays against a local server, 16 in flight; memory
#: sampled every second so a short run still records its peak.
SETTINGS = {**FAST_CRAWL_SETTINGS, "MEMUSAGE_CHECK_INTERVAL_SECONDS": "1"}


def crawl(start_url: str, work: Path, name: str) -> tuple[Measured, list[dict]]:
    output = work / f"{name}.jsonl"
    command = [*SCRAPY, "crawl", "naenara", "-a", f"start_url={start_url}", "-O", str(output)]
    command += setting_args({**SETTINGS, "NEWSARCHIVE_DATA_DIR": str(work / name)})
    measured = run_measured(command)
    if measured.returncode != 0:
        raise SystemExit(f"bench: the {name} crawl failed:\n{measured.output[-3000:]}")
    items = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    for item in items:
        for field in PER_RUN_FIELDS:
            item.pop(field, None)
    return measured, sorted(items, key=lambda item: item["article_id"])


def stat(output: str, name: str) -> int:
    match = re.search(rf"'{re.escape(name)}': (\d+)", output)
    return int(match.group(1)) if match else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=1000, help="articles in the stream")
    options = parser.parse_args()
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="newsarchive-bench-") as tmp,
        ReplicaServer(naenara_articles=options.articles) as site,
    ):
        expected = site.expected("naenara")
        pages = site.stream("naenara").page_count()
        for name, scripted in (("static", False), ("scripted", True)):
            site.reset_faults()
            site.reset_log()
            url = site.start_url("naenara", "listing", scripted=scripted)
            measured, items = crawl(url, Path(tmp), name)
            if items != expected:
                raise SystemExit(
                    f"bench: the {name} crawl archived {len(items)} items, not the "
                    f"{len(expected)} expected ones"
                )
            ajax = sum(1 for r in site.requests if r["path"] == "/wp-admin/admin-ajax.php")
            rows.append((name, measured, ajax))
    print(f"replica: {len(expected)} articles in {pages} listing pages; one run each\n")
    print(
        f"{'crawl':<9} {'seconds':>8} {'articles/s':>11} {'clicks':>7} {'pages in browser':>17}"
        f" {'peak RSS MiB':>13} {'memusage/max MiB':>17}"
    )
    for name, measured, ajax in rows:
        print(
            f"{name:<9} {measured.seconds:>8.1f} {len(expected) / measured.seconds:>11.1f}"
            f" {ajax:>7} {stat(measured.output, 'playwright/page_count'):>17}"
            f" {measured.peak_rss_mib:>13.1f}"
            f" {stat(measured.output, 'memusage/max') / 2**20:>17.1f}"
        )
    static, scripted = rows[0][1], rows[1][1]
    print(f"\nscripted / static time: x{scripted.seconds / static.seconds:.2f}")


if __name__ == "__main__":
    main()
