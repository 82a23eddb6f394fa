"""The full-text index beside the write path (schema 0004): the fill and the catch-up.

Why apart from the writer: computing ``to_tsvector`` inside the crawl's write transactions
cost the write path about 3x (0003). The writer hands each committed batch's new revisions to
a ``SearchIndexer``, which indexes them from the run's pool on the server's own core; at the
run's end (and in ``scrapy dbmigrate``) a catch-up indexes every revision still without a
vector. A failure is counted and logged, never silent, and the next catch-up repairs it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import psycopg

from newsarchive import stats as names
from newsarchive.db import statements
from newsarchive.db.errors import one_line_error

if TYPE_CHECKING:
    from newsarchive.db.store import ArchiveStore

logger = logging.getLogger(__name__)

#: Revisions indexed per statement (one short transaction each, in autocommit).
SEARCH_CHUNK = 5000
#: Revisions per statement of the fill: the fill stops (or yields to the writes) between two,
#: so the run's end never waits for more than one.
FILL_CHUNK = 1000
#: Revisions the fill holds at most while it waits; beyond, it forgets them and leaves them
#: to the catch-up (which finds them by itself), so a bulk load never grows memory.
MAX_PENDING = 50_000


async def index_missing(
    conn: psycopg.AsyncConnection, part: int = 0, parts: int = 1, chunk: int = SEARCH_CHUNK
) -> int:
    """Index every revision that has no search vector (of share ``part`` of ``parts``, split
    by article, so several connections can share the work), ``chunk`` at a time; how many.
    ``conn`` must be in autocommit mode, so each chunk commits on its own."""
    total = 0
    while True:
        cur = await conn.execute(
            statements.FILL_SEARCH_MISSING, {"part": part, "parts": parts, "limit": chunk}
        )
        total += max(0, cur.rowcount)
        if cur.rowcount < chunk:
            return total


class SearchIndexer:
    """One run's search fill: ``add`` committed revisions, ``stop`` after the last batch,
    then ``catch_up`` before the run record is final."""

    def __init__(
        self,
        store: ArchiveStore,
        count: Callable[[str, int], object],
        parts: int,
        fill: bool,
        writes_behind: Callable[[], bool] = lambda: False,
    ) -> None:
        self.store = store
        self.count = count
        #: Whether the writes are behind (a full batch waits): the fill then yields the
        #: server to them, and what it would have done is left to the catch-up. In a crawl
        #: the writes keep up and the index follows them; in a bulk load (a spill, a
        #: reextract) the writes go first and one catch-up indexes the lot.
        self.writes_behind = writes_behind
        self.parts = parts  # connections the catch-up may use
        self.pending: list[tuple[str, str]] = []
        self.wake = asyncio.Event()
        self.stopping = False
        self.failed = False
        self.task: asyncio.Task[None] | None = None
        if fill:  # off: everything waits for the catch-up
            self.task = asyncio.create_task(self._fill_loop(), name="newsarchive-db-search-fill")

    def add(self, revisions: list[tuple[str, str]]) -> None:
        """Revisions (article_id, content_hash) a committed batch inserted."""
        if revisions and self.task is not None:
            if len(self.pending) < MAX_PENDING:
                self.pending.extend(revisions)
            self.wake.set()

    async def stop(self) -> None:
        """End the fill after its current statement; what is pending is the catch-up's (one
        statement then, not one per batch)."""
        self.stopping = True
        self.wake.set()
        if self.task is not None:
            try:
                await self.task
            except Exception:
                logger.exception("The search fill failed; the run's catch-up indexes the rest")

    async def catch_up(self, server_away: bool) -> None:
        """Index every revision still without a vector (this run's the fill did not reach,
        and any earlier run's). A failure is a WARNING and ``DB_SEARCH_FAILED``."""
        self.pending.clear()  # the catch-up finds them by themselves
        reason = "the server is away"
        if not server_away:
            try:
                indexed = await self.store.catch_up_search(parts=self.parts)
            except psycopg.Error as exc:
                reason = one_line_error(exc, self.store.url)
            else:
                if indexed:
                    self.count(names.DB_SEARCH_INDEXED, indexed)
                return
        self.count(names.DB_SEARCH_FAILED, 1)
        logger.warning(
            "The search index of PostgreSQL at %s was not caught up (%s); the next run or "
            "`scrapy dbmigrate` does it",
            self.store.target,
            reason,
        )

    async def _fill_loop(self) -> None:
        while not self.stopping:
            if not self.pending or self.writes_behind():
                self.wake.clear()  # add() wakes it after the next committed batch
                await self.wake.wait()
                continue
            revisions, self.pending = self.pending[:FILL_CHUNK], self.pending[FILL_CHUNK:]
            try:
                indexed = await self.store.fill_search(revisions)
            except psycopg.Error as exc:
                self.count(names.DB_SEARCH_FAILED, len(revisions))
                if not self.failed:  # once: an outage would repeat it every batch
                    logger.warning(
                        "PostgreSQL at %s: %d revision(s) not indexed for search yet (%s); "
                        "the run's end catches up",
                        self.store.target,
                        len(revisions),
                        one_line_error(exc, self.store.url),
                    )
                self.failed = True
                continue
            if indexed:
                self.count(names.DB_SEARCH_INDEXED, indexed)
