"""Parse-and-extract as a pure function of a page's bytes, in process and in a worker process;
and what the collector no longer has to do (no response<->Selector cycle, frozen start-up)."""

from __future__ import annotations

import asyncio
import gc
import json
import pickle
import weakref

import pytest
from scrapy.exceptions import NotConfigured
from scrapy.utils.test import get_crawler

from newsarchive import stats
from newsarchive.extensions.memory import FreezeStartupObjects
from newsarchive.extraction import Extraction, extract_article, extract_response
from newsarchive.extraction_pool import ArticleExtractor
from newsarchive.items import ARTICLE_FIELDS
from newsarchive.loaders import load_article
from newsarchive.pages import ArticlePage
from tests.conftest import SPECIMEN_URL, fixture_response, html_response

CRAWLED_AT = "2026-01-02T03:04:05+00:00"


def extract(body: bytes | str, url: str = SPECIMEN_URL, **kwargs) -> Extraction:
    raw = body.encode() if isinstance(body, str) else body
    return Extraction(**extract_article(url, raw, "utf-8", CRAWLED_AT, "run-1", **kwargs))


@pytest.fixture(scope="module")
def specimen() -> bytes:
    return fixture_response("specimen_article.html").body


def test_specimen_item_equals_the_loader_item(specimen, specimen_expected):
    result = extract(specimen)
    loaded = dict(load_article(ArticlePage(fixture_response("specimen_article.html")), CRAWLED_AT))
    assert result.drop is None
    assert tuple(result.item) == ARTICLE_FIELDS
    assert result.item == {**loaded, "run_id": "run-1"}
    assert {k: result.item[k] for k in specimen_expected} == specimen_expected
    assert result.stream_links == []


def test_result_is_plain_data(specimen):
    result = extract_article(SPECIMEN_URL, specimen, "utf-8", CRAWLED_AT, None, True)
    assert type(result) is dict and type(result["item"]) is dict
    assert pickle.loads(pickle.dumps(result)) == result
    json.dumps(result)  # nothing but plain values


def test_stream_links_when_asked(specimen):
    links = extract(specimen, with_stream_links=True).stream_links
    expected = list(ArticlePage(fixture_response("specimen_article.html")).stream_links())
    assert links == expected and links


def test_encoding_is_the_one_given():
    page = "<html><body><h1>Пхеньян</h1><p>Date: 01/02/2024</p><p>Текст статьи</p></body></html>"
    result = Extraction(**extract_article(SPECIMEN_URL, page.encode("cp1251"), "cp1251", "t", None))
    assert result.item["title"] == "Пхеньян"


def test_page_without_title_is_no_title_counted():
    result = extract("<html><body><p>Date: 01/02/2024 | Source: Naenara (En)</p></body></html>")
    assert (result.item, result.drop) == (None, "no_title")
    assert result.counters == {stats.missing_anchor("title"): 1}


def test_empty_page():
    result = extract(b"  ")
    assert (result.item, result.drop, result.counters) == (None, "empty_page", {})


def test_page_without_body_is_no_body_with_its_counters():
    result = extract("<html><body><h1>Title</h1></body></html>")
    assert result.drop == "no_body"
    assert result.item["title"] == "Title"  # the spider may still read it as a listing
    assert result.counters[stats.missing_anchor("body")] == 1
    assert result.counters[stats.missing_anchor("meta_line")] == 1


def test_unreadable_date_and_source_mismatch_are_warnings():
    page = """<html><body><p>KCNA Naenara (En)</p><h1>T</h1>
    <p>Date: 45/99/2024 | Source: KCNA.kp (En)</p><p>Body text.</p></body></html>"""
    result = extract(page, html_response(page).url)
    assert result.drop is None
    assert result.counters[stats.unparsed("date_line")] == 1
    assert result.counters[stats.SOURCE_MISMATCH] == 1
    assert [w[0].split(":")[0] for w in result.warnings] == [
        "Unreadable Date",
        "Source mismatch on %s",
    ]


async def in_one_worker(before=lambda extractor: None) -> tuple[Extraction, ArticleExtractor]:
    """The specimen extracted through a started one-worker pool (``before`` it is sent)."""
    extractor = ArticleExtractor(1)
    try:
        async with asyncio.timeout(60):
            assert await extractor.wait_until_ready()
        before(extractor)
        response = fixture_response("specimen_article.html")
        return await extractor.extract(response, CRAWLED_AT, "run-1", True), extractor
    finally:
        extractor.close()


def test_worker_process_gives_the_same_extraction(specimen):
    result, extractor = asyncio.run(in_one_worker())
    assert (extractor.in_workers, extractor.in_process) == (1, 0)
    assert result == extract(specimen, with_stream_links=True)


def test_a_worker_that_dies_hands_its_pages_back(specimen):
    def kill(extractor: ArticleExtractor) -> None:
        extractor._workers[0].process.kill()

    result, extractor = asyncio.run(in_one_worker(kill))
    # sent to the dead worker or not: extracted here
    assert (extractor.in_workers, extractor.in_process) == (0, 1)
    assert result == extract(specimen, with_stream_links=True)


def test_the_parsed_page_is_freed_without_the_garbage_collector():
    response = fixture_response("specimen_article.html")
    gone = weakref.ref(response)
    gc.disable()
    try:
        assert extract_response(response, CRAWLED_AT, None).drop is None
        assert response._cached_selector is None
        del response
        assert gone() is None  # no response<->Selector cycle left for a collection
    finally:
        gc.enable()


def test_start_up_objects_are_frozen_once_the_engine_starts():
    crawler = get_crawler(settings_dict={"NEWSARCHIVE_GC_FREEZE": True})
    extension = FreezeStartupObjects.from_crawler(crawler)
    try:
        extension.engine_started()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    with pytest.raises(NotConfigured):
        FreezeStartupObjects.from_crawler(
            get_crawler(settings_dict={"NEWSARCHIVE_GC_FREEZE": False})
        )
