"""Every SQL statement of the archive's store, each written once.

Why one module: what "the latest version", "gone" or "came back" means is decided here, in
SQL a reviewer reads in one place; ``newsarchive.db.store`` only runs these statements. No
value is ever spliced into SQL text: values are COPY fields or bound parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql

from newsarchive.db.rows import ARTICLE_FIELDS, DATE_FIELDS, INSTANT_FIELDS, STATE_FIELDS

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
    ("revision_kind", "text"),  # the item's hint: 'reextract', 'edit', 'unverified' or NULL
)
STAGING_TYPES = [pg for _, pg in STAGING_COLUMNS]
STAGING_INDEX = {name: i for i, (name, _) in enumerate(STAGING_COLUMNS)}
#: Identifiers compare byte-wise, as in the tables (schema 0001).
_C_COLLATED = frozenset({"article_id", "content_hash"})


def _temporary_table(table: str, columns: Sequence[tuple[str, str]]) -> sql.Composed:
    """A per-session table whose rows last one transaction (a batch's staging)."""
    return sql.SQL("CREATE TEMPORARY TABLE IF NOT EXISTS {} ({}) ON COMMIT DELETE ROWS").format(
        sql.Identifier(table),
        sql.SQL(", ").join(
            sql.SQL("{} {}{}").format(
                sql.Identifier(name),
                sql.SQL(pg),
                sql.SQL(' COLLATE "C"' if name in _C_COLLATED else ""),
            )
            for name, pg in columns
        ),
    )


def _copy(table: str, columns: Sequence[tuple[str, str]]) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(name) for name, _ in columns)
    )


CREATE_STAGING = _temporary_table(STAGING_TABLE, STAGING_COLUMNS)
COPY_STAGING = _copy(STAGING_TABLE, STAGING_COLUMNS)


#: Articles the archive does not hold yet go straight into the tables by COPY: their
#: revisions (the text), then their state rows (schema 0002).
_NEW_STATE_COLUMNS = (
    *((name, _PG_TYPES[name]) for name in STATE_FIELDS),
    ("first_seen_at", "timestamptz"),
    ("last_seen_at", "timestamptz"),
    ("last_changed_at", "timestamptz"),
    ("revision_count", "int4"),
    ("last_run_id", "text"),
)
NEW_STATE_TYPES = [pg for _, pg in _NEW_STATE_COLUMNS]
COPY_ARTICLE_STATE = _copy("article_state", _NEW_STATE_COLUMNS)
_NEW_REVISION_COLUMNS = (
    ("article_id", "text"),
    ("content_hash", "text"),
    ("title", "text"),
    ("body", "text"),
    ("extractor_version", "text"),
    ("first_seen_at", "timestamptz"),
    ("last_seen_at", "timestamptz"),
    ("kind", "text"),
    ("first_run_id", "text"),
    ("last_run_id", "text"),
)
NEW_REVISION_TYPES = [pg for _, pg in _NEW_REVISION_COLUMNS]
COPY_REVISIONS = _copy("revisions", _NEW_REVISION_COLUMNS)

#: Item fields take the incoming value only when it is at least as recent as the stored one.
_NEWER = sql.SQL("excluded.crawled_at >= a.crawled_at")
_STATE_COLUMNS = sql.SQL(", ").join(sql.Identifier(name) for name in STATE_FIELDS)

