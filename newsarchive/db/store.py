"""All SQL of the archive, behind one async class: ``ArchiveStore``.

Why one module: the pipeline writes through it, the spill loader replays through it, the
incremental crawl asks it which article ids are archived, and exports read from it; keeping
the queries here means one place decides what "the latest version" or "gone" means.

Writes are set-based and idempotent: a batch of items travels by binary COPY (into a
per-session staging table, or straight into the tables when none of its articles is archived
yet) and is applied by ``INSERT … SELECT … ON CONFLICT`` keyed on ``article_id`` and
``(article_id, content_hash)``, all in one transaction. No value is ever spliced into SQL
text: values are COPY fields or bound parameters. Whatever order batches arrive in (a spill
file replayed a day later, two crawls at once), a row ends up holding the version with the
greatest ``crawled_at`` and the earliest/latest sighting times.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Self

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from newsarchive.clock import utc_now
from newsarchive.db import migrate
from newsarchive.db.urls import describe_target, scrub
from newsarchive.items import ARTICLE_FIELDS as ITEM_FIELDS
from newsarchive.processors import content_hash as compute_content_hash

logger = logging.getLogger(__name__)

#: The item fields an ``articles`` row holds. An item's ``run_id`` is not a column: the run a
#: batch is written for (the spider's run, which sets the items' run_id) is recorded as
#: ``articles.last_run_id`` and ``article_revisions.first_run_id`` / ``last_run_id``.
ARTICLE_FIELDS = tuple(name for name in ITEM_FIELDS if name != "run_id")

DATE_FIELDS = frozenset({"published_date", "page_date"})
INSTANT_FIELDS = frozenset({"published_at", "crawled_at"})
#: Fields an article row cannot do without.
REQUIRED_FIELDS = ("article_id", "url", "crawled_at", "content_hash")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")

#: Immediate retries of a batch that lost a deadlock to a concurrent writer.
DEADLOCK_RETRIES = 5

#: Errors that mean "the server or the connection", not "this data": worth a retry.
CONNECTION_ERRORS: tuple[type[Exception], ...] = (psycopg.OperationalError, psycopg.InterfaceError)


class ArchiveUnavailable(RuntimeError):
    """The archive cannot be used; ``str()`` is one line naming the server, never the password."""


class DatabaseUnreachable(ArchiveUnavailable):
    pass


class SchemaOutOfDate(ArchiveUnavailable):
    pass


class Rejected(ValueError):
    """An item the archive will not store; ``reason`` is the stat suffix (``bad_crawled_at``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- turning items into typed rows ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ArticleRow:
    """One item as typed column values, in ``ARTICLE_FIELDS`` order."""

    values: tuple[Any, ...]
    nul_stripped: bool = False

    def __getitem__(self, name: str) -> Any:
        return self.values[_FIELD_INDEX[name]]


_FIELD_INDEX = {name: i for i, name in enumerate(ARTICLE_FIELDS)}


def _instant(value: Any, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            raise Rejected(f"bad_{name}") from None
    # The item contract says UTC instants; a naive one is read as UTC rather than dropped.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _date(value: Any, name: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        raise Rejected(f"bad_{name}")
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise Rejected(f"bad_{name}") from None


def _text(value: Any, name: str) -> tuple[str | None, bool]:
    """The text, with NUL characters removed (PostgreSQL text cannot hold them), and whether
    any were; text that is not valid Unicode (lone surrogates) cannot be stored verbatim."""
    if value is None:
        return None, False
    text = value if type(value) is str else str(value)
    stripped = False
    if "\x00" in text:
        text = text.replace("\x00", "")
        stripped = True
    if not text.isascii():  # isascii() is O(1); only non-ASCII text can hold a surrogate
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise Rejected(f"invalid_unicode_{name}") from None
    return text, stripped


_TEXT_INDEXES = tuple(
    i for i, name in enumerate(ARTICLE_FIELDS) if name not in DATE_FIELDS | INSTANT_FIELDS
)
_DATE_INDEXES = tuple(i for i, name in enumerate(ARTICLE_FIELDS) if name in DATE_FIELDS)
_INSTANT_INDEXES = tuple(i for i, name in enumerate(ARTICLE_FIELDS) if name in INSTANT_FIELDS)
_REQUIRED_INDEXES = tuple((_FIELD_INDEX[name], name) for name in REQUIRED_FIELDS)
_HASH_INDEX = _FIELD_INDEX["content_hash"]
_AID = _FIELD_INDEX["article_id"]
_TITLE = _FIELD_INDEX["title"]
_BODY = _FIELD_INDEX["body"]


def prepare_article(item: Mapping[str, Any]) -> ArticleRow:
    """The typed row for an article item, or Rejected with the reason.

    NUL characters are stripped from text (counted by the caller as ``nul_stripped``); the
    item's ``content_hash`` is kept as the crawler computed it, so the revision still matches
    the feed line of the same fetch. A missing hash is computed the crawler's way. (Written
    for speed: it runs once per item on the writer's critical path.)
    """
    get = item.get
    values = [get(name) for name in ARTICLE_FIELDS]
    any_nul = False
    for i in _TEXT_INDEXES:
        value = values[i]
        if value is not None and (type(value) is not str or not value.isascii() or "\x00" in value):
            values[i], stripped = _text(value, ARTICLE_FIELDS[i])
            any_nul |= stripped
    for i in _DATE_INDEXES:
        values[i] = _date(values[i], ARTICLE_FIELDS[i])
    for i in _INSTANT_INDEXES:
        values[i] = _instant(values[i], ARTICLE_FIELDS[i])
    content_hash = values[_HASH_INDEX]
    if not content_hash:
        values[_HASH_INDEX] = compute_content_hash(get("title"), get("body"))
    elif not _SHA256_HEX.match(content_hash):
        raise Rejected("bad_content_hash")
    for i, name in _REQUIRED_INDEXES:
        if not values[i]:
            raise Rejected(f"missing_{name}")
    return ArticleRow(tuple(values), any_nul)


@dataclass(frozen=True, slots=True)
class GoneRow:
    article_id: str
    url: str | None
    status: int | None
    seen_at: datetime


def prepare_gone(item: Mapping[str, Any]) -> GoneRow:
    article_id, _ = _text(item.get("article_id"), "article_id")
    if not article_id:
        raise Rejected("missing_article_id")
    seen_at = _instant(item.get("seen_at"), "seen_at")
    if seen_at is None:
        raise Rejected("missing_seen_at")
    status = item.get("status")
    try:
        status = int(status) if status is not None else None
    except (TypeError, ValueError):
        raise Rejected("bad_status") from None
    url, _ = _text(item.get("url"), "url")
    return GoneRow(article_id, url, status, seen_at)


# --- results ----------------------------------------------------------------------------------


@dataclass
class BatchResult:
    """What one write did; the pipeline turns it into stats."""

    articles_added: int = 0  # article ids the archive had not seen
    revisions_added: int = 0  # new distinct contents (including the first of a new article)
    articles_changed: int = 0  # known articles that got a new revision
    articles_seen: int = 0  # article rows written (added, changed or only re-seen)
    articles_returned: int = 0  # gone articles seen answering again
    gone_marked: int = 0
    gone_unknown: int = 0  # 404/410 for an article id the archive does not hold
    nul_stripped: int = 0
    rejected: list[tuple[Mapping[str, Any], str]] = field(default_factory=list)
    changed_ids: list[str] = field(default_factory=list)  # the articles_changed, by id
    deleted: list[tuple[str, str | None, str | None]] = field(default_factory=list)  # gone_marked

    def add(self, other: BatchResult) -> None:
        for name in (
            "articles_added",
            "revisions_added",
            "articles_changed",
            "articles_seen",
            "articles_returned",
            "gone_marked",
            "gone_unknown",
            "nul_stripped",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.rejected.extend(other.rejected)
        self.changed_ids.extend(other.changed_ids)
        self.deleted.extend(other.deleted)


@dataclass
class RunRecord:
    """A ``crawl_runs`` row: ``start_run`` records the first four fields, ``finish_run`` all."""

    run_id: str
    spider: str
    start_url: str | None
    started_at: datetime
    finished_at: datetime | None = None
    finish_reason: str | None = None
    item_count: int = 0
    gone_count: int = 0
    drop_count: int = 0
    error_count: int = 0
    request_count: int = 0
    db_written_count: int = 0
    db_spilled_count: int = 0
    db_rejected_count: int = 0
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        if self.finish_reason is None:
            return "running"
        return "finished" if self.finish_reason == "finished" else "incomplete"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("started_at", "finished_at"):
            if data[name] is not None:
                data[name] = data[name].isoformat()
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunRecord:
        values = dict(data)
        for name in ("started_at", "finished_at"):
            if values.get(name):
                values[name] = _instant(values[name], name)
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in known})


# --- SQL --------------------------------------------------------------------------------------

_PG_TYPES = {
    **{name: "text" for name in ARTICLE_FIELDS},
    **{name: "date" for name in DATE_FIELDS},
    **{name: "timestamptz" for name in INSTANT_FIELDS},
}

#: A batch travels to the server by binary COPY into this per-session temporary table (one
#: row per distinct (article, content) of the batch), then one statement upserts both tables
#: from it: far cheaper than binding arrays, and still all data, never SQL text.
STAGING_TABLE = "newsarchive_staging"
STAGING_COLUMNS: tuple[tuple[str, str], ...] = (
    *((name, _PG_TYPES[name]) for name in ARTICLE_FIELDS),
    ("first_seen_at", "timestamptz"),  # of this content of the article, in the batch
    ("last_seen_at", "timestamptz"),
    ("article_first_seen_at", "timestamptz"),  # of the article, in the batch
    ("article_last_seen_at", "timestamptz"),
    ("last_changed_at", "timestamptz"),  # first sighting of the article's latest content
    ("is_current", "bool"),  # the article's latest content in the batch
)
#: Identifiers compare byte-wise, as in the tables (schema 0001).
_C_COLLATED = frozenset({"article_id", "content_hash"})
CREATE_STAGING = sql.SQL(
    "CREATE TEMPORARY TABLE IF NOT EXISTS {} ({}) ON COMMIT DELETE ROWS"
).format(
    sql.Identifier(STAGING_TABLE),
    sql.SQL(", ").join(
        sql.SQL("{} {}{}").format(
            sql.Identifier(name),
            sql.SQL(pg),
            sql.SQL(' COLLATE "C"' if name in _C_COLLATED else ""),
        )
        for name, pg in STAGING_COLUMNS
    ),
)
COPY_STAGING = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
    sql.Identifier(STAGING_TABLE),
    sql.SQL(", ").join(sql.Identifier(name) for name, _ in STAGING_COLUMNS),
)

