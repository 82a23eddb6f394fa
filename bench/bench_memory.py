"""Where the crawl's peak memory is: RSS over one crawl's time, and what tracemalloc sees grow.

The same fair setting as bench_crawl.py (a static replica served by nginx, 16/16
concurrency, no delay, a fresh data folder per run). For each size it runs ``scrapy crawl
naenara`` (or the bare spider, ``--side minimal``) and prints:

- the peak RSS from wait4 (the largest of the crawl process and its children, the figure
  bench_crawl.py reports) and the growth between the smallest and the largest size (target:
  within 1.1x);
- the crawl process's RSS sampled every 20 ms, split at Scrapy's "Closing spider" line: the
  peak while crawling against the peak while the run closes (state file, summary, manifest);
- with ``--tracemalloc``: a second run under tracemalloc, snapshots when the spider starts
  closing and when the engine has stopped, and the top allocation sites by file:line, so
  two sizes can be compared (tracemalloc slows the crawl and adds its own memory: its RSS
  is not the figure to quote).

    .venv/bin/python bench/bench_memory.py [--sizes 2000 20000] [--side naenara|minimal]
        [--tracemalloc] [--top 15] [-s NAME=VALUE]...
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_crawl import (
    BASELINE_SETTINGS,
    _environment,
    check_robots_served_as_text,
    compile_bytecode,
    crawl_args,
)
from common import ROOT, count_lines, export_replica, free_port, nginx_serving, setting_args

#: Scrapy's INFO line when the engine starts closing the spider.
CLOSING_RE = re.compile(r"Closing spider \(")
SAMPLE_SECONDS = 0.02
MIB = 1024 * 1024

#: Run inside the crawl process (``python -c``) with --tracemalloc: snapshots on Scrapy's
#: signals (connected for any sender), their top sites written to the file in argv[1].
PROBE = r"""
import sys, tracemalloc
tracemalloc.start(int(sys.argv[2]))
from pydispatch import dispatcher
from scrapy import signals
report, top = sys.argv[1], int(sys.argv[3])
snapshots = {}
def keep(name):
    def handler(*args, **kwargs):
        snapshots[name] = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)])
        current, peak = tracemalloc.get_traced_memory()
        snapshots[name + "/traced"] = (current, peak)
    return handler
closing, stopped = keep("closing"), keep("stopped")
dispatcher.connect(closing, signal=signals.spider_closed)
dispatcher.connect(stopped, signal=signals.engine_stopped)
def write():
    with open(report, "w") as out:
        for name in ("closing", "stopped"):
            if name not in snapshots:
                continue
            current, peak = snapshots[name + "/traced"]
            out.write(f"== {name}: traced {current/2**20:.1f} MiB, peak so far {peak/2**20:.1f}\n")
            for stat in snapshots[name].statistics("lineno")[:top]:
                frame = stat.traceback[0]
                where = f"{frame.filename}:{frame.lineno}"
                out.write(f"{stat.size/2**20:9.2f} MiB {stat.count:9d} {where}\n")
import atexit
atexit.register(write)
sys.argv = ["scrapy", *sys.argv[4:]]
from scrapy.cmdline import execute
execute()
"""


@dataclass
class Timeline:
    """RSS samples of the crawl process (and of its children, summed apart)."""

    closing_at: float | None = None
    samples: list[tuple[float, int, int]] = field(default_factory=list)

    def peak(self, closing: bool) -> tuple[float, int]:
        """(time, RSS) of the largest sample before (or after) the closing line."""
        cut = self.closing_at if self.closing_at is not None else float("inf")
        chosen = [(t, own) for t, own, _ in self.samples if (t >= cut) == closing]
        return max(chosen, key=lambda s: s[1], default=(0.0, 0))


def _watch_output(stream, timeline: Timeline, started: float, log: list[str]) -> None:
    for line in stream:
        log.append(line)
        if timeline.closing_at is None and CLOSING_RE.search(line):
            timeline.closing_at = time.perf_counter() - started


def run_sampled(command: list[str], cwd: Path) -> tuple[Timeline, float, float, str]:
    """Run ``command``; its RSS timeline, wait4 peak RSS (MiB) and wall seconds."""
    timeline = Timeline()
    log: list[str] = []
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(),
    )
    reader = threading.Thread(
        target=_watch_output, args=(process.stderr, timeline, started, log), daemon=True
    )
    reader.start()
    watched = psutil.Process(process.pid)
    while True:
        done = os.wait4(process.pid, os.WNOHANG)
        if done[0] != 0:
            break
        try:
            own = watched.memory_info().rss
            children = sum(c.memory_info().rss for c in watched.children(recursive=True))
        except psutil.Error:
            own = children = 0
        timeline.samples.append((time.perf_counter() - started, own, children))
        time.sleep(SAMPLE_SECONDS)
    _, status, usage = done
    wall = time.perf_counter() - started
    reader.join(5)
    output = "".join(log)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"bench: the crawl failed:\n{output[-2000:]}")
    return timeline, usage.ru_maxrss / 1024, wall, output


def side_command(side: str, start_url: str, data: Path, extra: dict[str, str]) -> list[str]:
    """scrapy's arguments (after ``scrapy``) for one side."""
    if side == "minimal":
        spider = str(ROOT / "bench" / "minimal_spider.py")
        settings = setting_args({**BASELINE_SETTINGS, **extra})
        return ["runspider", spider, "-a", f"start_url={start_url}", *settings]
    output = data / "naenara.jsonl"
    command = ["crawl", "naenara", "-a", f"start_url={start_url}", "-O", str(output)]
    return command + crawl_args({"NEWSARCHIVE_DATA_DIR": str(data), **extra})