#: One statement per batch (schema 0002: the text lives in ``revisions`` only).
#:
#: ``heads``: each article's stored state and the content it points at after the batch.
#: ``sightings``: the batch's contents, plus each head the batch replaces, which takes its
#: last sighting from the article row (the current revision's own last_seen_at is not moved
#: while it is current: the ``article_revisions`` view reads it from the article).
#: ``revised``: a revision is written only when it is new, or seen earlier than recorded, or
#: seen later while it is not the head; a re-crawl of unchanged text writes none.
#: ``left_behind``: a replaced head the batch did not see keeps its last sighting.
#: ``upserted``: the article rows, counting the revisions new to the database (``xmax = 0``:
#: inserted, not updated) so ``revision_count`` stays exact with two writers at once.
#: A ``reextract`` item is not a sighting (the page was read again, not fetched again): it
#: moves no ``last_seen_at`` / ``last_run_id`` (nor ``first_seen_at``) of an archived article
#: or of a revision already stored; its new revisions and new articles take its capture time.
#: ``RETURNING`` of ``revised`` also gives the revisions inserted, for the search fill (0004).
#: Lookups into the tables are ``LATERAL … LIMIT 1`` by primary key: the staging table has no
#: statistics, and a plain join lets the planner hash the whole archive for every batch.
#: Rows are taken in key order, and LOCK_BATCH_ARTICLES has locked the batch's known
#: articles just before, so ``heads`` reads them exactly and writers lock in one order.
UPSERT_BATCH = sql.SQL(
    """
    WITH heads AS (
        SELECT s.article_id, o.article_id IS NULL AS is_new, o.content_hash AS old_hash,
               o.last_seen_at AS old_last_seen_at, o.last_run_id AS old_last_run_id,
               o.gone_at AS old_gone_at, o.first_seen_at AS old_first_seen_at,
               o.article_id IS NOT NULL AND s.revision_kind = 'reextract' AS not_a_sighting,
               CASE WHEN o.article_id IS NULL OR s.crawled_at >= o.crawled_at
                    THEN s.content_hash ELSE o.content_hash END AS new_hash
        FROM {staging} AS s
        LEFT JOIN LATERAL (
            SELECT * FROM article_state WHERE article_id = s.article_id LIMIT 1
        ) AS o ON true
        WHERE s.is_current
    ),
    sightings AS (
        SELECT article_id, content_hash, s.title, s.body, s.extractor_version,
               s.revision_kind, s.first_seen_at,
               GREATEST(s.last_seen_at, f.last_seen_at) AS last_seen_at,
               CASE WHEN s.last_seen_at IS NULL OR f.last_seen_at > s.last_seen_at
                    THEN f.last_run_id ELSE %(run_id)s END AS last_run_id,
               min(s.first_seen_at) OVER (PARTITION BY article_id) AS article_first_seen_at,
               h.is_new, h.new_hash = content_hash AS is_head
        FROM {staging} AS s
        FULL JOIN (
            SELECT article_id, old_hash AS content_hash, old_last_seen_at AS last_seen_at,
                   old_last_run_id AS last_run_id
            FROM heads WHERE NOT is_new AND old_hash <> new_hash
        ) AS f USING (article_id, content_hash)
        JOIN heads AS h USING (article_id)
    ),
    revised AS (
        INSERT INTO revisions AS r
            (article_id, content_hash, title, body, kind, extractor_version,
             first_seen_at, last_seen_at, first_run_id, last_run_id)
        SELECT c.article_id, c.content_hash, c.title, c.body,
               CASE WHEN c.is_new AND c.first_seen_at = c.article_first_seen_at THEN 'first'
                    ELSE coalesce(c.revision_kind, 'edit') END,
               c.extractor_version, c.first_seen_at,
               CASE WHEN {reread} THEN known.last_seen_at ELSE c.last_seen_at END,
               %(run_id)s,
               CASE WHEN {reread} THEN known.last_run_id ELSE c.last_run_id END
        FROM sightings AS c
        LEFT JOIN LATERAL (
            SELECT article_id, first_seen_at, last_seen_at, last_run_id FROM revisions
            WHERE article_id = c.article_id AND content_hash = c.content_hash LIMIT 1
        ) AS known ON true
        WHERE c.first_seen_at IS NOT NULL
          AND (known.article_id IS NULL
               OR c.first_seen_at < known.first_seen_at
               OR (c.last_seen_at >= known.last_seen_at AND NOT c.is_head
                   AND c.revision_kind IS DISTINCT FROM 'reextract'))
        ORDER BY c.article_id, c.content_hash
        ON CONFLICT (article_id, content_hash) DO UPDATE SET
            first_seen_at = LEAST(r.first_seen_at, excluded.first_seen_at),
            first_run_id = CASE WHEN excluded.first_seen_at < r.first_seen_at
                                THEN excluded.first_run_id ELSE r.first_run_id END,
            last_seen_at = GREATEST(r.last_seen_at, excluded.last_seen_at),
            last_run_id = CASE WHEN excluded.last_seen_at >= r.last_seen_at
                               THEN excluded.last_run_id ELSE r.last_run_id END
        RETURNING article_id, content_hash, (xmax = 0) AS inserted
    ),
    left_behind AS (
        UPDATE revisions AS r SET last_seen_at = c.last_seen_at, last_run_id = c.last_run_id
        FROM sightings AS c
        WHERE c.first_seen_at IS NULL AND c.last_seen_at > r.last_seen_at
          AND r.article_id = c.article_id AND r.content_hash = c.content_hash
    ),
    added AS (
        SELECT article_id, count(*) FILTER (WHERE inserted) AS n FROM revised GROUP BY 1
    ),
    upserted AS (
        INSERT INTO article_state AS a ({columns}, first_seen_at, last_seen_at,
                                        last_changed_at, revision_count, last_run_id)
        SELECT {s_columns},
               CASE WHEN h.not_a_sighting THEN h.old_first_seen_at
                    ELSE s.article_first_seen_at END,
               CASE WHEN h.not_a_sighting THEN h.old_last_seen_at
                    ELSE s.article_last_seen_at END,
               s.last_changed_at, coalesce(added.n, 0),
               CASE WHEN h.not_a_sighting THEN h.old_last_run_id ELSE %(run_id)s END
        FROM {staging} AS s LEFT JOIN added USING (article_id) JOIN heads AS h USING (article_id)
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
           coalesce(array_agg(h.old_gone_at) FILTER (WHERE {came_back}), '{{}}'),
           coalesce(array_agg(u.article_id) FILTER (WHERE NOT u.inserted AND added.n > 0),
                    '{{}}'),
           (SELECT coalesce(array_agg(article_id ORDER BY article_id, content_hash), '{{}}')
            FROM revised WHERE inserted),
           (SELECT coalesce(array_agg(content_hash ORDER BY article_id, content_hash), '{{}}')
            FROM revised WHERE inserted)
    FROM upserted AS u
    LEFT JOIN added USING (article_id)
    LEFT JOIN heads AS h USING (article_id)
    """
).format(
    staging=sql.Identifier(STAGING_TABLE),
    reread=sql.SQL("c.revision_kind = 'reextract' AND known.article_id IS NOT NULL"),
    came_back=sql.SQL("u.gone_at IS NULL AND h.old_gone_at IS NOT NULL"),
    columns=_STATE_COLUMNS,
    s_columns=sql.SQL(", ").join(sql.Identifier("s", name) for name in STATE_FIELDS),
    newer=_NEWER,
    current=sql.SQL(",\n            ").join(
        sql.SQL("{col} = CASE WHEN {newer} THEN excluded.{col} ELSE a.{col} END").format(
            col=sql.Identifier(name), newer=_NEWER
        )
        for name in STATE_FIELDS
        if name != "article_id"
    ),
)

