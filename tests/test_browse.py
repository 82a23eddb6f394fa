"""The researchers' view in a real browser: `scrapy browse` over a snapshot of a real archive.

One archive for the module: the replica is crawled into a private PostgreSQL, one article is
edited by the outlet, one gets a hostile body (markup as text), one is deleted (410), a
re-crawl sees all three, and `scrapy export --format sqlite` writes the snapshot that
`scrapy browse` serves. Chromium (Playwright) then reads the pages as a researcher would, with
dialog, console and request listeners; each page is saved as a screenshot in the module's
temporary folder.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from newsarchive import browser
from newsarchive.snapshot import SNAPSHOT_NAME
from newsarchive_replica.server import ReplicaServer
from tests.chromium import chromium_fixture  # noqa: F401 (a fixture)
from tests.conftest_postgres import migrate_url
from tests.crawling import ROOT, SCRAPY, after_this_second, crawl
from tests.services import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.browser]

#: The issue's two, and one that would leave a mark if it ever ran without a dialog.
HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<svg onload="window.__pwned = 1"><script>window.__pwned = 1</script></svg>',
]
RECHECK_ALL = "recheck_days=36500"
ATOM = "{http://www.w3.org/2005/Atom}"


@dataclass
class Archive:
    base_url: str
    snapshot: Path
    folder: Path
    before_edit: dict
    edited: dict
    hostile: dict
    deleted: dict
    titles: list[str]
    process: subprocess.Popen


def wait_until_serving(process: subprocess.Popen, url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"scrapy browse exited {process.returncode}: {process.stderr.read()}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"scrapy browse did not answer at {url}")


def export_snapshot(pg_url: str, folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*SCRAPY, "export", "--format", "sqlite", "--output", str(folder),
         "--database-url", pg_url],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def browse(*args: str) -> list[str]:
    return [*SCRAPY, "browse", *args]


@pytest.fixture(scope="module")
def archive(postgres_server, tmp_path_factory) -> Iterator[Archive]:
    folder = tmp_path_factory.mktemp("browse")
    pg_url = postgres_server.create_database()
    migrate_url(pg_url)
    database = {"NEWSARCHIVE_DATABASE_URL": pg_url}
    with ReplicaServer(naenara_articles=24, kcna_articles=4) as site:
        start = f"start_url={site.start_url('naenara', 'listing')}"
        first = crawl(folder / "crawl1", start, settings=database)
        assert first.returncode == 0, first.log[-3000:]
        expected = site.expected("naenara")
        edited = site.edit(expected[0]["article_id"])
        hostile = site.edit(expected[2]["article_id"], body=[*HOSTILE, "An ordinary last line."])
        deleted = expected[1]
        site.delete(deleted["article_id"], status=410)
        after_this_second()  # the deletion answered after the last sighting
        second = crawl(folder / "crawl2", start, RECHECK_ALL, settings=database)
        assert second.returncode == 0, second.log[-3000:]
    exported = export_snapshot(pg_url, folder / "export")
    assert exported.returncode == 0, exported.stderr
    snapshot = folder / "export" / SNAPSHOT_NAME
    port = free_port()
    process = subprocess.Popen(
        browse("--file", str(snapshot), "--port", str(port)),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(process, base_url + "/")
        yield Archive(
            base_url, snapshot, folder, expected[0], edited, hostile, deleted,
            [item["title"] for item in expected], process,
        )  # fmt: skip
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def chrome(chromium) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        options = browser.launch_options(browser.Chromium(chromium))
        launched = playwright.chromium.launch(**options)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Watched:
    page: Page
    dialogs: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def watched(chrome) -> Iterator[Watched]:
    """A page whose dialogs, console messages, page errors and requests are recorded; a
    dialog is dismissed so a script that opened one cannot block the test."""
    context = chrome.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    seen = Watched(page)
    page.on("dialog", lambda dialog: (seen.dialogs.append(dialog.message), dialog.dismiss()))
    page.on("console", lambda message: seen.console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: seen.errors.append(str(error)))
    page.on("request", lambda request: seen.requests.append(request.url))
    try:
        yield seen
    finally:
        context.close()


def shoot(page: Page, archive: Archive, name: str) -> Path:
    path = archive.folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1000
    print(f"screenshot {path}", file=sys.stderr)
    return path


def article_path(article_id: str) -> str:
    return "/-/article/" + quote(article_id, safe="")


# --- the snapshot ----------------------------------------------------------------------------


def test_snapshot_holds_kinds_events_runs_and_its_manifest(archive):
    db = sqlite3.connect(archive.snapshot)
    kinds = dict(db.execute("SELECT kind, count(*) FROM revisions GROUP BY kind").fetchall())
    articles = db.execute("SELECT count(*) FROM articles").fetchone()[0]
    assert kinds == {"first": articles, "edit": 2}
    assert db.execute("SELECT article_id, event, http_status FROM events").fetchall() == [
        (archive.deleted["article_id"], "gone", 410)
    ]
    assert db.execute("SELECT count(*) FROM runs WHERE status = 'finished'").fetchone()[0] == 2
    title = archive.titles[5]
    found = db.execute(
        "SELECT a.title FROM articles_fts f JOIN articles a ON a.rowid = f.rowid "
        "WHERE articles_fts MATCH ?",
        (json.dumps(title),),
    ).fetchall()
    assert (title,) in found
    manifest = json.loads((archive.snapshot.parent / "manifest.json").read_text())
    (entry,) = [f for f in manifest["files"] if f["name"] == SNAPSHOT_NAME]
    assert entry["rows"] == articles and entry["format"] == "sqlite"
    assert entry["tables"] == {
        "articles": articles,
        "revisions": articles + 2,
        "events": 1,
        "runs": 2,
    }
    assert len(manifest["run_ids"]) == 2


# --- the browser -----------------------------------------------------------------------------


def test_search_finds_a_title(archive, watched):
    page, title = watched.page, archive.titles[5]
    page.goto(f"{archive.base_url}/archive/articles")
    page.fill("input[name=_search]", title)
    page.press("input[name=_search]", "Enter")
    page.wait_for_load_state("networkidle")
    assert "_search=" in page.url
    rows = page.locator("table.rows-and-columns tbody tr")
    assert rows.count() >= 1
    assert title in rows.first.inner_text()
    # Facets by source, language and year are on the page.
    for facet in ("source", "source_language", "published_year"):
        assert page.locator(f'[data-column="{facet}"]').count() >= 1, facet
    shoot(page, archive, "search")
    assert not watched.errors and not watched.dialogs


def test_edited_article_diff_marks_the_changed_words(archive, watched):
    page = watched.page
    page.goto(archive.base_url + article_path(archive.edited["article_id"]))
    inserted = page.locator(".na-diff-body ins").all_inner_texts()
    deleted = page.locator(".na-diff-body del").all_inner_texts()
    assert any("(Revision 1.)" in text for text in inserted), inserted
    before = set(archive.before_edit["body"].split("\n\n"))
    (added,) = [
        p for p in archive.edited["body"].split("\n\n") if p not in before and "(Revision" not in p
    ]
    assert [" ".join(text.split()) for text in inserted] == ["(Revision 1.)", added]
    assert deleted == [], deleted  # the replica's edit only adds words
    timeline = page.locator(".na-timeline li").all_inner_texts()
    assert [("first archived" in t, "edited by the outlet" in t) for t in timeline] == [
        (True, False), (False, True),
    ]  # fmt: skip
    shoot(page, archive, "article-edited")
    assert not watched.errors


def test_deletions_query_lists_the_deleted_article(archive, watched):
    page = watched.page
    page.goto(f"{archive.base_url}/archive/deleted_articles")
    table = page.locator("table.rows-and-columns tbody tr")
    assert table.count() == 1
    row = table.first.inner_text()
    assert archive.deleted["article_id"] in row and archive.deleted["title"] in row
    assert "410" in row
    page.click(f"text={archive.deleted['article_id']}")
    page.wait_for_load_state()
    assert page.locator(".na-gone-banner").count() == 1
    assert "deleted (HTTP 410)" in page.locator(".na-timeline").inner_text()
    page.goto(f"{archive.base_url}/archive/deleted_articles")
    shoot(page, archive, "deleted")


def test_edited_query_lists_outlet_edits_only(archive, watched):
    page = watched.page
    page.goto(f"{archive.base_url}/archive/edited_articles")
    text = page.locator("table.rows-and-columns tbody").inner_text()
    assert archive.edited["article_id"] in text and archive.hostile["article_id"] in text
    assert page.locator("table.rows-and-columns tbody tr").count() == 2
    page.goto(f"{archive.base_url}/archive/changes_since?since=2000-01-01")
    assert page.locator("table.rows-and-columns tbody tr").count() == 3
    shoot(page, archive, "changes-since")


def test_hostile_bodies_render_as_text_and_never_run(archive, watched):
    page = watched.page
    for url in (
        archive.base_url + article_path(archive.hostile["article_id"]),
        f"{archive.base_url}/archive/articles?_search={quote('alert')}",
        f"{archive.base_url}/archive/edited_articles",
        f"{archive.base_url}/archive/changes_feed",
    ):
        page.goto(url)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("() => window.__pwned === undefined")
        assert page.locator("img[src=x], .content svg[onload]").count() == 0
        assert "alert(1)" not in "".join(
            page.locator("script").evaluate_all("nodes => nodes.map(n => n.textContent)")
        )
    page.goto(archive.base_url + article_path(archive.hostile["article_id"]))
    shown = page.locator(".na-text").inner_text()
    assert all(hostile in shown for hostile in HOSTILE)
    assert HOSTILE[0] in page.locator(".na-diff-body ins").all_inner_texts()[0]
    shoot(page, archive, "article-hostile")
    assert watched.dialogs == []
    assert not watched.errors
    assert not [line for line in watched.console if "alert" in line]


def test_atom_feed_lists_the_edit_and_the_deletion(archive):
    with urllib.request.urlopen(f"{archive.base_url}/archive/changes_feed.atom") as answer:
        assert answer.headers["Content-Type"].startswith("application/atom+xml")
        feed = ET.fromstring(answer.read())
    entries = feed.findall(f"{ATOM}entry")
    titles = [entry.findtext(f"{ATOM}title") for entry in entries]
    assert f"Edited: {archive.edited['title']}" in titles
    assert f"Deleted: {archive.deleted['title']}" in titles
    assert len(entries) == 3
    links = {entry.find(f"{ATOM}link").get("href") for entry in entries}
    assert archive.deleted["url"] in links
    for entry in entries:
        assert re.match(r"\d{4}-\d\d-\d\dT", entry.findtext(f"{ATOM}updated"))
    hostile = [e for e in entries if e.findtext(f"{ATOM}title").endswith(archive.hostile["title"])]
    assert HOSTILE[0] in hostile[0].findtext(f"{ATOM}content")  # as text, escaped in the XML


def test_pictures_page_is_self_contained(archive, watched):
    page = watched.page
    page.goto(f"{archive.base_url}/-/pictures")
    page.wait_for_load_state("networkidle")
    images = page.locator(".na-pictures img")
    assert images.count() == 4
    for i in range(4):
        assert images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")
    sources = page.locator("[src], link[href]").evaluate_all(
        "nodes => nodes.map(n => n.src || n.href)"
    )
    assert [s for s in sources if not s.startswith((archive.base_url, "data:"))] == []
    here = urlsplit(archive.base_url).netloc
    elsewhere = [
        url for url in watched.requests
        if not url.startswith("data:") and urlsplit(url).netloc != here
    ]  # fmt: skip
    assert elsewhere == []
    assert [line for line in watched.console if line.startswith("error")] == []
    assert not watched.errors
    # One bar per run (the runs' own ids), not one per minute they started in.
    runs_chart = base64.b64decode(images.nth(2).get_attribute("src").split(",", 1)[1]).decode()
    with sqlite3.connect(archive.snapshot) as db:
        run_ids = [row[0] for row in db.execute("SELECT run_id FROM runs")]
    assert len(run_ids) == 2 and all(run_id in runs_chart for run_id in run_ids)
    shoot(page, archive, "pictures")


# --- bad input: one line, exit 2 ---------------------------------------------------------------


def one_line_failure(*args: str) -> str:
    finished = subprocess.run(browse(*args), cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert finished.returncode == 2, (finished.returncode, finished.stderr)
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scrapy browse: error: "), finished.stderr
    return lines[0]


def test_missing_corrupt_and_older_snapshots_fail_in_one_line(tmp_path, archive):
    assert "no snapshot at" in one_line_failure("--file", str(tmp_path / "nothing.sqlite"))
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database\n" * 200)
    assert "not a readable SQLite snapshot" in one_line_failure("--file", str(garbage))
    truncated = tmp_path / "truncated.sqlite"
    truncated.write_bytes(archive.snapshot.read_bytes()[:8192])
    assert re.search(
        r"corrupt|not a readable|incomplete", one_line_failure("--file", str(truncated))
    )
    older = tmp_path / "older.sqlite"
    older.write_bytes(archive.snapshot.read_bytes())
    with sqlite3.connect(older) as db:
        db.execute("DROP TABLE snapshot_info")
    assert "older schema" in one_line_failure("--file", str(older))
    with sqlite3.connect(older) as db:
        db.execute("CREATE TABLE snapshot_info (key text PRIMARY KEY, value text NOT NULL)")
        db.execute("INSERT INTO snapshot_info VALUES ('schema_version', '0')")
    assert "older schema (0" in one_line_failure("--file", str(older))


def test_a_port_in_use_fails_in_one_line(archive):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        line = one_line_failure("--file", str(archive.snapshot), "--port", str(port))
    assert f"port {port} on 127.0.0.1 is in use" in line
