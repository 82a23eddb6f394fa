"""Write every item to the PostgreSQL archive without ever holding up the crawl.

A thin Scrapy adapter: the batching, retries and spill live in ``newsarchive.db.writer``, the
pool in the run's ``RunDatabase``. ``process_item`` hands the item to the writer and returns
it at once. Without ``NEWSARCHIVE_DATABASE_URL`` the pipeline is off, and psycopg is never
imported.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Self

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import CloseSpider, NotConfigured

from newsarchive import stats as names
from newsarchive.clock import new_run_id, utc_now
from newsarchive.db.errors import ArchiveUnavailable
from newsarchive.db.run_database import RunDatabase
from newsarchive.db.urls import mask_url
from newsarchive.extensions.monitor import RunMonitor
from newsarchive.items import ArticleGoneItem, ArticleItem
from newsarchive.settings_helpers import data_dir, require_run_records
from newsarchive.signals import announce_changes, batch_committed

if TYPE_CHECKING:
    from newsarchive.db.records import RunRecord
    from newsarchive.db.writer import ArchiveWriter
    from newsarchive.reextract.judgement import RevisionJudge

logger = logging.getLogger(__name__)


class PostgresPipeline:
    """Archive ArticleItem/ArticleGoneItem in PostgreSQL; other items pass through untouched."""

    def __init__(self, crawler: Crawler, database: RunDatabase) -> None:
        self.crawler = crawler
        self.database = database
        self.writer: ArchiveWriter | None = None
        self.judge: RevisionJudge | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        require_run_records(crawler.settings)  # no crawl_runs row for `scrapy parse` & co.
        database = RunDatabase.for_crawler(crawler)
        if database is None:
            raise NotConfigured("NEWSARCHIVE_DATABASE_URL is not set: feeds only")
        pipeline = cls(crawler, database)
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    async def open_spider(self) -> None:
        """Check the server and schema, record the run, start the writer; or stop the crawl
        before its first request with one line saying why."""
        from newsarchive.db.records import RunRecord
        from newsarchive.db.writer import ArchiveWriter, WriterConfig

        spider = self.crawler.spider
        assert spider is not None
        run = RunRecord(
            run_id=getattr(spider, "run_id", None) or new_run_id(),
            spider=spider.name,
            start_url=getattr(spider, "start_url", None),
            started_at=getattr(spider, "run_started_at", None) or utc_now(),
        )
        config = WriterConfig.from_settings(self.crawler.settings, data_dir(self.crawler.settings))
        logger.info("Archiving to PostgreSQL at %s", mask_url(self.database.url))
        writer = ArchiveWriter(
            config,
            run,
            self.crawler.stats.inc_value,
            on_committed=self._committed,
        )
        try:
            store = await self.database.store()
            await writer.start(store)
            self.writer = writer  # from here on, the run's end is recorded
            if not getattr(spider, "revision_kind", None):  # a crawl: changed texts get judged
                from newsarchive.reextract.judgement import RevisionJudge

                self.judge = await RevisionJudge.load(self.crawler, store)
        except ArchiveUnavailable as exc:
            logger.error("%s", exc)
            self.crawler.stats.set_value(names.STARTUP_ERROR, str(exc))
            raise CloseSpider("database_unavailable") from None

    def _committed(self, result: Any, articles: list[dict[str, Any]]) -> None:
        self.crawler.signals.send_catch_log(batch_committed, articles=articles)
        # each edit and deletion the batch recorded reaches the changes digest; a change a
        # re-extraction made is ours, not the outlet's
        if not getattr(self.crawler.spider, "revision_kind", None):
            announce_changes(self.crawler, result, articles)

    async def process_item(self, item: Any) -> Any:
        """Queue the item for the writer and return it (the crawl never waits on the
        database, unless the writer is ``NEWSARCHIVE_DB_MAX_PENDING`` items behind)."""
        if self.writer is None:
            return item
        if isinstance(item, ArticleItem):
            values = _as_dict(item)
            # ``scrapy reextract``: a changed text is our extraction's change, not an edit
            if kind := getattr(self.crawler.spider, "revision_kind", None):
                values["revision_kind"] = kind
            elif self.judge is not None:  # edit or reextract: sets the item's hint
                for earlier in await self.judge.judge(values):
                    await self.writer.put("article", earlier)
            await self.writer.put("article", values)
        elif isinstance(item, ArticleGoneItem):
            await self.writer.put("gone", _as_dict(item))
        return item

    async def close_spider(self) -> None:
        """Write what is buffered, stop the writer and catch the search index up (the run's
        end is recorded on spider_closed, the first moment Scrapy tells the close reason)."""
        if self.writer is not None:
            await self.writer.flush()
            await self.writer.catch_up_search()
            if self.writer.spill.file is not None:  # where the monitor's verdict sends people
                self.crawler.stats.set_value(names.DB_SPILL_FILE, str(self.writer.spill.file))

    async def spider_closed(self, spider: Spider, reason: str) -> None:
        """Record the run's end and counts (the pool is closed by the RunDatabase)."""
        if self.writer is None:
            return
        await self.writer.finish(self._finished_run(self.writer.run, reason))

    def _finished_run(self, run: RunRecord, reason: str) -> RunRecord:
        values = self.crawler.stats.get_stats()
        run.finished_at = utc_now()
        run.finish_reason = reason
        run.item_count = int(values.get(names.ITEMS, 0))
        run.gone_count = int(values.get(names.GONE, 0))
        run.drop_count = sum(names.with_prefix(values, names.DROPS).values())
        run.error_count = int(values.get("log_count/ERROR", 0))
        run.request_count = int(values.get("downloader/request_count", 0))
        run.db_written_count = int(values.get(names.DB_ARTICLES_WRITTEN, 0))
        run.db_spilled_count = int(values.get(names.DB_SPILLED, 0))
        run.db_rejected_count = sum(names.with_prefix(values, names.DB_REJECTED).values())
        run.stats = {
            key: value
            for key, value in values.items()
            if key.startswith(names.PREFIX + "/") and isinstance(value, int | float)
        }
        monitor = self.crawler.get_extension(RunMonitor)
        if monitor is not None:  # the verdict travels with the run's end, spilled or not
            verdict = monitor.judge(reason)
            run.failed, run.failure_reason = not verdict.passed, verdict.reason
        return run


def _as_dict(item: Any) -> dict[str, Any]:
    """A copy of the item's fields (later pipelines may change the item). A Scrapy Item keeps
    them in ``_values``: copying that dict is several times faster than ``dict(item)``."""
    values = getattr(item, "_values", None)
    return dict(values) if isinstance(values, dict) else dict(item)
