"""The archive's transactions: one async class, ``ArchiveStore``, over a psycopg 3 pool.

Why one class: the pipeline writes through it, the spill loader replays through it, the
incremental crawl asks it which article ids are archived; the rows it accepts are decided in
``newsarchive.db.rows`` (laid out as a batch by ``newsarchive.db.prepared``), what one
batch's transaction runs is in ``newsarchive.db.batches``, and the SQL is in
``newsarchive.db.statements``.

Writes are set-based and idempotent: a batch of items travels by binary COPY (into a
per-session staging table, or straight into the tables when none of its articles is archived
yet) and is applied by ``INSERT … SELECT … ON CONFLICT`` keyed on ``article_id`` and
``(article_id, content_hash)``, all in one transaction. Whatever order batches arrive in (a
spill file replayed a day later, two crawls at once), a row ends up holding the version with
the greatest ``crawled_at`` and the earliest/latest sighting times.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import asdict
from typing import Any, Self

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from newsarchive.clock import utc_now
from newsarchive.db import batches, migrate, statements
from newsarchive.db.errors import CANNOT_CONNECT, DatabaseUnreachable, SchemaOutOfDate, error_line
from newsarchive.db.prepared import PreparedBatch, as_columns, prepare_write
from newsarchive.db.records import BatchResult, RunRecord
from newsarchive.db.rows import GoneRow
from newsarchive.db.search import index_missing
from newsarchive.db.urls import describe_target

logger = logging.getLogger(__name__)

#: Immediate retries of a batch that lost a deadlock to a concurrent writer.
DEADLOCK_RETRIES = 5

#: Errors that mean "the server or the connection", not "this data": worth a retry.
CONNECTION_ERRORS: tuple[type[Exception], ...] = (psycopg.OperationalError, psycopg.InterfaceError)

#: What a batch prepared with unchecked texts fails with when one of them cannot be stored
#: as it is: a NUL (the server refuses it), a lone surrogate (cannot be encoded), a value that
#: is not a str (cannot be dumped as text). The batch is then prepared again, checked.
TEXT_CHECK_ERRORS: tuple[type[Exception], ...] = (psycopg.DataError, UnicodeEncodeError, TypeError)

# --- the pool --------------------------------------------------------------------------------


def _new_pool(
    url: str, min_size: int, max_size: int, timeout: float, kwargs: Mapping[str, Any]
) -> AsyncConnectionPool:
    return AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        kwargs={k: v for k, v in kwargs.items() if k != "autocommit"},
        open=False,
        timeout=timeout,
        # No check on checkout: it costs a round trip per batch, and a dead connection fails
        # the batch, which the pipeline retries on a fresh one anyway.
        configure=ArchiveStore._configure,
        name="newsarchive",
    )


#: ``application_name`` of a crawl's connections: this prefix and the run id.
RUN_APPLICATION_PREFIX = "newsarchive run "


def run_application_name(run_id: str) -> str:
    """The ``application_name`` a crawl's connections carry: it tells the next run that this
    one is alive (PostgreSQL keeps it at most 63 bytes: a run id is 24)."""
    return f"{RUN_APPLICATION_PREFIX}{run_id}"


class ArchiveStore:
    """The archive in PostgreSQL, through a psycopg 3 ``AsyncConnectionPool``.

    Open with ``await ArchiveStore.open(url)`` (or ``async with``); it checks the server and
    the schema first so a wrong URL or a missing ``scrapy dbmigrate`` is one clear line.
    """

    def __init__(self, pool: AsyncConnectionPool, url: str, pool_timeout: float = 10.0) -> None:
        self.pool = pool
        self.url = url
        self.target = describe_target(url)
        self.pool_timeout = pool_timeout

    # --- lifecycle ---------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 4,
        pool_timeout: float = 10.0,
        connect_timeout: int = 10,
        check_schema: bool = True,
        application_name: str | None = None,
    ) -> Self:
        """Connect, check the schema is migrated, open the pool.

        Raises DatabaseUnreachable (server down, wrong password, bad URL) or SchemaOutOfDate,
        both with a one-line message naming the server and not the password.
        """
        try:
            target = describe_target(url)
        except ValueError as exc:
            raise DatabaseUnreachable(str(exc)) from None
        kwargs: dict[str, Any] = {"autocommit": True}
        if application_name:  # a crawl's connections name its run (see close_dead_runs)
            kwargs["application_name"] = application_name
        if "connect_timeout" not in conninfo_to_dict(url):
            kwargs["connect_timeout"] = connect_timeout
        try:
            conn = await psycopg.AsyncConnection.connect(url, **kwargs)
        except psycopg.Error as exc:
            raise DatabaseUnreachable(error_line(CANNOT_CONNECT, url, exc)) from None
        try:
            if check_schema:
                missing = await migrate.pending(conn)
                if missing:
                    raise SchemaOutOfDate(
                        f"the database at {target} needs migration(s) "
                        f"{', '.join(m.label for m in missing)}: run `scrapy dbmigrate`"
                    )
        except psycopg.Error as exc:
            raise DatabaseUnreachable(error_line("cannot use the database", url, exc)) from None
        finally:
            await conn.close()
        store = cls(
            _new_pool(url, min_size, max_size, pool_timeout, kwargs), url, pool_timeout=pool_timeout
        )
        try:
            await store.pool.open(wait=True, timeout=pool_timeout)
        except psycopg.Error as exc:
            await store.pool.close()
            raise DatabaseUnreachable(error_line(CANNOT_CONNECT, url, exc)) from None
        return store

    async def reset_pool(self) -> None:
        """Replace the pool with a fresh one: after an outage the old pool may be waiting out
        its reconnection backoff (seconds to minutes) although the server is back."""
        old = self.pool
        pool = _new_pool(self.url, old.min_size, old.max_size, self.pool_timeout, old.kwargs)
        await pool.open(wait=True, timeout=self.pool_timeout)
        self.pool = pool
        await old.close(timeout=0)

    async def ping(self, connect_timeout: float = 5.0) -> bool:
        """Whether the server accepts a new connection now (a direct one, not from the pool,
        so an outage is found in one connect attempt instead of a pool timeout)."""
        try:
            conn = await psycopg.AsyncConnection.connect(
                self.url, connect_timeout=max(1, int(connect_timeout)), autocommit=True
            )
        except psycopg.Error:
            return False
        await conn.close()
        return True

    @staticmethod
    async def _configure(conn: psycopg.AsyncConnection) -> None:
        await conn.execute(statements.SET_UTC)
        await conn.execute(statements.SET_NO_JIT)
        await conn.execute(statements.CREATE_STAGING)
        await conn.execute(statements.CREATE_SIGHTINGS)
        await conn.commit()

    async def close(self) -> None:
        await self.pool.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- runs --------------------------------------------------------------------------------

    async def start_run(self, run: RunRecord) -> None:
        """Record a run's start (idempotent: a second call for the same run_id changes nothing)."""
        await self._write_run(run)

    async def finish_run(self, run: RunRecord) -> None:
        """Record a run's end and counts (creates the row if its start was never recorded)."""
        if run.finished_at is None:
            run.finished_at = utc_now()
        await self._write_run(run)

    async def _write_run(self, run: RunRecord) -> None:
        params = asdict(run)
        params["status"] = run.status
        params["stats"] = Jsonb(run.stats)
        async with self.pool.connection() as conn:
            await conn.execute(statements.UPSERT_RUN, params)

    async def close_dead_runs(self, current_run_id: str) -> list[str]:
        """Close the ``crawl_runs`` rows of runs that died without recording their end
        (kill -9, a power cut): still ``running``, yet no connection to the server names
        them (a live crawl's pool always holds one, see ``run_application_name``). They
        become ``incomplete``, finish reason ``killed``, failed. A run that merely lost the
        server and spilled its end is closed too; replaying its spill restores its real end."""
        reason = (
            f"killed: the run ended without recording its end (kill -9, or its machine "
            f"stopped); closed by run {current_run_id}"
        )
        async with self.pool.connection() as conn:
            cursor = await conn.execute(
                statements.CLOSE_DEAD_RUNS,
                {"current": current_run_id, "prefix": RUN_APPLICATION_PREFIX, "reason": reason},
            )
            return sorted(row[0] for row in await cursor.fetchall())

    async def set_run_verdict(self, run_id: str, failed: bool, reason: str | None = None) -> None:
        """The run monitor's verdict on a run (``crawl_runs.failed`` / ``failure_reason``)."""
        async with self.pool.connection() as conn:
            await conn.execute(statements.SET_RUN_VERDICT, (failed, reason, run_id))

    # --- writes ------------------------------------------------------------------------------

    async def upsert_articles(self, items: Iterable[Mapping[str, Any]], run_id: str) -> BatchResult:
        """Write article items in one transaction; see ``write_batch``."""
        return await self.write_batch(items, (), run_id)

    async def mark_gone(self, items: Iterable[Mapping[str, Any]], run_id: str) -> BatchResult:
        """Record 404/410 answers (``ArticleGoneItem``-like mappings) in one transaction."""
        return await self.write_batch((), items, run_id)

    async def write_batch(
        self,
        articles: Iterable[Mapping[str, Any]],
        gones: Iterable[Mapping[str, Any]],
        run_id: str,
    ) -> BatchResult:
        """Articles and 404/410 answers of one run, in one transaction.

        Items that cannot be stored come back in ``result.rejected`` with their reason;
        connection errors propagate (the caller retries or spills), and so do data errors
        from the server (the caller can retry item by item to find the culprit).
        """
        if not isinstance(articles, list | tuple):
            articles = list(articles)  # read twice when the first attempt fails
        try:  # the texts unchecked: the COPY encodes them and the server verifies them
            return await self._write_prepared(*prepare_write(articles, gones, False), run_id)
        except TEXT_CHECK_ERRORS:
            # A NUL, a lone surrogate, a value that is not text: rarely. The checked rows
            # strip the NULs and reject the others, item by item (nothing was committed).
            return await self._write_prepared(*prepare_write(articles, gones), run_id)

    async def _write_prepared(
        self, batch: PreparedBatch, gone_list: list[GoneRow], result: BatchResult, run_id: str
    ) -> BatchResult:
        if not batch.ids and not gone_list:
            return result
        copy_new = True
        for attempt in range(DEADLOCK_RETRIES + 1):
            try:
                written = await self._write(batch, gone_list, run_id, copy_new)
                break
            except psycopg.errors.UniqueViolation:
                # A concurrent writer stored one of "our" new articles first: upsert them all.
                if not copy_new:
                    raise
                copy_new = False
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
                # Two crawls writing the same articles at once; PostgreSQL chose us to yield.
                if attempt == DEADLOCK_RETRIES:
                    raise
                await asyncio.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
        written.nul_stripped, written.rejected = result.nul_stripped, result.rejected
        return written

    async def _write(
        self, batch: PreparedBatch, gones: list[GoneRow], run_id: str, copy_new: bool
    ) -> BatchResult:
        """One transaction. A batch of articles the archive does not hold yet is COPYed
        straight into both tables (``copy_new``: PostgreSQL appends COPY rows in bulk, several
        times faster than INSERT); any other is upserted through the staging table. Either
        way revisions are written before articles, each in key order, so concurrent writers
        take row locks in one order. Then the 404/410s."""
        result = BatchResult()
        async with self.pool.connection() as conn, conn.transaction():
            if batch.ids:
                if copy_new and not await batches.any_known(conn, batch):
                    await batches.copy_new(conn, batch, run_id, result)
                else:
                    await batches.upsert(conn, batch, run_id, result)
            if gones:
                await batches.mark_gone(conn, gones, run_id, result)
        return result

    # --- the search index (schema 0004) ---------------------------------------------------

    async def fill_search(self, revisions: Sequence[tuple[str, str]]) -> int:
        """Compute the search vectors of these (article_id, content_hash) revisions, outside
        any write transaction; the number indexed (those already indexed are skipped)."""
        if not revisions:
            return 0
        ids, hashes = as_columns(revisions, 2)
        async with self.pool.connection() as conn:
            cur = await conn.execute(statements.FILL_SEARCH_FOR, (ids, hashes))
            return max(0, cur.rowcount)

    async def catch_up_search(self, parts: int = 1) -> int:
        """Index every revision still without a search vector (a failed fill, a spill loaded,
        an archive migrated to 0004); the number indexed. ``parts`` connections share the
        work (the server computes the vectors on as many cores)."""

        async def part(number: int) -> int:
            async with self.pool.connection() as conn:
                return await index_missing(conn, number, parts)

        parts = max(1, min(parts, self.pool.max_size))
        return sum(await asyncio.gather(*(part(number) for number in range(parts))))

    # --- reads -------------------------------------------------------------------------------

    async def known_article_ids(self, source: str | None = None) -> set[str]:
        """Article ids in the archive (gone ones included), of one ``source`` label or all."""
        return await self._ids(statements.KNOWN_ARTICLE_IDS, {"source": source})

    async def article_ids_published_since(self, days: int, source: str | None = None) -> set[str]:
        """Article ids whose ``published_date`` is within the last ``days`` days (UTC dates)."""
        return await self._ids(statements.PUBLISHED_SINCE, {"days": days, "source": source})

    async def _ids(self, query: str, params: Mapping[str, Any]) -> set[str]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(query, params)
            return {article_id for (article_id,) in await cur.fetchall()}

    async def get_article(self, article_id: str) -> dict[str, Any] | None:
        """The article row (latest version and history columns), or None."""
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(statements.GET_ARTICLE, (article_id,))
            return await cur.fetchone()

    async def iter_articles(
        self, source: str | None = None, include_gone: bool = True, batch_size: int = 1000
    ) -> AsyncIterator[dict[str, Any]]:
        """Every article row (latest versions), by article_id, streamed with a server cursor."""
        params = {"source": source, "include_gone": include_gone}
        async with self.pool.connection() as conn, conn.transaction():
            cur = conn.cursor(name="newsarchive_articles", row_factory=dict_row)
            cur.itersize = batch_size
            await cur.execute(statements.ITER_ARTICLES, params)
            async for row in cur:
                yield row

    # --- incremental crawls (issue 4) ----------------------------------------------------------

    async def articles_to_recheck(self, days: int) -> list[dict[str, Any]]:
        """``article_id``, ``url``, ``source`` of articles not gone whose ``published_date`` is
        within the last ``days`` days: what a ``recheck_days`` crawl fetches again, by URL, so
        edits and deletions are recorded."""
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(statements.ARTICLES_TO_RECHECK, (days,))
            return await cur.fetchall()
