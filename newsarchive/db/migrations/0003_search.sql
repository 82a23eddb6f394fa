-- 0003 search: full-text search over every stored version of every article.
--
-- A generated tsvector of title (weight A) and body (weight B) on revisions, the text's one
-- home since 0002, with a GIN index; the article_revisions view gains it as its last column, so
-- researchers query it where they read revisions. On the revisions, not on the articles: a
-- researcher searching the archive wants edited-away and deleted text found too.
--
-- Configuration 'english': English bodies are stemmed ("harvests" finds "harvest"); Korean
-- words pass through its parser unstemmed and are still found word for word. Queries must use
-- the same configuration (docs/POSTGRES.md has examples). STORED: computed once per new
-- revision; a re-crawl of unchanged text never updates a revision row (0002), so it is not
-- computed again.

ALTER TABLE revisions ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A')
    || setweight(to_tsvector('english'::regconfig, coalesce(body, '')), 'B')
) STORED;

CREATE INDEX revisions_search_idx ON revisions USING gin (search);

CREATE OR REPLACE VIEW article_revisions AS
SELECT r.article_id, r.content_hash, r.title, r.body, r.first_seen_at,
       CASE WHEN a.last_seen_at > r.last_seen_at THEN a.last_seen_at
            ELSE r.last_seen_at END AS last_seen_at,
       r.first_run_id,
       CASE WHEN a.last_seen_at > r.last_seen_at THEN a.last_run_id
            ELSE r.last_run_id END AS last_run_id,
       r.kind, r.extractor_version, r.search
FROM revisions r
LEFT JOIN article_state a ON a.article_id = r.article_id AND a.content_hash = r.content_hash;
