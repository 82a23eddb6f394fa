"""``scrapy reextract`` end to end: captures of a replica crawl re-read with no network, into
the same feeds and PostgreSQL archive; a changed rule with a bumped version, a second run,
a killed run resumed. Also the capture reader on both capture layouts.
"""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
import zlib
from datetime import date
from io import BytesIO
from pathlib import Path

import brotli
import psutil
import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from newsarchive import stats as names
from newsarchive.commands.reextract import exit_verdict
from newsarchive.reextract.captures import (
    article_locations,
    article_pages,
    find_captures,
    read_page,
)
from newsarchive.reextract.shares import read_entries, write_entry
from newsarchive_replica.server import ReplicaServer
from tests.crawling import read_jsonl
from tests.test_postgres_crawl import (
    RECHECK_ALL,
    ROOT,
    crawl,
    environment,
    query,
    scrapy_command,
)

RUN_A = "20261201T100000Z-0000000a"
RUN_B = "20261202T100000Z-0000000b"
ARTICLE = "http://site.test/newstream/1713006283-531298405/talks/"
#: A cleaning rule changed, and the version bumped with it, in every process (the workers
#: too): sitecustomize runs before any project module is imported.
CHANGED_RULE = """
import newsarchive.extraction_version as version
import newsarchive.processors as p
version.EXTRACTOR_VERSION = "2099.1.1"
_collapse = p.collapse_whitespace
p.collapse_whitespace = lambda text: _collapse(text).replace(" the ", " THE ")
"""


def _write_warc(path: Path, pages: list[tuple[str, int, bytes]], gzip_body: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as stream:
        writer = WARCWriter(stream, gzip=True)
        for url, status, body in pages:
            headers = [("Content-Type", "text/html; charset=UTF-8")]
            if gzip_body:
                body = gzip.compress(body)
                headers.append(("Content-Encoding", "gzip"))
            http = StatusAndHeaders(f"{status} X", headers, protocol="HTTP/1.1")
            record = writer.create_warc_record(
                url, "response", payload=BytesIO(body), http_headers=http
            )
            writer.write_record(record)


def test_captures_in_both_layouts_give_their_article_pages(tmp_path):
    page = b"<html><body><h1>T</h1></body></html>"
    single = tmp_path / "warc" / "naenara" / f"{RUN_A}.warc.gz"
    _write_warc(single, [(ARTICLE, 200, page), ("http://site.test/?source=x", 200, page)], False)
    rotated = tmp_path / "warc" / "kcna" / RUN_B
    _write_warc(
        rotated / f"{RUN_B}-00001.warc.gz", [(ARTICLE, 301, b""), (ARTICLE, 200, page)], True
    )
    _write_warc(rotated / f"{RUN_B}-00002.warc.gz", [(ARTICLE, 200, page)], True)
    captures = find_captures(tmp_path)
    assert [(c.spider, c.run_id, len(c.files)) for c in captures] == [
        ("naenara", RUN_A, 1),
        ("kcna", RUN_B, 2),
    ]
    assert [c.run_id for c in find_captures(tmp_path, run_id=RUN_B)] == [RUN_B]
    assert [c.run_id for c in find_captures(tmp_path, since=date(2026, 12, 2))] == [RUN_B]
    assert [c.run_id for c in find_captures(tmp_path, until=date(2026, 12, 1))] == [RUN_A]
    # listings and redirects are not article pages; gzip bodies come back decoded
    assert [p.body for p in article_pages(single)] == [page]
    assert [p.body for f in captures[1].files for p in article_pages(f)] == [page, page]
    both = [p.url for s in (0, 1) for p in article_pages(captures[1].files[0], s, 2)]
    assert both == [ARTICLE]


def test_share_entries_come_whole_and_in_order_however_the_file_is_cut():
    """A worker appends frames while the main process reads the file in chunks: an entry cut
    by a chunk's end comes with the next chunk, unchanged."""
    entries = [
        {"record_id": f"<urn:uuid:{n}>", "item": {"title": "T\u00e9 " * n, "original_url": None}}
        for n in range(50)
    ]
    entries[7]["errors"] = {"extractor_version": ["does not match"]}
    out = BytesIO()
    for entry in entries:
        write_entry(out, entry)
    data = out.getvalue()
    for size in (1, 3, 64, 1000, len(data)):
        read, partial = [], b""
        for start in range(0, len(data), size):
            whole, partial = read_entries(partial + data[start : start + size])
            read.extend(whole)
        assert read == entries
        assert partial == b""


def _encoded(body: bytes, coding: str) -> tuple[bytes, list[tuple[str, str]]]:
    """``body`` as a server sends it with ``coding`` (a Content-Encoding, or ``chunked``)."""
    if coding.startswith("chunked"):
        brotli_coded = coding == "chunked-br"
        body = brotli.compress(body) if brotli_coded else body
        framed = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (body[:7], body[7:]))
        coded = [("Content-Encoding", "br")] if brotli_coded else []
        return framed + b"0\r\n\r\n", [("Transfer-Encoding", "chunked"), *coded]
    encoded = {
        "identity": body,
        "gzip": gzip.compress(body),
        "x-gzip": gzip.compress(body),  # warcio does not decode it: passed on as it is
        "deflate": zlib.compress(body),
        "br": brotli.compress(body),
        "broken-gzip": gzip.compress(body)[:-9],
        "broken-br": b"not brotli",
        "two-members": gzip.compress(body) + gzip.compress(body),
    }[coding]
    name = coding.replace("broken-", "").replace("two-members", "gzip")
    return encoded, [("Content-Encoding", name)]


