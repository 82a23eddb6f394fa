"""Listings that only a browser can page: render with scrapy-playwright and click through.

A collaborator of ``StreamSpider``: everything here runs only when a listing's "More Articles"
leads nowhere without its script (or with ``-a render=always``), so a static crawl never
touches it. It needs a few things from the spider, named by ``ListingHost``; the walk's
rules (cap, end, gaps) are the same ``ListingWalk`` linked listings use. The browser itself is
set up in ``newsarchive.browser``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Protocol

from scrapy.crawler import Crawler
from scrapy.http import Request, Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from newsarchive import browser, stats
from newsarchive.pages import ListingPage
from newsarchive.processors import article_url_parts
from newsarchive.spiders import LISTING_PRIORITY
from newsarchive.spiders.walk import ListingWalk

logger = logging.getLogger(__name__)

#: Why clicking stopped, when the walk reached the end of the stream.
_COMPLETE_STOPS = frozenset({"exhausted", "known"})


class ListingHost(Protocol):
    """What the scripted walk asks of the spider."""

    def queue_articles(self, urls: Iterable[str], quiet: bool = False) -> Iterator[Request]:
        """Requests for the articles among ``urls`` not queued yet."""
        ...

    def follow_listing(self, listing: ListingPage) -> Iterator[Request]:
        """Walk on from a listing that turned out to page by links after all."""
        ...

    def drop(self, url: str, reason: str) -> None:
        """A page that is not what was asked for."""
        ...

    # The spider's own callbacks (requests must name spider methods to be kept in a JOBDIR).
    def parse_rendered_listing(
        self, response: Response, already_followed: bool = False
    ) -> AsyncIterator[Request]: ...

    async def rendered_listing_failed(self, failure: Failure) -> None: ...


class ScriptedWalk:
    """Render a scripted listing in Chromium and click "More Articles" through it."""

    def __init__(self, crawler: Crawler, walk: ListingWalk, host: ListingHost, render: str):
        self.crawler = crawler
        self.walk = walk
        self.host = host
        self.render = render
        self.click_timeout = crawler.settings.getfloat("NEWSARCHIVE_CLICK_TIMEOUT")

    def follow(self, listing: ListingPage) -> Iterable[Request]:
        """Only a browser can page this listing: render it and click, unless render=never."""
        self.walk.count(stats.LISTINGS_NEEDING_BROWSER)
        url = listing.response.url
        if self.render == browser.RENDER_NEVER:
            self.walk.not_followed(url, "render_never")
            logger.warning(
                "Listing %s pages with a script and render=never: its later pages were not "
                "followed",
                url,
            )
            return ()
        return (self.request(url, already_followed=True),)

    def request(self, url: str, already_followed: bool = False) -> Request:
        return Request(
            url,
            callback=self.host.parse_rendered_listing,
            errback=self.host.rendered_listing_failed,
            priority=LISTING_PRIORITY,
            # with render=auto the same URL was just fetched over HTTP to learn it needs this
            dont_filter=True,
            meta=browser.rendered_meta(include_page=True),
            cb_kwargs={"already_followed": already_followed},
        )

    async def parse(self, response: Response, already_followed: bool) -> AsyncIterator[Request]:
        """A listing in Chromium: its article links, then a page of cards per click.

        ``already_followed``: it was read over HTTP first and its first cards are queued.
        Otherwise (render=always) it is a listing like any other: one that links its next
        page is followed by that link.
        """
        try:
            if not already_followed:
                self.walk.page_read()
                if not isinstance(response, TextResponse):
                    self.host.drop(response.url, "not_html")
                    return
                listing = ListingPage(response)
                if not listing.needs_browser:
                    await browser.close_page(response.meta)
                    for request in self.host.follow_listing(listing):
                        yield request
                    return
                self.walk.count(stats.LISTINGS_NEEDING_BROWSER)
            async for request in self.click_through(response, already_followed):
                yield request
        finally:
            await browser.close_page(response.meta)

    async def click_through(
        self, response: Response, already_followed: bool
    ) -> AsyncIterator[Request]:
        """Click "More Articles" until it is gone, the page stops changing, a click reveals
        only known articles, or the run has read NEWSARCHIVE_MAX_LISTING_PAGES listing pages;
        queue the articles as they show."""
        clicker = browser.ScriptedListing(
            response.meta["playwright_page"],
            click_timeout=self.click_timeout,
            pause=self.crawler.settings.getfloat("DOWNLOAD_DELAY"),
        )
        self.walk.count(stats.LISTINGS_RENDERED)
        listed: set[str] = set()
        pages, idle, reason = 0, 0, None
        while reason is None:
            urls = ListingPage(response, links=await clicker.new_links()).article_urls
            fresh = {article_url_parts(url)[0] for url in urls} - listed  # type: ignore[index]
            listed |= fresh
            first = pages == 0
            for request in self.host.queue_articles(urls, quiet=already_followed and first):
                yield request
            if fresh:
                pages, idle = pages + 1, 0
                if not first:
                    self.walk.page_read()
            else:
                idle += 1
            if fresh and self.walk.caught_up(fresh):
                reason = "known"
            elif idle >= 3:  # the page keeps changing but shows no new article
                reason = "unchanged"
            elif self.walk.cap_reached(response.url):  # static and scripted pages alike
                reason = "limit"
            else:
                await self.wait_for_article_backlog()
                reason = await clicker.click()
                self.walk.count(stats.LISTING_CLICKS, 0 if reason else 1)
        self.walk.count(stats.listing_stopped(reason))
        complete = reason in _COMPLETE_STOPS
        if complete:
            self.walk.reached_end(caught_up=reason == "known")
        else:
            self.walk.gap(f"clicks on {response.url} ended early ({reason})")
        logger.log(
            logging.INFO if complete else logging.WARNING,
            "Listing %s: %d pages of cards, %d articles, %d clicks on More Articles; stopped: %s",
            response.url,
            pages,
            len(listed),
            clicker.clicks,
            reason,
        )

    async def wait_for_article_backlog(self) -> None:
        """Click only when few requests wait: as on linked listings, where articles outrank
        the next page, the queue holds a page or two of cards, not the whole stream."""
        engine = self.crawler.engine
        limit = max(40, 2 * self.crawler.settings.getint("CONCURRENT_REQUESTS"))
        # polled: the scheduler has no event to wait on
        while engine.running and engine.scheduler is not None and len(engine.scheduler) > limit:  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    async def failed(self, failure: Failure) -> None:
        """A listing that could not be rendered: its first cards stand, later pages do not."""
        request = failure.request  # type: ignore[attr-defined]
        await browser.close_page(request.meta)
        if failure.check(browser.BrowserUnavailable):
            reason = "no_browser"  # the download handler said so once, in one line
        else:
            reason = "error"
            if failure.check(HttpError):
                detail = f"HTTP {failure.value.response.status}"
            else:
                detail = (failure.getErrorMessage().strip().splitlines() or ["?"])[0]
            logger.warning(
                "Rendering listing %s failed (%s); its later pages were not followed",
                request.url,
                detail,
            )
        self.walk.not_followed(request.url, reason)
