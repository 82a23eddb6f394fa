"""The specimen article page gives exactly article.expected.json, field by field."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from scrapy.exporters import CsvItemExporter, JsonLinesItemExporter
from scrapy.settings import Settings

from newsarchive.extraction_version import EXTRACTOR_VERSION
from newsarchive.items import ARTICLE_FIELDS, PER_RUN_FIELDS
from newsarchive.loaders import load_article
from newsarchive.pages import ArticlePage, ListingPage
from newsarchive.spiders.naenara import NaenaraSpider
from tests.conftest import (
    LISTING_URL,
    SPECIMEN_EXPECTED,
    SPECIMEN_URL,
    fixture_response,
    html_response,
)


@pytest.fixture(scope="module")
def item() -> dict:
    return dict(load_article(ArticlePage(fixture_response("specimen_article.html"))))


def test_item_equals_expected(item, specimen_expected):
    assert {k: item[k] for k in specimen_expected} == specimen_expected


def test_item_has_every_contract_field(item):
    assert sorted(item) == sorted(ARTICLE_FIELDS)


def feeds_of_a_run(feeds: dict) -> dict[str, dict]:
    """The feeds a crawl writes, as the spider sets them up: its own, or the user's -O/-o."""
    settings = Settings()
    settings.setmodule("newsarchive.settings", priority="project")
    if feeds:
        settings.set("FEEDS", feeds, priority="cmdline")
    NaenaraSpider.update_settings(settings)
    return settings.getdict("FEEDS")


@pytest.mark.parametrize(
    "feeds", [{}, {"user.jsonl": {"format": "jsonlines"}}, {"user.csv": {"format": "csv"}}]
)
def test_feeds_write_every_contract_field_in_order(item, feeds):
    """The order is the feeds' contract (the item's own key order is not): each feed, written
    by Scrapy's exporter with the options the run gives it, lists ARTICLE_FIELDS in order."""
    written = {}
    for uri, options in feeds_of_a_run(feeds).items():
        stream = io.BytesIO()
        exporter_class = {"jsonlines": JsonLinesItemExporter, "csv": CsvItemExporter}
        exporter = exporter_class[options["format"]](stream, fields_to_export=options["fields"])
        exporter.start_exporting()
        exporter.export_item(item)
        exporter.finish_exporting()
        text = stream.getvalue().decode("utf-8")
        if options["format"] == "csv":
            written[uri] = tuple(next(csv.reader(io.StringIO(text))))
        else:
            written[uri] = tuple(json.loads(text))
    assert written and all(fields == ARTICLE_FIELDS for fields in written.values()), written


#: The fields the specimen fixes; the others (crawled_at, content_hash, run_id) depend on the
#: run, and extractor_version on our code: they are checked by their own tests below.
SPECIMEN_FIELDS = [name for name in ARTICLE_FIELDS if name in SPECIMEN_EXPECTED]


def test_specimen_fixes_every_field_but_the_runs_own():
    not_on_the_page = PER_RUN_FIELDS | {"content_hash", "extractor_version"}
    assert set(ARTICLE_FIELDS) - set(SPECIMEN_FIELDS) == not_on_the_page


def test_item_carries_the_extractor_version(item):
    assert item["extractor_version"] == EXTRACTOR_VERSION


@pytest.mark.parametrize("field", SPECIMEN_FIELDS)
def test_field(item, specimen_expected, field):
    assert item[field] == specimen_expected[field]


def test_body_keeps_sign_off_and_skips_more_from(item):
    assert item["body"].endswith("\n\nKCNA")
    assert "Nation Supplements and Updates Laws" not in item["body"]


def test_crawled_at_is_utc_iso(item):
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", item["crawled_at"])


def test_content_hash(item):
    assert re.fullmatch(r"[0-9a-f]{64}", item["content_hash"])


def test_article_page_stream_links():
    page = ArticlePage(fixture_response("specimen_article.html"))
    listing = ListingPage(page.response, links=list(page.stream_links()))
    assert len(listing.article_urls) == 19
    assert SPECIMEN_URL not in listing.article_urls
    assert listing.next_page_url == LISTING_URL + "&paged=2"


def test_listing_page():
    listing = ListingPage(fixture_response("specimen_listing.html", LISTING_URL))
    assert len(listing.article_urls) == 19
    assert all("/newstream/" in url for url in listing.article_urls)
    assert listing.next_page_url.endswith("paged=2")
    assert not listing.needs_browser


def test_scripted_listing_needs_browser():
    listing = ListingPage(fixture_response("specimen_listing_scripted.html", LISTING_URL))
    assert len(listing.article_urls) == 19
    assert listing.next_page_url is None
    assert listing.needs_browser


# --- the live theme may differ from the model: find things by what a reader sees ----------

UNSTYLED = """<html><head><title>x</title></head><body>
<div><p>Dec 27, 2025</p><p>KCNA KCNA.kp (En)</p>
<h1> Kim Jong Un  Inspects&nbsp;Factory </h1>
<p><span>Date: 05/04/2024</span> | <span>Source: KCNA.kp (En)</span></p>
<p>First &lt;not&gt; paragraph &amp; more.</p>
<div class="promo-box"><p>NK News is hiring a reporter</p></div>
<p>Second\n  paragraph.</p><p>-0-</p><p>www.kcna.kp (Juche113.4.5.)</p>
<h2>More From KCNA.kp (En)</h2>
<a href="/newstream/1712300000-7/other/">Other</a><a href="?page=2">More Articles</a>
</div></body></html>"""


@pytest.fixture(scope="module")
def unstyled() -> dict:
    url = "https://mirror.example/newstream/1712275200-42/kim-jong-un-inspects-factory"
    return dict(load_article(ArticlePage(html_response(UNSTYLED, url))))


def test_unstyled_title(unstyled):
    assert unstyled["title"] == "Kim Jong Un Inspects Factory"


def test_unstyled_meta_line_in_separate_spans(unstyled):
    assert unstyled["published_date"] == "2024-04-05"
    assert unstyled["source"] == "KCNA.kp (En)"
    assert unstyled["source_name"] == "KCNA.kp"


def test_unstyled_body_without_class_hint(unstyled):
    assert unstyled["body"] == (
        "First <not> paragraph & more.\n\nSecond paragraph.\n\n-0-\n\nwww.kcna.kp (Juche113.4.5.)"
    )


def test_unstyled_no_canonical_uses_response_url(unstyled):
    assert unstyled["url"].startswith("https://mirror.example/newstream/1712275200-42/")
    assert unstyled["article_id"] == "1712275200-42"
    assert unstyled["page_date"] == "2025-12-27"
    assert unstyled["original_url"] is None


def test_no_date_line_falls_back_to_url_time_in_pyongyang():
    html = UNSTYLED.replace("<span>Date: 05/04/2024</span> | ", "")
    # 1712347200 is 2024-04-05 20:00 UTC, already 6 April in Pyongyang.
    url = "https://mirror.example/newstream/1712347200-43/x/"
    item = load_article(ArticlePage(html_response(html, url)))
    assert item["published_date"] == "2024-04-06"
    assert item["source"] == "KCNA.kp (En)"


def test_unreadable_values_stay_null():
    html = "<html><body><h1>Only a title</h1><p>Date: 99/99/9999 | Source: ???</p></body></html>"
    item = load_article(ArticlePage(html_response(html, "https://x.example/not-an-article")))
    assert item["title"] == "Only a title"
    for field in ("article_id", "published_date", "published_at", "page_date", "body"):
        assert item[field] is None, field
    assert item["source_language"] is None
