"""Raw capture (issue 12): every exchange a crawl reads is in the run's WARC files and WACZ.

The crawl tests run ``scrapy crawl`` on the replica as a user would (capture on by default)
and compare the capture with the replica's own request log: every answer the site gave,
robots.txt, redirects and errors included, must be a response record, and the WACZ must pass
``wacz validate`` (py-wacz) and hold every WARC file the run rotated through.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import os
import re
import signal
import subprocess
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from warcio.archiveiterator import ArchiveIterator

from newsarchive.browser import INSTALL_HINT, find_chromium
from newsarchive.capture import PAGES_NAME
from newsarchive.capture.channel import RecorderProcess
from newsarchive.capture.package import LiveIndex, indexed_records, package_run, wacz_command
from newsarchive.capture.writer import Exchange, WarcFiles
from newsarchive.manifest import sha256_file, verify_manifest
from newsarchive_replica.server import ReplicaServer
from tests.crawling import FAST, ROOT, SCRAPY, CrawlResult, crawl

#: Small enough that the replica's stream (~750 KB of gzip WARC) rotates into several files.
ROTATE_BYTES = 200_000


def exchange(url: str, body: bytes = b"<html><title>T</title></html>", status: int = 200,
             kind: str | None = "article") -> Exchange:  # fmt: skip
    return Exchange(
        url=url, method="GET", request_headers=[("User-Agent", "test")], request_body=b"",
        status=status, protocol="HTTP/1.1",
        response_headers=[("Content-Type", "text/html"), ("Transfer-Encoding", "chunked")],
        response_body=body, fetched_at=datetime.now(UTC), page_kind=kind,
    )  # fmt: skip


def read_warc(path: Path | io.BytesIO) -> list:
    """(type, target URI, status, headers, body) of every record of one WARC file."""
    stream = path.open("rb") if isinstance(path, Path) else path
    with stream:
        return [
            (
                r.rec_type,
                r.rec_headers.get_header("WARC-Target-URI"),
                r.http_headers.get_statuscode() if r.rec_type == "response" else None,
                r,
                r.content_stream().read(),
            )
            for r in ArchiveIterator(stream)
        ]


# --- the writer, without Scrapy -------------------------------------------------------------


def test_rotation_by_size_starts_each_file_with_warcinfo(tmp_path):
    files = WarcFiles(tmp_path, "run1", {"run_id": "run1"}, max_bytes=2_000)
    for n in range(30):
        files.write(exchange(f"http://site/newstream/{n}/", body=bytes(range(256)) * 8))
    files.close()
    assert len(files.paths) > 3
    assert files.paths == sorted(tmp_path.glob("run1-*.warc.gz"))
    uris = []
    for path in files.paths:
        records = read_warc(path)
        assert records[0][0] == "warcinfo"
        uris += [uri for kind, uri, *_ in records if kind == "response"]
    assert uris == [f"http://site/newstream/{n}/" for n in range(30)]
    # Scrapy hands the body over de-chunked: the stored headers say so.
    (_, _, status, record, body) = next(r for r in read_warc(files.paths[0]) if r[0] == "response")
    assert status == "200" and record.http_headers.get_header("Transfer-Encoding") is None
    assert record.http_headers.get_header("Content-Length") == str(len(body))


def test_page_list_holds_html_pages_with_their_warc_dates(tmp_path):
    files = WarcFiles(tmp_path, "run1", {}, max_bytes=10**9)
    files.write(exchange("http://site/listing/1/", kind="listing"))
    files.write(exchange("http://site/newstream/1/", body=b"gzip? no", status=503))
    files.write(exchange("http://site/robots.txt", body=b"User-agent: *", kind=None))
    files.write(exchange("http://site/newstream/1/"))
    files.close()
    header, *pages = [json.loads(line) for line in (tmp_path / PAGES_NAME).open()]
    assert header["format"] == "json-pages-1.0"
    assert [(p["url"], p["kind"], p["title"]) for p in pages] == [
        ("http://site/listing/1/", "listing", "T"), ("http://site/newstream/1/", "article", "T"),
    ]  # fmt: skip
    dates = {uri: r.rec_headers.get_header("WARC-Date")
             for kind, uri, _, r, _ in read_warc(files.paths[0]) if kind == "response"}  # fmt: skip
    assert all(page["ts"] == dates[page["url"]] for page in pages)


# --- the recorder process, fed as the crawl feeds it ----------------------------------------


def recorder_config(folder: Path, run_id: str = "run1", max_bytes: int = 10**9) -> dict:
    return {"folder": str(folder), "run_id": run_id, "info": {"run_id": run_id},
            "max_bytes": max_bytes, "wacz": str(folder.parent / f"{run_id}.wacz"),
            "title": "t"}  # fmt: skip


def frame(url: str, body: bytes = b"<html><title>T</title></html>") -> tuple:
    """A frame as the middleware sends it (Exchange.from_frame), headers as Scrapy holds them."""
    headers = {b"Content-Type": [b"text/html"]}
    return (url, "GET", {b"User-Agent": [b"test"]}, b"", 200, "HTTP/1.1", headers, body,
            datetime.now(UTC).isoformat(), None, url, False)  # fmt: skip


async def start_recorder(folder: Path, budget: int, on_lost: Callable[[str], None] = print,
                         niceness: int = 0) -> RecorderProcess:  # fmt: skip
    return await RecorderProcess.start(recorder_config(folder), budget, on_lost,
                                       niceness=niceness)  # fmt: skip


def responses_in(paths: list[str]) -> list[tuple[str, bytes]]:
    return [(uri, body) for path in paths for kind, uri, _, _, body in read_warc(Path(path))
            if kind == "response"]  # fmt: skip


def test_a_stopped_recorder_makes_the_crawl_wait_within_its_budget(tmp_path):
    """A recorder slower than the network (here: stopped): the crawl's ``send`` waits, the
    bytes waiting in the crawl never pass the budget plus one frame, and once the recorder
    goes on every exchange is written."""
    budget, body = 300_000, bytes(range(256)) * 400  # 100 KB per frame
    lost: list[str] = []

    async def crawl_fast() -> tuple[int, int, dict]:
        recorder = await start_recorder(tmp_path / "c", budget, lost.append)
        os.kill(recorder.process.pid, signal.SIGSTOP)
        peak = waited = 0
        try:
            for n in range(40):
                send = asyncio.ensure_future(recorder.send(frame(f"http://site/{n}", body)))
                done, _ = await asyncio.wait([send], timeout=0.2)
                peak = max(peak, recorder.buffered_bytes)
                if not done:
                    waited += 1
                    os.kill(recorder.process.pid, signal.SIGCONT)
                    await send
                    os.kill(recorder.process.pid, signal.SIGSTOP)
        finally:
            os.kill(recorder.process.pid, signal.SIGCONT)
        return peak, waited, await recorder.close()

    peak, waited, result = asyncio.run(crawl_fast())
    assert waited > 0 and peak <= budget + len(body) + 1_000
    assert result["exchanges"] == 40 and lost == []
    assert [uri for uri, _ in responses_in(result["paths"])] == [
        f"http://site/{n}" for n in range(40)
    ]


def test_a_frame_larger_than_the_budget_still_goes_through(tmp_path):
    body = b"x" * 3_000_000  # more than the budget and the pipe together

    async def send() -> dict:
        recorder = await start_recorder(tmp_path / "c", 10)
        await asyncio.wait_for(recorder.send(frame("http://site/big", body)), 30)
        return await recorder.close()

    result = asyncio.run(send())
    assert responses_in(result["paths"]) == [("http://site/big", body)]


def test_a_failed_recorder_keeps_draining(tmp_path):
    """Disk full: the error comes back once, and the crawl is never left waiting."""
    blocker = tmp_path / "file"
    blocker.write_text("")

    async def send() -> dict:
        recorder = await start_recorder(blocker / "sub", 100)
        for n in range(20):
            await asyncio.wait_for(recorder.send(frame(f"http://s/{n}", b"y" * 5_000)), 5)
        return await recorder.close()

    result = asyncio.run(send())
    assert "Not a directory" in result["failed"] and result["exchanges"] == 0
    assert result["paths"] == [] and "wacz" not in result


def test_a_recorder_that_dies_is_reported_and_never_waited_for(tmp_path):
    """The recorder killed mid-run: the crawl's sends return at once from then on, it is
    told once why, and closing gives no result instead of waiting."""
    lost: list[str] = []

    async def send() -> dict | None:
        recorder = await start_recorder(tmp_path / "c", 50_000, lost.append)
        await recorder.send(frame("http://s/first"))
        os.kill(recorder.process.pid, signal.SIGKILL)
        await recorder.process.wait()
        for n in range(200):  # far more than the pipe and the budget hold
            await asyncio.wait_for(recorder.send(frame(f"http://s/{n}", b"z" * 10_000)), 5)
        return await asyncio.wait_for(recorder.close(), 30)

    assert asyncio.run(send()) is None
    assert len(lost) == 1 and "stopped reading" in lost[0]


def test_the_recorder_runs_below_the_crawl_s_priority(tmp_path):
    """Its work can wait for CPU, the crawl's cannot (newsarchive.capture.channel)."""
    own = os.getpriority(os.PRIO_PROCESS, 0)

    async def priority_of_a_recorder(niceness: int) -> int:
        recorder = await start_recorder(tmp_path / str(niceness), 1_000_000, niceness=niceness)
        try:
            return os.getpriority(os.PRIO_PROCESS, recorder.process.pid)
        finally:
            await recorder.close()

    assert asyncio.run(priority_of_a_recorder(0)) == own
    assert asyncio.run(priority_of_a_recorder(5)) == min(19, own + 5)
    assert asyncio.run(priority_of_a_recorder(19)) == 19