#: The narrow staging table of a re-crawl: the state columns without the text, for the
#: articles of a batch seen once in it (and not re-extracted).
SIGHTINGS_TABLE = "newsarchive_sightings"
_SIGHTING_COLUMNS = tuple((name, _PG_TYPES[name]) for name in STATE_FIELDS)
SIGHTING_TYPES = [pg for _, pg in _SIGHTING_COLUMNS]
CREATE_SIGHTINGS = _temporary_table(SIGHTINGS_TABLE, _SIGHTING_COLUMNS)
COPY_SIGHTINGS = _copy(SIGHTINGS_TABLE, _SIGHTING_COLUMNS)
_COMPARED = [name for name in STATE_FIELDS if name not in ("article_id", "crawled_at")]

#: The common case of a re-crawl, set-based and narrow: an archived article, not gone, seen
#: with the content and state it holds (at or after that content's first sighting). Only its
#: sighting columns move, exactly as UPSERT_BATCH would move them; no revision is read or
#: written and no text travels. Returns how many rows it took, and which, unless it took all
#: ``candidates`` (the usual case: no id travels back); the batch's other rows go through
#: UPSERT_BATCH. Run after PREFER_INDEX_LOOKUPS: rows taken one by one by primary key, in the
#: staging table's order (key order), so writers lock them in one order.
SEEN_UNCHANGED = sql.SQL(
    """
    WITH seen AS (
    UPDATE article_state AS a SET
        crawled_at = GREATEST(a.crawled_at, n.crawled_at),
        first_seen_at = LEAST(a.first_seen_at, n.crawled_at),
        last_seen_at = GREATEST(a.last_seen_at, n.crawled_at),
        last_run_id = CASE WHEN n.crawled_at >= a.last_seen_at THEN %(run_id)s
                           ELSE a.last_run_id END
    FROM {sightings} AS n
    WHERE a.article_id = n.article_id AND a.gone_at IS NULL
      AND n.crawled_at >= a.last_changed_at
      AND ({stored}) IS NOT DISTINCT FROM ({seen})
    RETURNING a.article_id
    )
    SELECT count(*)::int,
           CASE WHEN count(*) < %(candidates)s THEN coalesce(array_agg(article_id), '{{}}') END
    FROM seen
    """
).format(
    sightings=sql.Identifier(SIGHTINGS_TABLE),
    stored=sql.SQL(", ").join(sql.Identifier("a", name) for name in _COMPARED),
    seen=sql.SQL(", ").join(sql.Identifier("n", name) for name in _COMPARED),
)

