"""Collect the run's edits and deletions (``article_changed``) for the changes digest.

Both come from the PostgreSQL pipeline, once the batch that recorded them has committed:
only the archive knows that a text is new for a known article, or that a 404/410 ends an
archived article (a 404 of a listed article the archive never held, or one already marked
gone by an earlier run, is not news). Without the archive a run sends no digest.
"""

from __future__ import annotations

from typing import Self

from scrapy.crawler import Crawler

from newsarchive.signals import ArticleChange, article_changed


class ChangeDigest:
    def __init__(self) -> None:
        self._changes: dict[tuple[str, str], ArticleChange] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        digest = cls()
        crawler.signals.connect(digest.article_changed, signal=article_changed)
        return digest

    def article_changed(self, change: ArticleChange) -> None:
        # One line per article and kind: an article seen twice in a run is one change.
        self._changes[(change.article_id, change.change)] = change

    @property
    def changes(self) -> list[ArticleChange]:
        return list(self._changes.values())