def test_a_recorder_that_got_nothing_ends_at_once_and_creates_nothing(tmp_path):
    async def nothing() -> dict:
        recorder = await start_recorder(tmp_path / "never", 1)
        return await asyncio.wait_for(recorder.close(), 30)

    result = asyncio.run(nothing())
    assert result["paths"] == [] and result["failed"] is None and "wacz" not in result
    assert not (tmp_path / "never").exists()


def test_packaging_failure_is_reported_and_the_warcs_stay(tmp_path):
    bogus = tmp_path / "run-00001.warc.gz"
    bogus.write_bytes(b"this is not a WARC file")
    index = LiveIndex().start()
    index.opened(bogus)
    index.closed(bogus)
    result = package_run(index, [bogus], tmp_path / PAGES_NAME, tmp_path / "run.wacz", "t", 3)
    assert result.error == "its index lists 0 of the 3 responses recorded"
    assert bogus.is_file() and not (tmp_path / "run.wacz").exists()
    assert not (tmp_path / "run.wacz.part").exists()


def test_indexed_records_counts_across_blocks(tmp_path):
    """Index lines read in 1 MiB blocks: a status cut by a block's end still counts once."""
    line = 'org,site)/ 20261201000000 {"url": "http://site/", "status": "200", "x": "%s"}\n'
    lines = [line % ("y" * (n % 97)) for n in range(40_000)]  # several MiB inflated
    lines += ['org,site)/ 20261201000000 {"url": "http://site/", "mime": "warc/request"}\n']
    with zipfile.ZipFile(tmp_path / "t.wacz", "w") as archive:
        archive.writestr("indexes/index.cdx.gz", gzip.compress("".join(lines).encode()))
    assert indexed_records(tmp_path / "t.wacz") == 40_000


