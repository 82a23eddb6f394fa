"""Spider callbacks in process, city-scrapers style: a saved page → a callback → items and
requests, checked directly (no crawl, no server). One test per drop reason, the walk's
turns (follow-stream, caught up, loop, page cap, scripted listing without a browser)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from scrapy import Request
from scrapy.http import Response
from scrapy.settings import Settings
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.test import get_crawler, get_reactor_settings
from twisted.python.failure import Failure

from newsarchive import browser, stats
from newsarchive.files import write_json_atomically
from newsarchive.incremental import CrawlState, RunChanges, state_path
from newsarchive.items import ArticleGoneItem, ArticleItem
from newsarchive.middlewares.resilience import INCOMPLETE
from newsarchive.pages import ArticlePage
from newsarchive.spiders.base import StreamSpider
from newsarchive.spiders.naenara import NaenaraSpider
from tests.conftest import FIXTURES, LISTING_URL, SPECIMEN_URL, fixture_response, html_response

NEXT_LISTING_URL = "https://kcnawatch.org/?s=&source=190052&sort=recent&paged=2"
PAYWALL_URL = "https://kcnawatch.org/free-member-form/?redirect=%2Fnewstream%2F1713006283-531298405"
ARTICLE_HREF = re.compile(r'href="(https://kcnawatch\.org/newstream/\d+-\d+/[^"]*)"')


def hrefs(name: str, after: str = "") -> list[str]:
    """Article links of a saved page in page order, once each (read without the spider)."""
    text = (FIXTURES / name).read_text(encoding="utf-8")
    text = text[text.index(after) :] if after else text
    return list(dict.fromkeys(ARTICLE_HREF.findall(text)))


def page(name: str, url: str = SPECIMEN_URL, meta: dict | None = None) -> Response:
    """A saved page as the answer to a request for ``url``."""
    return fixture_response(name, url).replace(request=Request(url, meta=meta or {}))


def make_spider(tmp_path: Path, start_url: str = LISTING_URL, **options) -> StreamSpider:
    """A spider on a crawler with the project's settings, its incremental state loaded."""
    arguments = {k: v for k, v in options.items() if k in StreamSpider.known_arguments}
    settings = Settings()
    settings.setmodule("newsarchive.settings")
    # These tests call the callbacks themselves: extraction in this thread, no worker process.
    settings.update({"NEWSARCHIVE_DATA_DIR": str(tmp_path), "NEWSARCHIVE_EXTRACTION_WORKERS": 0})
    settings.update({k: v for k, v in options.items() if k.isupper()})
    settings.update(get_reactor_settings())  # whatever reactor this process has, or none
    crawler = get_crawler(NaenaraSpider, settings.copy_to_dict())
    spider = NaenaraSpider.from_crawler(crawler, start_url=start_url, **arguments)
    crawler.spider = spider
    asyncio.run(spider.incremental.load())
    return spider


def stat(spider: StreamSpider, name: str) -> int:
    return spider.crawler.stats.get_value(name, 0)


def split(results) -> tuple[list, list[Request]]:
    results = list(results)
    items = [r for r in results if not isinstance(r, Request)]
    return items, [r for r in results if isinstance(r, Request)]


def failure(url: str, status: int) -> Failure:
    request = Request(url)
    error = Failure(HttpError(Response(url, status=status, request=request)))
    error.request = request  # as Scrapy's scraper sets it for an errback
    return error


# --- articles -------------------------------------------------------------------------------


def test_article_page_gives_its_item_and_nothing_else(tmp_path, specimen_expected):
    spider = make_spider(tmp_path, start_url=SPECIMEN_URL)
    items, requests = split(spider.parse_article(page("specimen_article.html")))
    assert requests == []
    assert [type(item) for item in items] == [ArticleItem]
    assert {k: items[0][k] for k in specimen_expected} == specimen_expected
    assert items[0]["run_id"] == spider.run_id
    assert stat(spider, stats.ITEMS) == 1
    assert stat(spider, stats.MISSING_ANCHOR + "/body") == 0


