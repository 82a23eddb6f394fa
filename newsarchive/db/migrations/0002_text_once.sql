-- 0002 text once: the revision is the one home of an article's text (issue 12).
--
-- revisions      one row per distinct content of an article (0001's article_revisions, renamed),
--                plus `kind` ('first', 'edit', 'reextract') and `extractor_version`
-- article_state  one row per article: 0001's articles without title and body; its
--                (article_id, content_hash) points at the current revision
-- articles, article_revisions
--                views with every column of 0001 (and the new ones after them), so the
--                queries researchers run today keep working
--
-- The current revision's last sighting is the article's: a re-crawl that finds the same text
-- updates one narrow article_state row and leaves the revision untouched. The store writes
-- a revision's own last_seen_at / last_run_id when it stops being current (or is seen while
-- not current); the article_revisions view shows the later of the two.
--
-- Rows from 0001: the earliest revision of each article (first_seen_at, then content_hash)
-- is 'first', later ones 'edit' (0001 could not tell an outlet's edit from a change of our
-- extraction); their extractor_version is 'unknown-0001'. Text an article row held without
-- a matching revision (never written so by the store, but possible in a hand-edited
-- archive) becomes a revision first, so no text is lost.

ALTER TABLE article_revisions RENAME TO revisions;
ALTER INDEX article_revisions_pkey RENAME TO revisions_pkey;
ALTER TABLE articles RENAME TO article_state;
ALTER INDEX articles_pkey RENAME TO article_state_pkey;
ALTER INDEX articles_published_date_idx RENAME TO article_state_published_date_idx;
ALTER INDEX articles_gone_at_idx RENAME TO article_state_gone_at_idx;

INSERT INTO revisions (article_id, content_hash, title, body, first_seen_at, last_seen_at,
                       first_run_id, last_run_id)
SELECT a.article_id, a.content_hash, a.title, a.body, a.last_changed_at, a.last_seen_at,
       a.last_run_id, a.last_run_id
FROM article_state a
WHERE NOT EXISTS (SELECT FROM revisions r
                  WHERE r.article_id = a.article_id AND r.content_hash = a.content_hash);
UPDATE article_state a SET revision_count = (SELECT count(*) FROM revisions r
                                             WHERE r.article_id = a.article_id)
WHERE a.revision_count <> (SELECT count(*) FROM revisions r WHERE r.article_id = a.article_id);

ALTER TABLE revisions
    ADD COLUMN kind text NOT NULL DEFAULT 'edit'
        CHECK (kind IN ('first', 'edit', 'reextract')),
    ADD COLUMN extractor_version text NOT NULL DEFAULT 'unknown-0001';
UPDATE revisions r SET kind = 'first'
FROM (SELECT DISTINCT ON (article_id) article_id, content_hash FROM revisions
      ORDER BY article_id, first_seen_at, content_hash) AS earliest
WHERE r.article_id = earliest.article_id AND r.content_hash = earliest.content_hash;
-- New rows always say what they are.
ALTER TABLE revisions ALTER COLUMN kind DROP DEFAULT,
                      ALTER COLUMN extractor_version DROP DEFAULT;

ALTER TABLE article_state
    DROP COLUMN title,
    DROP COLUMN body,
    ADD COLUMN extractor_version text NOT NULL DEFAULT 'unknown-0001';
ALTER TABLE article_state ALTER COLUMN extractor_version DROP DEFAULT;

-- Foreign keys, where bench/bench_postgres.py --foreign-keys-cost allows them: only events
-- to their article (events are few). Not declared, because each is checked once per new
-- article or revision and together they cost new articles about 30% of the store's rate:
-- article_state (article_id, content_hash) -> revisions (the pointer to the current
-- revision) and revisions -> article_state. The store writes an article and its revisions
-- in one transaction, revisions first; docs/POSTGRES.md has the query that checks the links.
-- The events link is added NOT VALID and then validated, so a hand-edited 0001 archive with
-- orphan events still upgrades (with a warning naming the constraint).
ALTER TABLE article_events ADD CONSTRAINT article_events_article_fkey
    FOREIGN KEY (article_id) REFERENCES article_state (article_id) NOT VALID;
DO $$
BEGIN
    ALTER TABLE article_events VALIDATE CONSTRAINT article_events_article_fkey;
EXCEPTION WHEN foreign_key_violation THEN
    RAISE WARNING 'newsarchive 0002: article_events_article_fkey left NOT VALID: %', SQLERRM;
END
$$;

CREATE VIEW articles AS
SELECT a.article_id, a.url, r.title, r.body, a.published_date, a.published_at, a.page_date,
       a.source, a.source_name, a.source_language, a.original_url, a.crawled_at,
       a.content_hash, a.first_seen_at, a.last_seen_at, a.last_changed_at, a.revision_count,
       a.gone_at, a.last_run_id, a.extractor_version
FROM article_state a
LEFT JOIN revisions r ON r.article_id = a.article_id AND r.content_hash = a.content_hash;

CREATE VIEW article_revisions AS
SELECT r.article_id, r.content_hash, r.title, r.body, r.first_seen_at,
       CASE WHEN a.last_seen_at > r.last_seen_at THEN a.last_seen_at
            ELSE r.last_seen_at END AS last_seen_at,
       r.first_run_id,
       CASE WHEN a.last_seen_at > r.last_seen_at THEN a.last_run_id
            ELSE r.last_run_id END AS last_run_id,
       r.kind, r.extractor_version
FROM revisions r
LEFT JOIN article_state a ON a.article_id = r.article_id AND a.content_hash = r.content_hash;

COMMENT ON VIEW articles IS
    'One row per article, its latest version (article_state joined with its current revision).';
COMMENT ON VIEW article_revisions IS
    'One row per distinct content of an article; kind edit = a change the outlet made.';
