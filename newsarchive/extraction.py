"""Parse and extract one article page as a pure function of its bytes: a plain dict out.

Scrapy runs on one core; the page's HTML parse, its readers and the loader are most of the
main thread's work per article. Made a pure function of plain values, that work can run in a
worker process (``newsarchive.extraction_pool``, ``NEWSARCHIVE_EXTRACTION_WORKERS``), keeping the
reactor free for the network, and ``scrapy reextract`` can call the same function over stored
captures. The spider keeps what needs the run's state (dedup, incremental, requests); this
module returns what it needs to decide: the item or why there is none, and the counters and
warnings the monitor reads, for the spider to record.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from scrapy.http import HtmlResponse, TextResponse

from newsarchive import stats
from newsarchive.items import ArticleItem
from newsarchive.loaders import load_article
from newsarchive.pages import ArticlePage
from newsarchive.processors import iso_date, meta_line_date_text, strip_brand

logger = logging.getLogger(__name__)

#: One warning for the log: a %-format and its arguments, for ``logger.warning(*line)``.
LogLine = tuple[str, ...]


@dataclass
class Extraction:
    """What a page gave: ``item`` (its fields, plain values) or ``drop`` (the reason), the
    counters and warnings the spider records when it keeps the result, and the page's
    "More From" links when they were asked for."""

    item: dict[str, Any] | None = None
    drop: str | None = None
    counters: dict[str, int] = field(default_factory=dict)
    warnings: list[LogLine] = field(default_factory=list)
    stream_links: list[str] = field(default_factory=list)


def extract_article(
    url: str,
    body: bytes,
    encoding: str,
    crawled_at: str,
    run_id: str | None,
    with_stream_links: bool = False,
) -> dict[str, Any]:
    """The extraction of one article page, as a plain dict (picklable, cheap to send back).

    ``url`` is the response's URL, ``body`` its bytes and ``encoding`` the one Scrapy decoded
    it with (``response.encoding``), so the worker reads exactly the text the spider would.
    """
    response = HtmlResponse(url, body=body, encoding=encoding)
    return extract_response(response, crawled_at, run_id, with_stream_links).__dict__


def extract_response(
    response: TextResponse,
    crawled_at: str,
    run_id: str | None,
    with_stream_links: bool = False,
) -> Extraction:
    """``extract_article`` on a response already in hand (the in-process path)."""
    result = Extraction()
    page = ArticlePage(response)
    missing = page.missing_anchors()
    if "title" in missing:
        result.drop = _unreadable_reason(response, "title", result.counters)
        release_parsed_tree(response)
        return result
    item = load_article(page, crawled_at=crawled_at, run_id=run_id)
    if with_stream_links:
        result.stream_links = list(page.stream_links())
    _count_unreadable(page, item, missing, result)
    if not item["body"]:
        # An item without its text would replace the archived one: not an article today.
        result.drop = _unreadable_reason(response, "body", result.counters)
    result.item = dict(item)
    release_parsed_tree(response)
    return result


def release_parsed_tree(response: TextResponse) -> None:
    """Drop the parsed tree Scrapy caches on the response once the page has been read.

    The cached Selector refers back to its response: a reference cycle only the garbage
    collector frees, so every parsed page (its lxml tree too) outlived its callback until a
    collection ran. Without the cache, reference counting frees both when Scrapy lets the
    response go. A later ``response.selector`` simply parses again.
    """
    response._cached_selector = None


def _unreadable_reason(response: TextResponse, missing: str, counters: dict[str, int]) -> str:
    """Why a page with no ``missing`` (title, body) gave no item: it arrived empty, else the
    anchor is missing (counted for the monitor). Truncated pages never get here."""
    if not response.body.strip():
        return "empty_page"
    if missing == "title":
        _count(counters, stats.missing_anchor("title"))
    return f"no_{missing}"


def _count(counters: dict[str, int], name: str, count: int = 1) -> None:
    counters[name] = counters.get(name, 0) + count


def _count_unreadable(
    page: ArticlePage, item: ArticleItem, missing: list[str], result: Extraction
) -> None:
    """Anchors that were missing (``ArticlePage.missing_anchors``) and values that could not
    be read, for the monitor."""
    counters = result.counters
    for anchor in missing:
        _count(counters, stats.missing_anchor(anchor))
    date_text = None if page.meta_line is None else meta_line_date_text(page.meta_line)
    if date_text is not None and iso_date(date_text) is None:
        _count(counters, stats.unparsed("date_line"))
        result.warnings.append(("Unreadable Date: %r on %s", date_text, page.response.url))
    label = strip_brand(page.above_title)
    if label and item["source"] and label != item["source"]:
        _count(counters, stats.SOURCE_MISMATCH)
        result.warnings.append(
            (
                "Source mismatch on %s: label line %r, Source: %r",
                page.response.url,
                label,
                item["source"],
            )
        )
    if page.promo_blocks_removed:
        _count(counters, stats.PROMO_REMOVED, page.promo_blocks_removed)