def packaged_and_made_by_wacz_create(
    index: LiveIndex, files: WarcFiles, tmp_path: Path
) -> tuple[Path, Path]:
    """The run packaged by the recorder's code, and by `wacz create` from the same files
    (folder ``tmp_path / "c"``): the two packages to compare."""
    pages = tmp_path / "c" / PAGES_NAME
    live = package_run(index, files.paths, pages, tmp_path / "live.wacz", "t", files.exchanges)
    assert live.error is None, live.error
    made = tmp_path / "made.wacz"
    subprocess.run(wacz_command("create", "-o", str(made), "--copy-pages", "-p", str(pages),
                                *map(str, files.paths)),
                   check=True, capture_output=True)  # fmt: skip
    return live.path, made


def test_the_index_follows_a_warc_file_as_it_grows(tmp_path):
    """Indexed while written, the package equals what py-wacz makes of the finished files."""
    index = LiveIndex().start()
    files = WarcFiles(tmp_path / "c", "run1", {"run_id": "run1"}, 3_000, index)
    for n in range(30):
        files.write(exchange(f"http://site/newstream/{n}/", body=bytes(range(256)) * 8))
        time.sleep(0.002)
    files.close()
    live, made = packaged_and_made_by_wacz_create(index, files, tmp_path)
    with zipfile.ZipFile(live) as ours, zipfile.ZipFile(made) as theirs:
        assert ours.namelist() == theirs.namelist()
        for name in ("indexes/index.cdx.gz", "pages/pages.jsonl"):
            assert gzip.decompress(ours.read(name)) == gzip.decompress(theirs.read(name)) \
                if name.endswith(".gz") else ours.read(name) == theirs.read(name)  # fmt: skip
        assert ours.read("indexes/index.idx") == theirs.read("indexes/index.idx")
    checked = subprocess.run(wacz_command("validate", "-f", str(live)),
                             capture_output=True, text=True)  # fmt: skip
    assert checked.returncode == 0, checked.stdout