#: Articles the archive does not hold yet go straight into the tables by COPY.
_NEW_ARTICLE_COLUMNS = (
    *((name, _PG_TYPES[name]) for name in ARTICLE_FIELDS),
    ("first_seen_at", "timestamptz"),
    ("last_seen_at", "timestamptz"),
    ("last_changed_at", "timestamptz"),
    ("revision_count", "int4"),
    ("last_run_id", "text"),
)
NEW_ARTICLE_TYPES = [pg for _, pg in _NEW_ARTICLE_COLUMNS]
COPY_ARTICLES = sql.SQL("COPY articles ({}) FROM STDIN (FORMAT BINARY)").format(
    sql.SQL(", ").join(sql.Identifier(name) for name, _ in _NEW_ARTICLE_COLUMNS)
)
NEW_REVISION_TYPES = ["text", "text", "text", "text", "timestamptz", "timestamptz", "text", "text"]
COPY_REVISIONS = sql.SQL(
    "COPY article_revisions (article_id, content_hash, title, body, first_seen_at, "
    "last_seen_at, first_run_id, last_run_id) FROM STDIN (FORMAT BINARY)"
)

#: Item fields take the incoming value only when it is at least as recent as the stored one.
_NEWER = sql.SQL("excluded.crawled_at >= a.crawled_at")
_ITEM_COLUMNS = sql.SQL(", ").join(sql.Identifier(name) for name in ARTICLE_FIELDS)

