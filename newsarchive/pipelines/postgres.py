"""Write every item to the PostgreSQL archive, in batches, without ever holding up the crawl.

``process_item`` only appends to a buffer; a background asyncio task writes one transaction
per ``NEWSARCHIVE_DB_BATCH_SIZE`` items or ``NEWSARCHIVE_DB_BATCH_SECONDS`` seconds. When the
server goes away mid-crawl the writer retries with backoff, then writes batches to a spill
file (``<data>/spill/``) until the server answers again, so nothing is lost; ``scrapy
dbloadspill`` replays the file. Without ``NEWSARCHIVE_DATABASE_URL`` the pipeline is off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Self

import psycopg
from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import CloseSpider, NotConfigured

from newsarchive import stats as names
from newsarchive.clock import new_run_id, utc_now
from newsarchive.db import spill
from newsarchive.db.store import (
    CONNECTION_ERRORS,
    ArchiveStore,
    ArchiveUnavailable,
    BatchResult,
    RunRecord,
)
from newsarchive.db.urls import describe_target, mask_url, scrub
from newsarchive.items import ArticleGoneItem, ArticleItem
from newsarchive.settings_helpers import data_dir, require_run_records

logger = logging.getLogger(__name__)

DB = f"{names.PREFIX}/db"
ARTICLES_WRITTEN = f"{DB}/articles_written"  # article items stored (new, changed or re-seen)
ARTICLES_ADDED = f"{DB}/articles_added"
REVISIONS_ADDED = f"{DB}/revisions_added"
ARTICLES_CHANGED = f"{DB}/articles_changed"
ARTICLES_RETURNED = f"{DB}/articles_returned"
GONE_MARKED = f"{DB}/gone_marked"
GONE_UNKNOWN = f"{DB}/gone_unknown"
NUL_STRIPPED = f"{DB}/nul_stripped"
BATCHES = f"{DB}/batches"
RETRIES = f"{DB}/retries"
SPILLED = f"{DB}/spilled"
REJECTED = f"{DB}/rejected"  # + "/<reason>"
#: A one-line reason the crawl could not start; the crawl command prints it and exits 1.
STARTUP_ERROR = names.STARTUP_ERROR

Entry = tuple[str, dict[str, Any]]  # ("article" | "gone", item as a dict)


class PostgresPipeline:
    """Archive ArticleItem/ArticleGoneItem in PostgreSQL; other items pass through untouched."""

    def __init__(self, crawler: Crawler, url: str) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.url = url
        self.target = describe_target(url)
        self.batch_size = max(1, settings.getint("NEWSARCHIVE_DB_BATCH_SIZE", 1000))
        self.batch_seconds = max(0.01, settings.getfloat("NEWSARCHIVE_DB_BATCH_SECONDS", 2.0))
        self.max_pending = max(
            self.batch_size, settings.getint("NEWSARCHIVE_DB_MAX_PENDING") or 10 * self.batch_size
        )
        self.retry_times = max(0, settings.getint("NEWSARCHIVE_DB_RETRY_TIMES", 3))
        self.retry_backoff = max(0.0, settings.getfloat("NEWSARCHIVE_DB_RETRY_BACKOFF", 0.5))
        self.probe_seconds = max(0.1, settings.getfloat("NEWSARCHIVE_DB_PROBE_SECONDS", 5.0))
        self.timeout = max(0.5, settings.getfloat("NEWSARCHIVE_DB_TIMEOUT", 5.0))
        # Two writers let one batch be prepared and sent while the server applies another.
        self.writer_count = max(1, settings.getint("NEWSARCHIVE_DB_WRITERS", 2))
        folder = data_dir(settings)
        self.spill_dir = folder / "spill"
        self.rejected_dir = folder / "rejected"
        self.store: ArchiveStore | None = None
        self.run: RunRecord | None = None
        self.buffer: list[Entry] = []
        self.oldest = 0.0  # when the oldest buffered item arrived (monotonic)
        self.wake = asyncio.Event()
        self.room = asyncio.Event()
        self.room.set()
        self.closing = False
        self.writers: list[asyncio.Task[None]] = []
        self.spill_lock = asyncio.Lock()
        self.recover_lock = asyncio.Lock()
        self.db_down = False
        self.next_probe = 0.0
        self.spill_file: Path | None = None
        self.spilled = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        require_run_records(crawler.settings)  # no crawl_runs row for `scrapy parse` & co.
        url = crawler.settings.get("NEWSARCHIVE_DATABASE_URL") or ""
        if not url.strip():
            raise NotConfigured("NEWSARCHIVE_DATABASE_URL is not set: feeds only")
        pipeline = cls(crawler, url.strip())
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    # --- lifecycle -----------------------------------------------------------------------------

    async def open_spider(self) -> None:
        """Check the server and schema, record the run, start the writer; or stop the crawl
        before its first request with one line saying why."""
        spider = self.crawler.spider
        assert spider is not None
        self.run = RunRecord(
            run_id=getattr(spider, "run_id", None) or new_run_id(),
            spider=spider.name,
            start_url=getattr(spider, "start_url", None),
            started_at=getattr(spider, "run_started_at", None) or utc_now(),
        )
        logger.info("Archiving to PostgreSQL at %s", mask_url(self.url))
        try:
            self.store = await ArchiveStore.open(
                self.url,
                max_size=self.writer_count + 1,
                pool_timeout=self.timeout,
                connect_timeout=int(self.timeout),
            )
            await self.store.start_run(self.run)
        except ArchiveUnavailable as exc:
            await self._abort(str(exc))
        except CONNECTION_ERRORS as exc:
            await self._abort(
                f"cannot record the run in PostgreSQL at {self.target}: {_describe(exc, self.url)}"
            )
        await self._mention_waiting_spills()
        for number in range(self.writer_count):
            writer = asyncio.create_task(self._write_loop(), name=f"newsarchive-db-writer-{number}")
            # process_item may be waiting for room in the buffer: a writer that ends frees it.
            writer.add_done_callback(lambda _: self.room.set())
            self.writers.append(writer)

    async def _abort(self, message: str) -> None:
        if self.store is not None:
            await self.store.close()
            self.store = None
        logger.error(message)
        self.crawler.stats.set_value(STARTUP_ERROR, message)
        raise CloseSpider("database_unavailable")

    async def _mention_waiting_spills(self) -> None:
        waiting = await asyncio.to_thread(
            lambda: sorted(self.spill_dir.glob("*.jsonl")) if self.spill_dir.is_dir() else []
        )
        if waiting:
            logger.warning(
                "%d spill file(s) from earlier runs wait in %s: load them with "
                "`scrapy dbloadspill %s`",
                len(waiting),
                self.spill_dir,
                " ".join(str(p) for p in waiting[:3]) + (" …" if len(waiting) > 3 else ""),
            )

    async def process_item(self, item: Any) -> Any:
        """Queue the item for the writer and return it at once (the crawl never waits on the
        database, unless the writer is ``NEWSARCHIVE_DB_MAX_PENDING`` items behind)."""
        if isinstance(item, ArticleItem):
            entry: Entry = ("article", _as_dict(item))
        elif isinstance(item, ArticleGoneItem):
            entry = ("gone", _as_dict(item))
        else:
            return item
        if not self._writing():
            await self._spill([entry])  # no writer (closing, or it died): never drop the item
            return item
        if not self.buffer:
            self.oldest = time.monotonic()
        self.buffer.append(entry)
        if len(self.buffer) >= self.batch_size:
            self.wake.set()
        while len(self.buffer) >= self.max_pending and self._writing():
            self.room.clear()
            self.wake.set()
            await self.room.wait()
        return item

    def _writing(self) -> bool:
        return any(not writer.done() for writer in self.writers)

    async def close_spider(self) -> None:
        """Write what is buffered and stop the writer (the run's end is recorded on
        spider_closed, the first moment Scrapy tells the close reason)."""
        self.closing = True
        self.wake.set()
        for writer in self.writers:
            try:
                await writer
            except Exception:
                logger.exception("A PostgreSQL writer failed; spilling what is left")
        if self.buffer:
            entries, self.buffer = self.buffer, []
            await self._spill(entries)

    async def spider_closed(self, spider: Spider, reason: str) -> None:
        """Record the run's end and counts, then close the pool."""
        if self.store is None or self.run is None:
            return
        run = self.run
        values = self.crawler.stats.get_stats()
        run.finished_at = utc_now()
        run.finish_reason = reason
        run.item_count = int(values.get(names.ITEMS, 0))
        run.gone_count = int(values.get(names.GONE, 0))
        run.drop_count = sum(names.with_prefix(values, names.DROPS).values())
        run.error_count = int(values.get("log_count/ERROR", 0))
        run.request_count = int(values.get("downloader/request_count", 0))
        run.db_written_count = int(values.get(ARTICLES_WRITTEN, 0))
        run.db_spilled_count = self.spilled
        run.db_rejected_count = sum(names.with_prefix(values, REJECTED).values())
        run.stats = {
            key: value
            for key, value in values.items()
            if key.startswith(names.PREFIX + "/") and isinstance(value, int | float)
        }
        try:
            if self.db_down:
                self.next_probe = 0.0  # one more look before giving the run's end to the spill
                if not await self._recover():
                    raise psycopg.OperationalError("server still unreachable")
            await self.store.finish_run(run)
        except CONNECTION_ERRORS:
            await self._spill_run(run)
        finally:
            await self.store.close()
        if self.spilled:
            logger.warning(
                "%d item(s) could not be written to PostgreSQL at %s and were spilled to %s; "
                "load them with `scrapy dbloadspill %s`",
                self.spilled,
                self.target,
                self.spill_file,
                self.spill_file,
            )

    # --- the writer ----------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        """One writer: take the next batch, write it, until the spider closes."""
        while (batch := await self._next_batch()) is not None:
            await self._write(batch)

    async def _next_batch(self) -> list[Entry] | None:
        """A full batch as soon as there is one; a partial one once its oldest item has waited
        ``batch_seconds`` or the spider is closing; None when closing and nothing is left."""
        while True:
            waited = time.monotonic() - self.oldest
            if len(self.buffer) >= self.batch_size or (
                self.buffer and (self.closing or waited >= self.batch_seconds)
            ):
                batch = self.buffer[: self.batch_size]
                del self.buffer[: self.batch_size]
                # Per-item arrival times are not kept: what is left waits <= one more period.
                self.oldest = time.monotonic()
                if len(self.buffer) < self.max_pending:
                    self.room.set()
                return batch
            if self.closing:
                return None
            self.wake.clear()
            timeout = self.batch_seconds - waited if self.buffer else self.batch_seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=max(0.001, timeout))

    async def _write(self, batch: list[Entry]) -> None:
        """One transaction; on connection errors retry with backoff, then spill the batch."""
        assert self.store is not None and self.run is not None
        if self.db_down and not await self._recover():
            await self._spill(batch)
            return
        articles = [item for kind, item in batch if kind == "article"]
        gones = [item for kind, item in batch if kind == "gone"]
        attempts = self.retry_times + 1
        error: Exception | None = None
        for attempt in range(attempts):
            if attempt:
                delay = self.retry_backoff * 2 ** (attempt - 1)
                self.crawler.stats.inc_value(RETRIES)
                logger.warning(
                    "PostgreSQL at %s: %s; retrying in %.1fs (%d/%d)",
                    self.target,
                    _describe(error, self.url),
                    delay,
                    attempt,
                    attempts - 1,
                )
                await asyncio.sleep(delay)
                # A refused connect fails at once; asking the pool would wait its timeout.
                if not await self.store.ping(self.timeout):
                    error = psycopg.OperationalError("the server does not accept connections")
                    continue
            try:
                result = await self.store.write_batch(articles, gones, self.run.run_id)
            except CONNECTION_ERRORS as exc:
                error = exc
                continue
            except psycopg.Error as exc:
                logger.warning(
                    "PostgreSQL at %s refused a batch (%s); writing its items one by one",
                    self.target,
                    _describe(exc, self.url),
                )
                result = await self._write_one_by_one(articles, gones)
            await self._account(result)
            return
        if not self.db_down:
            logger.error(
                "PostgreSQL at %s is unavailable (%s); spilling items to %s until it answers",
                self.target,
                _describe(error, self.url),
                self._spill_path(),
            )
        self.db_down = True
        self.next_probe = time.monotonic() + self.probe_seconds
        await self._spill(batch)

    async def _recover(self) -> bool:
        """While the server is down: every ``probe_seconds``, one writer pings it; once it
        answers, a fresh pool replaces the old one (which may be waiting out a long reconnect
        backoff) and writing resumes. False: still down, spill the batch."""
        assert self.store is not None
        async with self.recover_lock:
            if not self.db_down:
                return True
            if time.monotonic() < self.next_probe:
                return False
            try:
                if not await self.store.ping(self.timeout):
                    raise psycopg.OperationalError("the server does not accept connections")
                await self.store.reset_pool()
            except CONNECTION_ERRORS:
                self.next_probe = time.monotonic() + self.probe_seconds
                return False
            self.db_down = False
            logger.warning("PostgreSQL at %s answers again; writing resumed", self.target)
            return True

    async def _write_one_by_one(
        self, articles: list[dict[str, Any]], gones: list[dict[str, Any]]
    ) -> BatchResult:
        """Find the items the server refuses: they are rejected, the others written."""
        assert self.store is not None and self.run is not None
        total = BatchResult()
        entries = [("article", item) for item in articles] + [("gone", item) for item in gones]
        for index, (kind, item) in enumerate(entries):
            try:
                total.add(
                    await self.store.write_batch(
                        [item] if kind == "article" else [],
                        [item] if kind == "gone" else [],
                        self.run.run_id,
                    )
                )
            except CONNECTION_ERRORS:
                await self._spill(entries[index:])
                break
            except psycopg.Error as exc:
                sqlstate = getattr(exc, "sqlstate", None) or "error"
                total.rejected.append((item, f"db_{sqlstate}"))
        return total

    async def _account(self, result: BatchResult) -> None:
        count = self.crawler.stats.inc_value
        count(BATCHES)
        for name, value in (
            (ARTICLES_WRITTEN, result.articles_seen),
            (ARTICLES_ADDED, result.articles_added),
            (REVISIONS_ADDED, result.revisions_added),
            (ARTICLES_CHANGED, result.articles_changed),
            (ARTICLES_RETURNED, result.articles_returned),
            (GONE_MARKED, result.gone_marked),
            (GONE_UNKNOWN, result.gone_unknown),
            (NUL_STRIPPED, result.nul_stripped),
        ):
            if value:
                count(name, value)
        if not result.rejected:
            return
        assert self.run is not None
        records = []
        for item, reason in result.rejected:
            count(f"{REJECTED}/{reason}")
            logger.warning(
                "PostgreSQL archive rejected %s (%s)",
                item.get("article_id") or item.get("url"),
                reason,
            )
            records.append({"reason": reason, "run_id": self.run.run_id, "item": dict(item)})
        path = spill.spill_path(self.rejected_dir, self.run.spider, self.run.run_id)
        await asyncio.to_thread(spill.append_records, path, records)

    # --- spilling ------------------------------------------------------------------------------

    def _spill_path(self) -> Path:
        assert self.run is not None
        return spill.spill_path(self.spill_dir, self.run.spider, self.run.run_id)

    async def _spill(self, entries: list[Entry]) -> None:
        assert self.run is not None
        run_id = self.run.run_id
        records: list[Mapping[str, Any]] = []
        if self.spill_file is None:
            self.spill_file = self._spill_path()
            # The run's start too, so a replay into a database that never saw it is complete.
            start = replace(self.run, finished_at=None, finish_reason=None)
            records.append(spill.run_record(start))
        for kind, item in entries:
            record = spill.article_record if kind == "article" else spill.gone_record
            records.append(record(item, run_id))
        async with self.spill_lock:  # writers spill at once; their lines must not interleave
            await asyncio.to_thread(spill.append_records, self.spill_file, records)
        self.spilled += len(entries)
        self.crawler.stats.inc_value(SPILLED, len(entries))

    async def _spill_run(self, run: RunRecord) -> None:
        if self.spill_file is None:
            await self._spill([])
        assert self.spill_file is not None
        async with self.spill_lock:
            await asyncio.to_thread(spill.append_records, self.spill_file, [spill.run_record(run)])
        logger.warning("The end of run %s was spilled to %s", run.run_id, self.spill_file)


def _as_dict(item: Any) -> dict[str, Any]:
    """A copy of the item's fields (later pipelines may change the item). A Scrapy Item keeps
    them in ``_values``: copying that dict is several times faster than ``dict(item)``."""
    values = getattr(item, "_values", None)
    return dict(values) if isinstance(values, dict) else dict(item)


def _describe(error: BaseException | None, url: str) -> str:
    """A driver error in one line of at most 300 characters, password masked."""
    if error is None:
        return "unknown error"
    text = " ".join(str(error).split()) or type(error).__name__
    return scrub(text, url)[:300]
