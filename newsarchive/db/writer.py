"""The crawl's archive writer: buffer items, write them in batches, never lose one.

Why apart from the Scrapy pipeline: this is the part with the decisions (when a batch is full
or old enough, how long to retry, when to spill, when to resume), and it needs no crawler:
``newsarchive.pipelines.postgres`` only feeds it items and hands it the run's end.

``put`` only appends to a buffer; background asyncio tasks write one transaction per
``batch_size`` items or ``batch_seconds`` seconds, and hand each batch's new revisions to the
search index (``newsarchive.db.search``), filled outside the write transactions. When the
server goes away the writer retries with backoff, then appends batches to a spill file
(``<data>/spill/``) until the server answers again, so nothing is lost; ``scrapy
dbloadspill`` replays the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import psycopg

from newsarchive import stats as names
from newsarchive.db import spill
from newsarchive.db.errors import ArchiveUnavailable, error_line, one_line_error
from newsarchive.db.records import BatchResult, RunRecord
from newsarchive.db.search import SearchIndexer
from newsarchive.db.store import CONNECTION_ERRORS, ArchiveStore

logger = logging.getLogger(__name__)

Kind = Literal["article", "gone"]
Entry = tuple[Kind, dict[str, Any]]
#: ``count(stat_name, by)``: where the writer's counts go (the crawl's stats).
Counter = Callable[[str, int], object]
#: Called with a committed batch's result and its article items.
Committed = Callable[[BatchResult, list[dict[str, Any]]], object]

_REFUSED = "the server does not accept connections"

#: Batches a writer joins into one transaction at most while the writes are behind: on a
#: busy server each transaction's round trips (BEGIN, the lookup, two COPYs, COMMIT) cost
#: more than its rows, so a backlog is written in fewer, larger transactions.
JOINED_BATCHES = 5

#: ``put`` yields to the event loop once per this many items. A caller that never waits (a bulk
#: load, a re-extraction, the bench) would otherwise keep the loop until the buffer is full:
#: a writer's answers from the server (a lookup's result, a COPY's end) wait meanwhile, and
#: so does the server. Yielding every 256 items made the bench's pipeline 1.05 to 1.10 times
#: as fast (docs/POSTGRES.md, eighth pass); a crawl, which waits between items anyway, never
#: notices.
YIELD_EVERY = 256


@dataclass(frozen=True)
class WriterConfig:
    """The writer's knobs (``NEWSARCHIVE_DB_*``; ``from_settings`` documents each)."""

    batch_size: int
    batch_seconds: float
    max_pending: int
    retry_times: int
    retry_backoff: float
    probe_seconds: float
    timeout: float
    writers: int
    search_fill: bool
    spill_dir: Path
    rejected_dir: Path

    @classmethod
    def from_settings(cls, settings: Any, data_dir: Path) -> WriterConfig:
        """From a Scrapy-like settings object (``getint``/``getfloat``); no fallbacks: the
        defaults live in ``newsarchive/settings.py``."""
        batch_size = max(1, settings.getint("NEWSARCHIVE_DB_BATCH_SIZE"))
        # 0: ten batches' worth.
        pending = settings.getint("NEWSARCHIVE_DB_MAX_PENDING") or 10 * batch_size
        return cls(
            batch_size=batch_size,
            batch_seconds=max(0.01, settings.getfloat("NEWSARCHIVE_DB_BATCH_SECONDS")),
            max_pending=max(batch_size, pending),
            retry_times=max(0, settings.getint("NEWSARCHIVE_DB_RETRY_TIMES")),
            retry_backoff=max(0.0, settings.getfloat("NEWSARCHIVE_DB_RETRY_BACKOFF")),
            probe_seconds=max(0.1, settings.getfloat("NEWSARCHIVE_DB_PROBE_SECONDS")),
            timeout=database_timeout(settings),
            writers=writer_count(settings),
            search_fill=settings.getbool("NEWSARCHIVE_DB_SEARCH_FILL"),
            spill_dir=data_dir / "spill",
            rejected_dir=data_dir / "rejected",
        )