# --- a crawl of the replica -----------------------------------------------------------------


@pytest.fixture(scope="module")
def captured(tmp_path_factory) -> tuple[CrawlResult, list[dict], Path]:
    """The replica's Naenara stream crawled with default settings (capture on), WARC files
    rotated small; with the replica's log of every request it answered."""
    data = tmp_path_factory.mktemp("capture")
    with ReplicaServer() as site:
        result = crawl(data, f"start_url={site.start_url('naenara', 'listing')}",
                       settings={"NEWSARCHIVE_WARC_MAX_FILE_BYTES": str(ROTATE_BYTES)})  # fmt: skip
        log = site.requests
    assert result.returncode == 0, result.log[-3000:]
    return result, log, data


def wacz_records(wacz: Path) -> dict[str, list]:
    with zipfile.ZipFile(wacz) as archive:
        return {
            name: read_warc(io.BytesIO(archive.read(name)))
            for name in archive.namelist()
            if name.startswith("archive/")
        }


def test_wacz_passes_wacz_validate(captured):
    result, _, _ = captured
    checked = subprocess.run(
        wacz_command("validate", "-f", result.summary["wacz"]),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Validation succeeded, the passed WACZ is valid" in checked.stdout


def test_wacz_holds_every_answer_the_site_gave(captured):
    """Each request in the replica's log (listings, articles, robots.txt, redirects, 403s,
    503s, 404/410s) is one response record with the same status, and nothing else is."""
    result, log, _ = captured
    answered = Counter((entry["path"], entry["query"], str(entry["status"])) for entry in log)
    recorded: Counter = Counter()
    requests, responses = set(), {}
    for records in wacz_records(Path(result.summary["wacz"])).values():
        for kind, uri, status, record, _ in records:
            record_id = record.rec_headers.get_header("WARC-Record-ID")
            if kind == "response":
                parts = urlsplit(uri)
                recorded[(parts.path, parts.query, status)] += 1
                responses[record_id] = uri
                assert record.rec_headers.get_header("WARC-Date")
            elif kind == "request":
                requests.add((record.rec_headers.get_header("WARC-Concurrent-To"), uri))
    assert recorded == answered
    assert set(responses.items()) == requests  # each response with its request
    statuses = {status for _, _, status in answered}
    assert {"200", "301", "302", "403", "503"} <= statuses
    assert ("/robots.txt", "", "200") in answered
    assert result.summary["items"] > 150


def test_wacz_holds_every_rotated_warc_file(captured):
    result, _, data = captured
    warcs = [Path(p) for p in result.summary["warc_files"]]
    run_id = result.summary["run_id"]
    assert len(warcs) >= 3
    assert warcs == sorted((data / "warc" / "naenara" / run_id).glob("*.warc.gz"))
    assert all(path.stat().st_size < ROTATE_BYTES + 200_000 for path in warcs)
    with zipfile.ZipFile(result.summary["wacz"]) as archive:
        package = json.loads(archive.read("datapackage.json"))
        for path in warcs:  # byte for byte, and listed with its hash
            assert archive.read(f"archive/{path.name}") == path.read_bytes()
        listed = {resource["path"] for resource in package["resources"]}
        cdxj = gzip.decompress(archive.read("indexes/index.cdx.gz")).decode()
    assert {f"archive/{path.name}" for path in warcs} | {"indexes/index.cdx.gz"} <= listed
    assert all(r["hash"].startswith("sha256:") for r in package["resources"])
    indexed = {json.loads(line.split(" ", 2)[2])["filename"] for line in cdxj.splitlines()}
    assert indexed == {path.name for path in warcs}


def test_pages_index_lists_every_listing_and_article_page(captured):
    result, log, _ = captured
    with zipfile.ZipFile(result.summary["wacz"]) as archive:
        header, *pages = [json.loads(x) for x in archive.read("pages/pages.jsonl").splitlines()]
    assert header["format"] == "json-pages-1.0"
    html_pages = Counter(
        (e["path"], e["query"]) for e in log if e["status"] == 200 and e["path"] != "/robots.txt"
    )
    listed = Counter((urlsplit(p["url"]).path, urlsplit(p["url"]).query) for p in pages)
    assert listed == html_pages
    kinds = Counter(page["kind"] for page in pages)
    assert kinds["listing"] >= 9 and kinds["article"] >= result.summary["items"]


def test_summary_and_manifest_name_the_wacz_and_its_sha256(captured):
    result, _, _ = captured
    wacz = Path(result.summary["wacz"])
    assert wacz.name == f"{result.summary['run_id']}.wacz"
    assert result.summary["wacz_sha256"] == sha256_file(wacz)
    manifest_path = Path(result.summary["manifest"])
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    (entry,) = [f for f in manifest["files"] if f["format"] == "wacz"]
    assert entry["sha256"] == result.summary["wacz_sha256"]
    assert len([f for f in manifest["files"] if f["format"] == "warc"]) == len(
        result.summary["warc_files"]
    )
    assert verify_manifest(manifest_path) == []
    # the recorder's progress reaches the crawl's log
    assert "packaging the run as WACZ" in result.log and f"WACZ: {wacz} (" in result.log
    assert re.search(r"Recorder process: [0-9.]+ s of CPU, peak RSS [0-9.]+ MiB", result.log)


def test_capture_off_writes_nothing(tmp_path):
    with ReplicaServer(naenara_articles=60) as site:
        result = crawl(tmp_path, f"start_url={site.start_url('naenara', 'listing')}",
                       settings={"NEWSARCHIVE_WARC_ENABLED": "False"})  # fmt: skip
    assert result.returncode == 0, result.log[-3000:]
    assert result.items and not (tmp_path / "warc").exists()
    assert "wacz" not in result.summary and result.summary["warc_files"] == []


# --- kill -9 ----------------------------------------------------------------------------


def _recorder_of(pid: int) -> int:
    """The pid of the recorder process the crawl ``pid`` started."""
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        if b"newsarchive.capture.recorder" in Path(f"/proc/{child}/cmdline").read_bytes():
            return int(child)
    raise AssertionError(f"crawl {pid} has no recorder process")


def _has_ended(pid: int) -> bool:
    try:  # an orphan nobody reaps yet is a zombie: ended all the same
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "ZX"
    except FileNotFoundError:
        return True


def _wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"no {what} after {seconds} s"
        time.sleep(0.02)


def _killed_crawl(tmp_path: Path, whole_group: bool) -> tuple[Path, list[dict], int]:
    """A crawl of a slow replica killed with SIGKILL once it has recorded a few pages: the
    crawl process alone, or its whole process group (the recorder with it)."""
    with ReplicaServer(naenara_articles=60) as site:
        site.faults.add("^/newstream/", "delay:0.1", repeat=True)
        settings = {**FAST, "NEWSARCHIVE_DATA_DIR": str(tmp_path),
                    "CONCURRENT_REQUESTS_PER_DOMAIN": "2"}  # fmt: skip
        command = [*SCRAPY, "crawl", "naenara", "-a",
                   f"start_url={site.start_url('naenara', 'listing')}"]  # fmt: skip
        for name, value in settings.items():
            command += ["-s", f"{name}={value}"]
        quiet = subprocess.DEVNULL
        crawl_process = subprocess.Popen(command, cwd=ROOT, stdout=quiet, stderr=quiet,
                                         start_new_session=True)  # fmt: skip
        try:
            pages = tmp_path / "warc" / "naenara"
            _wait_for(lambda: sum(1 for _ in pages.glob(f"*/{PAGES_NAME}")) == 1, 60, "page list")
            (page_list,) = pages.glob(f"*/{PAGES_NAME}")
            _wait_for(lambda: len(page_list.read_text().splitlines()) > 6, 60, "6 pages")
            recorder = _recorder_of(crawl_process.pid)
            if whole_group:
                os.killpg(crawl_process.pid, signal.SIGKILL)
            else:
                crawl_process.send_signal(signal.SIGKILL)
            crawl_process.wait(30)
            _wait_for(lambda: _has_ended(recorder), 30, "end of the recorder")
        finally:
            if crawl_process.poll() is None:
                os.killpg(crawl_process.pid, signal.SIGKILL)
        return page_list.parent, site.requests, recorder


@pytest.mark.parametrize("whole_group", [False, True], ids=["crawl", "process-group"])
def test_a_run_killed_with_sigkill_leaves_readable_warcs(tmp_path, whole_group):
    """kill -9 of the crawl: the recorder writes what the pipe still held, closes its files
    and ends (nothing is packaged); kill -9 of both: the files hold whole records up to the
    last one written. Either way every record reads, each response with its request, and
    every page the page list names is in the WARC files."""
    folder, log, _ = _killed_crawl(tmp_path, whole_group)
    answered = {(e["path"], e["query"], str(e["status"])) for e in log}
    responses, requests = {}, set()
    for path in sorted(folder.glob("*.warc.gz")):
        for kind, uri, status, record, _ in read_warc(path):  # reads every record, or raises
            if kind == "response":
                parts = urlsplit(uri)
                assert (parts.path, parts.query, status) in answered
                responses[record.rec_headers.get_header("WARC-Record-ID")] = (
                    uri, record.rec_headers.get_header("WARC-Date"),
                )  # fmt: skip
            elif kind == "request":
                requests.add(record.rec_headers.get_header("WARC-Concurrent-To"))
    assert len(responses) >= 6 and set(responses) == requests
    header, *pages = [json.loads(line) for line in (folder / PAGES_NAME).read_text().splitlines()]
    assert header["format"] == "json-pages-1.0" and len(pages) >= 6
    assert {(p["url"], p["ts"]) for p in pages} <= set(responses.values())
    assert not list(folder.parent.glob("*.wacz*"))  # a killed run is not packaged
    assert len(pages) < 60  # it was killed mid-way through the stream's 60 articles


# --- a scripted listing, rendered in Chromium -------------------------------------------------


@pytest.mark.browser
@pytest.mark.parametrize("render", ["auto", "always"])
def test_browser_requests_of_a_scripted_listing_are_recorded(tmp_path, render):
    """What Chromium fetched (the listing, its script, the "More Articles" XHRs; with
    ``render=always`` every article too, redirects included) is in the WACZ beside the plain
    HTTP exchanges: again every answer of the replica's log."""
    found = find_chromium(os.environ.get("NEWSARCHIVE_CHROMIUM_PATH", ""))
    if found.path is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true and no Chromium: {INSTALL_HINT}")
        pytest.skip(f"no Chromium: {INSTALL_HINT}")
    with ReplicaServer(scripted=True, naenara_articles=60) as site:
        # always: from an article page, as tests/test_browser.py does for scripted listings
        start = site.start_url("naenara", "listing" if render == "auto" else "article")
        result = crawl(tmp_path, f"start_url={start}", f"render={render}")
        log, expected = site.requests, site.expected("naenara")
    assert result.returncode == 0, result.log[-3000:]
    # Chromium asks for /favicon.ico on its own, outside the page's network events (which is
    # what the capture hears), and only sometimes before the page closes: not page content.
    answered = Counter(
        (entry["path"], entry["query"], str(entry["status"]))
        for entry in log
        if entry["path"] != "/favicon.ico"
    )
    recorded: Counter = Counter()
    for records in wacz_records(Path(result.summary["wacz"])).values():
        for kind, uri, status, _, _ in records:
            if kind == "response" and urlsplit(uri).path != "/favicon.ico":
                recorded[(urlsplit(uri).path, urlsplit(uri).query, status)] += 1
    assert recorded == answered
    assert any(path == "/wp-admin/admin-ajax.php" for path, _, _ in recorded)
    with zipfile.ZipFile(result.summary["wacz"]) as archive:
        pages = [json.loads(x) for x in archive.read("pages/pages.jsonl").splitlines()[1:]]
    listings = [p["url"] for p in pages if p["kind"] == "listing"]
    if render == "auto":  # the listing read over HTTP (it needs a browser), then in Chromium
        assert listings == [site.start_url("naenara", "listing")] * 2
    else:
        assert len(listings) == 1 and "paged=2" in listings[0]
    assert re.search(r"'newsarchive/capture/browser_exchanges': [1-9]", result.log)
    assert len(result.items) == len(expected) > 50


def test_a_crawl_whose_recorder_dies_fails_its_verdict(tmp_path):
    """The recorder killed while the crawl goes on: the crawl finishes, but its raw pages are
    not all kept, so the run fails (the capture check, exit 1), never a quiet success."""
    with ReplicaServer(naenara_articles=40) as site:
        site.faults.add("^/newstream/", "delay:0.05", repeat=True)
        command = [*SCRAPY, "crawl", "naenara", "-a",
                   f"start_url={site.start_url('naenara', 'listing')}"]  # fmt: skip
        settings = {**FAST, "NEWSARCHIVE_DATA_DIR": str(tmp_path),
                    "CONCURRENT_REQUESTS_PER_DOMAIN": "2"}  # fmt: skip
        for name, value in settings.items():
            command += ["-s", f"{name}={value}"]
        crawl_process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, text=True)  # fmt: skip
        try:
            pages = tmp_path / "warc" / "naenara"
            _wait_for(lambda: sum(1 for _ in pages.glob(f"*/{PAGES_NAME}")) == 1, 60, "page list")
            (page_list,) = pages.glob(f"*/{PAGES_NAME}")
            _wait_for(lambda: len(page_list.read_text().splitlines()) > 4, 60, "4 pages")
            os.kill(_recorder_of(crawl_process.pid), signal.SIGKILL)
            _, stderr = crawl_process.communicate(timeout=120)
        finally:
            if crawl_process.poll() is None:
                crawl_process.kill()
    assert crawl_process.returncode == 1, stderr[-3000:]
    assert "Monitor check capture FAILED" in stderr
    assert "'finish_reason': 'finished'" in stderr  # the crawl itself ran to its end


