"""Crawl throughput and memory: `scrapy crawl naenara` next to a bare spider on the same pages.

The fair baseline of issue 13, measured one way only:
- the replica exported as static files served by nginx (robots.txt as text/plain, checked);
- CONCURRENT_REQUESTS 16 and CONCURRENT_REQUESTS_PER_DOMAIN 16, no delay, no AutoThrottle;
- a fresh data folder (and working folder) for every run, so nothing carries over;
- the baseline (bench/minimal_spider.py) runs outside the project on Scrapy's own defaults,
  except the project's CONCURRENT_ITEMS=8 (Scrapy's 100 output tasks a page cost a bare
  spider a third of its CPU and would flatter whatever is compared with it);
- the sides interleaved (their order alternating), medians of >= 3 rounds;
- every module's bytecode written once first, so neither side compiles source per run.

It prints articles/s of each side (median), the median of the rounds' ratios to the baseline
(targets: >= 0.9 at 2,000 articles, >= 0.95 at 20,000), peak RSS of each side (from wait4: the
largest of the crawl process and its children, not their sum) and its growth between the
smallest and the largest size (target: within 1.1x). Extra ``--variant NAME SETTING=VALUE…``
sides run naenara with other settings in the same interleaved rounds, so a lever is measured
against the same baseline runs; ``--themes`` repeats every size on other replica themes.

    .venv/bin/python bench/bench_crawl.py [--sizes 2000 20000] [--rounds 3]
        [--themes specimen plain semantic] [--variant workers NEWSARCHIVE_EXTRACTION_WORKERS=1]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import site
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    CRAWL_SETTINGS,
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

#: The same for both sides; the project itself sets CONCURRENT_ITEMS=8, the baseline gets it
#: here so that both run the same number of output tasks per page.
SETTINGS = CRAWL_SETTINGS
BASELINE_SETTINGS = {**SETTINGS, "CONCURRENT_ITEMS": "8"}
BASELINE = "minimal"

_RESPONSES_RE = re.compile(r"'downloader/response_count': (\d+)")


def crawl_args(extra: dict[str, str] | None = None) -> list[str]:
    return setting_args({**SETTINGS, **(extra or {})})


def _environment() -> dict[str, str]:
    """The caller's environment without what would point a run at other settings or data."""
    dropped = {"SCRAPY_SETTINGS_MODULE", "SCRAPY_PROJECT", "NEWSARCHIVE_DATABASE_URL"}
    return {k: v for k, v in os.environ.items() if k not in dropped}


def crawl_naenara(start_url: str, work: Path, extra: dict[str, str]) -> tuple[Measured, Path]:
    # A fresh data folder each time: an incremental re-run would fetch nothing.
    data = Path(tempfile.mkdtemp(dir=work, prefix="data-"))
    output = data / "naenara.jsonl"
    command = [*SCRAPY, "crawl", "naenara", "-a", f"start_url={start_url}", "-O", str(output)]
    settings = crawl_args({"NEWSARCHIVE_DATA_DIR": str(data), **extra})
    return run_measured([*command, *settings], env=_environment()), output


def crawl_minimal(start_url: str, work: Path) -> Measured:
    # Run outside the project (no scrapy.cfg above a fresh folder): Scrapy's defaults apply.
    folder = Path(tempfile.mkdtemp(dir=work, prefix="minimal-"))
    spider = str(ROOT / "bench" / "minimal_spider.py")
    command = [*SCRAPY, "runspider", spider, "-a", f"start_url={start_url}"]
    command += setting_args(BASELINE_SETTINGS)
    return run_measured(command, cwd=folder, env=_environment())


def responses(measured: Measured) -> int:
    """Responses downloaded, from Scrapy's closing stats dump (both sides must agree)."""
    found = _RESPONSES_RE.findall(measured.output)
    return int(found[-1]) if found else 0


def compile_bytecode() -> None:
    """Write the bytecode of every module either side imports, once, before any round.

    ``uv`` installs without bytecode and this environment sets PYTHONDONTWRITEBYTECODE, so
    each crawl would compile every module it imports from source (about 2 s for naenara,
    which imports many more modules than the bare spider), a cost no installed deployment
    pays (pip and ``uv --compile-bytecode`` write it at install time).
    """
    folders = [*(Path(p) for p in site.getsitepackages()), ROOT / "newsarchive", ROOT / "bench"]
    folders.append(ROOT / "newsarchive_replica")
    command = [sys.executable, "-m", "compileall", "-q", "-j", "0", *map(str, folders)]
    subprocess.run(command, check=True, capture_output=True)


def check_robots_served_as_text(port: int) -> None:
    url = f"http://127.0.0.1:{port}/robots.txt"
    with urllib.request.urlopen(url, timeout=10) as answer:
        kind = answer.headers.get_content_type()
    if kind != "text/plain":
        raise SystemExit(f"bench: {url} is served as {kind}, not text/plain")


