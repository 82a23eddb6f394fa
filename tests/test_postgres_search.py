"""The full-text index apart from the write path (schema 0004) against a real PostgreSQL: the
upgrade of a populated 0003 archive, the fill after each batch and at the run's end, a failed
fill made visible and caught up by the next run, and ``scrapy dbmigrate`` catching up."""

from __future__ import annotations

import asyncio
import logging

import psycopg
import pytest
from scrapy import Spider
from scrapy.utils.test import get_crawler

from newsarchive.db import migrate
from newsarchive.db.migrate import migrate_url
from newsarchive.db.store import ArchiveStore
from newsarchive.items import ArticleItem
from newsarchive.pipelines.postgres import PostgresPipeline
from tests.db_items import archive_settings, article
from tests.test_postgres_schema import build_0001_archive, rows, write

#: A broken index, as a full disk or a lost server would make it: every fill fails.
REFUSE_FILLS = """
CREATE FUNCTION refuse_fill() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'the search index is broken (a test)'; END $$;
CREATE TRIGGER refuse_fills BEFORE INSERT ON revision_search
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_fill();
"""

#: Revisions with no search vector.
UNINDEXED = (
    "SELECT count(*) FROM revisions r WHERE NOT EXISTS (SELECT FROM revision_search s"
    " WHERE s.article_id = r.article_id AND s.content_hash = r.content_hash)"
)
#: What a search for a title finds (the documented way: the view's column).
FOUND = (
    "SELECT article_id FROM article_revisions"
    " WHERE search @@ websearch_to_tsquery('english', %s) ORDER BY 1"
)


def apply(url: str, count: int | None = None) -> list[str]:
    async def go() -> list[str]:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            chosen = migrate.load_migrations()
            done = await migrate.migrate(conn, chosen[:count] if count else chosen)
            return [m.label for m in done]

    return asyncio.run(go())


@pytest.mark.postgres
def test_0004_upgrades_a_populated_0003_archive_keeping_every_revision(pg_empty_url):
    url = pg_empty_url
    build_0001_archive(url)
    assert apply(url, 3) == ["0002_text_once", "0003_search"]
    everything = "SELECT * FROM article_revisions ORDER BY article_id, content_hash"
    before = rows(url, everything)
    assert len(before) == 121 and all(row[-1] for row in before)  # 0003 indexed them all
    # 0003 rejects the new kind
    with psycopg.connect(url) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("UPDATE revisions SET kind = 'unverified'")
    assert apply(url) == ["0004_search_apart", "0005_sighting_room", "0006_published_ranges"]
    assert rows(url, everything) == before  # every column, the vectors included
    assert rows(url, UNINDEXED) == [(0,)]
    columns = [name for (name,) in rows(
        url, "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
        " ORDER BY ordinal_position", ("revisions",))]  # fmt: skip
    assert "search" not in columns  # no vector on the write path any more
    # New writes work, the new kind is accepted and the catch-up indexes what they added.
    write(url, ([{**article(3, body="Harvests unverified.", minutes=900),
                  "revision_kind": "unverified"}], "run-after"))  # fmt: skip
    assert rows(url, UNINDEXED) == [(1,)]
    assert rows(url, FOUND, ("harvest",)) == []  # not searchable until indexed

    async def catch_up() -> int:
        async with await ArchiveStore.open(url) as store:
            return await store.catch_up_search()

    assert asyncio.run(catch_up()) == 1
    assert rows(url, FOUND, ("harvest",)) == [("1700000000-3",)]
    assert rows(url, "SELECT kind FROM article_revisions WHERE body = 'Harvests unverified.'") == [
        ("unverified",)
    ]


def crawl(
    url: str, tmp_path, run_id: str, items: list[dict], pause_every: int = 0, **settings: object
) -> dict:
    """The pipeline as a crawl drives it (project settings and ``settings``), pausing a
    moment after every ``pause_every`` items as a crawl waits for pages; its stats."""
    crawler = get_crawler(
        Spider,
        archive_settings(
            NEWSARCHIVE_DATABASE_URL=url, NEWSARCHIVE_DATA_DIR=str(tmp_path / run_id), **settings
        ),
    )
    spider = Spider(name="unit")
    spider.run_id = run_id  # type: ignore[attr-defined]
    crawler.spider = spider
    pipeline = PostgresPipeline.from_crawler(crawler)

    async def go() -> None:
        await pipeline.open_spider()
        for number, item in enumerate(items, 1):
            await pipeline.process_item(ArticleItem(item))
            if pause_every and number % pause_every == 0:
                await asyncio.sleep(0.5)
        await pipeline.close_spider()
        await pipeline.spider_closed(spider, "finished")
        await pipeline.database.close()

    asyncio.run(go())
    return crawler.stats.get_stats()