#: Revisions first (their text is written once, then only the seen-times move), then the
#: articles, counting how many revisions were new to the database (``xmax = 0``: inserted,
#: not updated) so ``revision_count`` stays exact even with two writers at once. Rows are
#: taken in article_id order, so concurrent writers lock them in the same order.
UPSERT_BATCH = sql.SQL(
    """
    WITH revisions AS (
        INSERT INTO article_revisions AS r
            (article_id, content_hash, title, body,
             first_seen_at, last_seen_at, first_run_id, last_run_id)
        SELECT article_id, content_hash, title, body,
               first_seen_at, last_seen_at, %(run_id)s, %(run_id)s
        FROM {staging}
        ORDER BY article_id, content_hash
        ON CONFLICT (article_id, content_hash) DO UPDATE SET
            first_seen_at = LEAST(r.first_seen_at, excluded.first_seen_at),
            first_run_id = CASE WHEN excluded.first_seen_at < r.first_seen_at
                                THEN excluded.first_run_id ELSE r.first_run_id END,
            last_seen_at = GREATEST(r.last_seen_at, excluded.last_seen_at),
            last_run_id = CASE WHEN excluded.last_seen_at >= r.last_seen_at
                               THEN excluded.last_run_id ELSE r.last_run_id END
        RETURNING article_id, (xmax = 0) AS inserted
    ),
    added AS (
        SELECT article_id, count(*) FILTER (WHERE inserted) AS n FROM revisions GROUP BY 1
    ),
    -- Gone before this statement (the rows are locked by LOCK_GONE_ARTICLES, just before).
    was_gone AS (
        SELECT article_id, gone_at FROM articles
        WHERE gone_at IS NOT NULL
          AND article_id IN (SELECT article_id FROM {staging} WHERE is_current)
    ),
    upserted AS (
        INSERT INTO articles AS a ({columns}, first_seen_at, last_seen_at, last_changed_at,
                                   revision_count, last_run_id)
        SELECT {s_columns}, s.article_first_seen_at, s.article_last_seen_at, s.last_changed_at,
               coalesce(added.n, 0), %(run_id)s
        FROM {staging} AS s LEFT JOIN added USING (article_id)
        WHERE s.is_current
        ORDER BY s.article_id
        ON CONFLICT (article_id) DO UPDATE SET
            {current},
            last_changed_at = CASE WHEN {newer} AND excluded.content_hash <> a.content_hash
                                   THEN excluded.last_changed_at ELSE a.last_changed_at END,
            first_seen_at = LEAST(a.first_seen_at, excluded.first_seen_at),
            last_seen_at = GREATEST(a.last_seen_at, excluded.last_seen_at),
            revision_count = a.revision_count + excluded.revision_count,
            gone_at = CASE WHEN excluded.last_seen_at > a.gone_at THEN NULL ELSE a.gone_at END,
            last_run_id = CASE WHEN excluded.last_seen_at >= a.last_seen_at
                               THEN excluded.last_run_id ELSE a.last_run_id END
        RETURNING article_id, (xmax = 0) AS inserted, gone_at
    )
    SELECT count(*) FILTER (WHERE u.inserted),
           count(*) FILTER (WHERE NOT u.inserted AND added.n > 0),
           coalesce(sum(added.n), 0)::int,
           count(*),
           coalesce(array_agg(u.article_id) FILTER (WHERE {came_back}), '{{}}'),
           coalesce(array_agg(g.gone_at) FILTER (WHERE {came_back}), '{{}}'),
           coalesce(array_agg(u.article_id) FILTER (WHERE NOT u.inserted AND added.n > 0),
                    '{{}}')
    FROM upserted AS u
    LEFT JOIN added USING (article_id)
    LEFT JOIN was_gone AS g USING (article_id)
    """
).format(
    staging=sql.Identifier(STAGING_TABLE),
    came_back=sql.SQL("u.gone_at IS NULL AND g.gone_at IS NOT NULL"),
    columns=_ITEM_COLUMNS,
    s_columns=sql.SQL(", ").join(sql.Identifier("s", name) for name in ARTICLE_FIELDS),
    newer=_NEWER,
    current=sql.SQL(",\n            ").join(
        sql.SQL("{col} = CASE WHEN {newer} THEN excluded.{col} ELSE a.{col} END").format(
            col=sql.Identifier(name), newer=_NEWER
        )
        for name in ARTICLE_FIELDS
        if name != "article_id"
    ),
)

