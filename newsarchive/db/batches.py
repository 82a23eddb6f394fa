"""One batch's writes inside the store's transaction: new articles COPYed into both tables,
archived ones re-seen by the narrow sighting update or upserted through the staging table,
404/410 answers marked.

Why apart from the store: the store owns the pool, the transaction and its retries; this is
what runs inside one, row by row the hottest code of a crawl's writes. The SQL is in
``newsarchive.db.statements``, the rows come from ``newsarchive.db.prepared``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from itertools import islice, repeat
from operator import itemgetter
from typing import Any

import psycopg
from psycopg import sql

from newsarchive.db import statements
from newsarchive.db.prepared import PreparedBatch, as_columns
from newsarchive.db.records import BatchResult
from newsarchive.db.rows import ARTICLE_FIELDS, FIELD_INDEX, STATE_FIELDS, GoneRow

_AID = FIELD_INDEX["article_id"]
_HASH = FIELD_INDEX["content_hash"]
_TITLE = FIELD_INDEX["title"]
_BODY = FIELD_INDEX["body"]
_VERSION = FIELD_INDEX["extractor_version"]
_STATE_INDEXES = tuple(FIELD_INDEX[name] for name in STATE_FIELDS)
#: The ``article_state`` fields of a staging row (one C call per row); given a batch's
#: columns, those columns.
_state_of = itemgetter(*_STATE_INDEXES)
_SEEN = FIELD_INDEX["crawled_at"]
#: The first fields of a COPY_REVISIONS row (key, text, version) of a staging row; given a
#: batch's columns, those columns. Its first and last sighting follow.
_revision_text_of = itemgetter(_AID, _HASH, _TITLE, _BODY, _VERSION)
#: (article_id, content_hash) of a COPY_REVISIONS row.
_key_of = itemgetter(0, 1)
_CURRENT = statements.STAGING_INDEX["is_current"]
_KIND = statements.STAGING_INDEX["revision_kind"]


def _ids(staging: list[tuple[Any, ...]]) -> list[str]:
    """The distinct article ids of staging rows (sorted by article id), in order."""
    return list(dict.fromkeys(row[_AID] for row in staging))


def known_params(batch: PreparedBatch) -> dict[str, str] | None:
    """ANY_ARTICLE_KNOWN's parameters for the batch; None when an id holds the separator."""
    ids, separator = batch.ids, statements.ID_SEPARATOR
    joined = separator.join(ids)
    if joined.count(separator) != len(ids) - 1:
        return None
    return {"least": ids[0], "greatest": ids[-1], "ids": joined, "separator": separator}


async def any_known(conn: psycopg.AsyncConnection, batch: PreparedBatch) -> bool:
    """Whether the archive holds any of the batch's articles (one round trip; see
    ``statements.ANY_ARTICLE_KNOWN``)."""
    params = known_params(batch)
    if params is None:
        return True  # the upsert path, right for any batch
    cur = await conn.execute(statements.ANY_ARTICLE_KNOWN, params)
    row = await cur.fetchone()
    return bool(row and row[0])


#: COPYs of this many rows go as two halves. PostgreSQL 15 pins the table's row descriptor
#: once for every row a COPY buffers (up to 1,000, which a binary COPY never flushes sooner)
#: in a resource owner whose hash puts equal values in one run: a COPY of n <= 1,000 rows
#: costs the server n^2/2 probes, 1.3 ms at 1,000, a third of a new batch's server time. Two
#: COPYs of n/2 cost half that, for one more round trip (0.1 ms of client time); a COPY of
#: more rows pays the 1,000 rows' cost once. docs/POSTGRES.md, "eighth pass".
COPY_HALVED = range(500, 1001)


