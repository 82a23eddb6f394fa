"""Raw capture's CPU per exchange, before and after, in one run: the crawl's main thread and
the recorder process.

Two source trees of newsarchive are compared: this checkout ("after") and a git revision
("before", ``--before``, exported with ``git archive``). For each tree and round:

1. **The crawl's side.** A child process imports that tree's ``WarcCaptureMiddleware`` and
   hands it ``--exchanges`` Scrapy request/response pairs of the specimen article, with the
   headers the crawl's middleware chain leaves on them, through ``process_response``, with a
   real recorder pipe whose other end is ``cat`` into a file. The main thread's CPU
   (``time.process_time``, pipe writes included) per exchange is the crawl's cost; the file
   is exactly what that tree's recorder would have read. The same pairs are then framed and
   pickled without the pipe, best of 5 passes: the part of that cost which differs between
   trees (the pipe's share, writing the same bytes, varies with the machine's load).
2. **The recorder.** That tree's ``python -m newsarchive.capture.recorder`` reads the file and
   reports its own CPU seconds (start-up and packaging included, as in a crawl), with the size
   of the WARC files it wrote. A run of 20 exchanges gives the fixed part. Then it is fed the
   same frames through a pipe at a crawl's pace (``PACE_SECONDS`` apart), as in a crawl: a
   recorder woken for every frame costs more than one reading a file.

Rounds alternate the trees' order; figures are medians. CPU seconds, not wall time, so the
figures hold on a shared machine. ``--levers`` adds, in this checkout only, the cost of each
part of the recorder's work per exchange (bench/recorder_levers.py).

    .venv/bin/python bench/bench_recorder.py [--exchanges 2000] [--rounds 3] [--before REV]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPECIMEN = ROOT / "tests" / "fixtures" / "specimen_article.html"
#: The last commit whose recorder built its records with warcio (4cb62e0: the last before it
#: indexed from its records and gzipped with ISA-L).
BEFORE = "086a906"
FIXED_EXCHANGES = 20
RECORDER = ["-m", "newsarchive.capture.recorder"]
#: A crawl's pace: about 500 exchanges a second.
PACE_SECONDS = 0.002
#: As the crawl's downloader middlewares leave them at WarcCaptureMiddleware (950), and as
#: nginx answers the static replica.
REQUEST_HEADERS = {
    b"Accept": b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    b"Accept-Language": b"en",
    b"User-Agent": b"newsarchive/1.0 (+https://example.org/newsarchive)",
    b"Accept-Encoding": b"gzip, deflate",
    b"Referer": b"http://127.0.0.1:8000/listing/1/",
}
RESPONSE_HEADERS = {
    b"Server": b"nginx/1.22.1",
    b"Date": b"Tue, 01 Dec 2026 10:00:00 GMT",
    b"Content-Type": b"text/html; charset=utf-8",
    b"Last-Modified": b"Tue, 01 Dec 2026 09:00:00 GMT",
    b"Connection": b"keep-alive",
    b"Etag": b'"692d6f10-50d1"',
    b"Accept-Ranges": b"bytes",
}


# --- in a child process, importing one tree's newsarchive ------------------------------------


def feed_middleware(frames: Path, data: Path, exchanges: int) -> dict:
    """Run the tree's middleware over ``exchanges`` pairs; its recorder pipe goes to
    ``frames``. Returns the main thread's CPU seconds over the pairs."""
    from ipaddress import ip_address

    from scrapy import Request, Spider
    from scrapy.http import HtmlResponse
    from scrapy.utils.test import get_crawler

    from newsarchive import settings as project
    from newsarchive.capture import channel
    from newsarchive.capture.middleware import WarcCaptureMiddleware

    channel.COMMAND[:] = ["sh", "-c", f'exec cat > "{frames}"']
    values = {name: getattr(project, name) for name in dir(project) if name.isupper()}
    crawler = get_crawler(Spider, {**values, "NEWSARCHIVE_DATA_DIR": str(data)})
    body = SPECIMEN.read_bytes()
    pairs = []
    for n in range(exchanges):
        url = f"http://127.0.0.1:8000/newstream/{1700000000 + n}-{n}/some-article-slug/"
        request = Request(url, headers=REQUEST_HEADERS)
        response = HtmlResponse(url, status=200, headers=RESPONSE_HEADERS, body=body,
                                request=request, ip_address=ip_address("127.0.0.1"),
                                protocol="HTTP/1.1")  # fmt: skip
        pairs.append((request, response))

    class BenchSpider(Spider):
        name = "naenara"
        run_id = "bench1"

    async def run() -> float:
        middleware = WarcCaptureMiddleware(crawler)
        await middleware.spider_opened(BenchSpider())
        recorder = middleware.recorder
        assert recorder is not None, "the recorder pipe did not open"
        started = time.process_time()
        for request, response in pairs:
            await middleware.process_response(request, response)
        spent = time.process_time() - started
        await recorder.send(None)
        assert recorder.process.stdin is not None
        recorder.process.stdin.close()
        await recorder.process.wait()
        # The same without the pipe: the middleware and the pickling only (what differs
        # between trees; the bytes written are the same), best of a few passes.
        middleware.recorder = Serializing()  # type: ignore[assignment]
        passes = []
        for _ in range(5):
            started = time.process_time()
            for request, response in pairs:
                await middleware.process_response(request, response)
            passes.append(time.process_time() - started)
        return spent, min(passes)

    class Serializing:
        async def send(self, frame: object) -> None:
            pickle.dumps(frame, pickle.HIGHEST_PROTOCOL)  # as RecorderProcess.send

    import newsarchive

    main_cpu, framing_cpu = asyncio.run(run())
    return {"main_cpu": main_cpu, "framing_cpu": framing_cpu, "module": newsarchive.__file__}


