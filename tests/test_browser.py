"""Listings only a browser can page: rendered in real Chromium, and no browser otherwise.

Tests marked ``browser`` need a real Chromium (Debian's ``chromium``, or one named by
NEWSARCHIVE_CHROMIUM_PATH): without one they skip, except under ``CI=true`` where a missing
browser is a broken CI image and fails. The others prove what happens without a browser.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from newsarchive import browser, stats
from newsarchive.items import PER_RUN_FIELDS
from newsarchive.spiders.arguments import ConfigurationError
from newsarchive.spiders.base import StreamSpider
from newsarchive_replica.server import ReplicaServer
from newsarchive_replica.themes import THEME_NAMES
from tests import crawling
from tests.chromium import chromium_fixture  # noqa: F401 (a fixture)
from tests.crawling import (
    FAST,
    ROOT,
    SCRAPY,
    CrawlResult,
    crawl,
    crawl_listing_modules,
    read_jsonl,
)

#: Process names of the Playwright driver and of Chromium (browser, renderers, helpers).
BROWSER_PROCESS_RE = re.compile(r"^(node|chrom|headless_shell)", re.IGNORECASE)


# --- helpers --------------------------------------------------------------------------------


def descendant_names(pid: int) -> set[str]:
    """Names of every living descendant process of ``pid`` (from /proc, no psutil)."""
    children: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid …": comm may hold spaces and parentheses
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        names[int(entry.name)] = comm
        children.setdefault(ppid, []).append(int(entry.name))
    found, stack = set(), list(children.get(pid, []))
    while stack:
        child = stack.pop()
        found.add(names[child])
        stack.extend(children.get(child, []))
    return found


class ProcessWatch:
    """Runs like ``subprocess.run`` (as tests.crawling.crawl calls it) and remembers the names
    of every process the crawl started, sampled every 20 ms for as long as it ran."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.samples = 0

    def __call__(self, command: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
        timeout = kwargs.pop("timeout", 240)
        kwargs.pop("capture_output", None)
        kwargs.pop("text", None)
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            process = subprocess.Popen(command, stdout=out, stderr=err, text=True, **kwargs)
            deadline = time.monotonic() + timeout
            while process.poll() is None:
                self.names |= descendant_names(process.pid)
                self.samples += 1
                if time.monotonic() > deadline:
                    process.kill()
                    process.wait()
                    raise subprocess.TimeoutExpired(command, timeout)
                time.sleep(0.02)
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(command, process.returncode, out.read(), err.read())

    @property
    def browser_processes(self) -> set[str]:
        return {name for name in self.names if BROWSER_PROCESS_RE.match(name)}


@pytest.fixture
def watch(monkeypatch) -> ProcessWatch:
    """Make tests.crawling.crawl record the processes its crawl starts."""
    watcher = ProcessWatch()
    monkeypatch.setattr(crawling.subprocess, "run", watcher)
    return watcher


def stat(result: CrawlResult, name: str) -> int:
    """One counter from the stats Scrapy dumps at the end of the log (0 when absent)."""
    match = re.search(rf"'{re.escape(name)}': (\d+)", result.log)
    return int(match.group(1)) if match else 0


def comparable(items: list[dict]) -> list[dict]:
    """Items sorted by article_id, without per-run fields and our extractor_version (the
    replica's oracle knows the page, not our rules), as expected_items gives them."""
    ours = PER_RUN_FIELDS | {"extractor_version"}
    stripped = ({k: v for k, v in item.items() if k not in ours} for item in items)
    return sorted(stripped, key=lambda item: item["article_id"])


def ajax_requests(site: ReplicaServer) -> list[dict]:
    return [r for r in site.requests if r["path"] == "/wp-admin/admin-ajax.php"]


def page_ids(site: ReplicaServer, pages: range, stream: str = "naenara") -> set[str]:
    state = site.stream(stream)
    with site.lock:
        return {art.article_id for n in pages for art in state.page(n)}


def items_of_pages(site: ReplicaServer, pages: range) -> list[dict]:
    ids = page_ids(site, pages)
    return [item for item in site.expected("naenara") if item["article_id"] in ids]


def log_lines(result: CrawlResult, text: str) -> list[str]:
    return [line for line in result.log.splitlines() if text in line]


@pytest.fixture(scope="module", params=THEME_NAMES)
def replica(request) -> Iterator[ReplicaServer]:
    """One replica for the static and the scripted run: listing URLs with ``&scripted=1``
    page with the script (the articles and their pages are the same); in every theme."""
    with ReplicaServer(theme=request.param) as server:
        yield server


# --- no browser -----------------------------------------------------------------------------


def test_static_crawl_starts_no_browser(replica, watch, tmp_path):
    replica.reset_faults()
    result = crawl(tmp_path, f"start_url={replica.start_url('naenara', 'listing')}")
    assert result.returncode == 0, result.log[-3000:]
    assert comparable(result.items) == replica.expected("naenara")
    # sampled all along the crawl; the scripted test shows the same watch sees a browser
    assert watch.samples >= 20
    assert not watch.browser_processes
    assert "'playwright/" not in result.log
    assert "Starting download handler" not in result.log  # scrapy-playwright's driver start


def test_a_static_crawl_never_imports_playwright(tmp_path):
    """Playwright and scrapy-playwright load only when a page is rendered (start-up cost,
    issue 13): checked in the crawling process itself, at its exit."""
    with ReplicaServer() as site:
        start = site.start_url("naenara", "listing")
        done, output = crawl_listing_modules(tmp_path, start, ("playwright", "scrapy_playwright"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(read_jsonl(output)) > 100
    assert done.stdout.strip().splitlines()[-1] == "imported: []"


def test_render_never_counts_the_scripted_listing(watch, tmp_path):
    with ReplicaServer(scripted=True, naenara_articles=60) as site:
        url = site.start_url("naenara", "listing")
        result = crawl(tmp_path, f"start_url={url}", "render=never")
        # Issue 11: the user's choice, but the stream past the first page was not read.
        assert result.returncode == 1, result.log[-3000:]
        assert result.summary["monitor"]["failed"] == ["listings_fetched"]
        assert comparable(result.items) == items_of_pages(site, range(1, 2))
        assert not ajax_requests(site)
    assert len(log_lines(result, "render=never")) == 1
    assert stat(result, stats.listing_not_followed("render_never")) == 1
    assert not watch.browser_processes


def test_missing_chromium_is_one_line_and_the_static_part_completes(watch, tmp_path):
    with ReplicaServer(scripted=True, naenara_articles=60) as site:
        result = crawl(
            tmp_path,
            f"start_url={site.start_url('naenara', 'listing')}",
            env={"NEWSARCHIVE_CHROMIUM_PATH": str(tmp_path / "no-such-chromium")},
        )
        assert comparable(result.items) == items_of_pages(site, range(1, 2))
    # the stream was not archived completely: a failed run for cron and Scrapyd
    assert result.returncode == 1
    [line] = log_lines(result, "apt-get install chromium")
    assert "ERROR" in line and "NEWSARCHIVE_CHROMIUM_PATH" in line
    assert "Traceback" not in result.log
    assert stat(result, stats.BROWSER_UNAVAILABLE) == 1
    assert stat(result, stats.listing_not_followed("no_browser")) == 1
    assert not watch.browser_processes  # not even the driver: the path was checked first


def test_render_argument_is_checked():
    StreamSpider.check_arguments({"render": "always"})
    with pytest.raises(ConfigurationError, match="render='sometimes' is not one of auto"):
        StreamSpider.check_arguments({"render": "sometimes"})


def test_bad_render_argument_is_one_line_and_exit_2(tmp_path):
    command = [*SCRAPY, "crawl", "naenara", "-a", "render=sometimes"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if "error" in line.lower()]
    assert errors == ["scrapy crawl: error: render='sometimes' is not one of auto, always, never"]


def test_launch_options_for_a_closed_network():
    options = browser.launch_options(browser.Chromium("/usr/bin/chromium"))
    assert options["headless"] is True
    assert options["executable_path"] == "/usr/bin/chromium"
    assert set(browser.CHROMIUM_ARGS) <= set(options["args"])
    assert ("--no-sandbox" in options["args"]) == (os.geteuid() == 0)
    overridden = browser.launch_options(browser.Chromium(None), {"headless": False})
    assert overridden["headless"] is False and "executable_path" not in overridden


def test_a_wrong_chromium_path_is_a_problem_not_a_guess(tmp_path):
    found = browser.find_chromium(str(tmp_path / "nothing-here"))
    assert found.path is None
    assert "NEWSARCHIVE_CHROMIUM_PATH" in (found.problem or "")


# --- with Chromium ----------------------------------------------------------------------------


@pytest.mark.browser
def test_scripted_listing_archived_like_the_static_one(chromium, replica, watch, tmp_path):
    replica.reset_faults()
    static = crawl(tmp_path / "static", f"start_url={replica.start_url('naenara', 'listing')}")
    assert static.returncode == 0, static.log[-3000:]
    replica.reset_faults()
    replica.reset_log()
    url = replica.start_url("naenara", "listing", scripted=True)
    scripted = crawl(tmp_path / "scripted", f"start_url={url}")
    assert scripted.returncode == 0, scripted.log[-3000:]

    expected = replica.expected("naenara")
    assert comparable(scripted.items) == comparable(static.items) == expected
    # every page of cards came from clicks: one per later page, one that found no more
    assert len(ajax_requests(replica)) == replica.stream("naenara").page_count()
    assert stat(scripted, stats.listing_stopped("exhausted")) == 1
    # only the listing went through the browser; every article came over plain HTTP
    assert stat(scripted, "playwright/page_count") == 1
    assert stat(scripted, "playwright/request_count/navigation") == 1
    assert stat(scripted, "playwright/request_count/aborted") >= 1  # the logo image
    # the watch does see a browser when there is one (so the static test proves something)
    assert any(name.startswith("node") for name in watch.browser_processes)
    assert any(name.startswith("chrom") for name in watch.browser_processes)
    assert "still open" not in scripted.log


CONTROLS = """<!DOCTYPE html><html><body><main id="cards"></main>
<a id="more_results" href="#" data-left="2">More Articles</a>
<script>
document.getElementById("more_results").addEventListener("click", (ev) => {
  ev.preventDefault();
  const a = ev.currentTarget, left = Number(a.dataset.left);
  if (document.body.dataset.mode === "dead") return;
  if (!left) {
    if (document.body.dataset.mode === "hide") a.style.display = "none"; else a.remove();
    return;
  }
  setTimeout(() => {
    document.getElementById("cards").insertAdjacentHTML("beforeend",
      `<h4><a href="https://kcnawatch.org/newstream/17000000${left}0-${left}/a/">${left}</a></h4>`);
    a.dataset.left = String(left - 1);
  }, 50);
});
</script></body></html>"""


@pytest.mark.browser
def test_click_outcomes(chromium):
    """A click that appends cards, a control that goes away or hides, a click that does
    nothing: the click loop's three answers, in real Chromium without a crawl."""

    async def outcomes(chrome: Browser, mode: str) -> list[object]:
        page = await chrome.new_page()
        await page.set_content(CONTROLS.replace("<body>", f'<body data-mode="{mode}">'))
        listing = browser.ScriptedListing(page, click_timeout=0.5)
        seen: list[object] = [len(await listing.new_links())]  # the control's own "#"
        for _ in range(4):
            reason = await listing.click()
            seen += [reason, await listing.new_links()]
            if reason:
                break
        await page.close()
        return seen

    async def all_outcomes() -> dict[str, list[object]]:
        async with async_playwright() as playwright:
            options = browser.launch_options(browser.Chromium(chromium))
            chrome = await playwright.chromium.launch(**options)
            try:
                return {mode: await outcomes(chrome, mode) for mode in ("remove", "hide", "dead")}
            finally:
                await chrome.close()

    new = "https://kcnawatch.org/newstream/1700000020-2/a/"
    newer = "https://kcnawatch.org/newstream/1700000010-1/a/"
    exhausted = [1, None, [new], None, [newer], None, [], "exhausted", []]
    assert asyncio.run(all_outcomes()) == {
        "remove": exhausted,
        "hide": exhausted,
        "dead": [1, "unchanged", []],
    }


@pytest.mark.browser
@pytest.mark.parametrize(
    ("scripted", "kind"),
    [(True, "article"), (False, "listing")],
    ids=["article-then-scripted-listing", "static-listings"],
)
def test_render_always(chromium, tmp_path, scripted, kind):
    """Every page in the browser, and still the same items: from an article page through its
    "More Articles" link to a scripted listing page 2 and clicks, or static listings linked
    page to page."""
    with ReplicaServer(scripted=scripted, naenara_articles=50) as site:
        url = site.start_url("naenara", kind)
        result = crawl(tmp_path, f"start_url={url}", "render=always")
        assert result.returncode == 0, result.log[-3000:]
        assert comparable(result.items) == site.expected("naenara")
        article_pages = [r for r in site.requests if r["path"].startswith("/newstream/")]
        assert bool(ajax_requests(site)) == scripted
    assert stat(result, "playwright/page_count") >= len(article_pages)
    assert stat(result, stats.listing_stopped("exhausted")) == int(scripted)
    assert "still open" not in result.log


@pytest.mark.browser
def test_click_limit(chromium, tmp_path):
    with ReplicaServer(scripted=True, naenara_articles=120) as site:
        result = crawl(
            tmp_path,
            f"start_url={site.start_url('naenara', 'listing')}",
            settings={"NEWSARCHIVE_MAX_LISTING_PAGES": "3"},
        )
        assert comparable(result.items) == items_of_pages(site, range(1, 4))
        assert len(ajax_requests(site)) == 2
    [line] = log_lines(result, "stopped: limit")
    assert "WARNING" in line
    # counted like a linked listing that hit the cap (the run monitor decides the exit status)
    assert stat(result, stats.LISTING_CAP_REACHED) == 1


INCREMENTAL_RUN = """
import json, sys
from pathlib import Path
from scrapy.crawler import CrawlerProcess
from scrapy.utils.project import get_project_settings
from newsarchive.spiders.naenara import NaenaraSpider

from newsarchive.files import write_json_atomically
from newsarchive.incremental import CrawlState, state_path

start_url, known, settings_json = sys.argv[1], set(json.loads(sys.argv[2])), sys.argv[3]

settings = get_project_settings()
settings.setdict(json.loads(settings_json), priority="cmdline")
# An earlier run archived ``known`` and walked the whole stream: this run may stop early.
state = CrawlState(articles={"Naenara (En)": {i: {} for i in known}},
                   walks={start_url: {"complete": True}})
path = state_path(Path(settings["NEWSARCHIVE_DATA_DIR"]), NaenaraSpider.name, start_url)
write_json_atomically(path, state.to_json())
process = CrawlerProcess(settings)
process.crawl(NaenaraSpider, start_url=start_url)
process.start()
"""


@pytest.mark.browser
def test_clicking_stops_when_a_click_reveals_only_known_articles(chromium, tmp_path):
    with ReplicaServer(scripted=True, naenara_articles=160) as site:
        pages = site.stream("naenara").page_count()
        known = page_ids(site, range(4, pages + 1)) - page_ids(site, range(1, 4))
        output = tmp_path / "out.jsonl"
        settings = {
            **FAST,
            "NEWSARCHIVE_DATA_DIR": str(tmp_path),
            "FEEDS": {str(output): {"format": "jsonlines"}},
        }
        url = site.start_url("naenara", "listing")
        command = [sys.executable, "-c", INCREMENTAL_RUN, url, json.dumps(sorted(known))]
        done = subprocess.run(
            [*command, json.dumps(settings)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        log = done.stderr
        assert done.returncode == 0, log[-3000:]
        # pages 2, 3 and 4 were clicked for; page 4 showed only known articles
        assert [r["query"][-7:] for r in ajax_requests(site)] == ["paged=2", "paged=3", "paged=4"]
    assert "stopped: known" in log
    archived = {item["article_id"] for item in read_jsonl(output)}
    assert archived, log[-3000:]
    assert archived <= page_ids(site, range(1, 5))
