"""Raw capture's cost: `scrapy crawl naenara` with capture on (the default) and off.

Both sides crawl the same static replica export served by nginx, with the same settings, a
fresh data folder every round, interleaved (the order alternates between rounds). Targets:
capture on at least 0.9x as fast as off for the whole run as a user waits for it (WACZ
packaging included), and the run's peak RSS within 1.1x from 2,000 to 20,000 articles.

Besides the wall ratios, each side reports CPU seconds per 1,000 responses, split into the
crawl's own process (where capture competes with the reactor) and its child processes (the
capture recorder, which writes the WARC files, indexes and packages them on another core).
Those are the figures that stay comparable when other work shares the machine; each round's
load average is printed beside it. Peak RSS is given for the crawl process and for its
largest child separately (``getrusage`` in the crawl process itself, at exit).

    .venv/bin/python bench/bench_capture.py [--sizes 2000 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_crawl import compile_bytecode
from common import (
    CRAWL_SETTINGS,
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
_RESPONSES = re.compile(r"'downloader/response_count': (\d+)")
_USAGE = re.compile(r"bench-usage self_cpu=([0-9.]+) self_rss_kib=(\d+) children_cpu=([0-9.]+) "
                    r"children_rss_kib=(\d+)")  # fmt: skip
_RECORDER = re.compile(r"Recorder process: [0-9.]+ s of CPU, peak RSS ([0-9.]+) MiB; the crawl "
                       r"waited ([0-9.]+) s")  # fmt: skip
#: `scrapy` run so that the crawl process reports its own CPU time and peak RSS, and its
#: children's CPU, as it exits (wait4 in the parent would lump the two together; a child's
#: peak RSS from getrusage counts the memory of the crawl it was forked from, so the
#: recorder's own peak comes from its log line).
SCRAPY_MEASURED = [
    sys.executable, "-c",
    "import atexit, resource, sys\n"
    "def usage():\n"
    "    own, kids = resource.getrusage(resource.RUSAGE_SELF), "
    "resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "    sys.stderr.write(f'bench-usage self_cpu={own.ru_utime + own.ru_stime:.3f} "
    "self_rss_kib={own.ru_maxrss} children_cpu={kids.ru_utime + kids.ru_stime:.3f} "
    "children_rss_kib={kids.ru_maxrss}\\n')\n"
    "atexit.register(usage)\n"
    "sys.argv[0] = 'scrapy'\n"
    "from scrapy.cmdline import execute\n"
    "execute()\n",
]  # fmt: skip


@dataclass
class Round:
    seconds: float  # the whole process, as a user waits for it
    crawl_seconds: float  # Scrapy's elapsed_time_seconds: the crawl without packaging
    responses: int
    main_cpu: float  # CPU seconds of the crawl process (all its threads)
    child_cpu: float  # CPU seconds of its child processes (the capture recorder)
    main_rss_mib: float
    child_rss_mib: float  # the recorder's own peak (VmHWM), as it logs it
    end_wait: float  # seconds the crawl waited for the recorder once the crawl was done
    load: float  # 1-minute load average as the round ended

    @property
    def peak_rss_mib(self) -> float:
        return max(self.main_rss_mib, self.child_rss_mib)


def _environment() -> dict[str, str]:
    dropped = {"SCRAPY_SETTINGS_MODULE", "SCRAPY_PROJECT", "NEWSARCHIVE_DATABASE_URL"}
    return {k: v for k, v in os.environ.items() if k not in dropped}


def crawl(start_url: str, work: Path, capture: str, expected: int) -> Round:
    data = Path(tempfile.mkdtemp(dir=work, prefix=f"data-{capture}-"))
    output = data / "out.jsonl"
    command = [*SCRAPY_MEASURED, "crawl", "naenara", "-a", f"start_url={start_url}"]
    command += ["-O", str(output)]
    settings = {**SETTINGS, "NEWSARCHIVE_DATA_DIR": str(data), "NEWSARCHIVE_WARC_ENABLED": capture}
    measured = run_measured([*command, *setting_args(settings)], env=_environment())
    if measured.returncode != 0:
        raise SystemExit(f"bench: capture={capture} failed:\n{measured.output[-2000:]}")
    if (got := count_lines(output)) != expected:
        raise SystemExit(f"bench: capture={capture} archived {got} of {expected} articles")
    if capture == "True" and not list((data / "warc" / "naenara").glob("*.wacz")):
        raise SystemExit(f"bench: no WACZ written:\n{measured.output[-2000:]}")
    elapsed, usage = _ELAPSED.search(measured.output), _USAGE.search(measured.output)
    recorder = _RECORDER.search(measured.output)
    if capture == "True" and not recorder:
        raise SystemExit(f"bench: the recorder logged no figures:\n{measured.output[-2000:]}")
    responses = _RESPONSES.findall(measured.output)
    if not usage or not responses:
        raise SystemExit(f"bench: no usage line or stats:\n{measured.output[-2000:]}")
    shutil.rmtree(data, ignore_errors=True)
    return Round(
        seconds=measured.seconds,
        crawl_seconds=float(elapsed[1]) if elapsed else measured.seconds,
        responses=int(responses[-1]),
        main_cpu=float(usage[1]),
        child_cpu=float(usage[3]),
        main_rss_mib=int(usage[2]) / 1024,
        child_rss_mib=float(recorder[1]) if recorder else 0.0,
        end_wait=float(recorder[2]) if recorder else 0.0,
        load=os.getloadavg()[0],
    )


def _per_thousand(rounds: list[Round], cpu: str) -> float:
    return statistics.median(getattr(r, cpu) / r.responses * 1000 for r in rounds)


def bench_size(articles: int, rounds: int, work: Path) -> dict:
    port = free_port()
    site = export_replica(articles, port, work)
    start_url = f"http://127.0.0.1:{port}/listing/1/"
    expected = count_lines(site / "expected.jsonl")
    runs: dict[str, list[Round]] = {side: [] for side in SIDES}
    with nginx_serving(site, port):
        for number in range(rounds):
            order = list(SIDES.items()) if number % 2 == 0 else list(SIDES.items())[::-1]
            for side, value in order:
                done = crawl(start_url, work, value, expected)
                runs[side].append(done)
                print(f"  {articles} articles, round {number + 1}, capture {side}: "
                      f"{done.seconds:.2f} s (crawl {done.crawl_seconds:.2f} s), main CPU "
                      f"{done.main_cpu:.2f} s, children {done.child_cpu:.2f} s, "
                      f"RSS {done.main_rss_mib:.0f}/{done.child_rss_mib:.0f} MiB, "
                      f"end wait {done.end_wait:.2f} s, "
                      f"load {done.load:.1f}", file=sys.stderr)  # fmt: skip
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
        "on_main_cpu": _per_thousand(on, "main_cpu"),
        "off_main_cpu": _per_thousand(off, "main_cpu"),
        "on_child_cpu": _per_thousand(on, "child_cpu"),
        "on_peak_rss_mib": max(r.peak_rss_mib for r in on),
        "on_main_rss_mib": max(r.main_rss_mib for r in on),
        "on_child_rss_mib": max(r.child_rss_mib for r in on),
        "off_peak_rss_mib": max(r.peak_rss_mib for r in off),
        "load": statistics.median(r.load for r in on + off),
    }


def report(results: list[dict]) -> None:
    print(
        f"{'articles':>9} {'off/s':>7} {'on/s':>7} {'ratio':>6} {'crawl':>6}"
        f" {'CPU s/1k responses: off':>24} {'on':>5} {'recorder':>9}"
        f" {'peak MiB: off':>14} {'on':>6} {'(crawl':>7} {'recorder)':>10} {'load':>5}"
    )
    for r in results:
        print(
            f"{r['articles']:>9} {r['off_rate']:>7.1f} {r['on_rate']:>7.1f} {r['ratio']:>6.2f}"
            f" {r['crawl_ratio']:>6.2f} {r['off_main_cpu']:>24.3f} {r['on_main_cpu']:>5.3f}"
            f" {r['on_child_cpu']:>9.3f} {r['off_peak_rss_mib']:>14.1f}"
            f" {r['on_peak_rss_mib']:>6.1f} {r['on_main_rss_mib']:>7.1f}"
            f" {r['on_child_rss_mib']:>10.1f} {r['load']:>5.1f}"
        )
    if len(results) > 1:
        first, last = results[0], results[-1]

        def growth(key: str) -> float:
            return last[key] / first[key]

        print(
            f"peak RSS at {last['articles']} vs {first['articles']} articles: capture on"
            f" x{growth('on_peak_rss_mib'):.2f}, off x{growth('off_peak_rss_mib'):.2f}"
            f"; the recorder x{growth('on_child_rss_mib'):.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    compile_bytecode()
    with tempfile.TemporaryDirectory(prefix="newsarchive-bench-capture-") as tmp:
        results = [bench_size(size, options.rounds, Path(tmp)) for size in options.sizes]
    report(results)


if __name__ == "__main__":
    main()