def test_follow_stream_queues_the_more_from_cards_and_the_next_listing(tmp_path):
    spider = make_spider(tmp_path, start_url=SPECIMEN_URL)
    response = page("specimen_article.html")
    items, requests = split(spider.parse_article(response, follow_stream=True))
    assert len(items) == 1
    cards = [url for url in hrefs("specimen_article.html", "More From") if url != SPECIMEN_URL]
    assert len(cards) >= 5
    articles = [r for r in requests if r.callback == spider.parse_article]
    listings = [r for r in requests if r.callback == spider.parse_listing]
    assert [r.url for r in articles] == cards
    assert all(r.cb_kwargs == {"follow_stream": False} for r in articles)
    assert [r.url for r in listings] == [NEXT_LISTING_URL]
    assert min(r.priority for r in articles) > listings[0].priority  # articles first


DROPS = [
    # (saved page, URL it was served at, response meta, drop reason, final: not retried)
    ("callbacks/paywall.html", PAYWALL_URL, {"redirect_urls": [SPECIMEN_URL]}, "paywall", True),
    ("callbacks/article_no_title.html", SPECIMEN_URL, {}, "no_title", True),
    ("callbacks/article_no_body.html", SPECIMEN_URL, {}, "no_body", False),
    ("specimen_article.html", SPECIMEN_URL, {INCOMPLETE: "truncated"}, "truncated_page", False),
]


@pytest.mark.parametrize(
    ("name", "url", "meta", "reason", "final"), DROPS, ids=[d[3] for d in DROPS]
)
def test_unreadable_pages_are_dropped_with_their_reason(tmp_path, name, url, meta, reason, final):
    spider = make_spider(tmp_path, start_url=SPECIMEN_URL)
    assert split(spider.parse_article(page(name, url, meta))) == ([], [])
    assert stat(spider, stats.drop(reason)) == 1
    assert stat(spider, stats.ITEMS) == 0
    # Remembered for the next runs under the article that was asked for: a final answer is
    # not fetched again, anything else is retried by the next run.
    changes = spider.incremental._changes
    if final:
        assert changes.not_articles["1713006283-531298405"]["reason"] == reason
    else:
        assert changes.retry["1713006283-531298405"]["reason"] == reason


def test_a_page_without_a_title_counts_the_missing_anchor(tmp_path):
    spider = make_spider(tmp_path, start_url=SPECIMEN_URL)
    list(spider.parse_article(page("callbacks/article_no_title.html")))
    assert stat(spider, stats.missing_anchor("title")) == 1


def test_an_empty_page_is_not_a_missing_title(tmp_path):
    spider = make_spider(tmp_path, start_url=SPECIMEN_URL)
    assert split(
        spider.parse_article(html_response(b"  ").replace(request=Request(SPECIMEN_URL)))
    ) == ([], [])
    assert stat(spider, stats.drop("empty_page")) == 1
    assert stat(spider, stats.missing_anchor("title")) == 0


def test_a_body_that_is_not_html_is_dropped(tmp_path):
    spider = make_spider(tmp_path, start_url=SPECIMEN_URL)
    response = Response(SPECIMEN_URL, body=b"%PDF-1.7", request=Request(SPECIMEN_URL))
    assert split(spider.parse_article(response)) == ([], [])
    assert stat(spider, stats.drop("not_html")) == 1


@pytest.mark.parametrize("status", [404, 410])
def test_a_deleted_article_is_gone(tmp_path, status):
    spider = make_spider(tmp_path, start_url=SPECIMEN_URL)
    items = list(spider.article_failed(failure(SPECIMEN_URL, status)))
    assert [type(item) for item in items] == [ArticleGoneItem]
    assert items[0]["article_id"] == "1713006283-531298405"
    assert items[0]["status"] == status
    assert stat(spider, stats.drop("gone")) == 1
    assert stat(spider, stats.GONE) == 1


def test_http_403_is_a_drop_retried_by_no_later_run(tmp_path):
    spider = make_spider(tmp_path, start_url=SPECIMEN_URL)
    assert list(spider.article_failed(failure(SPECIMEN_URL, 403))) == []
    assert stat(spider, stats.drop("http_403")) == 1
    changes = spider.incremental._changes
    assert changes.not_articles["1713006283-531298405"]["reason"] == "http_403"


def test_http_503_is_retried_by_the_next_run(tmp_path):
    spider = make_spider(tmp_path, start_url=SPECIMEN_URL)
    assert list(spider.article_failed(failure(SPECIMEN_URL, 503))) == []
    assert stat(spider, stats.drop("http_503")) == 1
    retry = spider.incremental._changes.retry["1713006283-531298405"]
    assert retry is not None and retry["attempts"] == 1


# --- listings -------------------------------------------------------------------------------