def test_the_fast_scan_gives_every_page_as_warcio_reads_it(tmp_path):
    """FastWARC scans the captures; every body must come out as warcio's ``content_stream``
    decodes it (the fast path's own decoding, or warcio's where it is not certain)."""
    page = (ROOT / "tests" / "fixtures" / "specimen_article.html").read_bytes()
    codings = ["identity", "gzip", "x-gzip", "deflate", "br", "broken-gzip", "broken-br",
               "two-members", "chunked", "chunked-br"]  # fmt: skip
    path = tmp_path / "capture.warc.gz"
    with path.open("wb") as stream:
        writer = WARCWriter(stream, gzip=True)
        for number, coding in enumerate(codings):
            body, headers = _encoded(page, coding)
            headers = [("Content-Type", "text/html; charset=UTF-8"), *headers]
            http = StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1")
            url = f"http://site.test/newstream/17130062{number:02d}-531298405/{coding}/"
            writer.write_record(writer.create_warc_record(
                url, "response", payload=BytesIO(body), http_headers=http
            ))  # fmt: skip
            asked = StatusAndHeaders(f"GET {url} HTTP/1.1", [("Host", "site.test")],
                                     is_http_request=True)  # fmt: skip
            request = writer.create_warc_record(
                url, "request", payload=BytesIO(b""), http_headers=asked
            )
            writer.write_record(request)  # a request between responses, as captures have
    pages = list(article_pages(path))
    locations = list(article_locations(path))
    assert [url for url, _ in locations] == [p.url for p in pages]
    assert len(pages) == len(codings)
    for fast, (_, location) in zip(pages, locations, strict=True):
        slow = read_page(location)  # warcio, from the record's offset
        assert (fast.url, fast.record_id, fast.fetched_at) == (
            slow.url,
            slow.record_id,
            slow.fetched_at,
        )
        assert fast.headers == slow.headers
        assert fast.body == slow.body, fast.url
    decoded = {p.url.split("/")[-2]: p.body for p in pages}
    assert {c for c, body in decoded.items() if body == page} >= {
        "identity",
        "gzip",
        "deflate",
        "br",
        "two-members",
        "chunked",
    }


