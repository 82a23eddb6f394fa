"""The stream spider: one KCNA Watch source stream, from a listing or an article page.

Subclasses only name themselves and their default start page; everything a stream needs —
following "More Articles", fetching each article once, dropping what is not an article —
lives here, and all page knowledge lives in ``newsarchive.site``/``pages``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit
from uuid import uuid4

import scrapy
from scrapy.crawler import Crawler
from scrapy.http import Request, Response, TextResponse
from scrapy.settings import BaseSettings
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from newsarchive import stats
from newsarchive.items import ARTICLE_FIELDS, ArticleGoneItem, ArticleItem
from newsarchive.loaders import load_article
from newsarchive.pages import ArticlePage, ListingPage
from newsarchive.processors import (
    article_url_parts,
    is_article_url,
    iso_date,
    meta_line_date_text,
    strip_brand,
    utc_now_iso,
)
from newsarchive.settings_helpers import data_dir, default_feeds
from newsarchive.site import PAYWALL_PATH

#: Article requests outrank listing pages, so the queue holds one page of cards at a time and
#: memory stays flat however long the stream is.
ARTICLE_PRIORITY = 10
LISTING_PRIORITY = 0

#: HTTP answers that mean an article was deleted.
GONE_STATUSES = frozenset({404, 410})


class ConfigurationError(ValueError):
    """Bad spider arguments or settings: reported in one line, the crawl never starts."""


def check_start_url(url: str) -> str:
    """The start URL, stripped, if it is an absolute http(s) URL; else ConfigurationError."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise ConfigurationError(f"start_url {url!r} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"start_url {url!r} is not an absolute http(s) URL of a listing or article page"
        )
    return url