def bench_size(
    articles: int, rounds: int, work: Path, variants: dict[str, dict], theme: str = "specimen"
) -> dict:
    port = free_port()
    site = export_replica(articles, port, work, theme)
    start_url = f"http://127.0.0.1:{port}/listing/1/"
    expected = count_lines(site / "expected.jsonl")
    sides = [*variants, BASELINE]
    rates: dict[str, list[float]] = {name: [] for name in sides}
    peaks: dict[str, list[float]] = {name: [] for name in sides}
    fetched: dict[str, int] = {}
    with nginx_serving(site, port):
        check_robots_served_as_text(port)
        for round_ in range(rounds):
            order = sides if round_ % 2 == 0 else sides[::-1]
            for name in order:
                measured = _run_side(name, start_url, work, variants, expected)
                rates[name].append(expected / measured.seconds)
                peaks[name].append(measured.peak_rss_mib)
                fetched[name] = responses(measured)
            line = ", ".join(f"{name} {rates[name][-1]:.1f}/s" for name in sides)
            print(f"  {articles} articles, round {round_ + 1}: {line}", file=sys.stderr)
    shutil.rmtree(site, ignore_errors=True)
    return {
        "theme": theme,
        "articles": expected,
        "sides": {
            name: {
                "rate": statistics.median(rates[name]),
                # Each round's own ratio, then their median: a load that comes and goes
                # on the machine then hits both sides of a round alike.
                "ratio": statistics.median(
                    side / base for side, base in zip(rates[name], rates[BASELINE], strict=True)
                ),
                "peak_rss_mib": statistics.median(peaks[name]),
                "responses": fetched[name],
            }
            for name in sides
        },
    }


def _run_side(
    name: str, start_url: str, work: Path, variants: dict[str, dict], expected: int
) -> Measured:
    if name == BASELINE:
        measured = crawl_minimal(start_url, work)
        output = None
    else:
        measured, output = crawl_naenara(start_url, work, variants[name])
    if measured.returncode != 0:
        raise SystemExit(f"bench: {name} failed:\n{measured.output[-2000:]}")
    if output is not None and (got := count_lines(output)) != expected:
        raise SystemExit(f"bench: {name} archived {got} of {expected} articles")
    return measured


def report(results: list[dict], write: Callable[[str], None] = print) -> None:
    write(
        f"{'theme':>9} {'articles':>9} {'side':>12} {'articles/s':>11} {'ratio':>6}"
        f" {'peak RSS MiB':>13} {'responses':>10}"
    )
    for r in results:
        for name, side in r["sides"].items():
            write(
                f"{r['theme']:>9} {r['articles']:>9} {name:>12} {side['rate']:>11.1f}"
                f" {side['ratio']:>6.2f} {side['peak_rss_mib']:>13.1f} {side['responses']:>10}"
            )
    for theme in dict.fromkeys(r["theme"] for r in results):
        sized = [r for r in results if r["theme"] == theme]
        if len(sized) < 2:
            continue
        first, last = sized[0], sized[-1]
        for name in last["sides"]:
            growth = last["sides"][name]["peak_rss_mib"] / first["sides"][name]["peak_rss_mib"]
            sizes = f"{last['articles']} vs {first['articles']} articles"
            write(f"peak RSS growth of {name} ({theme}), {sizes}: x{growth:.2f}")


def parse_variants(given: list[list[str]] | None) -> dict[str, dict[str, str]]:
    variants: dict[str, dict[str, str]] = {"naenara": {}}
    for name, *assignments in given or []:
        if name in variants or name == BASELINE:
            raise SystemExit(f"bench: side name {name!r} is taken")
        pairs = [a.partition("=") for a in assignments]
        if any(not sep for _, sep, _ in pairs):
            raise SystemExit(f"bench: --variant {name}: settings are NAME=VALUE")
        variants[name] = {key: value for key, _, value in pairs}
    return variants


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--themes", nargs="+", default=["specimen"], help="replica themes")
    parser.add_argument(
        "--variant",
        action="append",
        nargs="+",
        metavar="NAME SETTING=VALUE",
        help="another naenara side with these settings, in the same interleaved rounds",
    )
    options = parser.parse_args()
    if options.rounds < 3:
        parser.error("--rounds: medians need at least 3 rounds")
    variants = parse_variants(options.variant)
    compile_bytecode()
    with tempfile.TemporaryDirectory(prefix="newsarchive-bench-") as tmp:
        results = [
            bench_size(size, options.rounds, Path(tmp), variants, theme)
            for theme in options.themes
            for size in options.sizes
        ]
    report(results)


if __name__ == "__main__":
    main()
