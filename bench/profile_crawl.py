"""Where the crawl's main process spends its CPU: one ``scrapy crawl naenara`` under cProfile.

The same fair setting as bench_crawl.py (a static replica served by nginx, 16/16 concurrency,
no delay, a fresh data folder). It prints the CPU seconds of the crawl process per 1,000
articles (user + system, from wait4: load-independent, unlike a wall rate), once without the
profiler and once with it, then the top entries of the profile by cumulative time. Extra
``-s NAME=VALUE`` settings measure a lever the same way.

    .venv/bin/python bench/profile_crawl.py [--articles 2000] [--top 40] [--save FILE]
        [-s NAME=VALUE]...
"""

from __future__ import annotations

import argparse
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_crawl import _environment, check_robots_served_as_text, compile_bytecode, crawl_args
from common import ROOT, count_lines, export_replica, free_port, nginx_serving


def run_crawl(start_url: str, work: Path, extra: dict[str, str], profile: Path | None) -> dict:
    """One crawl; its CPU seconds (the crawl process and any children it reaped) and wall."""
    data = Path(tempfile.mkdtemp(dir=work, prefix="data-"))
    output = data / "naenara.jsonl"
    python = [sys.executable]
    if profile is not None:
        python += ["-m", "cProfile", "-o", str(profile)]
    command = [*python, "-m", "scrapy", "crawl", "naenara", "-a", f"start_url={start_url}"]
    command += ["-O", str(output), *crawl_args({"NEWSARCHIVE_DATA_DIR": str(data), **extra})]
    with tempfile.TemporaryFile("w+") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log, env=_environment()
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            log.seek(0)
            raise SystemExit(f"profile: the crawl failed:\n{log.read()[-2000:]}")
    return {
        "cpu": usage.ru_utime + usage.ru_stime,
        "wall": wall,
        "rss_mib": usage.ru_maxrss / 1024,
        "items": count_lines(output),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--runs", type=int, default=1, help="unprofiled runs (median CPU)")
    parser.add_argument("--save", type=Path, help="keep the profile in this file")
    parser.add_argument("-s", dest="settings", action="append", default=[], metavar="NAME=VALUE")
    options = parser.parse_args()
    extra = dict(s.partition("=")[::2] for s in options.settings)
    compile_bytecode()
    with tempfile.TemporaryDirectory(prefix="newsarchive-profile-") as tmp:
        work = Path(tmp)
        port = free_port()
        site = export_replica(options.articles, port, work)
        start_url = f"http://127.0.0.1:{port}/listing/1/"
        profile = work / "crawl.prof"
        with nginx_serving(site, port):
            check_robots_served_as_text(port)
            plain = sorted(
                (run_crawl(start_url, work, extra, None) for _ in range(options.runs)),
                key=lambda run: run["cpu"],
            )[options.runs // 2]
            profiled = run_crawl(start_url, work, extra, profile)
        load = os.getloadavg()[0]
        for name, run in (("plain", plain), ("profiled", profiled)):
            per_1000 = run["cpu"] / run["items"] * 1000
            print(
                f"{name}: {run['items']} items, CPU {run['cpu']:.2f} s"
                f" ({per_1000:.3f} s per 1,000 articles), wall {run['wall']:.2f} s,"
                f" peak RSS {run['rss_mib']:.1f} MiB, load average {load:.2f}"
            )
        if options.save:
            shutil.copyfile(profile, options.save)
        stats = pstats.Stats(str(profile))
        stats.sort_stats("cumulative").print_stats(options.top)


if __name__ == "__main__":
    main()