#: Articles of the batch that are gone now, locked so a concurrent writer cannot clear
#: gone_at between this and UPSERT_BATCH (whose was_gone then reads them exactly).
LOCK_GONE_ARTICLES = sql.SQL(
    """
    SELECT article_id FROM articles
    WHERE gone_at IS NOT NULL AND article_id IN (SELECT article_id FROM {staging})
    ORDER BY article_id
    FOR UPDATE
    """
).format(staging=sql.Identifier(STAGING_TABLE))


def _unnest(columns: Sequence[tuple[str, str]]) -> sql.Composed:
    """``unnest(%s::t1[], %s::t2[], …) AS t(c1, c2, …)``: one bound array per column."""
    arrays = sql.SQL(", ").join(sql.SQL("%s::{}[]").format(sql.SQL(pg)) for _, pg in columns)
    names = sql.SQL(", ").join(sql.Identifier(name) for name, _ in columns)
    return sql.SQL("unnest({}) AS t({})").format(arrays, names)


INSERT_EVENTS = sql.SQL(
    """
    INSERT INTO article_events (article_id, event, at, run_id, http_status)
    SELECT * FROM {unnest}
    ON CONFLICT DO NOTHING
    """
).format(
    unnest=_unnest(
        [
            ("article_id", "text"),
            ("event", "text"),
            ("at", "timestamptz"),
            ("run_id", "text"),
            ("http_status", "int2"),
        ]
    )
)