#: For the rest of the transaction: join staging rows to the archive by index lookups. The
#: staging tables have no statistics, and a young archive none either, so the planner would
#: otherwise hash the whole archive for every batch (measured: 4x the UPDATE's time at 20k),
#: or, with hash and merge joins off, scan it whole once per staging row: a small archive not
#: yet analyzed looks a few rows long (measured: 1,000 new ids among 1,000 archived, 222 ms
#: against 1: a crawl's second batch into a new archive).
PREFER_INDEX_LOOKUPS = (
    "SELECT set_config('enable_hashjoin', 'off', true),"
    " set_config('enable_mergejoin', 'off', true), set_config('enable_seqscan', 'off', true)"
)

#: For UPSERT_BATCH, after PREFER_INDEX_LOOKUPS or not: the archive still read by index
#: lookups (its LATERAL probes), while the joins between the statement's own CTEs may hash
#: again (as nested loops they grew with the square of the batch, analyzed archive or not:
#: 1,500 rows, 390 ms against 63).
PLAN_UPSERT = """
    SELECT set_config('enable_seqscan', 'off', true),
           set_config('enable_hashjoin', h.reset_val, true),
           set_config('enable_mergejoin', m.reset_val, true)
    FROM pg_settings AS h, pg_settings AS m
    WHERE h.name = 'enable_hashjoin' AND m.name = 'enable_mergejoin'
"""

#: The batch's archived articles, locked in key order before UPSERT_BATCH reads their state,
#: so a concurrent writer cannot move a head (or clear gone_at) in between.
LOCK_BATCH_ARTICLES = """
    SELECT article_id FROM article_state WHERE article_id = ANY(%s::text[])
    ORDER BY article_id
    FOR UPDATE
"""


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
    UPDATE article_state AS a SET gone_at = g.seen_at
    FROM (
        SELECT * FROM unnest(%s::text[], %s::timestamptz[]) AS t(article_id, seen_at)
        ORDER BY article_id
    ) AS g
    WHERE a.article_id = g.article_id AND a.gone_at IS NULL AND a.last_seen_at < g.seen_at
    RETURNING a.article_id,
              (SELECT r.title FROM revisions AS r  -- the current revision holds the text
               WHERE r.article_id = a.article_id AND r.content_hash = a.content_hash),
              a.url