CHILD_START = """
import os, threading
from newsarchive.reextract.pool import start_method, start_workers
before = start_method()
with start_workers(2) as pool:
    parents = {pool.submit(os.getppid).result() for _ in range(4)}
    print(before, parents == {os.getpid()})
threading.Thread(target=threading.Event().wait, daemon=True).start()
print(start_method())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork is used on Linux only")
def test_workers_are_forked_while_the_command_has_one_thread():
    """Forked, the workers inherit the imported extraction (no start-up); once a thread runs,
    forking is unsafe and they are spawned."""
    result = subprocess.run([sys.executable, "-c", CHILD_START], cwd=ROOT, env=environment(),
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["fork", "True", "spawn"]


DONE = {"finish_reason": "finished", names.REEXTRACT_COMPLETE: 1}


@pytest.mark.parametrize(
    ("stats", "status", "says"),
    [
        (DONE, 0, None),
        ({**DONE, names.REEXTRACT_NO_CAPTURES: 1}, 1, "no captures"),
        ({**DONE, "finish_reason": "shutdown"}, 1, "stopped early (shutdown)"),
        ({names.REEXTRACT_COMPLETE: 1}, 1, "stopped early (no reason recorded)"),
        ({"finish_reason": "finished"}, 1, "before every capture was re-read"),
        ({**DONE, names.SCHEMA_ITEMS_WITH_ERRORS: 2}, 1, "2 items violate the item schema"),
        ({**DONE, names.RUN_FAILED: 1}, 1, "the run monitor failed the run"),
    ],
)
def test_the_exit_status_is_0_only_for_a_whole_finished_run(stats, status, says):
    """Scrapy's "finished" alone is not enough: start() must have read every share."""
    code, error = exit_verdict(stats)
    assert code == status
    assert (error is None) if says is None else (says in (error or ""))


def test_a_selection_without_captures_is_one_line_and_a_failure(tmp_path):
    line = scrapy_command("reextract", "--run", RUN_A, url=None, data_dir=tmp_path)
    result = subprocess.run(line, cwd=ROOT, env=environment(), capture_output=True, text=True)
    assert result.returncode == 1
    assert "scrapy reextract: error: no captures for this selection" in result.stderr