def child(argv: list[str]) -> None:
    mode, *args = argv
    if mode == "feed":
        result = feed_middleware(Path(args[0]), Path(args[1]), int(args[2]))
    else:
        from recorder_levers import levers  # bench/, beside this file

        result = levers(int(args[0]))
    print(json.dumps(result))


# --- the parent ------------------------------------------------------------------------------


def export_tree(revision: str, into: Path) -> Path:
    """The revision's newsarchive package in ``into`` (what the recorder and middleware need)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "newsarchive"],
                             check=True, capture_output=True).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def tree_env(tree: Path) -> dict[str, str]:
    """The environment of a child that imports ``tree``'s newsarchive."""
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("SCRAPY_SETTINGS_MODULE", None)
    return env


def run_in(tree: Path, arguments: list[str], stdin: Path | None = None) -> dict:
    with open(stdin, "rb") if stdin else open(os.devnull, "rb") as source:
        done = subprocess.run(
            [sys.executable, "-W", "ignore", *arguments], stdin=source,
            capture_output=True, text=True, env=tree_env(tree), cwd=tree,
        )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"bench: {arguments} in {tree} failed:\n{done.stderr[-3000:]}")
    message = json.loads(lines[-1])
    return message.get("result", message)


def paced_recorder(tree: Path, frames: Path, gap: float) -> dict:
    """The tree's recorder fed ``frames`` through a pipe as the crawl's channel sets it up
    (1 MiB), one frame every ``gap`` seconds, as a crawl sends them."""
    import fcntl

    pieces, ends = frames.read_bytes(), []
    with frames.open("rb") as source:
        while pickle.load(source) is not None or not ends:  # the config, then each frame
            ends.append(source.tell())
    ends.append(len(pieces))
    recorder = subprocess.Popen([sys.executable, "-W", "ignore", *RECORDER], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, env=tree_env(tree), cwd=tree)  # fmt: skip
    assert recorder.stdin is not None and recorder.stdout is not None
    fcntl.fcntl(recorder.stdin.fileno(), fcntl.F_SETPIPE_SZ, 1024 * 1024)
    due, start = time.monotonic(), 0
    for end in ends:
        recorder.stdin.write(pieces[start:end])
        recorder.stdin.flush()
        start, due = end, due + gap
        time.sleep(max(0.0, due - time.monotonic()))
    recorder.stdin.close()
    lines = [line for line in recorder.stdout.read().decode().splitlines() if line.startswith("{")]
    if recorder.wait() != 0 or not lines:
        raise SystemExit(f"bench: the paced recorder in {tree} failed")
    return json.loads(lines[-1])["result"]


