-- 0003 search: full-text search over every stored version of every article.
--
-- A generated tsvector of title (weight A) and body (weight B) on article_revisions, with a
-- GIN index. On the revisions, not on articles: the revision is the text's one home (0002,
-- "store the text once", may drop the copy in articles), and a researcher searching the
-- archive wants edited-away and deleted text found too. This file reads only columns that
-- 0001 creates, so it applies on top of 0001 alone as well as after 0002.
--
-- Configuration 'english': English bodies are stemmed ("harvests" finds "harvest"); Korean
-- words pass through its parser unstemmed and are still found word for word. Queries must use
-- the same configuration (docs/POSTGRES.md has examples). STORED: computed once per new
-- revision; a re-crawl that only moves the sighting times leaves it alone.

ALTER TABLE article_revisions ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A')
    || setweight(to_tsvector('english'::regconfig, coalesce(body, '')), 'B')
) STORED;

CREATE INDEX article_revisions_search_idx ON article_revisions USING gin (search);