async def copy_rows(
    cur: psycopg.AsyncCursor[Any],
    statement: sql.Composed,
    types: Sequence[str],
    rows: Iterable[Sequence[Any]],
    count: int,
) -> None:
    """COPY the ``count`` ``rows`` with ``statement`` (binary, of ``types``); see
    ``COPY_HALVED``. ``rows`` may be a lazy iterator: each row is written, then dropped."""
    rows = iter(rows)
    half = count // 2 if count in COPY_HALVED else count
    for size in (half, count - half) if half < count else (count,):
        async with cur.copy(statement) as copy:
            copy.set_types(types)
            write_row = copy.write_row
            for values in islice(rows, size):
                await write_row(values)


async def copy_new(
    conn: psycopg.AsyncConnection, new: PreparedBatch, run_id: str, result: BatchResult
) -> None:
    revisions: Iterable[Sequence[Any]]
    states: Iterable[Sequence[Any]]
    if new.unique:  # the usual case: each row is an article's first and only revision
        # the COPY rows zipped from the batch's columns as they are written: no tuple per row
        # outlives its write (lists of them took a tenth of a crawl's writing time, most of it
        # in the collector)
        columns = new.columns
        seen, run = columns[_SEEN], repeat(run_id)
        revisions = zip(*_revision_text_of(columns), seen, seen, repeat("first"), run, run)
        states = zip(*_state_of(columns), seen, seen, seen, repeat(1), run)
        revision_count = state_count = len(new.ids)
        keys: Iterable[tuple[str, str]] = zip(columns[_AID], columns[_HASH], strict=True)
    else:
        revision_rows, state_rows = _new_rows_collapsed(new, run_id)
        revisions, states = revision_rows, state_rows
        revision_count, state_count = len(revision_rows), len(state_rows)
        keys = map(_key_of, revision_rows)
    cur = conn.cursor()
    await copy_rows(
        cur, statements.COPY_REVISIONS, statements.NEW_REVISION_TYPES, revisions, revision_count
    )
    await copy_rows(
        cur, statements.COPY_ARTICLE_STATE, statements.NEW_STATE_TYPES, states, state_count
    )
    result.new_revisions.extend(keys)
    result.articles_added += state_count
    result.articles_seen += state_count
    result.revisions_added += revision_count


