"""The re-extraction as a Scrapy spider that makes no request: ``start()`` yields the items
the worker processes extract, so they pass through the crawl's own pipelines and feeds.

Resumable: each item the pipelines finished with is journalled (its WARC record ID) under
``<data>/reextract/<job>/``; a run killed and started again with the same selection skips
those records, and a run that finishes removes its journal (the next one starts afresh).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from contextlib import nullcontext
from pathlib import Path
from typing import IO, Any, ClassVar

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.extensions.corestats import CoreStats
from scrapy.logformatter import LogFormatter
from scrapy.utils.misc import load_object
from spidermon.contrib.scrapy.pipelines import ItemValidationPipeline
from spidermon.contrib.scrapy.stats import ValidationStatsManager

from newsarchive import stats
from newsarchive.clock import new_run_id, utc_now
from newsarchive.extraction_version import EXTRACTOR_VERSION
from newsarchive.items import ArticleItem
from newsarchive.reextract.job import Job, Selection, start_job
from newsarchive.reextract.pool import start_workers, worker_count
from newsarchive.reextract.shares import Share, ShareResult, read_entries
from newsarchive.settings_helpers import data_dir
from newsarchive.signals import batch_committed
from newsarchive.spiders.components import leave_out
from newsarchive.spiders.feeds import apply_feed_defaults

#: How often the main process looks for new entries of a share being extracted, and how much
#: it reads at a time.
POLL_SECONDS = 0.05
#: Scrapy's extensions that only a crawl of the network uses.
NETWORK_EXTENSIONS = (
    "scrapy.extensions.remote_control.RemoteControl",
    "scrapy.extensions.telnet.TelnetConsole",
    "scrapy.extensions.throttle.AutoThrottle",
)
#: Every scheme Scrapy can download: a re-extraction fetches nothing, so no download handler
#: (nor the HTTP and TLS stack it imports) is loaded before the workers are forked.
DOWNLOAD_SCHEMES = ("data", "file", "http", "https", "s3", "ftp")
#: The crawl's memory check counts its browser too; a re-extraction starts none, so Scrapy's
#: own check (which the crawl's replaces) takes its place, and the browser module (which
#: imports the HTTP download stack) is not loaded.
BROWSER_MEMORY = "newsarchive.browser.BrowserMemoryUsage"
MEMORY_USAGE = "scrapy.extensions.memusage.MemoryUsage"
#: Scrapy's core stats extension, replaced by ``ReextractCoreStats``.
CORE_STATS = "scrapy.extensions.corestats.CoreStats"
#: Items between two additions of the counts to the run's stats.
TALLY_EVERY = 100
READ_BYTES = 4 * 2**20


class ReextractSpider(scrapy.Spider):
    """Re-read stored captures with today's rules; no network."""

    name = "reextract"
    #: What the archive records a changed text as (the ``revision_kind`` hint the PostgreSQL
    #: pipeline gives the writer): our extraction changed, the outlet did not.
    revision_kind: ClassVar[str] = "reextract"
    custom_settings: ClassVar[dict[str, Any]] = {
        "NEWSARCHIVE_WARC_ENABLED": False,  # nothing is fetched: nothing to capture
        "ROBOTSTXT_OBEY": False,
        # The crawl's checks judge a walk of the site (listings, links, blocks): there is
        # none. Items are still validated against the schema; the command's exit says so.
        "SPIDERMON_SPIDER_CLOSE_MONITORS": [],
        # Scrapy's spider middlewares act on requests and responses: there are none, and each
        # would pass every item on through one more async generator.
        "SPIDER_MIDDLEWARES_BASE": {},
        # Nor is anything downloaded: building the downloader's middlewares (and importing
        # them) was start-up time the workers waited through.
        "DOWNLOADER_MIDDLEWARES_BASE": {},
        "DOWNLOADER_MIDDLEWARES": {},
        "LOG_FORMATTER": "newsarchive.reextract.spider.ReextractLogFormatter",
    }

    def __init__(
        self,
        selection: Selection = (None, None, None),
        workers: Executor | None = None,
        job: Job | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.selection = selection
        #: the worker processes (``pool.start_workers``) and the job already given them, both
        #: started by the command before the crawler; the spider starts its own without them.
        self.workers = workers
        self.job = job
        self.run_started_at = utc_now()
        self.run_id = new_run_id(self.run_started_at)
        self.start_url = None
        self.done: set[str] = set()
        self.journal: IO[str] | None = None
        self.pending: dict[tuple[str, str], str] = {}  # _key(item) → its WARC record ID
        self.complete = False
        #: no database: start() journals each item once its item_scraped handlers ran
        self.journal_each = False
        self.failed = False  # the item being processed was dropped, or a pipeline failed
        self.tally: _Tally | None = None

    @classmethod
    def update_settings(cls, settings: Any) -> None:
        super().update_settings(settings)
        apply_feed_defaults(settings)
        # The workers validate each item against the item schema (``shares``), with the same
        # Spidermon validator; ``_items_of`` records the verdicts under Spidermon's stat names.
        pipelines = settings.getdict("ITEM_PIPELINES")
        kept = {
            k: v
            for k, v in pipelines.items()
            if not issubclass(load_object(k), ItemValidationPipeline)  # the crawl's subclass too
        }
        if kept != pipelines:
            settings.set("ITEM_PIPELINES", kept, priority="spider")
        # Scrapy's extensions for a crawl of the network: off here, and left out of Scrapy's
        # list rather than named with None, which would still import them (the remote
        # control imports aiohttp); CoreStats gives way to ReextractCoreStats.
        left_out = {*NETWORK_EXTENSIONS, CORE_STATS}
        leave_out(settings, "EXTENSIONS", left_out)
        listed = settings.getdict("EXTENSIONS")
        extensions = {
            name: order
            for name, order in listed.items()
            if name not in left_out and name not in (BROWSER_MEMORY, MEMORY_USAGE)
        }
        if listed.get(BROWSER_MEMORY) is not None:
            extensions[MEMORY_USAGE] = listed[BROWSER_MEMORY]
        extensions[f"{__name__}.ReextractCoreStats"] = 0
        settings.set("EXTENSIONS", extensions, priority="spider")
        settings.set("DOWNLOAD_HANDLERS", dict.fromkeys(DOWNLOAD_SCHEMES), priority="spider")

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> ReextractSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        if crawler.settings.get("NEWSARCHIVE_DATABASE_URL"):
            # done once in the database (the feed has it by then)
            crawler.signals.connect(spider.batch_committed, signal=batch_committed)
        else:  # start() journals each item the pipelines and feeds passed
            spider.journal_each = True
        # start() counts (and without a database journals) each item that passed, rather than
        # one more ``item_scraped`` receiver (Scrapy runs each receiver of each item as a task
        # of its own); these rare signals say the item did not pass
        crawler.signals.connect(spider.item_failed, signal=signals.item_dropped)
        crawler.signals.connect(spider.item_failed, signal=signals.item_error)
        crawler.signals.connect(spider.spider_closed, signal=signals.spider_closed)
        return spider

    async def start(self) -> AsyncIterator[ArticleItem]:
        """Hand every item of the job to the item pipelines, one after the other, awaiting
        each (``Scraper.start_itemproc_async``: the pipelines, ``item_scraped``, the feeds),
        rather than yielding it: for each item Scrapy's engine yields to the event loop,
        asks the empty scheduler for a request and signals ``scheduler_empty``: with the
        receivers of ``item_scraped`` left to this loop, about a quarter of the main
        process's CPU (4.3 → 3.2 s over 20,000 items). Nothing is yielded; it stops, the
        job unfinished, when the engine stops reading start()."""
        self.crawler.stats.set_value(stats.REEXTRACT_RUN, 1)  # the monitor judges no walk
        folder = data_dir(self.settings)
        count = worker_count(self.settings)
        # the command's workers stay until the crawl ends (the command shuts them down)
        own = nullcontext(self.workers) if self.workers else start_workers(count)
        with own as pool:
            job = self.job or await asyncio.to_thread(
                start_job, folder, self.selection, pool, count
            )
            if job is None:
                self.logger.error("No captures under %s for this selection", folder / "warc")
                self.crawler.stats.set_value(stats.REEXTRACT_NO_CAPTURES, 1)
                return
            self.job, self.done = job, job.done
            if self.done:
                self.logger.info("Resuming: %d pages were re-extracted before", len(self.done))
            self.journal = job.journal.open("a", encoding="utf-8")
            self.tally = _Tally(self.crawler.stats)
            self.logger.info(
                "Re-extracting %d run(s), %d share(s) with %d worker(s), extractor %s",
                len(job.captures), len(job.shares), count, EXTRACTOR_VERSION,
            )  # fmt: skip
            engine, tally = self.crawler.engine, self.tally
            try:
                async for item in self._items(job, count):
                    if engine.spider is None or engine.needs_backout():  # closing, as Scrapy
                        return
                    await engine.scraper.start_itemproc_async(item, response=None)
                    if self.failed:  # dropped, or a pipeline failed: not in the feed
                        self.failed = False
                        continue
                    tally.scraped += 1
                    if self.journal_each:  # the feed has it
                        self._journal([item])
            finally:
                tally.flush()
        self.complete = True  # the monitor and the exit status ask for it (a verdict is a promise)
        self.crawler.stats.set_value(stats.REEXTRACT_COMPLETE, 1)
        if False:  # start() is the async generator Scrapy expects
            yield

    async def _items(self, job: Job, count: int) -> AsyncIterator[ArticleItem]:
        """The job's items, read from the ``count`` shares being extracted at once (the
        workers take them in order), each as its entries are written: read one share after
        the other, the last share's entries were left for the main process alone to read
        once the workers were done."""
        loop = asyncio.get_running_loop()
        validation = ValidationStatsManager(self.crawler.stats)
        tally = self.tally
        assert tally is not None
        waiting = [
            _ShareEntries(share, asyncio.wrap_future(future, loop=loop))
            for share, future in zip(job.shares, job.extracted, strict=True)
        ]
        waiting.reverse()  # popped in order
        reading: list[_ShareEntries] = []
        done = 0
        while waiting or reading:
            while waiting and len(reading) < count:
                reading.append(waiting.pop())
            progress = False
            for share in list(reading):
                entries = await share.read()
                progress = progress or bool(entries) or share.finished
                for entry in entries:
                    if entry["record_id"] in self.done:
                        tally.resumed += 1
                        continue
                    fields = entry["item"]
                    tally.items += 1
                    tally.fields += len(fields)
                    if errors := entry.get("errors"):
                        for field_name, messages in errors.items():
                            for message in messages:
                                validation.add_field_error(field_name, message)
                        validation.add_item_with_errors()
                    self.pending[_key(fields)] = entry["record_id"]
                    if tally.items % TALLY_EVERY == 0:
                        tally.flush()
                    yield ArticleItem(fields)
                if share.finished:
                    reading.remove(share)
                    done += 1
                    tally.flush()
                    self._share_done(share, done, len(job.shares))
            if not progress:
                await asyncio.wait([s.writer for s in reading], timeout=POLL_SECONDS)

    def _share_done(self, entries: _ShareEntries, number: int, shares: int) -> None:
        result = entries.writer.result()
        if result.unreadable:
            self.crawler.stats.inc_value(stats.REEXTRACT_UNREADABLE, result.unreadable)
        entries.share.output.unlink()
        self.crawler.stats.inc_value(stats.REEXTRACT_SHARES)
        self.logger.info(
            "Re-extract: %d/%d shares, %d items so far", number, shares,
            self.crawler.stats.get_value(stats.REEXTRACT_ITEMS, 0),
        )  # fmt: skip

    def item_failed(self) -> None:
        """The item being processed is not in the feed: not counted as scraped, and not
        journalled (a resumed run tries it again)."""
        self.failed = True

    def batch_committed(self, articles: list[dict[str, Any]]) -> None:
        """PostgreSQL has them: journal them, a resumed run skips them."""
        self._journal(articles)

    def _journal(self, items: list[Any]) -> None:
        records = [self.pending.pop(_key(item), None) for item in items]
        lines = "".join(f"{record}\n" for record in records if record is not None)
        if lines and self.journal is not None:
            self.journal.write(lines)
            self.journal.flush()

    def spider_closed(self, reason: str) -> None:
        if self.journal is not None:
            self.journal.close()
        if self.job and self.complete and reason == "finished" and not self.pending:
            shutil.rmtree(self.job.folder, ignore_errors=True)


class _Tally:
    """The counts of the items read and scraped, added to the run's stats every
    ``TALLY_EVERY`` items, at the end of each share and of the run (four stat calls per item
    were a visible part of its cost)."""

    def __init__(self, run_stats: Any) -> None:
        self.stats = run_stats
        self.items = self.fields = self.resumed = self.scraped = 0
        self._added = (0, 0, 0, 0)

    def flush(self) -> None:
        counts = (self.items, self.fields, self.resumed, self.scraped)
        items, fields, resumed, scraped = (n - a for n, a in zip(counts, self._added, strict=True))
        self._added = counts
        inc = self.stats.inc_value
        if scraped:
            inc(stats.SCRAPY_ITEMS_SCRAPED, scraped)  # what CoreStats counts (ReextractCoreStats)
        if items:
            inc(stats.SCHEMA_ITEMS, items)  # Spidermon's names, as its pipeline counts them
            inc(stats.SCHEMA_FIELDS, fields)
            inc(stats.REEXTRACT_ITEMS, items)
            inc(stats.ITEMS, items)
        if resumed:
            inc(stats.REEXTRACT_RESUMED, resumed)


class ReextractCoreStats(CoreStats):
    """Scrapy's core stats without its ``item_scraped`` receiver: the spider, which hands each
    item to the pipelines itself, adds ``item_scraped_count`` in batches (``_Tally``)."""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ReextractCoreStats:
        extension = super().from_crawler(crawler)
        crawler.signals.disconnect(extension.item_scraped, signal=signals.item_scraped)
        return extension


class ReextractLogFormatter(LogFormatter):
    """Scrapy's, without the DEBUG line per item unless the log shows DEBUG: the record was
    built (the whole item formatted into it) for every item, then thrown away."""

    def __init__(self, debug: bool = True) -> None:
        self.debug = debug

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ReextractLogFormatter:
        level = crawler.settings.get("LOG_LEVEL")
        if isinstance(level, str):
            level = logging.getLevelName(level.upper())  # an unknown name stays a str
        return cls(debug=not isinstance(level, int) or level <= logging.DEBUG)

    def scraped(self, item: Any, response: Any, spider: scrapy.Spider) -> Any:
        return super().scraped(item, response, spider) if self.debug else None


def _key(item: Any) -> tuple[str, str]:
    """An item's page: which article, fetched when (the same in the item and its copies)."""
    return item.get("article_id") or item.get("url"), item.get("crawled_at")


class _ShareEntries:
    """The complete entries of a share's file, which a worker is writing, as they come:
    ``finished`` once the worker is done (its exception, if any, is raised) and every entry
    is read."""

    def __init__(self, share: Share, writer: asyncio.Future[ShareResult]) -> None:
        self.share, self.writer = share, writer
        self.offset, self.partial, self.finished = 0, b"", False

    async def read(self) -> list[dict[str, Any]]:
        finished = self.writer.done()
        if finished:
            self.writer.result()
        chunk = await asyncio.to_thread(_read_from, self.share.output, self.offset)
        self.offset += len(chunk)
        entries, self.partial = read_entries(self.partial + chunk)
        self.finished = finished and not chunk
        return entries


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with path.open("rb") as stream:
            stream.seek(offset)
            return stream.read(READ_BYTES)
    except FileNotFoundError:  # the worker has not started the share yet
        return b""