def database_timeout(settings: Any) -> float:
    """``NEWSARCHIVE_DB_TIMEOUT``: connect and pool timeout in seconds."""
    return max(0.5, settings.getfloat("NEWSARCHIVE_DB_TIMEOUT"))


def writer_count(settings: Any) -> int:
    """``NEWSARCHIVE_DB_WRITERS``: two let one batch be prepared and sent while the server
    applies another."""
    return max(1, settings.getint("NEWSARCHIVE_DB_WRITERS"))


class ArchiveWriter:
    """Batches, retries and spills the items of one run (``run``) into one store."""

    def __init__(
        self,
        config: WriterConfig,
        run: RunRecord,
        count: Counter,
        on_committed: Committed | None = None,
    ) -> None:
        self.config = config
        self.run = run
        self.count = count
        #: Told of every committed batch (its result and its article items): the changes digest.
        self.on_committed = on_committed
        self.store: ArchiveStore | None = None
        self.buffer: list[Entry] = []
        self.oldest = 0.0  # when the oldest buffered item arrived (monotonic)
        self.wake = asyncio.Event()
        self.room = asyncio.Event()
        self.room.set()
        self.closing = False
        self.tasks: list[asyncio.Task[None]] = []
        self.live_writers = 0  # writer tasks not done (put() asks once per item)
        self.queued = 0  # items put so far (``YIELD_EVERY``)
        self.recover_lock = asyncio.Lock()
        self.db_down = False
        self.next_probe = 0.0
        self.spill = spill.RunSpill(config.spill_dir, run, count)
        #: Indexes committed revisions for full-text search beside the writes (schema 0004).
        self.search: SearchIndexer | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self, store: ArchiveStore) -> None:
        """Record the run's start and start the writer tasks. Raises ArchiveUnavailable (one
        line) when the run cannot be recorded."""
        try:
            await store.start_run(self.run)
        except CONNECTION_ERRORS as exc:
            raise ArchiveUnavailable(
                error_line("cannot record the run in PostgreSQL", store.url, exc)
            ) from None
        self.store = store
        await self._close_dead_runs()
        await spill.mention_waiting(self.config.spill_dir)
        for number in range(self.config.writers):
            task = asyncio.create_task(self._write_loop(), name=f"newsarchive-db-writer-{number}")
            task.add_done_callback(self._writer_done)
            self.tasks.append(task)
            self.live_writers += 1
        self.search = SearchIndexer(
            store,
            self.count,
            parts=self.config.writers,
            fill=self.config.search_fill,
            writes_behind=self._writes_behind,
        )

    def _writes_behind(self) -> bool:
        """A full batch waits, or the run's end is draining the buffer: the fill yields (at
        the end, what it would index is the parallel catch-up's, which follows at once)."""
        return self.closing or len(self.buffer) >= self.config.batch_size

    async def _close_dead_runs(self) -> None:
        """Runs killed before they could record their end: say so in their rows now."""
        assert self.store is not None
        try:
            closed = await self.store.close_dead_runs(self.run.run_id)
        except CONNECTION_ERRORS as exc:
            logger.warning(
                "Runs left running were not checked: %s", one_line_error(exc, self.store.url)
            )
            return
        for run_id in closed:
            logger.warning(
                "Run %s never recorded its end (killed?): its crawl_runs row now says "
                "incomplete (killed)",
                run_id,
            )

    async def put(self, kind: Kind, item: dict[str, Any]) -> None:
        """Queue an item; returns at once unless the writers are ``max_pending`` items behind
        (or, once every ``YIELD_EVERY`` items, after one turn of the event loop)."""
        entry: Entry = (kind, item)
        if not self._writing():
            # no writer (closing, or it died): never drop the item
            await self.spill.add([entry], self.run)
            return
        if not self.buffer:
            self.oldest = time.monotonic()
        self.buffer.append(entry)
        if len(self.buffer) >= self.config.batch_size:
            self.wake.set()
        self.queued += 1
        if self.queued % YIELD_EVERY == 0:
            await asyncio.sleep(0)
        while len(self.buffer) >= self.config.max_pending and self._writing():
            self.room.clear()
            self.wake.set()
            await self.room.wait()

    def _writing(self) -> bool:
        return self.live_writers > 0

    def _writer_done(self, _: asyncio.Task[None]) -> None:
        self.live_writers -= 1
        self.room.set()  # put() may be waiting for room in the buffer: a writer that ends frees it

    async def flush(self) -> None:
        """Write what is buffered and stop the writer tasks."""
        self.closing = True
        self.wake.set()
        for task in self.tasks:
            try:
                await task
            except Exception:
                logger.exception("A PostgreSQL writer failed; spilling what is left")
        if self.buffer:
            entries, self.buffer = self.buffer, []
            await self.spill.add(entries, self.run)
        if self.search is not None:  # its current fill ends; the catch-up does the rest
            await self.search.stop()

    async def catch_up_search(self) -> None:
        """Index every revision still without a search vector: after ``flush``, before the
        run record is final. A failure is a WARNING and a stat; the next run catches up."""
        if self.search is not None:
            await self.search.catch_up(server_away=self.db_down)

    async def finish(self, run: RunRecord) -> None:
        """Record the run's end (to the spill file if the server is still away), and say
        where the spilled items wait."""
        assert self.store is not None
        self.run = run
        try:
            if self.db_down:
                self.next_probe = 0.0  # one more look before giving the run's end to the spill
                if not await self._recover():
                    raise psycopg.OperationalError("server still unreachable")
            await self.store.finish_run(run)
        except CONNECTION_ERRORS:
            await self.spill.add_run_end(run)
        if self.spill.spilled:
            logger.warning(
                "%d item(s) could not be written to PostgreSQL at %s and were spilled to %s; "
                "load them with `scrapy dbloadspill %s`",
                self.spill.spilled,
                self.store.target,
                self.spill.file,
                self.spill.file,
            )

    # --- the writer tasks ----------------------------------------------------------------------

    async def _write_loop(self) -> None:
        """One writer: take the next batch, write it, until flushed."""
        while (batch := await self._next_batch()) is not None:
            await self._write(batch)

    async def _next_batch(self) -> list[Entry] | None:
        """A full batch as soon as there is one; a partial one once its oldest item has waited
        ``batch_seconds`` or the writer is closing; None when closing and nothing is left.
        When the writes are behind (every writer could take a full batch and more wait), a
        writer joins up to ``JOINED_BATCHES`` batches in one transaction (see ``_batch_size``)."""
        size, seconds = self.config.batch_size, self.config.batch_seconds
        while True:
            waited = time.monotonic() - self.oldest
            if len(self.buffer) >= size or (self.buffer and (self.closing or waited >= seconds)):
                batch = self.buffer[: self._batch_size()]
                del self.buffer[: len(batch)]
                # Per-item arrival times are not kept: what is left waits <= one more period.
                self.oldest = time.monotonic()
                if len(self.buffer) < self.config.max_pending:
                    self.room.set()
                return batch
            if self.closing:
                return None
            self.wake.clear()
            timeout = seconds - waited if self.buffer else seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=max(0.001, timeout))

    def _batch_size(self) -> int:
        """``batch_size``, or while the buffer holds more than a batch for every writer, the
        writers' share of it in whole batches (at most ``JOINED_BATCHES``): each transaction
        and its round trips then carry more items, which is what lets a bulk load (a backlog,
        a re-extraction) keep up; a crawl whose writes keep up still commits every batch."""
        size, writers = self.config.batch_size, self.config.writers
        if len(self.buffer) <= size * writers:
            return size
        return size * max(1, min(JOINED_BATCHES, len(self.buffer) // (size * writers)))

    async def _write(self, batch: list[Entry]) -> None:
        """One transaction; on connection errors retry with backoff, then spill the batch."""
        store = self.store
        assert store is not None
        if self.db_down and not await self._recover():
            await self.spill.add(batch, self.run)
            return
        articles = [item for kind, item in batch if kind == "article"]
        gones = [item for kind, item in batch if kind == "gone"]
        attempts = self.config.retry_times + 1
        error: Exception | None = None
        for attempt in range(attempts):
            if attempt:
                delay = self.config.retry_backoff * 2 ** (attempt - 1)
                self.count(names.DB_RETRIES, 1)
                logger.warning(
                    "PostgreSQL at %s: %s; retrying in %.1fs (%d/%d)",
                    store.target,
                    one_line_error(error, store.url),
                    delay,
                    attempt,
                    attempts - 1,
                )
                await asyncio.sleep(delay)
                # A refused connect fails at once; asking the pool would wait its timeout.
                if not await store.ping(self.config.timeout):
                    error = psycopg.OperationalError(_REFUSED)
                    continue
            try:
                result = await store.write_batch(articles, gones, self.run.run_id)
            except CONNECTION_ERRORS as exc:
                error = exc
                continue
            except psycopg.Error as exc:
                logger.warning(
                    "PostgreSQL at %s refused a batch (%s); writing its items one by one",
                    store.target,
                    one_line_error(exc, store.url),
                )
                result = await self._write_one_by_one(articles, gones)
            await self._account(result)
            if self.search is not None:
                self.search.add(result.new_revisions)
            if self.on_committed is not None:
                self.on_committed(result, articles)
            return
        if not self.db_down:
            logger.error(
                "PostgreSQL at %s is unavailable (%s); spilling items to %s until it answers",
                store.target,
                one_line_error(error, store.url),
                self.spill.path,
            )
        self.db_down = True
        self.next_probe = time.monotonic() + self.config.probe_seconds
        await self.spill.add(batch, self.run)

    async def _recover(self) -> bool:
        """While the server is down: every ``probe_seconds``, one writer pings it; once it
        answers, a fresh pool replaces the old one (which may be waiting out a long reconnect
        backoff) and writing resumes. False: still down, spill the batch."""
        store = self.store
        assert store is not None
        async with self.recover_lock:
            if not self.db_down:
                return True
            if time.monotonic() < self.next_probe:
                return False
            try:
                if not await store.ping(self.config.timeout):
                    raise psycopg.OperationalError(_REFUSED)
                await store.reset_pool()
            except CONNECTION_ERRORS:
                self.next_probe = time.monotonic() + self.config.probe_seconds
                return False
            self.db_down = False
            logger.warning("PostgreSQL at %s answers again; writing resumed", store.target)
            return True

    async def _write_one_by_one(
        self, articles: list[dict[str, Any]], gones: list[dict[str, Any]]
    ) -> BatchResult:
        """Find the items the server refuses: they are rejected, the others written."""
        assert self.store is not None
        total = BatchResult()
        entries: list[Entry] = [("article", item) for item in articles]
        entries += [("gone", item) for item in gones]
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
                await self.spill.add(entries[index:], self.run)
                break
            except psycopg.Error as exc:
                sqlstate = getattr(exc, "sqlstate", None) or "error"
                total.rejected.append((item, f"db_{sqlstate}"))
        return total

    async def _account(self, result: BatchResult) -> None:
        count = self.count
        count(names.DB_BATCHES, 1)
        for name, value in (
            (names.DB_ARTICLES_WRITTEN, result.articles_seen),
            (names.DB_ARTICLES_ADDED, result.articles_added),
            (names.DB_REVISIONS_ADDED, result.revisions_added),
            (names.DB_ARTICLES_CHANGED, result.articles_changed),
            (names.DB_ARTICLES_RETURNED, result.articles_returned),
            (names.DB_GONE_MARKED, result.gone_marked),
            (names.DB_GONE_UNKNOWN, result.gone_unknown),
            (names.DB_NUL_STRIPPED, result.nul_stripped),
        ):
            if value:
                count(name, value)
        if not result.rejected:
            return
        records = []
        for item, reason in result.rejected:
            count(names.db_rejected(reason), 1)
            logger.warning(
                "PostgreSQL archive rejected %s (%s)",
                item.get("article_id") or item.get("url"),
                reason,
            )
            records.append({"reason": reason, "run_id": self.run.run_id, "item": dict(item)})
        path = spill.spill_path(self.config.rejected_dir, self.run.spider, self.run.run_id)
        await asyncio.to_thread(spill.append_records, path, records)