def test_items_are_validated_in_the_workers_and_a_violation_fails_the_run(tmp_path):
    """The workers validate with Spidermon's validator; the run counts the verdicts under
    Spidermon's names and exits 1 on a violation (here: a version the schema refuses)."""
    page = (ROOT / "tests" / "fixtures" / "specimen_article.html").read_bytes()
    _write_warc(tmp_path / "warc" / "naenara" / f"{RUN_A}.warc.gz", [(ARTICLE, 200, page)], True)
    line = scrapy_command("reextract", url=None, data_dir=tmp_path)
    good = subprocess.run(line, cwd=ROOT, env=environment(), capture_output=True, text=True)
    assert good.returncode == 0, good.stderr[-2000:]
    assert "'spidermon/validation/items': 1" in good.stderr
    folder = tmp_path / "bad_version"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(
        "import newsarchive.extraction_version as v\nv.EXTRACTOR_VERSION = 'not-a-version'\n"
    )
    env = {**environment(), "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT)])}
    bad = subprocess.run(line, cwd=ROOT, env=env, capture_output=True, text=True)
    assert bad.returncode == 1
    assert "scrapy reextract: error: 1 items violate the item schema" in bad.stderr
    assert "'spidermon/validation/fields/errors/regex_not_matched/extractor_version': 1" in (
        bad.stderr
    )


DROP_EVERY_ITEM = """
from scrapy.exceptions import DropItem


class DropEveryItem:
    def process_item(self, item):
        raise DropItem("kept out of the feed")
"""


def test_without_a_database_only_items_in_the_feed_are_journalled(tmp_path):
    """No database: the journal holds the pages whose items reached the feed. A dropped item
    is not journalled, so the next run re-extracts it; a run that finishes removes the job."""
    page = (ROOT / "tests" / "fixtures" / "specimen_article.html").read_bytes()
    _write_warc(tmp_path / "warc" / "naenara" / f"{RUN_A}.warc.gz", [(ARTICLE, 200, page)], True)
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "drop_every_item.py").write_text(DROP_EVERY_ITEM, encoding="utf-8")
    env = {**environment(), "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT)])}
    drop = {"ITEM_PIPELINES": '{"drop_every_item.DropEveryItem": 100}'}
    line = scrapy_command("reextract", url=None, data_dir=tmp_path, settings=drop)
    dropped = subprocess.run(line, cwd=ROOT, env=env, capture_output=True, text=True)
    assert dropped.returncode == 0, dropped.stderr[-2000:]
    assert "'item_dropped_count': 1" in dropped.stderr
    assert "item_scraped_count" not in dropped.stderr  # counted by the spider (CoreStats' name)
    journals = list((tmp_path / "reextract").glob("*/done.txt"))
    assert [j.read_text() for j in journals] == [""]
    assert reextract_feed(tmp_path) == []
    line = scrapy_command("reextract", url=None, data_dir=tmp_path)
    again = subprocess.run(line, cwd=ROOT, env=environment(), capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "Resuming" not in again.stderr
    assert "'item_scraped_count': 1" in again.stderr
    assert len(reextract_feed(tmp_path)) == 1
    assert not any((tmp_path / "reextract").iterdir())


# --- end to end, with PostgreSQL ---------------------------------------------------------------


def reextract(url: str, data_dir: Path, *args: str, env: dict[str, str] | None = None):
    line = scrapy_command("reextract", *args, url=url, data_dir=data_dir)
    return subprocess.run(
        line, cwd=ROOT, env={**environment(), **(env or {})}, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


def changed_rule_env(tmp_path: Path) -> dict[str, str]:
    folder = tmp_path / "changed_rule"
    folder.mkdir(exist_ok=True)
    (folder / "sitecustomize.py").write_text(CHANGED_RULE, encoding="utf-8")
    return {"PYTHONPATH": os.pathsep.join([str(folder), str(ROOT)])}


def revisions(url: str) -> list[tuple]:
    """Every stored revision, but the run that saw it last: the store (schema 0001) hands a
    sighting at the same instant to the newer run, and a re-read capture has its crawl's
    instant (see the report: the writer should not count a ``reextract`` as a sighting)."""
    rows = query(url, "SELECT * FROM article_revisions ORDER BY article_id, first_seen_at")
    return [tuple(sorted((k, v) for k, v in row.items() if k != "last_run_id")) for row in rows]


def reextract_feed(data_dir: Path) -> list[dict]:
    runs = sorted((data_dir / "feeds" / "reextract").iterdir(), key=lambda p: p.stat().st_mtime)
    return [item for path in sorted(runs[-1].glob("*.jsonl.gz")) for item in read_jsonl(path)]


@pytest.fixture
def captured(pg_url, tmp_path):
    """A crawl of the replica with capture on: (database URL, data folder, crawl items)."""
    data = tmp_path / "data"
    with ReplicaServer() as site:
        result = crawl(site, pg_url, data, NEWSARCHIVE_WARC_ENABLED="1")
    assert result.returncode == 0, result.stderr[-2000:]
    run_folder = next((data / "feeds" / "naenara").iterdir())
    items = [i for p in sorted(run_folder.glob("*.jsonl.gz")) for i in read_jsonl(p)]
    assert items
    return pg_url, data, items


def test_reextract_with_the_same_extractor_changes_nothing(captured):
    url, data, items = captured
    before = revisions(url)
    for _ in range(2):
        result = reextract(url, data)
        assert result.returncode == 0, result.stderr[-2000:]
        assert "Monitor check" not in result.stderr  # the verdict judges a re-read, not a walk
        assert revisions(url) == before
    runs = query(url, "SELECT failed FROM crawl_runs WHERE spider = 'reextract'")
    assert [run["failed"] for run in runs] == [False, False]  # crawl_runs says what exit said
    feed = reextract_feed(data)
    assert sorted(i["article_id"] for i in feed) == sorted(i["article_id"] for i in items)
    by_id = {i["article_id"]: i for i in items}
    for item in feed:  # same page, same rules, same fetch: the same item
        crawl_item = by_id[item["article_id"]]
        assert item == crawl_item
    assert not (data / "reextract").exists() or not any((data / "reextract").iterdir())


def _kinds(url: str) -> dict[str, int]:
    columns = {r["column_name"] for r in query(url, "SELECT column_name FROM "
               "information_schema.columns WHERE table_name = 'article_revisions'")}  # fmt: skip
    if "kind" not in columns:
        return {}
    rows = query(url, "SELECT kind, count(*) AS n FROM article_revisions GROUP BY kind")
    return {row["kind"]: row["n"] for row in rows}


def test_changed_rule_with_bumped_version_adds_only_reextract_revisions(captured, tmp_path):
    url, data, items = captured
    articles = len(items)
    changed = sum(" the " in f"{i['title']}\n\n{i['body']}" for i in items)
    assert changed > articles // 2
    result = reextract(url, data, env=changed_rule_env(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    feed = reextract_feed(data)
    assert {i["extractor_version"] for i in feed} == {"2099.1.1"}
    assert len(query(url, "SELECT 1 FROM article_revisions")) == articles + changed
    kinds = _kinds(url)
    if kinds:  # schema 0002: the revision's kind is recorded
        assert kinds == {"first": articles, "reextract": changed}


def test_killed_reextract_resumes_with_every_article_once(captured, tmp_path):
    url, data, items = captured
    env = {**environment(), **changed_rule_env(tmp_path)}
    line = scrapy_command(
        "reextract", url=url, data_dir=data, settings={"NEWSARCHIVE_DB_BATCH_SIZE": "1"}
    )
    process = subprocess.Popen(line, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    journal = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        journals = list((data / "reextract").glob("*/done.txt"))
        if journals and len(journals[0].read_text().split()) >= 5:
            journal = journals[0]
            break
        time.sleep(0.02)
    assert journal is not None, "the re-extraction never journalled an item"
    workers = psutil.Process(process.pid).children(recursive=True)
    assert workers, "the re-extraction runs no worker process"
    process.send_signal(signal.SIGKILL)
    process.wait()
    # the workers end with their parent (they lived on, idle, for minutes)
    _, alive = psutil.wait_procs(workers, timeout=5)
    assert not alive, f"workers outlived the killed reextract: {[p.pid for p in alive]}"
    done = set(journal.read_text().split())
    assert 5 <= len(done) < len(items)
    result = reextract(url, data, env=changed_rule_env(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"Resuming: {len(done)} pages" in result.stderr
    resumed = reextract_feed(data)
    assert len(resumed) == len(items) - len(done)
    # every article once: its crawl revision and, where the rule changed it, one more
    changed = sum(" the " in f"{i['title']}\n\n{i['body']}" for i in items)
    rows = query(url, "SELECT article_id, count(*) AS n FROM article_revisions GROUP BY 1")
    assert sum(row["n"] for row in rows) == len(items) + changed
    assert {row["article_id"] for row in rows} == {i["article_id"] for i in items}


def test_an_outlet_edit_is_one_edit_and_reextract_keeps_it(pg_url, tmp_path):
    data = tmp_path / "data"
    with ReplicaServer() as site:
        first = crawl(site, pg_url, data, NEWSARCHIVE_WARC_ENABLED="1")
        assert first.returncode == 0, first.stderr[-2000:]
        articles = len(query(pg_url, "SELECT 1 FROM articles"))
        edited_id = query(pg_url, "SELECT article_id FROM articles ORDER BY 1 LIMIT 1")[0]
        new_version = site.edit(edited_id["article_id"])
        again = crawl(site, pg_url, data, RECHECK_ALL, NEWSARCHIVE_WARC_ENABLED="1")
        assert again.returncode == 0, again.stderr[-2000:]
    assert "read by another extractor" not in again.stderr  # same rules: nothing to judge
    assert len(query(pg_url, "SELECT 1 FROM article_revisions")) == articles + 1
    kinds = _kinds(pg_url)
    if kinds:  # schema 0002
        assert kinds == {"first": articles, "edit": 1}
    before = revisions(pg_url)
    # both captures re-read with the same rules: the old text is the old capture's, the new
    # the new one's: nothing to add, the edit stays the one edit
    result = reextract(pg_url, data)
    assert result.returncode == 0, result.stderr[-2000:]
    assert revisions(pg_url) == before
    bodies = {
        i["body"] for i in reextract_feed(data) if i["article_id"] == new_version["article_id"]
    }
    assert new_version["body"] in bodies and len(bodies) == 2
