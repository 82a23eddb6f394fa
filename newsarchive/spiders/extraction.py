"""Extraction of one article page: the item, and what the monitor must hear about the page.

One call with plain data out, kept apart from the spider's walking and counting, so it can
later run elsewhere (a worker process, ``scrapy reextract``) without the spider.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scrapy.http import TextResponse

from newsarchive.items import ArticleItem
from newsarchive.loaders import load_article
from newsarchive.pages import ArticlePage
from newsarchive.processors import iso_date, meta_line_date_text, strip_brand


@dataclass
class ArticleExtraction:
    """What an article page gave. ``item`` is None when the page has no title (no article)."""

    item: ArticleItem | None
    #: Anchors the page lacks (``ArticlePage.missing_anchors``).
    missing_anchors: list[str] = field(default_factory=list)
    #: The "More From" cards and "More Articles" link (only when asked for).
    stream_links: list[str] = field(default_factory=list)
    promo_blocks_removed: int = 0
    #: A ``Date:`` text that is there but could not be read.
    unreadable_date: str | None = None
    #: The label line above the title, when it names another source than ``Source:``.
    mismatched_label: str | None = None


def extract_article(
    response: TextResponse, crawled_at: str, run_id: str, stream_links: bool = False
) -> ArticleExtraction:
    """Read an article page; ``stream_links``: also the links that lead on into the stream."""
    page = ArticlePage(response)
    links = list(page.stream_links()) if stream_links else []
    missing = page.missing_anchors()
    if "title" in missing:
        return ArticleExtraction(None, missing, links)
    item = load_article(page, crawled_at=crawled_at, run_id=run_id)
    date_text = None if page.meta_line is None else meta_line_date_text(page.meta_line)
    unreadable = date_text is not None and iso_date(date_text) is None
    label = strip_brand(page.above_title)
    return ArticleExtraction(
        item,
        missing,
        links,
        page.promo_blocks_removed,
        unreadable_date=date_text if unreadable else None,
        mismatched_label=label if label and item["source"] and label != item["source"] else None,
    )
