-- 0001 initial: the versioned archive.
--
-- articles           one row per article_id: the latest version seen, plus its history counters
-- article_revisions  one row per distinct content (sha256 of title + "\n\n" + body) of an article;
--                    text is written once and never overwritten, only the seen-times move
-- article_events     deletions (404/410) and reappearances, so clearing gone_at loses nothing
-- crawl_runs         one row per crawl, with counts; `failed` is the monitor's verdict
--
-- No foreign keys: the store writes an article, its revisions and events in one transaction,
-- and a foreign key check locks each article row once more per write (about a fifth of the
-- write rate in bench/bench_postgres.py). docs/POSTGRES.md has a query that checks the links.
--
-- Identifiers (article ids, content hashes, run ids) use the "C" collation: byte order is
-- what they mean, and comparing them is several times cheaper than a linguistic collation.
--
-- Times are the crawler's own (an item's crawled_at, a 404's seen_at), not the time of the
-- write, so replaying a spill file later records what was seen when it was seen.

CREATE TABLE crawl_runs (
    run_id            text COLLATE "C" PRIMARY KEY,
    spider            text NOT NULL,
    start_url         text,
    started_at        timestamptz NOT NULL,
    finished_at       timestamptz,
    finish_reason     text,
    -- running: no end recorded yet; finished: closed with reason "finished"; incomplete: any
    -- other close reason (shutdown, closespider_*, database_unavailable, ...)
    status            text NOT NULL DEFAULT 'running'
                      CHECK (status IN ('running', 'finished', 'incomplete')),
    -- The run monitor's verdict and its one-line reason; NULL until the monitor has judged.
    failed            boolean,
    failure_reason    text,
    item_count        integer NOT NULL DEFAULT 0,
    gone_count        integer NOT NULL DEFAULT 0,
    drop_count        integer NOT NULL DEFAULT 0,
    error_count       integer NOT NULL DEFAULT 0,
    request_count     integer NOT NULL DEFAULT 0,
    db_written_count  integer NOT NULL DEFAULT 0,
    db_spilled_count  integer NOT NULL DEFAULT 0,
    db_rejected_count integer NOT NULL DEFAULT 0,
    -- Every newsarchive/* stat of the run at its end (drops by reason, null fields, ...).
    stats             jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX crawl_runs_started_at_idx ON crawl_runs (started_at);

CREATE TABLE articles (
    article_id        text COLLATE "C" PRIMARY KEY,
    -- The item fields of the latest version seen (the one with the greatest crawled_at).
    url               text NOT NULL,
    title             text,
    body              text,
    published_date    date,
    published_at      timestamptz,
    page_date         date,
    source            text,
    source_name       text,
    source_language   text,
    original_url      text,
    crawled_at        timestamptz NOT NULL,
    content_hash      text COLLATE "C" NOT NULL,
    -- History.
    first_seen_at     timestamptz NOT NULL,
    last_seen_at      timestamptz NOT NULL,
    last_changed_at   timestamptz NOT NULL,  -- first sighting of the current content
    revision_count    integer NOT NULL,      -- rows in article_revisions for this article
    gone_at           timestamptz,           -- NULL while the article answers; see article_events
    last_run_id       text COLLATE "C" NOT NULL  -- the run that saw it last; crawl_runs.run_id
);
-- Few indexes on purpose: every one is paid on each write, and a re-crawl rewrites every row
-- it sees. "Published since" (incremental re-checks, exports) needs one; deleted articles are
-- few. No index on source (two or three values: a scan is as fast) nor on last_run_id.
CREATE INDEX articles_published_date_idx ON articles (published_date);
CREATE INDEX articles_gone_at_idx ON articles (gone_at) WHERE gone_at IS NOT NULL;

CREATE TABLE article_revisions (
    article_id        text COLLATE "C" NOT NULL,  -- articles.article_id
    content_hash      text COLLATE "C" NOT NULL,
    title             text,
    body              text,
    first_seen_at     timestamptz NOT NULL,
    last_seen_at      timestamptz NOT NULL,
    first_run_id      text COLLATE "C" NOT NULL,
    last_run_id       text COLLATE "C" NOT NULL,
    PRIMARY KEY (article_id, content_hash)
);

CREATE TABLE article_events (
    article_id        text COLLATE "C" NOT NULL,  -- articles.article_id
    event             text NOT NULL CHECK (event IN ('gone', 'returned')),
    at                timestamptz NOT NULL,
    run_id            text COLLATE "C" NOT NULL,
    http_status       smallint,              -- the 404/410 of a 'gone' event
    PRIMARY KEY (article_id, event, at)
);
