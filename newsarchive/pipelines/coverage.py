"""Count, per field, the article items that have it: the monitor's coverage check reads this.

Why a pipeline and not the spider: it sees exactly what the feeds and the archive receive
(whatever spider or subclass produced it), and it runs first so no later stage hides an item.
"""

from __future__ import annotations

from typing import Any, Self

from scrapy.crawler import Crawler

from newsarchive import stats as names
from newsarchive.items import ARTICLE_FIELDS, ArticleItem


class FieldCoverage:
    """``newsarchive/coverage/items`` and ``newsarchive/coverage/<field>`` (non-null count)."""

    def __init__(self, crawler: Crawler) -> None:
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        if isinstance(item, ArticleItem):
            self.stats.inc_value(names.coverage("items"))
            for field in ARTICLE_FIELDS:
                value = item.get(field)
                if value is not None and value != "":
                    self.stats.inc_value(names.coverage(field))
        return item