"""

UPSERT_RUN = """
    INSERT INTO crawl_runs AS c (
        run_id, spider, start_url, started_at, finished_at, finish_reason, status,
        item_count, gone_count, drop_count, error_count, request_count,
        db_written_count, db_spilled_count, db_rejected_count, stats, failed, failure_reason)
    VALUES (%(run_id)s, %(spider)s, %(start_url)s, %(started_at)s, %(finished_at)s,
            %(finish_reason)s, %(status)s, %(item_count)s, %(gone_count)s, %(drop_count)s,
            %(error_count)s, %(request_count)s, %(db_written_count)s, %(db_spilled_count)s,
            %(db_rejected_count)s, %(stats)s, %(failed)s, %(failure_reason)s)
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
        stats = excluded.stats,
        -- The verdict the end carries; without one the row's own, except the "killed" a
        -- later run wrote when it could not see this one alive (its end proves it was not).
        failed = CASE WHEN excluded.failed IS NOT NULL THEN excluded.failed
                      WHEN c.finish_reason = 'killed' THEN NULL ELSE c.failed END,
        failure_reason = CASE WHEN excluded.failed IS NOT NULL THEN excluded.failure_reason
                              WHEN c.finish_reason = 'killed' THEN NULL
                              ELSE c.failure_reason END
    WHERE excluded.finished_at IS NOT NULL
"""


# --- the search index (schema 0004) ------------------------------------------------------
# Filled outside the write transaction: a batch's new revisions after it commits, and every
# revision still without a vector when a run ends (or ``scrapy dbmigrate`` runs).

#: The vectors of the given revisions (two arrays: article ids, content hashes) that lack one.
FILL_SEARCH_FOR = """
    INSERT INTO revision_search (article_id, content_hash, search)
    SELECT r.article_id, r.content_hash, newsarchive_search_vector(r.title, r.body)
    FROM unnest(%s::text[], %s::text[]) AS k(article_id, content_hash)
    JOIN revisions AS r
      ON r.article_id = k.article_id COLLATE "C" AND r.content_hash = k.content_hash COLLATE "C"
    ORDER BY r.article_id, r.content_hash
    ON CONFLICT DO NOTHING
"""

#: Up to ``limit`` revisions that have no vector yet, of the share ``part`` of ``parts`` (by
#: article), indexed; the count is the statement's rowcount.
FILL_SEARCH_MISSING = """
    INSERT INTO revision_search (article_id, content_hash, search)
    SELECT r.article_id, r.content_hash, newsarchive_search_vector(r.title, r.body)
    FROM revisions AS r
    WHERE NOT EXISTS (SELECT FROM revision_search AS s
                      WHERE s.article_id = r.article_id AND s.content_hash = r.content_hash)
      AND (%(parts)s::int = 1 OR abs(hashtext(r.article_id) %% %(parts)s::int) = %(part)s::int)
    ORDER BY r.article_id, r.content_hash
    LIMIT %(limit)s
    ON CONFLICT DO NOTHING
"""

# --- sessions, runs and small writes ---------------------------------------------------------

#: Dates computed in SQL ("published in the last N days") are UTC dates.
SET_UTC = "SET TIME ZONE 'UTC'"

#: A batch statement's estimated cost (index lookups per row) can pass ``jit_above_cost``,
#: and compiling it then takes longer than running it (measured: 200 ms on a 50 ms batch).
SET_NO_JIT = "SET jit = off"

#: Runs still ``running`` that no connection names (``ArchiveStore.close_dead_runs``).
CLOSE_DEAD_RUNS = """
    UPDATE crawl_runs AS c
    SET status = 'incomplete', finish_reason = 'killed', failed = true,
        failure_reason = %(reason)s
    WHERE c.status = 'running' AND c.run_id <> %(current)s
      AND NOT EXISTS (
          SELECT FROM pg_stat_activity AS a WHERE a.application_name = %(prefix)s || c.run_id)
    RETURNING c.run_id
