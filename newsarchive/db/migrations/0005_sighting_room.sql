-- 0005 sighting room: half of each page of article_state is left free, so that a re-crawl
-- that sees every article of a page again updates each of its rows in place.
--
-- A re-crawl of unchanged text moves only sighting columns (crawled_at, first/last_seen_at,
-- last_run_id), none of them indexed, so PostgreSQL can update a row on its own page (a HOT
-- update) and touch no index. But the versions a statement replaces stay on the page until
-- it commits, so every row of a page needs room for its new version at once. 0004's
-- fillfactor 70 left room for about 7 of a page's 16 rows: a full re-crawl updated 43% of
-- them in place and moved the rest to new pages, each with new entries in the primary key
-- and published_date indexes (measured: 22,234 of 40,000 updates HOT over two re-crawls of
-- 20,000 replica articles, 2.75 WAL records per row). At 50 all of them stay (39,985 of
-- 40,000), the server's CPU per re-seen article falls by about a quarter, and the table is
-- smaller after two re-crawls (16 against 22 MB); a first write costs the server about 1 µs
-- more per article (more pages), which is the bench's measure in docs/POSTGRES.md.
--
-- Pages written from now on keep the room; `VACUUM FULL article_state` gives it to the pages
-- of an archive upgraded from 0004.

ALTER TABLE article_state SET (fillfactor = 50);
