"""``scrapy reextract`` against one process extracting the same pages, pre-read in memory.

Target (issue 12): over a 20,000-page capture, reextract is at least 1.6x as fast as one
process calling the same extraction (``extract_captured``, as the workers do) on pages already
read, with flat memory (peak RSS of the whole process tree, workers included, within 1.1x from
2,000 to 20,000 pages). Feeds only (no database). For a fair baseline the one process also
writes the same output (the feed rows, with the feeds' own exporters); the extraction alone is
reported beside it. Both sides' (article_id, content_hash) pairs must be equal. The CPU
seconds of reextract's main process and of its workers are reported (compare levers by them
on a shared machine).

The capture is built from the replica (distinct article pages, the specimen theme), written
as the rotated layout ``<data>/warc/naenara/<run_id>/<run_id>-NNNNN.warc.gz``, 2,000 pages
a file. The two sides are interleaved, ``--rounds`` times, medians reported.

    .venv/bin/python bench/bench_reextract.py --pages 20000 --small 2000 --rounds 3
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import gzip
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from io import BytesIO
from pathlib import Path

import psutil
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, SCRAPY, setting_args
from newsarchive.config import default
from newsarchive.exporters import ArticleJsonLinesItemExporter, FormulaSafeCsvItemExporter
from newsarchive.items import ArticleItem
from newsarchive.reextract.captures import article_pages, run_files
from newsarchive.reextract.shares import extract_captured
from newsarchive.settings_helpers import default_feeds
from newsarchive_replica.server import ReplicaServer

RUN_ID = "20261201T000000Z-0be4c400"
PER_FILE = 2000
#: The feeds' defaults, as ``scrapy reextract`` runs with them.
BATCH = default("NEWSARCHIVE_FEED_BATCH_SIZE")
ESCAPE_FORMULAS = default("NEWSARCHIVE_CSV_ESCAPE_FORMULAS")


def build_capture(data: Path, pages: int) -> int:
    """``pages`` distinct replica article pages as one run's rotated WARC files."""
    server = ReplicaServer(naenara_articles=pages + pages // 20 + 50, base_url="http://r.test")
    folder = data / "warc" / "naenara" / RUN_ID
    folder.mkdir(parents=True)
    written, stream, writer = 0, None, None
    for article in server.stream("naenara"):
        if written == pages:
            break
        url = server.links.article(article)
        status, headers, body = server.respond("GET", url.removeprefix("http://r.test"), "b", b"")
        if status != 200:
            continue
        if written % PER_FILE == 0:
            if stream:
                stream.close()
            stream = (folder / f"{RUN_ID}-{written // PER_FILE + 1:05d}.warc.gz").open("wb")
            writer = WARCWriter(stream, gzip=True)
        http = StatusAndHeaders("200 OK", list(headers.items()), protocol="HTTP/1.1")
        assert writer is not None
        writer.write_record(
            writer.create_warc_record(url, "response", payload=BytesIO(body), http_headers=http)
        )
        written += 1
    if stream:
        stream.close()
    return written


def one_process(data: Path, output: Path, write_feeds: bool = True) -> tuple[float, float, set]:
    """Seconds for one process to extract every page, the pages read beforehand, and write
    what ``scrapy reextract`` writes: the same feed rows with the feeds' own exporters
    (``FEED_EXPORTERS``: the direct JSON Lines path and the formula-safe CSV), gzip at the
    feed's level, a new pair of files every ``NEWSARCHIVE_FEED_BATCH_SIZE`` items, so both
    sides do the same work. ``write_feeds=False``: the extraction alone (the issue's literal
    baseline). Returns wall and CPU seconds, and the JSON Lines rows written (as text)."""
    pages = [p for path in run_files(data, "naenara", RUN_ID) for p in article_pages(path)]
    feeds = default_feeds(output, BATCH)
    jsonl_options, csv_options = feeds.values()
    level = jsonl_options["gzip_compresslevel"]
    shutil.rmtree(output, ignore_errors=True)
    gc.collect()
    started, cpu = time.perf_counter(), time.process_time()
    output.mkdir(parents=True)
    with contextlib.ExitStack() as files:
        exporters: list = []
        written = 0
        for page in pages:
            item = extract_captured(page, RUN_ID)
            if item is None or not write_feeds:
                continue
            if written % BATCH == 0:  # the feeds' batches: a new pair of files
                for exporter in exporters:
                    exporter.finish_exporting()
                files.close()
                batch = output / f"articles-{written // BATCH + 1:05d}"
                jsonl = files.enter_context(
                    gzip.open(f"{batch}.jsonl.gz", "wb", compresslevel=level)
                )
                csv = files.enter_context(Path(f"{batch}.csv").open("wb"))
                exporters = [
                    ArticleJsonLinesItemExporter(
                        jsonl, fields_to_export=jsonl_options["fields"], encoding="utf8"
                    ),
                    FormulaSafeCsvItemExporter(
                        csv, fields_to_export=csv_options["fields"], encoding="utf8",
                        escape_formulas=ESCAPE_FORMULAS,
                    ),
                ]  # fmt: skip
                for exporter in exporters:
                    exporter.start_exporting()
            article = ArticleItem(item)
            for exporter in exporters:
                exporter.export_item(article)
            written += 1
        for exporter in exporters:
            exporter.finish_exporting()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return seconds, cpu, set(_feed_rows(output)) if write_feeds else set()


def _feed_rows(folder: Path) -> list[str]:
    """Every JSON Lines row of the gzip feeds under ``folder`` (each file once)."""
    rows = []
    for path in sorted(folder.rglob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            rows.extend(lines)
    return rows


def _tree_rss(root: psutil.Process) -> int:
    """RSS of a process and all its descendants (one that just ended counts 0)."""
    try:
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for process in tree:
        with contextlib.suppress(psutil.Error):
            total += process.memory_info().rss
    return total


def reextract(data: Path) -> dict:
    """Seconds, peak RSS (MiB) of the whole process tree, CPU seconds of the main process and
    of its workers, and the feed's (article_id, content_hash) pairs."""
    shutil.rmtree(data / "feeds", ignore_errors=True)
    shutil.rmtree(data / "reextract", ignore_errors=True)
    settings = {"NEWSARCHIVE_DATA_DIR": str(data), "LOG_LEVEL": "WARNING"}
    command = [*SCRAPY, "reextract", "--run", RUN_ID, *setting_args(settings)]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    root, peak = psutil.Process(process.pid), 0
    main_cpu, workers_cpu = 0.0, {}
    while process.poll() is None:
        peak = max(peak, _tree_rss(root))
        with contextlib.suppress(psutil.Error):
            main_cpu = sum(root.cpu_times()[:2])
            for child in root.children(recursive=True):
                workers_cpu[child.pid] = sum(child.cpu_times()[:2])
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    stderr = process.stderr.read() if process.stderr else ""
    if process.returncode != 0:
        raise SystemExit(f"reextract failed: {stderr[-2000:]}")
    summary = next((data / "runs" / "reextract").glob("*.json"))
    rows = _feed_rows(data / "feeds" / "reextract")
    summary.unlink()
    return {
        "seconds": seconds,
        "peak": peak / 2**20,
        "main_cpu": main_cpu,
        "workers_cpu": sum(workers_cpu.values()),
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=20000)
    parser.add_argument("--small", type=int, default=2000, help="size for the memory check")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-reextract-") as tmp:
        big, small = Path(tmp) / "big", Path(tmp) / "small"
        print(f"building captures: {build_capture(big, args.pages)} and "
              f"{build_capture(small, args.small)} pages", flush=True)  # fmt: skip
        baseline, extraction_only, parallel, peaks_big, peaks_small = [], [], [], [], []
        bounds = []
        for number in range(1, args.rounds + 1):
            seconds, cpu, expected = one_process(big, Path(tmp) / "one")
            baseline.append(seconds)
            extraction_only.append(one_process(big, Path(tmp) / "one", write_feeds=False)[0])
            run = reextract(big)
            if len(run["rows"]) != len(expected) or set(run["rows"]) != expected:
                raise SystemExit(f"reextract wrote {len(run['rows'])} rows, one process "
                                 f"{len(expected)}, or other rows")  # fmt: skip
            parallel.append(run["seconds"])
            peaks_big.append(run["peak"])
            peaks_small.append(reextract(small)["peak"])
            # what the CPU work allows on 2 cores, whatever else runs on the machine
            bounds.append(cpu / ((run["main_cpu"] + run["workers_cpu"]) / 2))
            print(
                f"round {number}: one process {baseline[-1]:.1f}s ({cpu:.1f}s CPU; extraction "
                f"alone {extraction_only[-1]:.1f}s), reextract {run['seconds']:.1f}s "
                f"({baseline[-1] / run['seconds']:.2f}x; CPU main {run['main_cpu']:.1f}s, "
                f"workers {run['workers_cpu']:.1f}s: at most {bounds[-1]:.2f}x on 2 cores), "
                f"peak {run['peak']:.0f} MiB at {args.pages}, {peaks_small[-1]:.0f} MiB at "
                f"{args.small}",
                flush=True,
            )
        ratio = statistics.median(baseline) / statistics.median(parallel)
        literal = statistics.median(extraction_only) / statistics.median(parallel)
        memory = statistics.median(peaks_big) / statistics.median(peaks_small)
        print(f"reextract {ratio:.2f}x one process writing the same feeds (target >= 1.6), "
              f"{literal:.2f}x the extraction alone; its CPU work allows at most "
              f"{statistics.median(bounds):.2f}x on 2 cores; peak RSS {memory:.2f}x from "
              f"{args.small} to {args.pages} pages (target <= 1.1)")  # fmt: skip


if __name__ == "__main__":
    main()
