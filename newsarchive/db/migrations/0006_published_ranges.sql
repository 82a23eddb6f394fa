-- 0006 published ranges: the index on article_state.published_date becomes a BRIN index.
--
-- What uses it: "published since" (an incremental crawl's re-checks, `scrapy export --since
-- --until`, researchers' date ranges). Every one of them asks for a range of days, and the
-- rows of article_state lie roughly in date order: a crawl writes each batch in article id
-- order, and a KCNA Watch id begins with its article's Unix time (the specimen's
-- 1713006283-... was published 2024-04-13 11:04:43 UTC). That is what BRIN is for: one small
-- summary (the least and greatest date) per 32 pages, instead of one B-tree entry per row.
--
-- Why: every new article paid for its B-tree entry. With the BRIN index the server's CPU
-- per new article fell by 1.2 to 2.2 µs (of 12 to 13), and the pipeline ran 1.05 to 1.18
-- times as fast (docs/POSTGRES.md, "ninth pass").
--
-- What it costs: a range query reads every page of each 32-page range whose dates overlap it
-- (about 500 rows) instead of the matching rows only, and ranges written since the last
-- summary are read whole until autovacuum summarizes them (`autosummarize`); results are the
-- same either way.

DROP INDEX article_state_published_date_idx;
CREATE INDEX article_state_published_date_idx ON article_state
    USING brin (published_date) WITH (pages_per_range = 32, autosummarize = on);