def measure(tree: Path, work: Path, exchanges: int) -> dict:
    """One round of one tree: the crawl's side, then its recorder over what it sent."""
    figures = {}
    for count in (exchanges, FIXED_EXCHANGES):
        data = Path(tempfile.mkdtemp(dir=work))
        frames = data / "frames"
        fed = run_in(tree, [__file__, "--child", "feed", str(frames), str(data), str(count)])
        if not fed["module"].startswith(str(tree)):
            raise SystemExit(f"bench: {tree} ran the newsarchive of {fed['module']}")
        recorded = run_in(tree, RECORDER, stdin=frames)
        if recorded.get("wacz_error") or recorded["exchanges"] != count:
            raise SystemExit(f"bench: the recorder in {tree} did not finish: {recorded}")
        if count == exchanges:
            shutil.rmtree(data / "warc")
            paced = paced_recorder(tree, frames, PACE_SECONDS)
            figures.update(
                paced_cpu=paced["cpu_seconds"],
                main_us=fed["main_cpu"] / count * 1e6,
                framing_us=fed["framing_cpu"] / count * 1e6,
                recorder_cpu=recorded["cpu_seconds"],
                warc_bytes=sum(Path(path).stat().st_size for path in recorded["paths"]),
                frame_bytes=frames.stat().st_size,
            )
        else:
            figures["fixed_cpu"] = recorded["cpu_seconds"]
        shutil.rmtree(data, ignore_errors=True)
    return figures


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exchanges", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", default=BEFORE, help="git revision to compare with")
    parser.add_argument("--levers", action="store_true", help="also time each part")
    options = parser.parse_args()
    n = options.exchanges
    with tempfile.TemporaryDirectory(prefix="newsarchive-bench-recorder-") as tmp:
        work = Path(tmp)
        trees = {"before": export_tree(options.before, work / "before"), "after": ROOT}
        rounds: dict[str, list[dict]] = {side: [] for side in trees}
        for number in range(options.rounds):
            order = list(trees) if number % 2 == 0 else list(trees)[::-1]
            for side in order:
                done = measure(trees[side], work, n)
                rounds[side].append(done)
                print(f"  round {number + 1} {side}: recorder {done['recorder_cpu']:.3f} s CPU "
                      f"for {n} exchanges ({done['fixed_cpu']:.3f} s for "
                      f"{FIXED_EXCHANGES}), main thread {done['main_us']:.1f} µs/exchange, "
                      f"load {os.getloadavg()[0]:.1f}", file=sys.stderr)  # fmt: skip
        lever_figures = {}
        if options.levers:
            lever_figures = run_in(ROOT, [__file__, "--child", "levers", str(n)])

    def median(side: str, key: str) -> float:
        return statistics.median(r[key] for r in rounds[side])

    print(f"{n} exchanges of the specimen article, medians of {options.rounds} rounds "
          f"(before = {options.before}):")  # fmt: skip
    print(f"{'':>34} {'before':>10} {'after':>10} {'after/before':>13}")
    rows = [
        ("recorder CPU ms/exchange", lambda s: median(s, "recorder_cpu") / n * 1e3),
        (f"  fed at a crawl's pace ({PACE_SECONDS * 1e3:g} ms)",
         lambda s: median(s, "paced_cpu") / n * 1e3),
        ("recorder CPU ms/exchange, marginal",
         lambda s: (median(s, "recorder_cpu") - median(s, "fixed_cpu")) / (n - FIXED_EXCHANGES)
         * 1e3),
        (f"recorder fixed s ({FIXED_EXCHANGES} exchanges)", lambda s: median(s, "fixed_cpu")),
        ("main thread µs/exchange", lambda s: median(s, "main_us")),
        ("  of which framing (no pipe)", lambda s: median(s, "framing_us")),
        ("frame bytes/exchange", lambda s: median(s, "frame_bytes") / n),
        (".warc.gz bytes", lambda s: median(s, "warc_bytes")),
    ]  # fmt: skip
    for label, value in rows:
        before, after = value("before"), value("after")
        print(f"{label:>34} {before:>10.3f} {after:>10.3f} {after / before:>13.3f}")
    if lever_figures:
        print(f"this checkout's recorder by part, µs/exchange ({n} exchanges, one run):")
        for key in (
            "write",
            "index_built",
            "index_read_back",
            "records_ours",
            "records_fastwarc",
            "records_warcio",
            "gzip_zlib9",
            "gzip_isal",
        ):
            if key in lever_figures:
                print(f"{key:>34} {lever_figures[key] / n * 1e6:>10.1f}")
        zlib9, isal = lever_figures["bytes_zlib9"], lever_figures["bytes_isal"]
        print(f"{'gzip bytes isal/zlib9':>34} {isal / zlib9:>10.3f}")


if __name__ == "__main__":
    main()
