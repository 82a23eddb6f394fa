"""One owner of the archive per run: one pool, opened on first use, closed once at the end.

Why: a crawl has three users of the database (the incremental loader reading what is known,
the pipeline writing items, the run monitor recording its verdict). Each used to open its own
pool and word its own errors; now ``RunDatabase.for_crawler(crawler)`` is the one instance for
that crawler, ``await database.store()`` opens the pool once, and it is closed on
``engine_stopped``, after the pipeline has flushed and the run record and verdict are written.

This module imports no driver: a crawl without ``NEWSARCHIVE_DATABASE_URL`` never loads psycopg.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from scrapy import signals
from scrapy.crawler import Crawler

from newsarchive.db.errors import ArchiveUnavailable, error_line

if TYPE_CHECKING:
    from newsarchive.db.store import ArchiveStore

logger = logging.getLogger(__name__)

_BY_CRAWLER: WeakKeyDictionary[Crawler, RunDatabase] = WeakKeyDictionary()


class RunDatabase:
    """The archive of one crawl; see the module docstring."""

    def __init__(self, crawler: Crawler, url: str) -> None:
        self.crawler = crawler
        self.url = url
        self._store: ArchiveStore | None = None
        self._opening = asyncio.Lock()
        self._closed = False

    @classmethod
    def for_crawler(cls, crawler: Crawler) -> RunDatabase | None:
        """The crawler's one instance, or None when ``NEWSARCHIVE_DATABASE_URL`` is unset."""
        database = _BY_CRAWLER.get(crawler)
        if database is not None:
            return database
        url = (crawler.settings.get("NEWSARCHIVE_DATABASE_URL") or "").strip()
        if not url:
            return None
        database = _BY_CRAWLER[crawler] = cls(crawler, url)
        crawler.signals.connect(database.close, signal=signals.engine_stopped)
        return database

    @property
    def run_id(self) -> str:
        """The crawling spider's run id (the spider exists before anything opens the pool)."""
        return str(getattr(self.crawler.spider, "run_id", "") or "")

    @property
    def is_open(self) -> bool:
        return self._store is not None

    async def store(self) -> ArchiveStore:
        """The run's store, its pool opened (and the schema checked) on the first call.
        Raises ArchiveUnavailable with one line naming the server, never the password."""
        async with self._opening:
            if self._closed:
                raise ArchiveUnavailable("the run's database connection is already closed")
            if self._store is None:
                # Imported here: a feeds-only crawl never needs the driver.
                from newsarchive.db.store import ArchiveStore, run_application_name
                from newsarchive.db.writer import database_timeout, writer_count

                settings = self.crawler.settings
                timeout = database_timeout(settings)
                self._store = await ArchiveStore.open(
                    self.url,
                    # The pipeline's writers, one for the search fill, and one for the
                    # loader, run record and verdict.
                    max_size=writer_count(settings) + 2,
                    pool_timeout=timeout,
                    connect_timeout=max(1, int(timeout)),
                    application_name=run_application_name(self.run_id),
                )
            return self._store

    async def set_run_verdict(self, run_id: str, failed: bool, reason: str | None) -> None:
        """The run monitor's verdict in ``crawl_runs``; ArchiveUnavailable (one line) when the
        database cannot take it now."""
        import psycopg

        store = await self.store()
        try:
            await store.set_run_verdict(run_id, failed, reason)
        except psycopg.Error as exc:
            raise ArchiveUnavailable(
                error_line("cannot record the verdict in PostgreSQL", self.url, exc)
            ) from None

    async def close(self) -> None:
        """Close the pool (on ``engine_stopped``: every user is done by then)."""
        async with self._opening:
            self._closed = True
            store, self._store = self._store, None
        if store is not None:
            await store.close()
