-- 0004 search apart: the full-text vectors leave the write path (issue 14), and a revision
-- can be 'unverified' (issue 12).
--
-- revision_search  one row per revision: (article_id, content_hash) and its tsvector, with
--                  the GIN index. 0003's generated column on revisions made every new
--                  revision (and, in PostgreSQL 15, every UPDATE of one) compute to_tsvector
--                  inside the crawl's transaction, about 3x the write cost. The store now
--                  fills this table after each committed batch, from its own pool, and every
--                  run (and `scrapy dbmigrate`) catches up on revisions still without a row
--                  before its run record is final; a failed fill is a WARNING and a stat.
-- newsarchive_search_vector(title, body)
--                  the one definition of a revision's vector: the title weighted A, the body
--                  B, configuration 'english' (as 0003).
-- article_revisions keeps its `search` column (last), now read from revision_search: the
--                  queries in docs/POSTGRES.md run unchanged. A revision written moments ago
--                  may not be searchable until its batch's fill has run.
--
-- Kinds: 'unverified' is a changed text whose cause cannot be judged (the previous
-- revision's capture is missing); only 'edit' means the outlet edited it.
--
-- The vectors 0003 computed are moved, not computed again.

CREATE FUNCTION newsarchive_search_vector(title text, body text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A')
    || setweight(to_tsvector('english'::regconfig, coalesce(body, '')), 'B');

CREATE TABLE revision_search (
    article_id   text COLLATE "C" NOT NULL,  -- revisions.article_id
    content_hash text COLLATE "C" NOT NULL,  -- revisions.content_hash
    search       tsvector NOT NULL,
    PRIMARY KEY (article_id, content_hash)
);

INSERT INTO revision_search (article_id, content_hash, search)
SELECT article_id, content_hash, search FROM revisions ORDER BY article_id, content_hash;

CREATE INDEX revision_search_idx ON revision_search USING gin (search);

CREATE OR REPLACE VIEW article_revisions AS
SELECT r.article_id, r.content_hash, r.title, r.body, r.first_seen_at,
       CASE WHEN a.last_seen_at > r.last_seen_at THEN a.last_seen_at
            ELSE r.last_seen_at END AS last_seen_at,
       r.first_run_id,
       CASE WHEN a.last_seen_at > r.last_seen_at THEN a.last_run_id
            ELSE r.last_run_id END AS last_run_id,
       r.kind, r.extractor_version, s.search
FROM revisions r
LEFT JOIN article_state a ON a.article_id = r.article_id AND a.content_hash = r.content_hash
LEFT JOIN revision_search s ON s.article_id = r.article_id AND s.content_hash = r.content_hash;

DROP INDEX revisions_search_idx;
ALTER TABLE revisions DROP COLUMN search;

-- Room in each page of article_state for the next sighting of its rows: a re-crawl moves only
-- sighting columns, none indexed, so with room PostgreSQL updates the row in place (HOT) and
-- touches no index. Pages written from now on keep it; `VACUUM FULL article_state` gives it to
-- the pages of an archive upgraded from 0003.
ALTER TABLE article_state SET (fillfactor = 70);

ALTER TABLE revisions DROP CONSTRAINT revisions_kind_check;
ALTER TABLE revisions ADD CONSTRAINT revisions_kind_check
    CHECK (kind IN ('first', 'edit', 'reextract', 'unverified'));

COMMENT ON TABLE revision_search IS
    'Full-text vector of each revision (newsarchive_search_vector), filled after the write.';
COMMENT ON VIEW article_revisions IS
    'One row per distinct content of an article; kind edit = a change the outlet made.';