@pytest.mark.parametrize("ended", [True, False], ids=["crawl-ended", "crawl-gone"])
def test_the_recorder_process_exit_status(tmp_path, ended):
    """0 with its result once the crawl ends the input (``None``); 1 and no result when the
    input stops without it (a killed crawl); the records delivered are on disk either way."""
    import pickle

    from newsarchive.capture.channel import COMMAND

    config = recorder_config(tmp_path / "run", "r1")  # its WACZ: tmp_path / "r1.wacz"
    frames = [config, frame("http://127.0.0.1:8000/newstream/1-1/a/"), *([None] if ended else [])]
    done = subprocess.run(
        COMMAND, capture_output=True, timeout=60,
        input=b"".join(pickle.dumps(f, pickle.HIGHEST_PROTOCOL) for f in frames),
    )  # fmt: skip
    results = [json.loads(line)["result"] for line in done.stdout.splitlines()
               if line.startswith(b'{"result"')]  # fmt: skip
    assert len(read_warc(tmp_path / "run" / "r1-00001.warc.gz")) == 3  # warcinfo and the pair
    if ended:
        assert done.returncode == 0, done.stderr[-2000:]
        assert [r["exchanges"] for r in results] == [1] and results[0]["wacz_error"] is None
        assert (tmp_path / "r1.wacz").is_file()
    else:
        assert done.returncode == 1 and results == []
        assert not (tmp_path / "r1.wacz").exists()


