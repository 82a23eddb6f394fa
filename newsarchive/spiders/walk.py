"""The walk of a stream's listings, linked or scripted: its pages, its end, its gaps.

One object for both kinds of listing, so "More Articles" followed by a link and "More
Articles" clicked in a browser count pages against the same cap, end the walk by the same
rules, and tell the incremental policy the same facts: the walk reached its end (the last
page, or a page with nothing new), or part of the stream was not read (a listing failed,
pagination looped, the cap was hit, a scripted listing could not be paged).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from scrapy.crawler import Crawler

from newsarchive import stats
from newsarchive.incremental import Incremental
from newsarchive.pages import ListingPage

logger = logging.getLogger(__name__)


class ListingWalk:
    """One run's walk of the stream's listing pages."""

    def __init__(
        self, crawler: Crawler, incremental: Incremental, job_set: Callable[[str], set[Any]]
    ) -> None:
        self.crawler = crawler
        self.incremental = incremental
        #: Sets kept with the job (JOBDIR), so a resumed crawl still recognises a loop.
        self.job_set = job_set
        self.max_pages = crawler.settings.getint("NEWSARCHIVE_MAX_LISTING_PAGES")
        self.pages_read = 0

    def count(self, name: str, value: int = 1) -> None:
        self.crawler.stats.inc_value(name, value)  # type: ignore[union-attr]

    # --- what was read ----------------------------------------------------------------------

    def page_read(self) -> None:
        """A listing page (linked, or a page of cards revealed by a click) was fetched."""
        self.pages_read += 1
        self.count(stats.LISTING_PAGES)

    def links_read(self, listing: ListingPage) -> None:
        """What the monitor needs about a listing: links found, "More Articles" missing."""
        self.count(stats.LISTINGS_READ)
        self.count(stats.ARTICLE_LINKS, len(listing.article_urls))
        if listing.more_articles_control is None:
            self.count(stats.missing_anchor("more_articles"))
        if not listing.article_urls:
            self.count(stats.LISTINGS_WITHOUT_LINKS)
            logger.warning("Listing %s holds no article links", listing.response.url)

    # --- where the walk ends ------------------------------------------------------------------

    def caught_up(self, article_ids: Iterable[str]) -> bool:
        """Whether a page with these article links holds nothing new (listings show the
        newest first, so the rest of the stream is older and archived)."""
        return self.incremental.caught_up(article_ids)

    def reached_end(self, caught_up: bool = False) -> None:
        """The stream's last page, or (``caught_up``) a page with nothing new."""
        self.incremental.note_walk_end(caught_up)

    def cap_reached(self, url: str) -> bool:
        """Whether the run has read NEWSARCHIVE_MAX_LISTING_PAGES listing pages, linked and
        scripted alike: pagination that never ends must still end the crawl. Once reached,
        counted for the monitor and a gap for the incremental policy."""
        if self.max_pages <= 0 or self.pages_read < self.max_pages:
            return False
        self.crawler.stats.set_value(stats.LISTING_CAP_REACHED, 1)  # type: ignore[union-attr]
        self.gap(f"NEWSARCHIVE_MAX_LISTING_PAGES reached at {url}")
        logger.warning(
            'Stopped at %s: NEWSARCHIVE_MAX_LISTING_PAGES=%d listing pages read; its "More '
            'Articles" was not followed',
            url,
            self.max_pages,
        )
        return True

    def loops(self, url: str, article_ids: Iterable[str], next_url: str) -> bool:
        """Whether pagination loops: this page repeats the cards of a page read before
        (through a URL the dupefilter cannot recognise), or its "More Articles" leads to a
        listing URL read before. Either way every page pagination offers has been read: the
        walk reached the end of the stream (one WARNING naming the loop), not a gap."""
        signature = tuple(sorted(set(article_ids)))
        seen, urls = self.job_set("listing_signatures"), self.job_set("listing_urls")
        urls.add(url)
        if signature and signature not in seen and next_url not in urls:
            seen.add(signature)
            return False
        self.count(stats.LISTING_LOOPS)
        self.reached_end()
        if next_url in urls:
            how = f'its "More Articles" leads back to {next_url}, read before'
        else:
            how = "it repeats the cards of an earlier page"
        logger.warning(
            "Listing %s: pagination loops (%s); the walk ends there, every page the stream "
            "offers read",
            url,
            how,
        )
        return True

    # --- gaps -----------------------------------------------------------------------------

    def gap(self, why: str) -> None:
        """Part of the stream was not read: the next run walks it all again."""
        self.incremental.note_gap(why)

    def listing_failed(self, url: str, reason: str) -> None:
        """A listing page that never came (or came truncated): its later pages are unread."""
        self.count(stats.listing_failed(reason))
        self.gap(f"listing {url} failed ({reason})")

    def not_followed(self, url: str, reason: str) -> None:
        """A scripted listing whose later pages were not followed (render_never, no_browser,
        error)."""
        self.count(stats.listing_not_followed(reason))
        self.gap(f"scripted listing {url} not followed ({reason})")