#: A 404/410 marks an article gone unless it was seen answering after that (replays can
#: arrive out of order); an article already gone keeps the time it was first found gone.
MARK_GONE = """
    UPDATE articles AS a SET gone_at = g.seen_at
    FROM (
        SELECT * FROM unnest(%s::text[], %s::timestamptz[]) AS t(article_id, seen_at)
        ORDER BY article_id
    ) AS g
    WHERE a.article_id = g.article_id AND a.gone_at IS NULL AND a.last_seen_at < g.seen_at
    RETURNING a.article_id, a.title, a.url
"""

UPSERT_RUN = """
    INSERT INTO crawl_runs AS c (
        run_id, spider, start_url, started_at, finished_at, finish_reason, status,
        item_count, gone_count, drop_count, error_count, request_count,
        db_written_count, db_spilled_count, db_rejected_count, stats)
    VALUES (%(run_id)s, %(spider)s, %(start_url)s, %(started_at)s, %(finished_at)s,
            %(finish_reason)s, %(status)s, %(item_count)s, %(gone_count)s, %(drop_count)s,
            %(error_count)s, %(request_count)s, %(db_written_count)s, %(db_spilled_count)s,
            %(db_rejected_count)s, %(stats)s)
    ON CONFLICT (run_id) DO UPDATE SET
        finished_at = excluded.finished_at,
        finish_reason = excluded.finish_reason,
        status = excluded.status,
        item_count = excluded.item_count,
        gone_count = excluded.gone_count,
        drop_count = excluded.drop_count,
        error_count = excluded.error_count,
        request_count = excluded.request_count,
        db_written_count = excluded.db_written_count,
        db_spilled_count = excluded.db_spilled_count,
        db_rejected_count = excluded.db_rejected_count,
        stats = excluded.stats
    WHERE excluded.finished_at IS NOT NULL
"""


# --- batch preparation ------------------------------------------------------------------------


@dataclass
class _PreparedBatch:
    #: STAGING_COLUMNS values, one row per distinct (article, content), by article_id
    staging: list[tuple[Any, ...]]
    #: article_id -> every crawled_at of it in the batch (to date a reappearance)
    sightings: dict[str, list[datetime]]