"""

SET_RUN_VERDICT = "UPDATE crawl_runs SET failed = %s, failure_reason = %s WHERE run_id = %s"

#: Whether the archive holds any of a batch's articles. First one index descent: none archived
#: between the batch's least and greatest id (byte order, as the "C" column compares) settles
#: it for a fresh archive and for a crawl's newest ids. Only when that finds some are the ids
#: looked up themselves, one descent each until one is found (AND does not run the second
#: test after a false first): a crawl's later batches, whose ids fall between those of the
#: batches before (a listing's articles leave Scrapy's last-in-first-out scheduler out of
#: order), are new all the same. The ids travel as one string joined by ID_SEPARATOR:
#: psycopg dumps a list to text[] one element at a time (1.1 ms of client CPU for 1,000 ids),
#: a string the server splits costs a tenth of that.
ANY_ARTICLE_KNOWN = """
SELECT EXISTS (SELECT FROM article_state WHERE article_id BETWEEN %(least)s AND %(greatest)s)
   AND EXISTS (SELECT FROM article_state
               WHERE article_id = ANY(string_to_array(%(ids)s, %(separator)s)))
"""
#: What ANY_ARTICLE_KNOWN's ids are joined by (the ASCII unit separator: no article id the
#: crawler makes holds one; ``batches.any_known`` checks).
ID_SEPARATOR = "\x1f"

ARTICLES_AMONG = "SELECT article_id FROM article_state WHERE article_id = ANY(%s::text[])"

# --- reads -----------------------------------------------------------------------------------
# A NULL ``source`` means every source. Reads that need no text use ``article_state``; the
# ``articles`` view joins the current revision's title and body.

KNOWN_ARTICLE_IDS = (
    "SELECT article_id FROM article_state WHERE (%(source)s::text IS NULL OR source = %(source)s)"
)

PUBLISHED_SINCE = (
    "SELECT article_id FROM article_state WHERE published_date >= current_date - %(days)s::int "
    "AND (%(source)s::text IS NULL OR source = %(source)s)"
)

#: Whether any article carries a source label, and every label (``scrapy export --source``).
SOURCE_EXISTS = "SELECT EXISTS (SELECT FROM articles WHERE source = %s)"
SOURCE_LABELS = "SELECT DISTINCT source FROM articles WHERE source IS NOT NULL ORDER BY 1"

GET_ARTICLE = "SELECT * FROM articles WHERE article_id = %s"

ITER_ARTICLES = (
    "SELECT * FROM articles WHERE (%(source)s::text IS NULL OR source = %(source)s) "
    "AND (%(include_gone)s::bool OR gone_at IS NULL) ORDER BY article_id"
)

#: What a ``recheck_days`` crawl fetches again, by URL (UTC dates, as ``PUBLISHED_SINCE``).
ARTICLES_TO_RECHECK = (
    "SELECT article_id, url, source FROM article_state "
    "WHERE published_date >= current_date - %s::int AND gone_at IS NULL "
    "ORDER BY article_id"
)


# --- the crawl-time judgement (newsarchive.reextract.judgement; evidence engineer) -----------

#: Archived articles whose current text another extractor version read from their latest
#: capture (``article_state`` holds the latest sighting: its text's hash, instant, run and the
#: extractor that read it). A changed text among them is judged edit or reextract against
#: that capture. One scan of the narrow state table, at a crawl's start.
ARTICLES_READ_BY_OTHER_EXTRACTOR = """
    SELECT article_id, content_hash, crawled_at, last_run_id FROM article_state
    WHERE extractor_version IS DISTINCT FROM %s
"""
