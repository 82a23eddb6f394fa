"""The stream spider: one KCNA Watch source stream, from a listing or an article page.

Subclasses only name themselves and their default start page; everything a stream needs —
following "More Articles", fetching each article once, dropping what is not an article —
lives here and in its collaborators: arguments (``arguments``), feeds (``feeds``), the walk of
the listings (``walk``, ``rendering`` for scripted ones), what earlier runs archived
(``newsarchive.incremental``) and the page reading (``newsarchive.extraction``). All page
knowledge lives in ``newsarchive.site``/``pages``.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.http import Request, Response, TextResponse
from scrapy.settings import BaseSettings
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from newsarchive import browser, stats
from newsarchive.clock import new_run_id, utc_now, utc_now_iso
from newsarchive.extraction import Extraction, extract_response, release_parsed_tree
from newsarchive.extraction_pool import ArticleExtractor
from newsarchive.incremental import Incremental
from newsarchive.items import ARTICLE_FIELDS, ArticleGoneItem, ArticleItem
from newsarchive.middlewares.resilience import INCOMPLETE
from newsarchive.pages import ListingPage
from newsarchive.processors import article_url_parts, is_article_url
from newsarchive.settings_helpers import data_dir
from newsarchive.site import PAYWALL_PATH
from newsarchive.spiders import ARTICLE_PRIORITY, FETCHED_AT_META, LISTING_PRIORITY
from newsarchive.spiders.arguments import (
    STREAM_ARGUMENTS,
    ConfigurationError,
    check_arguments,
    check_render,
    check_start_url,
    parse_full,
    parse_recheck_days,
)
from newsarchive.spiders.components import leave_out_switched_off
from newsarchive.spiders.feeds import apply_feed_defaults
from newsarchive.spiders.rendering import ScriptedWalk
from newsarchive.spiders.walk import ListingWalk

__all__ = ["ConfigurationError", "StreamSpider", "failure_reason"]

#: HTTP answers that mean an article was deleted.
GONE_STATUSES = frozenset({404, 410})


def failure_reason(failure: Failure) -> str:
    """A drop reason for a request that gave no page: ``http_<status>`` for an HTTP error, the
    exception's ``drop_reason`` (set by newsarchive.middlewares.resilience: offsite_redirect,
    oversized), else its class name."""
    if failure.check(HttpError):
        return f"http_{failure.value.response.status}"
    reason = getattr(failure.value, "drop_reason", None)
    return reason or (failure.type.__name__ if failure.type else "error")


def crawled_at(response: Response) -> str:
    """When the page was fetched: the instant its capture recorded (so re-reading the capture
    later gives the same sighting), else now."""
    return response.meta.get(FETCHED_AT_META) or utc_now_iso()


class SeenIds(dict[str, None]):
    """A set of article ids kept as a dict's keys: a third of a set's memory at 20,000 ids
    (a set's table is sparser). ``add`` and ``in`` as a set's, so a JOBDIR state saved with a
    plain set still works when resumed."""

    def add(self, article_id: str) -> None:
        self[article_id] = None


class StreamSpider(scrapy.Spider):
    """Archive every article of the source stream that ``start_url`` belongs to."""

    #: The setting that holds the default start page when no ``-a start_url`` is given.
    start_url_setting: ClassVar[str]
    #: Spider arguments a user may pass with ``-a``; anything else is a typo worth one line.
    known_arguments: ClassVar[frozenset[str]] = STREAM_ARGUMENTS

    custom_settings: ClassVar[dict[str, Any]] = {}

    incremental: Incremental
    walk: ListingWalk
    scripted: ScriptedWalk
    #: The worker processes extracting articles (NEWSARCHIVE_EXTRACTION_WORKERS), if any.
    extractor: ArticleExtractor | None = None
    #: The callbacks of article and listing requests, bound once (see from_crawler).
    article_callback: Callable[..., Any]
    listing_callback: Callable[..., Any]

    def __init__(
        self,
        *args: Any,
        start_url: str | None = None,
        render: str = browser.RENDER_AUTO,
        full: str | bool | None = None,
        recheck_days: str | int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.start_url_argument = start_url
        self.render = check_render(render)
        self.full = parse_full(full)  # incremental crawls: newsarchive.incremental
        self.recheck_days = parse_recheck_days(recheck_days)
        self.run_started_at = utc_now()
        self.run_id = new_run_id(self.run_started_at)
        self.seen_article_ids: set[str] | SeenIds = SeenIds()
        self.start_url = ""
        self.start_host = ""

    # --- configuration ------------------------------------------------------------------

    @classmethod
    def check_arguments(cls, arguments: dict[str, str]) -> None:
        """Raise ConfigurationError with a one-line reason for arguments that cannot work."""
        check_arguments(arguments, cls.known_arguments)

    @classmethod
    def update_settings(cls, settings: BaseSettings) -> None:
        super().update_settings(settings)
        apply_feed_defaults(settings)
        leave_out_switched_off(settings)

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> StreamSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.start_url = check_start_url(
            spider.start_url_argument or crawler.settings.get(cls.start_url_setting) or ""
        )
        spider.start_host = urlsplit(spider.start_url).hostname or ""
        spider.allowed_domains = [spider.start_host]
        spider.incremental = Incremental(
            crawler, spider.name, spider.start_url, spider.full, spider.recheck_days
        )
        spider.incremental.connect(crawler)
        spider.walk = ListingWalk(crawler, spider.incremental, spider.job_set)
        spider.scripted = ScriptedWalk(crawler, spider.walk, spider, spider.render)
        if (workers := crawler.settings.getint("NEWSARCHIVE_EXTRACTION_WORKERS")) > 0:
            spider.extractor = ArticleExtractor(workers)
            crawler.signals.connect(spider.extractor.close, signal=signals.spider_closed)
        # One bound method per callback for the whole run: Scrapy checks each callback for a
        # generator's `return value` (source read and parsed) and remembers the answer only
        # as long as that callable lives; a fresh `self.parse_article` per request meant the
        # check ran again for every page.
        spider.article_callback = (
            spider.parse_article_in_worker if spider.extractor else spider.parse_article
        )
        spider.listing_callback = spider.parse_listing
        return spider

    @property
    def data_dir(self) -> Path:
        return data_dir(self.settings)

    # --- crawling -----------------------------------------------------------------------

    async def start(self) -> AsyncIterator[Request]:
        if self.crawler.stats.get_value(stats.JOB_FINISHED_BEFORE):
            return  # a finished JOBDIR job (newsarchive.extensions.jobstate said so)
        self.logger.info("Run %s: archiving the stream of %s", self.run_id, self.start_url)
        await self.incremental.load()  # what earlier runs archived; CloseSpider if unknowable
        for target in self.incremental.take_retries():
            self.seen_article_ids.add(target.article_id)
            yield self.article_request(target.url)
        if is_article_url(self.start_url):
            yield self.article_request(self.start_url, follow_stream=True)
        else:
            yield self.listing_request(self.start_url)

    def listing_request(self, url: str) -> Request:
        if self.render == browser.RENDER_ALWAYS:
            return self.scripted.request(url)
        return Request(
            url,
            callback=self.listing_callback,
            errback=self.listing_failed,
            priority=LISTING_PRIORITY,
        )

    def article_request(self, url: str, follow_stream: bool = False) -> Request:
        return Request(
            url,
            callback=self.article_callback,
            errback=self.article_failed,
            priority=ARTICLE_PRIORITY,
            # Articles are deduplicated by article_id below; the URL dupefilter would only
            # remember every URL of the run for nothing (and miss "/slug" vs "/slug/").
            dont_filter=True,
            cb_kwargs={"follow_stream": follow_stream},
            meta=browser.rendered_meta() if self.render == browser.RENDER_ALWAYS else None,
        )

    def parse(self, response: Response, **kwargs: Any) -> Iterator[ArticleItem | Request]:
        """Scrapy's default callback (``scrapy parse URL`` with no ``-c``): an article page
        gives its item, any other page is read as a listing."""
        if is_article_url(response.url):
            yield from self.parse_article(response)
        else:
            yield from self.parse_listing(response)

    def parse_listing(self, response: Response) -> Iterator[Request]:
        """A listing page: queue its new articles, then the next page (the specimen: 19
        articles and "More Articles").

        @saved_page tests/fixtures/specimen_listing.html
        @returns items 0 0
        @returns requests 20 20
        """
        self.walk.page_read()
        if not isinstance(response, TextResponse):
            self.drop(response.url, "not_html")
            return
        if incomplete := response.meta.get(INCOMPLETE):
            # Truncated or empty after retries: follow what it holds, but the walk has a gap.
            self.walk.listing_failed(response.url, f"{incomplete}_page")
            self.logger.warning("Listing %s is %s after retries", response.url, incomplete)
        yield from self.follow_listing(ListingPage(response))
        release_parsed_tree(response)  # freed by reference counting, as article pages are

    def follow_listing(self, listing: ListingPage) -> Iterator[Request]:
        """Queue a listing's new articles and walk on: its next page, a browser to click
        through it, or nowhere (caught up, the end of the stream, a loop, the page cap)."""
        url = listing.response.url
        self.walk.links_read(listing)
        yield from self.queue_articles(listing.article_urls)
        ids = [
            article_url_parts(link)[0]  # type: ignore[index]
            for link in listing.article_urls
            if self.is_on_stream_host(link)
        ]
        if listing.article_urls and not ids:
            self.warn_alias_host(url, listing.article_urls)
        yield from self.rechecks(self.incremental.sources_of(ids))
        if self.walk.caught_up(ids):
            # Nothing new on a whole page: the rest of the stream is older and archived.
            self.walk.reached_end(caught_up=True)
            self.logger.info("Caught up at %s: no new article there", url)
            return
        next_url = listing.next_page_url
        if next_url and self.walk.cap_reached(url):
            return  # not the end of the stream: the next run walks it again
        if (
            next_url
            and self.is_on_stream_host(next_url)
            and not self.walk.loops(url, ids, next_url)
        ):
            yield self.listing_request(next_url)
        elif listing.needs_browser:
            yield from self.scripted.follow(listing)
        else:
            self.walk.reached_end()  # the end of the stream

    def listing_failed(self, failure: Failure) -> None:
        """A listing page that gave no page: the walk of the stream breaks here, so the next
        run walks the whole stream rather than stop early above a gap."""
        request = failure.request  # type: ignore[attr-defined]
        reason = failure_reason(failure)
        self.walk.listing_failed(request.url, reason)
        self.logger.warning("Listing %s failed (%s): its later pages were not followed",
                            request.url, reason)  # fmt: skip

    async def parse_rendered_listing(
        self, response: Response, already_followed: bool = False
    ) -> AsyncIterator[Request]:
        """A listing rendered in Chromium (newsarchive.spiders.rendering)."""
        async for request in self.scripted.parse(response, already_followed):
            yield request

    async def rendered_listing_failed(self, failure: Failure) -> None:
        await self.scripted.failed(failure)

    # --- articles --------------------------------------------------------------------------

    def queue_articles(self, urls: Iterable[str], quiet: bool = False) -> Iterator[Request]:
        """Requests for the articles among ``urls`` not queued yet in this run; ``quiet``:
        links seen before (a listing's first cards, read over HTTP already) are not counted."""
        for url in urls:
            if not self.is_on_stream_host(url):
                if not quiet:
                    self.crawler.stats.inc_value(stats.OFFSITE_LINKS)
                continue
            article_id = article_url_parts(url)[0]  # type: ignore[index]
            if article_id in self.seen_article_ids:
                if not quiet:
                    self.crawler.stats.inc_value(stats.DUPLICATE_LINKS)
                continue
            if self.incremental.skips(article_id):  # archived before: not fetched again
                continue
            self.seen_article_ids.add(article_id)
            yield self.article_request(url)

    def parse_article(
        self, response: Response, follow_stream: bool = False
    ) -> Iterator[ArticleItem | Request]:
        """An article page: its item (and, from the start page, the stream it leads into).

        @saved_page tests/fixtures/specimen_article.html
        @returns items 1 1
        @returns requests 0 0
        @scrapes article_id url title body published_date source source_name source_language
        """
        if (page := self.article_response(response)) is None:
            return
        extraction = extract_response(page, crawled_at(page), self.run_id, follow_stream)
        yield from self.follow_extraction(page, extraction, follow_stream)

    async def parse_article_in_worker(
        self, response: Response, follow_stream: bool = False
    ) -> AsyncIterator[ArticleItem | Request]:
        """parse_article, extracting in a worker process (NEWSARCHIVE_EXTRACTION_WORKERS), so
        the reactor's thread stays free for the network."""
        if (page := self.article_response(response)) is None or self.extractor is None:
            return
        extraction = await self.extractor.extract(
            page, crawled_at(page), self.run_id, follow_stream
        )
        if extraction.item and extraction.item.get("article_id"):
            # The worker's id is a fresh copy of the string the listing's link interned: the
            # run's records keep the one object (20,000 copies were 1.3 MiB at 20k articles).
            extraction.item["article_id"] = sys.intern(extraction.item["article_id"])
        for result in self.follow_extraction(page, extraction, follow_stream):
            yield result

    def article_response(self, response: Response) -> TextResponse | None:
        """The response if it is an article page to extract; else None, the drop recorded."""
        self.crawler.stats.inc_value(stats.ARTICLE_PAGES)
        if incomplete := response.meta.get(INCOMPLETE):
            # Still truncated or empty after retries: whatever text it holds is not the article.
            self.drop(response.url, f"{incomplete}_page")
            return None
        if PAYWALL_PATH in response.url:
            # Name the article that was asked for, not the sign-up form it was sent to.
            self.drop(response.meta.get("redirect_urls", [response.url])[0], "paywall")
            return None
        if not isinstance(response, TextResponse):
            self.drop(response.url, "not_html")
            return None
        return response

    def follow_extraction(
        self, response: TextResponse, extraction: Extraction, follow_stream: bool
    ) -> Iterator[ArticleItem | Request]:
        """What the run does with one page's extraction: archive it, read it as the first
        listing page, or drop it (its counters and warnings recorded for the monitor)."""
        fields = extraction.item  # None for a page without a title: no article
        stream = ListingPage(response, links=extraction.stream_links) if follow_stream else None
        if stream and fields and self.incremental.start_page_is_archived(fields["article_id"]):
            # An archived start article is read as the first listing page, not archived again.
            self.seen_article_ids.add(fields["article_id"])
            yield from self.rechecks({fields["source"]} if fields.get("source") else ())
            yield from self.follow_listing(stream)
            return
        for name, count in extraction.counters.items():
            self.crawler.stats.inc_value(name, count)
        for line in extraction.warnings:
            self.logger.warning(*line)
        if extraction.drop is not None or fields is None:
            self.drop(response.url, extraction.drop or "no_title")
            return
        item = ArticleItem(fields)
        if item["article_id"]:
            self.seen_article_ids.add(item["article_id"])
        self.count_item(item)
        yield item
        if item.get("source"):
            yield from self.rechecks({item["source"]})
        if stream:
            yield from self.follow_listing(stream)

    def article_failed(self, failure: Failure) -> Iterator[ArticleGoneItem]:
        """An article request that ended without a page: count it, log it once, go on."""
        request = failure.request  # type: ignore[attr-defined]
        reason = failure_reason(failure)
        status = failure.value.response.status if failure.check(HttpError) else None
        if status in GONE_STATUSES:
            reason = "gone"
            if parts := article_url_parts(request.url):
                self.crawler.stats.inc_value(stats.GONE)
                yield ArticleGoneItem(
                    article_id=parts[0], url=request.url, status=status, seen_at=utc_now_iso()
                )
        self.drop(request.url, reason)

    def rechecks(self, sources: Iterable[str]) -> Iterator[Request]:
        """Re-fetch archived articles of these source labels first published in the last
        ``recheck_days`` days, once each, so edits and deletions reach the archive."""
        for target in self.incremental.take_rechecks(sources, self.seen_article_ids):
            self.seen_article_ids.add(target.article_id)
            yield self.article_request(target.url)

    # --- job state --------------------------------------------------------------------------

    @property
    def seen_article_ids(self) -> set[str] | SeenIds:
        """Article ids queued in this job. With JOBDIR they live in ``self.state``, which
        Scrapy saves with the job, so a resumed crawl does not queue them twice."""
        state = getattr(self, "state", None)
        if state is None:
            return self._seen_article_ids
        return state.setdefault("seen_article_ids", self._seen_article_ids)

    @seen_article_ids.setter
    def seen_article_ids(self, value: set[str] | SeenIds) -> None:
        self._seen_article_ids = value
        if getattr(self, "state", None) is not None:
            self.state["seen_article_ids"] = value

    def job_set(self, name: str) -> set[Any]:
        """A set kept in the job state when there is one (JOBDIR), else on the spider."""
        state = getattr(self, "state", None)
        if state is None:
            state = self.__dict__.setdefault("_job_sets", {})
        return state.setdefault(name, set())

    # --- counting for the monitor ------------------------------------------------------------

    def count_item(self, item: ArticleItem) -> None:
        """Count the item and its null fields: the monitor's field coverage is made of these."""
        count = self.crawler.stats.inc_value
        count(stats.ITEMS)
        for field in ARTICLE_FIELDS:
            if item[field] is None and field != "original_url":
                count(stats.null_field(field))

    # --- helpers --------------------------------------------------------------------------

    def is_on_stream_host(self, url: str) -> bool:
        return urlsplit(url).hostname == self.start_host

    def warn_alias_host(self, url: str, links: Iterable[str]) -> None:
        """Every article link of a listing on another host: the start URL most likely names
        the site by an alias (``localhost`` while its pages link to ``127.0.0.1``), and every
        article would be dropped as off-site. One WARNING naming both hosts, once a run."""
        hosts = sorted({urlsplit(link).hostname or "" for link in links} - {""})
        self.crawler.stats.inc_value(stats.ALIAS_HOST_LISTINGS)
        if self.crawler.stats.get_value(stats.ALIAS_HOST_LISTINGS) == 1:
            self.logger.warning(
                "Listing %s links its articles on %s, not on the start URL's host %s: none "
                "is followed. If %s is another name for the same site, start from a URL on %s",
                url, ", ".join(hosts), self.start_host, self.start_host, hosts[0],
            )  # fmt: skip

    def drop(self, url: str, reason: str) -> None:
        self.crawler.stats.inc_value(stats.drop(reason))
        self.logger.warning("Dropped %s: %s", url, reason)
        self.incremental.record_failure(url, reason)