def _prepare_batch(rows: Iterable[ArticleRow]) -> _PreparedBatch:
    """Collapse a batch to one staging row per (article, content), so no statement touches a
    row twice; the row of each article's latest content also carries the article's times."""
    by_article: dict[str, list[ArticleRow]] = defaultdict(list)
    for row in rows:
        by_article[row["article_id"]].append(row)
    staging: list[tuple[Any, ...]] = []
    sightings: dict[str, list[datetime]] = {}
    for article_id in sorted(by_article):
        group = by_article[article_id]
        times = [row["crawled_at"] for row in group]
        sightings[article_id] = times
        if len(group) == 1:  # the usual case: one sighting per article per batch
            seen = times[0]
            staging.append((*group[0].values, seen, seen, seen, seen, seen, True))
            continue
        current = max(group, key=lambda row: row["crawled_at"])  # ties: the first of them
        contents: dict[str, list[Any]] = {}
        for row in group:
            seen = row["crawled_at"]
            entry = contents.get(row["content_hash"])
            if entry is None:
                contents[row["content_hash"]] = [row, seen, seen]
            else:
                entry[1], entry[2] = min(entry[1], seen), max(entry[2], seen)
        first, last = min(times), max(times)
        changed_at = contents[current["content_hash"]][1]
        for content_hash in sorted(contents):
            row, first_seen, last_seen = contents[content_hash]
            is_current = content_hash == current["content_hash"]
            values = current.values if is_current else row.values
            staging.append((*values, first_seen, last_seen, first, last, changed_at, is_current))
    return _PreparedBatch(staging=staging, sightings=sightings)


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows to one list per column (the arrays ``unnest`` takes)."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


# --- the store --------------------------------------------------------------------------------


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


