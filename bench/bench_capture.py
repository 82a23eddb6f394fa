"""Raw capture's cost: `scrapy crawl naenara` with capture on (the default) and off.

Both sides crawl the same static replica export served by nginx, with the same settings, a
fresh data folder every round, interleaved; the figures that matter are ratios (target: on
at least 0.9x as fast as off) and the peak RSS of the capture run at two stream sizes (target:
within 1.1x from 2,000 to 20,000 articles). Two rates are given for "on": the whole run as a
user waits for it (WACZ packaging after the crawl included) and the crawl alone (Scrapy's
``elapsed_time_seconds``, which ends before packaging). Peak RSS comes from wait4, so it
covers the packaging subprocess too (the larger of the two).

    .venv/bin/python bench/bench_capture.py [--sizes 2000 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    CRAWL_SETTINGS,
    SCRAPY,
    count_lines,
    export_replica,
    free_port,
    nginx_serving,
    run_measured,
    setting_args,
)

SETTINGS = CRAWL_SETTINGS
SIDES = {"on": "True", "off": "False"}
_ELAPSED = re.compile(r"'elapsed_time_seconds': ([0-9.]+)")


@dataclass
class Round:
    seconds: float  # the whole process
    crawl_seconds: float  # Scrapy's elapsed_time_seconds: the crawl without packaging
    peak_rss_mib: float


def crawl(start_url: str, work: Path, capture: str, expected: int) -> Round:
    data = Path(tempfile.mkdtemp(dir=work, prefix=f"data-{capture}-"))
    output = data / "out.jsonl"
    command = [*SCRAPY, "crawl", "naenara", "-a", f"start_url={start_url}", "-O", str(output)]
    settings = {**SETTINGS, "NEWSARCHIVE_DATA_DIR": str(data), "NEWSARCHIVE_WARC_ENABLED": capture}
    measured = run_measured([*command, *setting_args(settings)])
    if measured.returncode != 0:
        raise SystemExit(f"bench: capture={capture} failed:\n{measured.output[-2000:]}")
    if (got := count_lines(output)) != expected:
        raise SystemExit(f"bench: capture={capture} archived {got} of {expected} articles")
    if capture == "True" and not list((data / "warc" / "naenara").glob("*.wacz")):
        raise SystemExit(f"bench: no WACZ written:\n{measured.output[-2000:]}")
    elapsed = _ELAPSED.search(measured.output)
    shutil.rmtree(data, ignore_errors=True)
    return Round(
        measured.seconds, float(elapsed[1]) if elapsed else measured.seconds,
        measured.peak_rss_mib,
    )  # fmt: skip


def bench_size(articles: int, rounds: int, work: Path) -> dict:
    port = free_port()
    site = export_replica(articles, port, work)
    start_url = f"http://127.0.0.1:{port}/listing/1/"
    expected = count_lines(site / "expected.jsonl")
    runs: dict[str, list[Round]] = {side: [] for side in SIDES}
    with nginx_serving(site, port):
        for _ in range(rounds):
            for side, value in SIDES.items():
                runs[side].append(crawl(start_url, work, value, expected))
    shutil.rmtree(site, ignore_errors=True)
    on, off = runs["on"], runs["off"]
    return {
        "articles": expected,
        "off_rate": statistics.median(expected / r.seconds for r in off),
        "on_rate": statistics.median(expected / r.seconds for r in on),
        # each round's own ratio, then the median: rounds share the machine's load of the time
        "ratio": statistics.median(b.seconds / a.seconds for a, b in zip(on, off, strict=True)),
        "crawl_ratio": statistics.median(
            b.crawl_seconds / a.crawl_seconds for a, b in zip(on, off, strict=True)
        ),
        "on_peak_rss_mib": max(r.peak_rss_mib for r in on),
        "off_peak_rss_mib": max(r.peak_rss_mib for r in off),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="newsarchive-bench-capture-") as tmp:
        results = [bench_size(size, options.rounds, Path(tmp)) for size in options.sizes]
    print(f"{'articles':>9} {'off/s':>8} {'on/s':>8} {'ratio':>6} {'crawl ratio':>12}"
          f" {'on peak MiB':>12} {'off peak MiB':>13}")  # fmt: skip
    for r in results:
        print(
            f"{r['articles']:>9} {r['off_rate']:>8.1f} {r['on_rate']:>8.1f} {r['ratio']:>6.2f}"
            f" {r['crawl_ratio']:>12.2f} {r['on_peak_rss_mib']:>12.1f}"
            f" {r['off_peak_rss_mib']:>13.1f}"
        )
    if len(results) > 1:
        growth = results[-1]["on_peak_rss_mib"] / results[0]["on_peak_rss_mib"]
        sizes = f"{results[-1]['articles']} vs {results[0]['articles']} articles"
        print(f"capture on, peak RSS at {sizes}: x{growth:.2f}")


if __name__ == "__main__":
    main()