def _new_rows_collapsed(
    new: PreparedBatch, run_id: str
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """COPY_REVISIONS and COPY_ARTICLE_STATE rows of new articles some of which the batch
    saw more than once: each content a revision, the earliest one its article's first."""
    n = len(ARTICLE_FIELDS)
    sightings = new.sightings
    contents: dict[str, int] = defaultdict(int)
    first_seen: dict[str, Any] = {}
    for row in new.staging:
        article_id = row[_AID]
        contents[article_id] += 1
        if article_id not in first_seen or row[n] < first_seen[article_id]:
            first_seen[article_id] = row[n]
    revisions = []
    firsts: set[str] = set()
    for row in new.staging:
        article_id = row[_AID]
        if len(sightings[article_id]) == 1:  # seen once: its first
            kind = "first"
        elif article_id not in firsts and row[n] == first_seen[article_id]:
            firsts.add(article_id)
            kind = "first"
        else:
            kind = row[_KIND] or "edit"
        # the content's own first and last sighting in the batch
        revisions.append((*_revision_text_of(row), row[n], row[n + 1], kind, run_id, run_id))
    state_of = itemgetter(*_STATE_INDEXES, n + 2, n + 3, n + 4)  # and the article's times
    states = [(*state_of(row), contents[row[_AID]], run_id) for row in new.staging if row[_CURRENT]]
    return revisions, states


async def upsert(
    conn: psycopg.AsyncConnection,
    batch: PreparedBatch,
    run_id: str,
    result: BatchResult,
) -> None:
    """A batch with archived articles: the unchanged ones re-seen by the narrow update, the
    rest upserted."""
    cur = conn.cursor()
    # A re-crawl's articles seen once and unchanged: only their sighting columns move, set
    # by one narrow UPDATE (SEEN_UNCHANGED); the others go through UPSERT_BATCH. (A
    # staging row begins with its item's values: the same state fields either way.)
    sightings: Iterable[Sequence[Any]]
    if batch.unique and not batch.hinted:  # the usual case: every article a candidate
        candidate_ids: Sequence[str] = batch.ids
        sightings = zip(*_state_of(batch.columns), strict=True)
    else:
        candidates: list[Sequence[Any]]
        if batch.unique:
            candidates = [row.values for row in batch.rows if row.revision_kind != "reextract"]
        else:
            candidates = [
                row
                for row in batch.staging
                if batch.seen_once(row[_AID]) and row[_KIND] != "reextract"
            ]
        candidate_ids = [values[_AID] for values in candidates]
        sightings = map(_state_of, candidates)
    unchanged: set[str] = set()
    if candidate_ids:
        count = len(candidate_ids)
        await copy_rows(cur, statements.COPY_SIGHTINGS, statements.SIGHTING_TYPES, sightings, count)
        async with conn.pipeline():
            await cur.execute(statements.PREFER_INDEX_LOOKUPS)
            await cur.execute(statements.SEEN_UNCHANGED, {"run_id": run_id, "candidates": count})
        row = await cur.fetchone()
        assert row is not None
        seen, some = row  # the ids only when some candidates were not unchanged
        result.articles_seen += seen
        if seen == count:
            if batch.unique and seen == len(batch.ids):
                return  # the usual re-crawl batch: every article seen again, unchanged
            unchanged = set(candidate_ids)
        else:
            unchanged = set(some)
    rest = batch.staging
    if unchanged:
        rest = [row for row in rest if row[_AID] not in unchanged]
        if not rest:
            return
    await copy_rows(cur, statements.COPY_STAGING, statements.STAGING_TYPES, rest, len(rest))
    # The three statements in one round trip (pipeline mode): on a busy machine each round
    # trip, not the SQL, is most of a batch's time.
    async with conn.pipeline():
        ids = batch.ids if len(rest) == len(batch.staging) else _ids(rest)
        await cur.execute(statements.PLAN_UPSERT)
        await cur.execute(statements.LOCK_BATCH_ARTICLES, (ids,))
        await cur.execute(statements.UPSERT_BATCH, {"run_id": run_id})
    summary = await cur.fetchone()
    assert summary is not None
    (added, changed, revisions, seen, returned, gone_before, changed_ids, new_ids,
     new_hashes) = summary  # fmt: skip
    result.new_revisions.extend(zip(new_ids, new_hashes, strict=True))
    result.articles_added += added
    result.articles_changed += changed
    result.changed_ids.extend(changed_ids)
    result.revisions_added += revisions
    result.articles_seen += seen
    events = [
        (article_id, "returned", min(t for t in batch.sightings[article_id] if t > gone_at),
         run_id, None)
        for article_id, gone_at in zip(returned, gone_before, strict=True)
    ]  # fmt: skip
    result.articles_returned += len(events)
    if events:
        await cur.execute(statements.INSERT_EVENTS, as_columns(events, 5))


async def mark_gone(
    conn: psycopg.AsyncConnection, gones: list[GoneRow], run_id: str, result: BatchResult
) -> None:
    cur = conn.cursor()
    ids = [g.article_id for g in gones]
    await cur.execute(statements.MARK_GONE, (ids, [g.seen_at for g in gones]))
    deleted = await cur.fetchall()
    marked = {article_id for article_id, _, _ in deleted}
    result.deleted.extend(deleted)
    await cur.execute(statements.ARTICLES_AMONG, (ids,))
    known = {article_id for (article_id,) in await cur.fetchall()}
    result.gone_marked += len(marked)
    result.gone_unknown += len(set(ids) - known)
    events = [
        (g.article_id, "gone", g.seen_at, run_id, g.status) for g in gones if g.article_id in marked
    ]
    if events:
        await cur.execute(statements.INSERT_EVENTS, as_columns(events, 5))