class StreamSpider(scrapy.Spider):
    """Archive every article of the source stream that ``start_url`` belongs to."""

    #: The setting that holds the default start page when no ``-a start_url`` is given.
    start_url_setting: ClassVar[str]
    #: Spider arguments a user may pass with ``-a``; anything else is a typo worth one line.
    known_arguments: ClassVar[frozenset[str]] = frozenset({"start_url"})

    custom_settings: ClassVar[dict[str, Any]] = {}

    def __init__(self, *args: Any, start_url: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.start_url_argument = start_url
        self.run_started_at = datetime.now(UTC)
        self.run_id = f"{self.run_started_at:%Y%m%dT%H%M%SZ}-{uuid4().hex[:8]}"
        self.seen_article_ids: set[str] = set()
        self.start_url = ""
        self.start_host = ""

    # --- configuration ------------------------------------------------------------------

    @classmethod
    def check_arguments(cls, arguments: dict[str, str]) -> None:
        """Raise ConfigurationError with a one-line reason for arguments that cannot work."""
        unknown = sorted(set(arguments) - cls.known_arguments)
        if unknown:
            raise ConfigurationError(
                f"unknown spider argument(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(cls.known_arguments))}"
            )
        if "start_url" in arguments:
            check_start_url(arguments["start_url"])

    @classmethod
    def update_settings(cls, settings: BaseSettings) -> None:
        super().update_settings(settings)
        if not settings.getdict("FEEDS"):
            settings.set("FEEDS", default_feeds(data_dir(settings)), priority="spider")
        else:
            # -O/-o and Scrapyd's feeds hold articles only, like ours: deletion records
            # (ArticleGoneItem) are for the archive's history, not for a feed of articles.
            feeds = settings.getdict("FEEDS")
            for options in feeds.values():
                options.setdefault("item_classes", [ArticleItem])
            # One above the feeds' own priority: the runner re-applies its cmdline settings
            # to the crawler after this, and would otherwise undo the filter.
            settings.set("FEEDS", feeds, priority=(settings.getpriority("FEEDS") or 0) + 1)

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> StreamSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.start_url = check_start_url(
            spider.start_url_argument or crawler.settings.get(cls.start_url_setting, "")
        )
        spider.start_host = urlsplit(spider.start_url).hostname or ""
        spider.allowed_domains = [spider.start_host]
        return spider

    @property
    def data_dir(self) -> Path:
        return data_dir(self.settings)

    # --- crawling -----------------------------------------------------------------------

    async def start(self) -> AsyncIterator[Request]:
        self.logger.info("Run %s: archiving the stream of %s", self.run_id, self.start_url)
        if is_article_url(self.start_url):
            yield self.article_request(self.start_url, follow_stream=True)
        else:
            yield self.listing_request(self.start_url)

    def listing_request(self, url: str) -> Request:
        return Request(url, callback=self.parse_listing, priority=LISTING_PRIORITY)

    def article_request(self, url: str, follow_stream: bool = False) -> Request:
        return Request(
            url,
            callback=self.parse_article,
            errback=self.article_failed,
            priority=ARTICLE_PRIORITY,
            # Articles are deduplicated by article_id below; the URL dupefilter would only
            # remember every URL of the run for nothing (and miss "/slug" vs "/slug/").
            dont_filter=True,
            cb_kwargs={"follow_stream": follow_stream},
        )

    def parse_listing(self, response: Response) -> Iterator[Request]:
        """A listing page: queue its new articles, then the next page."""
        self.crawler.stats.inc_value(stats.LISTING_PAGES)
        if not isinstance(response, TextResponse):
            self.drop(response.url, "not_html")
            return
        yield from self.follow_listing(ListingPage(response))

    def follow_listing(self, listing: ListingPage) -> Iterator[Request]:
        urls = self.on_stream(listing.article_urls)
        if not listing.article_urls:
            self.crawler.stats.inc_value(stats.LISTINGS_WITHOUT_LINKS)
            self.logger.warning("Listing %s holds no article links", listing.response.url)
        for url in urls:
            article_id = article_url_parts(url)[0]  # type: ignore[index]
            if article_id in self.seen_article_ids:
                self.crawler.stats.inc_value(stats.DUPLICATE_LINKS)
                continue
            self.seen_article_ids.add(article_id)
            yield self.article_request(url)
        next_url = listing.next_page_url
        if next_url and self.is_on_stream_host(next_url):
            yield self.listing_request(next_url)
        elif listing.needs_browser:
            yield from self.follow_scripted_listing(listing)

    def follow_scripted_listing(self, listing: ListingPage) -> Iterable[Request]:
        """Only a browser can page this listing; rendering it is a later feature."""
        self.crawler.stats.inc_value(stats.LISTINGS_NEEDING_BROWSER)
        self.logger.warning(
            "Listing %s pages with a script; its later pages were not followed",
            listing.response.url,
        )
        return ()

    def parse_article(
        self, response: Response, follow_stream: bool = False
    ) -> Iterator[ArticleItem | Request]:
        self.crawler.stats.inc_value(stats.ARTICLE_PAGES)
        if PAYWALL_PATH in response.url:
            # Name the article that was asked for, not the sign-up form it was sent to.
            self.drop(response.meta.get("redirect_urls", [response.url])[0], "paywall")
            return
        if not isinstance(response, TextResponse):
            self.drop(response.url, "not_html")
            return
        page = ArticlePage(response)
        if not page.title or not page.title.strip():
            self.drop(response.url, "no_title")
            return
        item = load_article(page, crawled_at=utc_now_iso())
        self.count_unreadable(page, item)
        if item["article_id"]:
            self.seen_article_ids.add(item["article_id"])
        self.crawler.stats.inc_value(stats.ITEMS)
        yield item
        if follow_stream:
            yield from self.follow_listing(ListingPage(response, links=list(page.stream_links())))

    def article_failed(self, failure: Failure) -> Iterator[ArticleGoneItem]:
        """An article request that ended without a page: count it, log it once, go on."""
        request = failure.request  # type: ignore[attr-defined]
        if failure.check(HttpError):
            status = failure.value.response.status
            reason = "gone" if status in GONE_STATUSES else f"http_{status}"
            if status in GONE_STATUSES and (parts := article_url_parts(request.url)):
                self.crawler.stats.inc_value(stats.GONE)
                yield ArticleGoneItem(
                    article_id=parts[0], url=request.url, status=status, seen_at=utc_now_iso()
                )
        else:
            reason = failure.type.__name__ if failure.type else "error"
        self.drop(request.url, reason)

    # --- helpers --------------------------------------------------------------------------

    def on_stream(self, urls: Iterable[str]) -> list[str]:
        """Links on the start URL's host; links elsewhere are counted and left alone."""
        kept = []
        for url in urls:
            if self.is_on_stream_host(url):
                kept.append(url)
            else:
                self.crawler.stats.inc_value(stats.OFFSITE_LINKS)
        return kept

    def is_on_stream_host(self, url: str) -> bool:
        return urlsplit(url).hostname == self.start_host

    def drop(self, url: str, reason: str) -> None:
        self.crawler.stats.inc_value(stats.drop(reason))
        self.logger.warning("Dropped %s: %s", url, reason)

    def count_unreadable(self, page: ArticlePage, item: ArticleItem) -> None:
        """Count anchors that were missing and fields that stayed null, for the monitor."""
        count = self.crawler.stats.inc_value
        date_text = meta_line_date_text(page.meta_line)
        if page.meta_line is None:
            count(stats.missing_anchor("meta_line"))
        elif date_text is None:
            count(stats.missing_anchor("date_line"))
        elif iso_date(date_text) is None:
            count(stats.unparsed("date_line"))
            self.logger.warning("Unreadable Date: %r on %s", date_text, page.response.url)
        if not page.paragraphs:
            count(stats.missing_anchor("body"))
        if item["original_url"] is None:
            count(stats.missing_anchor("original_link"))
        for field in ARTICLE_FIELDS:
            if item[field] is None and field != "original_url":
                count(stats.null_field(field))
        label = strip_brand(page.above_title)
        if label and item["source"] and label != item["source"]:
            count(stats.SOURCE_MISMATCH)
            self.logger.warning(
                "Source mismatch on %s: label line %r, Source: %r",
                page.response.url,
                label,
                item["source"],
            )
        if page.promo_blocks_removed:
            count(stats.PROMO_REMOVED, page.promo_blocks_removed)