def one_line_error(exc: BaseException, url: str) -> str:
    """A driver error as one line without the password or the server address we already name."""
    text = " ".join(str(exc).split())
    text = re.sub(r"^connection failed:\s*", "", text)
    text = re.sub(r'connection to server (at|on) "[^"]*"(, port \d+)? failed:\s*', "", text)
    text = text.replace("FATAL: ", "").strip()
    return scrub(text or type(exc).__name__, url)


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
        if "connect_timeout" not in conninfo_to_dict(url):
            kwargs["connect_timeout"] = connect_timeout
        try:
            conn = await psycopg.AsyncConnection.connect(url, **kwargs)
        except psycopg.Error as exc:
            raise DatabaseUnreachable(
                f"cannot connect to PostgreSQL at {target}: {one_line_error(exc, url)}"
            ) from None
        try:
            if check_schema:
                missing = await migrate.pending(conn)
                if missing:
                    raise SchemaOutOfDate(
                        f"the database at {target} needs migration(s) "
                        f"{', '.join(m.label for m in missing)}: run `scrapy dbmigrate`"
                    )
        except psycopg.Error as exc:
            raise DatabaseUnreachable(
                f"cannot use the database at {target}: {one_line_error(exc, url)}"
            ) from None
        finally:
            await conn.close()
        store = cls(
            _new_pool(url, min_size, max_size, pool_timeout, kwargs), url, pool_timeout=pool_timeout
        )
        try:
            await store.pool.open(wait=True, timeout=pool_timeout)
        except psycopg.Error as exc:
            await store.pool.close()
            raise DatabaseUnreachable(
                f"cannot connect to PostgreSQL at {target}: {one_line_error(exc, url)}"
            ) from None
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
        # Dates computed in SQL ("published in the last N days") are UTC dates.
        await conn.execute("SET TIME ZONE 'UTC'")
        await conn.execute(CREATE_STAGING)
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
            await conn.execute(UPSERT_RUN, params)

    async def set_run_verdict(self, run_id: str, failed: bool, reason: str | None = None) -> None:
        """The run monitor's verdict on a run (``crawl_runs.failed`` / ``failure_reason``)."""
        async with self.pool.connection() as conn:
            await conn.execute(
                "UPDATE crawl_runs SET failed = %s, failure_reason = %s WHERE run_id = %s",
                (failed, reason, run_id),
            )

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
        result = BatchResult()
        rows: list[ArticleRow] = []
        for item in articles:
            try:
                row = prepare_article(item)
            except Rejected as exc:
                result.rejected.append((item, exc.reason))
                continue
            result.nul_stripped += row.nul_stripped
            rows.append(row)
        gone_rows: dict[str, GoneRow] = {}
        for item in gones:
            try:
                gone = prepare_gone(item)
            except Rejected as exc:
                result.rejected.append((item, exc.reason))
                continue
            earlier = gone_rows.get(gone.article_id)
            if earlier is None or gone.seen_at < earlier.seen_at:
                gone_rows[gone.article_id] = gone
        if not rows and not gone_rows:
            return result
        batch = _prepare_batch(rows)
        gone_list = [gone_rows[k] for k in sorted(gone_rows)]
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
        self, batch: _PreparedBatch, gones: list[GoneRow], run_id: str, copy_new: bool
    ) -> BatchResult:
        """One transaction. A batch of articles the archive does not hold yet is COPYed
        straight into both tables (``copy_new``: PostgreSQL appends COPY rows in bulk, several
        times faster than INSERT); any other is upserted through the staging table. Either
        way revisions are written before articles, each in key order, so concurrent writers
        take row locks in one order. Then the 404/410s."""
        result = BatchResult()
        async with self.pool.connection() as conn, conn.transaction():
            if batch.staging:
                if copy_new and not await self._any_known(conn, batch):
                    await self._copy_new(conn, batch, run_id, result)
                else:
                    await self._upsert(conn, batch, run_id, result)
            if gones:
                await self._mark_gone(conn, gones, run_id, result)
        return result

    async def _any_known(self, conn: psycopg.AsyncConnection, batch: _PreparedBatch) -> bool:
        cur = conn.cursor()
        await cur.execute(
            "SELECT EXISTS (SELECT FROM articles WHERE article_id = ANY(%s::text[]))",
            (list(batch.sightings),),
        )
        row = await cur.fetchone()
        return bool(row and row[0])

    async def _copy_new(
        self, conn: psycopg.AsyncConnection, new: _PreparedBatch, run_id: str, result: BatchResult
    ) -> None:
        n = len(ARTICLE_FIELDS)
        contents: dict[str, int] = defaultdict(int)
        for row in new.staging:
            contents[row[_AID]] += 1
        cur = conn.cursor()
        async with cur.copy(COPY_REVISIONS) as copy:
            copy.set_types(NEW_REVISION_TYPES)
            for row in new.staging:
                await copy.write_row(
                    (row[_AID], row[_HASH_INDEX], row[_TITLE], row[_BODY], row[n], row[n + 1],
                     run_id, run_id)
                )  # fmt: skip
        async with cur.copy(COPY_ARTICLES) as copy:
            copy.set_types(NEW_ARTICLE_TYPES)
            for row in new.staging:
                if row[n + 5]:  # is_current
                    await copy.write_row(
                        (*row[:n], row[n + 2], row[n + 3], row[n + 4], contents[row[_AID]], run_id)
                    )
        result.articles_added += len(contents)
        result.articles_seen += len(contents)
        result.revisions_added += len(new.staging)

    async def _upsert(
        self, conn: psycopg.AsyncConnection, batch: _PreparedBatch, run_id: str, result: BatchResult
    ) -> None:
        cur = conn.cursor()
        async with cur.copy(COPY_STAGING) as copy:
            copy.set_types([pg for _, pg in STAGING_COLUMNS])
            for row in batch.staging:
                await copy.write_row(row)
        # Both statements in one round trip (pipeline mode): on a busy machine each round
        # trip, not the SQL, is most of a batch's time.
        async with conn.pipeline():
            await cur.execute(LOCK_GONE_ARTICLES)
            await cur.execute(UPSERT_BATCH, {"run_id": run_id})
        summary = await cur.fetchone()
        assert summary is not None
        added, changed, revisions, seen, returned, gone_before, changed_ids = summary
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
            await cur.execute(INSERT_EVENTS, _columns(events, 5))

    async def _mark_gone(
        self, conn: psycopg.AsyncConnection, gones: list[GoneRow], run_id: str, result: BatchResult
    ) -> None:
        cur = conn.cursor()
        ids = [g.article_id for g in gones]
        await cur.execute(MARK_GONE, (ids, [g.seen_at for g in gones]))
        deleted = await cur.fetchall()
        marked = {article_id for article_id, _, _ in deleted}
        result.deleted.extend(deleted)
        await cur.execute(
            "SELECT article_id FROM articles WHERE article_id = ANY(%s::text[])", (ids,)
        )
        known = {article_id for (article_id,) in await cur.fetchall()}
        result.gone_marked += len(marked)
        result.gone_unknown += len(set(ids) - known)
        events = [
            (g.article_id, "gone", g.seen_at, run_id, g.status)
            for g in gones
            if g.article_id in marked
        ]
        if events:
            await cur.execute(INSERT_EVENTS, _columns(events, 5))

    # --- reads -------------------------------------------------------------------------------

    async def known_article_ids(self, source: str | None = None) -> set[str]:
        """Article ids in the archive (gone ones included), of one ``source`` label or all."""
        query = "SELECT article_id FROM articles"
        params: tuple[Any, ...] = ()
        if source is not None:
            query += " WHERE source = %s"
            params = (source,)
        async with self.pool.connection() as conn:
            cur = await conn.execute(query, params)
            return {article_id for (article_id,) in await cur.fetchall()}

    async def article_ids_published_since(self, days: int, source: str | None = None) -> set[str]:
        """Article ids whose ``published_date`` is within the last ``days`` days (UTC dates)."""
        query = "SELECT article_id FROM articles WHERE published_date >= current_date - %s::int"
        params: tuple[Any, ...] = (days,)
        if source is not None:
            query += " AND source = %s"
            params += (source,)
        async with self.pool.connection() as conn:
            cur = await conn.execute(query, params)
            return {article_id for (article_id,) in await cur.fetchall()}

    async def get_article(self, article_id: str) -> dict[str, Any] | None:
        """The article row (latest version and history columns), or None."""
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute("SELECT * FROM articles WHERE article_id = %s", (article_id,))
            return await cur.fetchone()

    async def revisions(self, article_id: str) -> list[dict[str, Any]]:
        """Every distinct content of an article, oldest first."""
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "SELECT * FROM article_revisions WHERE article_id = %s "
                "ORDER BY first_seen_at, content_hash",
                (article_id,),
            )
            return await cur.fetchall()

    async def iter_articles(
        self, source: str | None = None, include_gone: bool = True, batch_size: int = 1000
    ) -> AsyncIterator[dict[str, Any]]:
        """Every article row (latest versions), by article_id, streamed with a server cursor."""
        conditions = []
        params: list[Any] = []
        if source is not None:
            conditions.append("source = %s")
            params.append(source)
        if not include_gone:
            conditions.append("gone_at IS NULL")
        query = "SELECT * FROM articles"
        if conditions:
            query += " WHERE " + " AND ".join(conditions)
        query += " ORDER BY article_id"
        async with self.pool.connection() as conn, conn.transaction():
            cur = conn.cursor(name="newsarchive_articles", row_factory=dict_row)
            cur.itersize = batch_size
            await cur.execute(query, params)
            async for row in cur:
                yield row

    # --- incremental crawls (issue 4) ----------------------------------------------------------

    async def articles_to_recheck(self, days: int) -> list[dict[str, Any]]:
        """``article_id``, ``url``, ``source`` of articles not gone whose ``published_date`` is
        within the last ``days`` days (UTC dates, as ``article_ids_published_since``): what a
        ``recheck_days`` crawl fetches again, by URL, so edits and deletions are recorded."""
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "SELECT article_id, url, source FROM articles "
                "WHERE published_date >= current_date - %s::int AND gone_at IS NULL "
                "ORDER BY article_id",
                (days,),
            )
            return await cur.fetchall()


def dumps_record(record: Mapping[str, Any]) -> str:
    """One JSON line (used by spill files): UTF-8 text kept readable, dates as ISO strings."""
    return json.dumps(record, ensure_ascii=False, default=_json_default) + "\n"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
