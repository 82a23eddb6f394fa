"""``scrapy reextract`` against one process extracting the same pages, pre-read in memory.

Target (issue 12): over a 20,000-page capture, reextract is at least 1.6x as fast as one
process calling the same extraction (``extract_article``) on pages already read, with flat
memory (peak RSS of the whole process tree, workers included, within 1.1x from 2,000 to
20,000 pages). Feeds only (no database): the comparison is the extraction and its plumbing.

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
from scrapy.http import HtmlResponse
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, SCRAPY, setting_args
from newsarchive.extraction import extract_response
from newsarchive.reextract.captures import article_pages, run_files
from newsarchive_replica.server import ReplicaServer

RUN_ID = "20261201T000000Z-0be4c400"
PER_FILE = 2000


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


def one_process(data: Path) -> tuple[float, int]:
    """Seconds for one process to extract every page, the pages read beforehand; items."""
    pages = [p for path in run_files(data, "naenara", RUN_ID) for p in article_pages(path)]
    gc.collect()
    started = time.perf_counter()
    items = 0
    for page in pages:
        response = HtmlResponse(page.url, body=page.body, headers=page.headers)
        item = extract_response(response, "2026-12-01T00:00:00+00:00", RUN_ID).item
        items += item is not None and bool(item["body"])
    return time.perf_counter() - started, items


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


def reextract(data: Path) -> tuple[float, float, int]:
    """Seconds, peak RSS (MiB) of the whole process tree, items in the feed."""
    shutil.rmtree(data / "feeds", ignore_errors=True)
    shutil.rmtree(data / "reextract", ignore_errors=True)
    settings = {"NEWSARCHIVE_DATA_DIR": str(data), "LOG_LEVEL": "WARNING"}
    command = [*SCRAPY, "reextract", "--run", RUN_ID, *setting_args(settings)]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    root, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        peak = max(peak, _tree_rss(root))
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    stderr = process.stderr.read() if process.stderr else ""
    if process.returncode != 0:
        raise SystemExit(f"reextract failed: {stderr[-2000:]}")
    summary = next((data / "runs" / "reextract").glob("*.json"))
    items = 0
    for path in (data / "feeds" / "reextract").rglob("*.jsonl.gz"):
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            items += sum(1 for _ in lines)
    summary.unlink()
    return seconds, peak / 2**20, items


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
        baseline, parallel, peaks_big, peaks_small = [], [], [], []
        for number in range(1, args.rounds + 1):
            seconds, expected = one_process(big)
            baseline.append(seconds)
            seconds, peak, items = reextract(big)
            if items != expected:
                raise SystemExit(f"reextract gave {items} items, one process {expected}")
            parallel.append(seconds)
            peaks_big.append(peak)
            peaks_small.append(reextract(small)[1])
            print(
                f"round {number}: one process {baseline[-1]:.1f}s, reextract {seconds:.1f}s "
                f"({baseline[-1] / seconds:.2f}x), peak {peak:.0f} MiB at {args.pages}, "
                f"{peaks_small[-1]:.0f} MiB at {args.small}",
                flush=True,
            )
        ratio = statistics.median(baseline) / statistics.median(parallel)
        memory = statistics.median(peaks_big) / statistics.median(peaks_small)
        print(f"reextract {ratio:.2f}x one process (target >= 1.6); peak RSS "
              f"{memory:.2f}x from {args.small} to {args.pages} pages (target <= 1.1)")  # fmt: skip


if __name__ == "__main__":
    main()