def measure(side: str, start_url: str, work: Path, extra: dict[str, str]) -> dict:
    data = Path(tempfile.mkdtemp(dir=work, prefix="data-"))
    # The bare spider runs outside the project (Scrapy's defaults), as in bench_crawl.py.
    cwd = data if side == "minimal" else ROOT
    args = side_command(side, start_url, data, extra)
    timeline, peak, wall, _ = run_sampled([sys.executable, "-m", "scrapy", *args], cwd)
    crawling = timeline.peak(closing=False)
    closing = timeline.peak(closing=True)
    items = count_lines(data / "naenara.jsonl") if side != "minimal" else 0
    return {
        "peak": peak,
        "wall": wall,
        "items": items,
        "crawling": crawling,
        "closing": closing,
        "closing_at": timeline.closing_at,
        "children_peak": max((c for _, _, c in timeline.samples), default=0),
    }


def traced(side: str, start_url: str, work: Path, extra: dict[str, str], top: int) -> str:
    data = Path(tempfile.mkdtemp(dir=work, prefix="traced-"))
    report = data / "tracemalloc.txt"
    cwd = data if side == "minimal" else ROOT
    args = side_command(side, start_url, data, extra)
    command = [sys.executable, "-c", PROBE, str(report), "1", str(top), *args]
    run_sampled(command, cwd)
    return report.read_text(encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--side", choices=["naenara", "minimal"], default="naenara")
    parser.add_argument("--runs", type=int, default=1, help="runs per size (median peak)")
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("-s", dest="settings", action="append", default=[], metavar="NAME=VALUE")
    options = parser.parse_args()
    extra = dict(s.partition("=")[::2] for s in options.settings)
    compile_bytecode()
    peaks: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="newsarchive-memory-") as tmp:
        work = Path(tmp)
        for size in options.sizes:
            port = free_port()
            site = export_replica(size, port, work)
            start_url = f"http://127.0.0.1:{port}/listing/1/"
            with nginx_serving(site, port):
                check_robots_served_as_text(port)
                runs = sorted(
                    (measure(options.side, start_url, work, extra) for _ in range(options.runs)),
                    key=lambda run: run["peak"],
                )
                run = runs[len(runs) // 2]
                peaks[size] = run["peak"]
                listed = ", ".join(f"{r['peak']:.1f}" for r in runs)
                (t_crawl, crawl_rss), (t_close, close_rss) = run["crawling"], run["closing"]
                print(
                    f"{options.side} {size}: peak RSS {run['peak']:.1f} MiB (wait4; runs:"
                    f" {listed}), wall {run['wall']:.1f} s,"
                    f" {run['items']} items; sampled: crawling {crawl_rss / MIB:.1f} MiB at"
                    f" {t_crawl:.1f} s, closing {close_rss / MIB:.1f} MiB at {t_close:.1f} s"
                    f" (closing line at {run['closing_at'] or 0:.1f} s), children"
                    f" {run['children_peak'] / MIB:.1f} MiB, load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
                if options.tracemalloc:
                    print(traced(options.side, start_url, work, extra, options.top), flush=True)
    if len(peaks) > 1:
        first, last = min(peaks), max(peaks)
        print(f"peak RSS growth {first} -> {last}: x{peaks[last] / peaks[first]:.3f}")


if __name__ == "__main__":
    main()