def test_listing_queues_every_article_then_the_next_page(tmp_path):
    spider = make_spider(tmp_path)
    _, requests = split(spider.parse_listing(page("specimen_listing.html", LISTING_URL)))
    assert [r.url for r in requests[:-1]] == hrefs("specimen_listing.html")
    assert all(r.callback == spider.parse_article for r in requests[:-1])
    assert (requests[-1].url, requests[-1].callback) == (NEXT_LISTING_URL, spider.parse_listing)
    assert stat(spider, stats.LISTING_PAGES) == 1
    assert stat(spider, stats.INCREMENTAL_MODE) == "resume"  # first run from this start URL
    assert not spider.incremental.walk_complete("finished")  # the walk has not ended yet


def archive_everything(tmp_path: Path) -> None:
    """A state file in which an earlier, complete walk archived every listed article."""
    ids = [re.search(r"/(\d+-\d+)/", url)[1] for url in hrefs("specimen_listing.html")]
    state = CrawlState(
        articles={"Naenara (En)": {i: {"url": "u", "published_date": None} for i in ids}},
        walks={LISTING_URL: {"complete": True}},
    )
    write_json_atomically(state_path(tmp_path, "naenara", LISTING_URL), state.to_json())


def test_caught_up_listing_stops_the_walk(tmp_path):
    archive_everything(tmp_path)
    spider = make_spider(tmp_path)
    response = page("specimen_listing.html", LISTING_URL)
    assert split(spider.parse_listing(response)) == ([], [])
    assert stat(spider, stats.INCREMENTAL_MODE) == "incremental"
    assert stat(spider, stats.CAUGHT_UP) == 1
    assert stat(spider, stats.KNOWN_SKIPPED) == len(hrefs("specimen_listing.html"))
    assert spider.incremental.walk_complete("finished")
    assert not spider.incremental.walk_complete("shutdown")


def test_full_walks_past_what_is_archived(tmp_path):
    archive_everything(tmp_path)
    spider = make_spider(tmp_path, full="1")
    _, requests = split(spider.parse_listing(page("specimen_listing.html", LISTING_URL)))
    assert [r.url for r in requests] == [NEXT_LISTING_URL]  # archived articles: not refetched
    assert stat(spider, stats.CAUGHT_UP) == 0


def test_a_listing_that_repeats_an_earlier_page_ends_the_walk_at_its_end(tmp_path):
    """Issue 11: a loop back to an earlier page means every page pagination offers was read:
    the walk reached its end (it used to count as a gap, and every later run walked it all)."""
    spider = make_spider(tmp_path)
    list(spider.parse_listing(page("specimen_listing.html", LISTING_URL)))
    again = page("specimen_listing.html", NEXT_LISTING_URL)
    _, requests = split(spider.parse_listing(again))
    assert requests == []  # its articles were queued already; the loop is not followed
    assert stat(spider, stats.LISTING_LOOPS) == 1
    assert stat(spider, stats.DUPLICATE_LINKS) == len(hrefs("specimen_listing.html"))
    assert spider.incremental.walk_complete("finished")
    assert not spider.incremental.walk_complete("shutdown")


def test_the_page_cap_stops_the_walk_with_a_gap(tmp_path):
    spider = make_spider(tmp_path, NEWSARCHIVE_MAX_LISTING_PAGES=1)
    _, requests = split(spider.parse_listing(page("specimen_listing.html", LISTING_URL)))
    assert NEXT_LISTING_URL not in [r.url for r in requests]
    assert len(requests) == len(hrefs("specimen_listing.html"))
    assert stat(spider, stats.LISTING_CAP_REACHED) == 1
    assert spider.incremental.policy.gaps  # told to the policy, not read from a counter
    assert not spider.incremental.walk_complete("finished")


def test_a_failed_listing_is_a_gap(tmp_path):
    spider = make_spider(tmp_path)
    spider.listing_failed(failure(NEXT_LISTING_URL, 500))
    spider.walk.reached_end()
    assert stat(spider, stats.listing_failed("http_500")) == 1
    assert not spider.incremental.walk_complete("finished")


