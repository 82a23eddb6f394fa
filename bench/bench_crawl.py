"""Crawl throughput and memory: `scrapy crawl naenara` next to a spider that extracts nothing.

Both crawl the same static replica export served by nginx (so the server is never the
bottleneck), with the same concurrency, interleaved in one run; the figure that matters is
the ratio of their article rates (target >= 0.8), since absolute rates vary with the machine.
Peak RSS of `naenara` at two stream sizes shows memory does not grow with the article count.

    .venv/bin/python bench/bench_crawl.py [--sizes 2000 20000] [--rounds 2]
        [--themes specimen plain semantic]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    FAST_CRAWL_SETTINGS,
    ROOT,
    SCRAPY,
    Measured,
    count_lines,
    export_replica,
    free_port,
    nginx_serving,
    run_measured,
    setting_args,
)

#: The same for both spiders.
SETTINGS = {**FAST_CRAWL_SETTINGS, "ROBOTSTXT_OBEY": "True"}


def crawl_args(extra: dict[str, str] | None = None) -> list[str]:
    return setting_args({**SETTINGS, **(extra or {})})


def crawl_naenara(start_url: str, work: Path) -> Measured:
    # A fresh data folder each time: an incremental re-run would fetch nothing.
    data = Path(tempfile.mkdtemp(dir=work, prefix="data-"))
    output = work / "naenara.jsonl"
    command = [*SCRAPY, "crawl", "naenara", "-a", f"start_url={start_url}", "-O", str(output)]
    return run_measured([*command, *crawl_args({"NEWSARCHIVE_DATA_DIR": str(data)})])


def crawl_minimal(start_url: str, work: Path) -> Measured:
    # Run outside the project so only Scrapy's defaults apply to the baseline.
    spider = str(ROOT / "bench" / "minimal_spider.py")
    command = [*SCRAPY, "runspider", spider, "-a", f"start_url={start_url}"]
    return run_measured([*command, *crawl_args()], cwd=work)


def bench_size(articles: int, rounds: int, work: Path, theme: str = "specimen") -> dict:
    port = free_port()
    site = export_replica(articles, port, work, theme)
    start_url = f"http://127.0.0.1:{port}/listing/1/"
    expected = count_lines(site / "expected.jsonl")
    rates: dict[str, list[float]] = {"naenara": [], "minimal": []}
    peaks: list[float] = []
    with nginx_serving(site, port):
        for _ in range(rounds):
            for name, runner in (("naenara", crawl_naenara), ("minimal", crawl_minimal)):
                measured = runner(start_url, work)
                if measured.returncode != 0:
                    raise SystemExit(f"bench: {name} failed:\n{measured.output[-2000:]}")
                rates[name].append(expected / measured.seconds)
                if name == "naenara":
                    got = count_lines(work / "naenara.jsonl")
                    if got != expected:
                        raise SystemExit(f"bench: naenara archived {got} of {expected} articles")
                    peaks.append(measured.peak_rss_mib)
    shutil.rmtree(site, ignore_errors=True)
    return {
        "theme": theme,
        "articles": expected,
        "naenara_rate": statistics.median(rates["naenara"]),
        "minimal_rate": statistics.median(rates["minimal"]),
        "ratio": statistics.median(rates["naenara"]) / statistics.median(rates["minimal"]),
        "naenara_peak_rss_mib": max(peaks),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--themes", nargs="+", default=["specimen"], help="replica themes")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="newsarchive-bench-") as tmp:
        results = [
            bench_size(size, options.rounds, Path(tmp), theme)
            for size in options.sizes
            for theme in options.themes
        ]
    print(
        f"{'theme':>9} {'articles':>9} {'naenara/s':>10} {'minimal/s':>10} {'ratio':>6}"
        f" {'peak RSS MiB':>13}"
    )
    for r in results:
        print(
            f"{r['theme']:>9} {r['articles']:>9} {r['naenara_rate']:>10.1f}"
            f" {r['minimal_rate']:>10.1f}"
            f" {r['ratio']:>6.2f} {r['naenara_peak_rss_mib']:>13.1f}"
        )
    if len(options.sizes) > 1:
        growth = results[-1]["naenara_peak_rss_mib"] / results[0]["naenara_peak_rss_mib"]
        sizes = f"{results[-1]['articles']} vs {results[0]['articles']} articles"
        print(f"peak RSS at {sizes}: x{growth:.2f}")


if __name__ == "__main__":
    main()