def test_the_recorder_reads_its_pipe_in_bursts(monkeypatch):
    """It naps before a read only while nothing waits in the pipe, and reads every frame."""
    import fcntl
    import pickle

    from newsarchive.capture import recorder as process

    naps: list[int] = []
    monkeypatch.setattr(process.BurstReader, "nap", lambda reader: naps.append(reader.fd))
    read_end, write_end = os.pipe()
    try:
        fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 1024 * 1024)
        frames = [b"x" * 200_000, b"y" * 200_000, None]
        os.write(write_end, b"".join(pickle.dumps(f, pickle.HIGHEST_PROTOCOL) for f in frames))
        os.close(write_end)
        source = process.pipe_source(read_end)
        # pickle.load would peek ahead of each frame: a copy of the whole 2 MiB buffer
        assert not hasattr(source, "peek")
        assert [pickle.load(source) for _ in frames] == frames
        assert naps == []  # frames were waiting: read at once
        with pytest.raises(EOFError):
            pickle.load(source)
        assert naps == [read_end]  # nothing waiting: a nap, then the end
    finally:
        os.close(read_end)


def test_the_recorder_s_nap_ends_when_the_crawl_closes_the_pipe(monkeypatch):
    """Once the crawl has closed its end, every frame is in the pipe and the crawl waits for
    the package: a nap that has begun ends then, not when its time is up."""
    import threading

    from newsarchive.capture import recorder as process

    monkeypatch.setattr(process, "_NAP_SECONDS", 30)
    read_end, write_end = os.pipe()
    try:
        reader = process.BurstReader(read_end)
        started = time.monotonic()
        threading.Timer(0.2, os.close, [write_end]).start()
        reader.nap()
        assert 0.15 < time.monotonic() - started < 10
        assert reader.readinto(bytearray(10)) == 0  # the end
    finally:
        os.close(read_end)