def test_the_last_listing_ends_the_walk(tmp_path):
    spider = make_spider(tmp_path)
    text = (FIXTURES / "specimen_listing.html").read_text(encoding="utf-8")
    last = re.sub(r'<a id="more_results"[^>]*>More Articles</a>', "", text)
    _, requests = split(
        spider.parse_listing(html_response(last, LISTING_URL).replace(request=Request(LISTING_URL)))
    )
    assert all(r.callback == spider.parse_article for r in requests)
    assert stat(spider, stats.missing_anchor("more_articles")) == 1
    assert spider.incremental.walk_complete("finished")


def test_scripted_listing_without_a_browser_queues_its_first_cards_only(tmp_path):
    spider = make_spider(tmp_path, render="never")
    response = page("specimen_listing_scripted.html", LISTING_URL)
    _, requests = split(spider.parse_listing(response))
    assert [r.url for r in requests] == hrefs("specimen_listing_scripted.html")
    assert stat(spider, stats.LISTINGS_NEEDING_BROWSER) == 1
    assert stat(spider, stats.listing_not_followed("render_never")) == 1
    assert spider.incremental.policy.gaps
    assert not spider.incremental.walk_complete("finished")


def test_scripted_listing_is_rendered_with_render_auto(tmp_path):
    spider = make_spider(tmp_path)
    response = page("specimen_listing_scripted.html", LISTING_URL)
    _, requests = split(spider.parse_listing(response))
    rendered = [r for r in requests if r.callback == spider.parse_rendered_listing]
    assert [(r.url, r.cb_kwargs) for r in rendered] == [(LISTING_URL, {"already_followed": True})]
    assert rendered[0].meta["playwright"] and rendered[0].dont_filter


def test_a_scripted_listing_with_no_browser_is_a_gap(tmp_path):
    spider = make_spider(tmp_path)
    request = spider.scripted.request(LISTING_URL, already_followed=True)
    error = Failure(browser.BrowserUnavailable("no Chromium"))
    error.request = request
    asyncio.run(spider.rendered_listing_failed(error))
    spider.walk.reached_end()
    assert stat(spider, stats.listing_not_followed("no_browser")) == 1
    assert not spider.incremental.walk_complete("finished")


# --- the page object and the run's record -----------------------------------------------------


def test_the_page_reports_its_missing_anchors():
    assert ArticlePage(page("specimen_article.html")).missing_anchors() == []
    no_title = ArticlePage(page("callbacks/article_no_title.html"))
    assert "title" in no_title.missing_anchors()
    no_body = ArticlePage(page("callbacks/article_no_body.html"))
    assert no_body.missing_anchors() == ["body"]


def test_the_run_record_keeps_one_source_string_and_nothing_in_database_mode():
    changes = RunChanges(keep_articles=True)
    label = "Naenara (En)"
    for n in range(3):
        changes.archive(f"{n}-{n}", "".join(["Naenara ", "(En)"]), f"u{n}", None)
    # One string per stream; per article one packed bytes object, no tuple or field strings.
    assert changes.sources == [label]
    assert all(type(record) is bytes for record in changes.archived.values())
    assert changes.record("0-0") == (label, "u0", None)
    assert changes.record("0-0")[0] is changes.record("2-2")[0]  # type: ignore[index]
    database = RunChanges(keep_articles=False)
    database.archive("1-1", label, "https://kcnawatch.org/newstream/1-1/x/", "2025-01-01")
    assert database.archived == {"1-1": None}


def test_a_read_listing_keeps_no_parsed_tree(tmp_path):
    """Like article pages, a listing's tree is freed by reference counting, not the collector."""
    spider = make_spider(tmp_path)
    response = page("specimen_listing.html", LISTING_URL)
    _, requests = split(spider.parse_listing(response))
    assert requests and response._cached_selector is None


def test_scrapy_checks_each_callback_once_a_run(tmp_path):
    """Scrapy reads and parses a generator callback's source to warn about a `return value`,
    and remembers the answer only while that callable lives: every request of a run must
    carry the same bound method, or the check runs again for every page."""
    from scrapy.utils.misc import _generator_callbacks_cache, is_generator_with_return_value

    spider = make_spider(tmp_path)
    first, later = spider.article_request(SPECIMEN_URL), spider.article_request(SPECIMEN_URL)
    assert first.callback is later.callback == spider.parse_article
    assert (
        spider.listing_request(LISTING_URL).callback
        is spider.listing_request(NEXT_LISTING_URL).callback
    )
    for request in (first, spider.listing_request(LISTING_URL)):
        assert not is_generator_with_return_value(request.callback)  # the check itself
        assert request.callback in _generator_callbacks_cache  # and remembered