@pytest.mark.postgres
def test_a_crawl_indexes_its_revisions_before_its_run_record_is_final(pg_url, tmp_path):
    items = [article(n, title=f"Bumper harvest {n}") for n in range(30)]
    stats = crawl(pg_url, tmp_path, "run-1", items)
    assert stats["newsarchive/db/search_indexed"] == 30
    assert "newsarchive/db/search_failed" not in stats
    assert rows(pg_url, UNINDEXED) == [(0,)]
    assert len(rows(pg_url, FOUND, ("harvest",))) == 30
    (recorded,) = rows(pg_url, "SELECT stats FROM crawl_runs WHERE run_id = 'run-1'")[0]
    assert recorded["newsarchive/db/search_indexed"] == 30
    # An edit is a new revision: indexed too, and both versions are found.
    crawl(pg_url, tmp_path, "run-2", [article(0, title="Bumper harvest 0", body="Wheat.",
                                              minutes=60)])  # fmt: skip
    assert rows(pg_url, FOUND, ("wheat",)) == [("1700000000-0",)]
    assert rows(pg_url, UNINDEXED) == [(0,)]


@pytest.mark.postgres
@pytest.mark.parametrize("fill", ["after each batch", "at the end only"])
def test_a_failed_fill_is_a_warning_and_a_stat_and_the_next_run_catches_up(
    pg_url, tmp_path, caplog, fill
):
    """With the search table unusable the crawl still stores everything; the run says the
    index was not filled (WARNING, ``search_failed``), and the next run indexes the rest."""
    with psycopg.connect(pg_url) as conn:  # the index refuses every fill
        conn.execute(REFUSE_FILLS)
    items = [article(n, title=f"Bumper harvest {n}") for n in range(12)]
    caplog.set_level(logging.WARNING)
    stats = crawl(pg_url, tmp_path, "run-1", items, pause_every=5, NEWSARCHIVE_DB_BATCH_SIZE=5,
                  NEWSARCHIVE_DB_SEARCH_FILL=fill == "after each batch")  # fmt: skip
    assert stats["newsarchive/db/articles_written"] == 12
    assert stats["newsarchive/db/search_failed"] >= 1
    assert "newsarchive/db/search_indexed" not in stats
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("search index" in line and "not caught up" in line for line in warnings), warnings
    # the fill itself failed while the crawl ran (said once, then counted)
    fill_failed = [line for line in warnings if "not indexed for search yet" in line]
    assert len(fill_failed) == (1 if fill == "after each batch" else 0), warnings
    assert rows(pg_url, UNINDEXED) == [(12,)]
    (recorded,) = rows(pg_url, "SELECT stats FROM crawl_runs WHERE run_id = 'run-1'")[0]
    assert recorded["newsarchive/db/search_failed"] >= 1  # the run record says so too
    # The next run (the index working again) catches up on the earlier run's revisions.
    with psycopg.connect(pg_url) as conn:
        conn.execute("DROP TRIGGER refuse_fills ON revision_search")
    stats = crawl(pg_url, tmp_path, "run-2", [article(0, title="Bumper harvest 0", minutes=60)])
    assert stats["newsarchive/db/search_indexed"] == 12
    assert rows(pg_url, UNINDEXED) == [(0,)]


@pytest.mark.postgres
def test_dbmigrate_catches_up_an_archive_written_without_the_fill(pg_url):
    write(pg_url, ([article(n, title=f"Bumper harvest {n}") for n in range(7)], "run-1"))
    assert rows(pg_url, UNINDEXED) == [(7,)]
    lines = asyncio.run(migrate_url(pg_url))
    assert lines[-1].endswith("indexed 7 revision(s) for full-text search"), lines
    assert "schema up to date" in lines[0]
    assert rows(pg_url, UNINDEXED) == [(0,)]
    assert len(asyncio.run(migrate_url(pg_url))) == 1  # nothing left: one line


@pytest.mark.postgres
def test_the_fill_yields_to_writes_that_are_behind_and_the_catch_up_does_the_rest(pg_url):
    from newsarchive.db.search import SearchIndexer

    (result,) = write(pg_url, ([article(n) for n in range(6)], "run-1"))
    first, rest = result.new_revisions[:2], result.new_revisions[2:]
    counts: dict[str, int] = {}

    def count(name: str, by: int) -> None:
        counts[name] = counts.get(name, 0) + by

    async def go() -> list[tuple]:
        behind = True
        async with await ArchiveStore.open(pg_url) as store:
            indexer = SearchIndexer(store, count, parts=2, fill=True, writes_behind=lambda: behind)
            indexer.add(first)
            await asyncio.sleep(0.3)
            seen = [rows(pg_url, UNINDEXED)[0]]  # the writes are behind: nothing indexed
            behind = False
            indexer.add(rest)  # the next committed batch wakes it
            for _ in range(50):
                await asyncio.sleep(0.05)
                if not indexer.pending:
                    break
            await indexer.stop()
            seen.append(rows(pg_url, UNINDEXED)[0])
            await indexer.catch_up(server_away=False)
            seen.append(rows(pg_url, UNINDEXED)[0])
            return seen

    assert asyncio.run(go()) == [(6,), (0,), (0,)]
    assert counts == {"newsarchive/db/search_indexed": 6}
