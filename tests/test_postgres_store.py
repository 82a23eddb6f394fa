"""The archive's SQL against a real PostgreSQL: migrations, versioning, gone/return, hostile
text, rejects, concurrency, spill files, URL masking."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.utils.test import get_crawler

from newsarchive.db import batches, migrate, spill, statements
from newsarchive.db.errors import ArchiveUnavailable, DatabaseUnreachable, SchemaOutOfDate
from newsarchive.db.prepared import prepare_batch, prepare_items
from newsarchive.db.records import RunRecord
from newsarchive.db.run_database import RunDatabase
from newsarchive.db.store import RUN_APPLICATION_PREFIX, ArchiveStore
from newsarchive.db.urls import describe_target, mask_url, scrub
from newsarchive.db.writer import writer_count
from newsarchive.pipelines.postgres import PostgresPipeline
from tests.db_items import T0, archive_settings, article, at
from tests.services import PostgresServer, free_port

T = TypeVar("T")


def run(factory: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(factory())  # type: ignore[arg-type]


def gone(n: int, minutes: int, status: int = 410) -> dict:
    return {
        "article_id": f"1700000000-{n}",
        "url": f"https://kcnawatch.org/newstream/1700000000-{n}/",
        "status": status,
        "seen_at": at(minutes),
    }


def unit_pipeline(
    url: str, data_dir: Path, run_id: str
) -> tuple[Crawler, Spider, PostgresPipeline]:
    """A pipeline on a crawler of its own (project defaults), for a spider named ``unit``."""
    crawler = get_crawler(
        Spider,
        archive_settings(NEWSARCHIVE_DATABASE_URL=url, NEWSARCHIVE_DATA_DIR=str(data_dir)),
    )
    spider = Spider(name="unit")
    spider.run_id = run_id  # type: ignore[attr-defined]
    crawler.spider = spider
    return crawler, spider, PostgresPipeline.from_crawler(crawler)


def rows(url: str, query: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


# --- no server needed -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://u:s3cr%40t@db.example:5432/arch", "postgresql://u:***@db.example:5432/arch"),
        ("postgres://u@h/db", "postgres://u@h/db"),
        ("postgresql://h/db?user=u&password=pw&sslmode=require",
         "postgresql://h/db?user=u&password=***&sslmode=require"),
        ("host=h user=u password='p w' dbname=d", "host=h user=u password=*** dbname=d"),
        ("postgresql://u:p@h1:5432,h2:5433/db", "postgresql://u:***@h1:5432,h2:5433/db"),
    ],
)  # fmt: skip
def test_mask_url_hides_every_password_form(url, masked):
    assert mask_url(url) == masked


def test_scrub_and_target_never_show_the_password():
    url = "postgresql://archivist:Hunter%212@db.example:6543/archive"
    assert describe_target(url) == "db.example:6543/archive as archivist"
    assert scrub("auth failed for Hunter!2 and Hunter%212", url) == "auth failed for *** and ***"


def test_pipeline_is_off_without_a_database_url():
    crawler = get_crawler(settings_dict={"NEWSARCHIVE_DATABASE_URL": ""})
    with pytest.raises(NotConfigured):
        PostgresPipeline.from_crawler(crawler)


# --- migrations -----------------------------------------------------------------------------


#: The number a later migration would take.
NEXT = f"{int(migrate.latest_version()) + 1:04d}"


@pytest.mark.postgres
def test_migrations_are_tracked_idempotent_and_concurrent_safe(pg_empty_url, tmp_path):
    async def go() -> tuple[list, list, list]:
        async def one() -> list:
            async with await psycopg.AsyncConnection.connect(pg_empty_url, autocommit=True) as c:
                return await migrate.migrate(c)

        first = await asyncio.gather(one(), one())  # two processes migrating at once
        again = await one()
        # A later change is a new numbered file; only it is applied.
        for source in migrate.load_migrations():
            (tmp_path / f"{source.label}.sql").write_text(source.sql)
        (tmp_path / f"{NEXT}_note.sql").write_text("ALTER TABLE crawl_runs ADD COLUMN note text;")
        async with await psycopg.AsyncConnection.connect(pg_empty_url, autocommit=True) as c:
            later = await migrate.migrate(c, migrate.load_migrations(tmp_path))
        return first, again, later

    packaged = migrate.load_migrations()
    assert packaged[0].label == "0001_initial"
    first, again, later = run(go)
    assert sorted(len(applied) for applied in first) == [0, len(packaged)]
    assert again == []
    assert [m.label for m in later] == [f"{NEXT}_note"]
    assert rows(pg_empty_url, "SELECT version, name FROM schema_migrations ORDER BY 1") == [
        *((m.version, m.name) for m in packaged),
        (NEXT, "note"),
    ]


@pytest.mark.postgres
def test_store_refuses_an_unmigrated_database(pg_empty_url):
    with pytest.raises(SchemaOutOfDate, match="scrapy dbmigrate"):
        run(lambda: ArchiveStore.open(pg_empty_url))


@pytest.mark.postgres
@pytest.mark.parametrize("failure", ["wrong_password", "no_server"])
def test_open_failure_is_one_line_naming_the_host_not_the_password(postgres_server, failure):
    if failure == "wrong_password":
        url = postgres_server.url_with_password("not-the-Secret-42")
        secret = "not-the-Secret-42"
    else:
        url = f"postgresql://newsarchive:Secret-42@127.0.0.1:{free_port()}/newsarchive"
        secret = "Secret-42"
    with pytest.raises(DatabaseUnreachable) as info:
        run(lambda: ArchiveStore.open(url, connect_timeout=3))
    message = str(info.value)
    assert "\n" not in message and "127.0.0.1" in message and secret not in message
    assert ("password authentication failed" if failure == "wrong_password" else "refused") in (
        message
    )


# --- versioning -----------------------------------------------------------------------------


@pytest.mark.postgres
def test_recrawl_only_moves_last_seen_and_a_change_adds_one_revision(pg_url):
    async def go() -> list:
        async with await ArchiveStore.open(pg_url) as store:
            results = [await store.upsert_articles([article(n) for n in range(3)], "run-1")]
            results.append(
                await store.upsert_articles([article(n, minutes=60) for n in range(3)], "run-2")
            )
            results.append(
                await store.upsert_articles([article(1, body="Edited.", minutes=120)], "run-3")
            )
            return results

    first, same, edited = run(go)
    assert (first.articles_added, first.revisions_added) == (3, 3)
    assert (same.articles_added, same.revisions_added, same.articles_seen) == (0, 0, 3)
    assert (edited.revisions_added, edited.articles_changed) == (1, 1)
    assert rows(pg_url, "SELECT count(*) FROM articles") == [(3,)]
    assert rows(pg_url, "SELECT count(*) FROM article_revisions") == [(4,)]
    (current,) = rows(
        pg_url,
        "SELECT body, revision_count, first_seen_at, last_seen_at, last_changed_at, last_run_id"
        " FROM articles WHERE article_id = '1700000000-1'",
    )
    assert current == ("Edited.", 2, T0, T0 + timedelta(minutes=120),
                       T0 + timedelta(minutes=120), "run-3")  # fmt: skip
    # The old text stays queryable, with when it was seen.
    assert rows(
        pg_url,
        "SELECT body, first_seen_at, last_seen_at, first_run_id FROM article_revisions"
        " WHERE article_id = '1700000000-1' ORDER BY first_seen_at",
    ) == [
        ("Body.", T0, T0 + timedelta(minutes=60), "run-1"),
        ("Edited.", T0 + timedelta(minutes=120), T0 + timedelta(minutes=120), "run-3"),
    ]
    (untouched,) = rows(
        pg_url,
        "SELECT revision_count, last_seen_at, last_changed_at, last_run_id FROM articles"
        " WHERE article_id = '1700000000-0'",
    )
    assert untouched == (1, T0 + timedelta(minutes=60), T0, "run-2")


@pytest.mark.postgres
def test_late_replay_of_older_sightings_never_rolls_back_the_latest_version(pg_url):
    async def go() -> None:
        async with await ArchiveStore.open(pg_url) as store:
            await store.upsert_articles([article(1, body="New.", minutes=60)], "run-2")
            await store.upsert_articles([article(1, body="Old.", minutes=0)], "run-1")
            await store.upsert_articles([article(1, body="New.", minutes=60)], "run-2")

    run(go)
    assert rows(
        pg_url,
        "SELECT body, revision_count, first_seen_at, last_seen_at, last_run_id FROM articles",
    ) == [("New.", 2, T0, T0 + timedelta(minutes=60), "run-2")]
    assert rows(pg_url, "SELECT body FROM article_revisions ORDER BY first_seen_at") == [
        ("Old.",),
        ("New.",),
    ]


@pytest.mark.postgres
def test_gone_is_recorded_and_a_return_clears_it_with_an_event(pg_url):
    async def go() -> list:
        async with await ArchiveStore.open(pg_url) as store:
            await store.upsert_articles([article(1), article(2)], "run-1")
            marked = await store.mark_gone([gone(1, 60), gone(9, 60, status=404)], "run-2")
            again = await store.mark_gone([gone(1, 90)], "run-3")  # still gone: keeps 60
            stale = await store.mark_gone([gone(2, -5)], "run-0")  # before it was last seen
            back = await store.upsert_articles([article(1, minutes=120)], "run-4")
            return [marked, again, stale, back]

    marked, again, stale, back = run(go)
    assert (marked.gone_marked, marked.gone_unknown) == (1, 1)
    assert (again.gone_marked, stale.gone_marked) == (0, 0)
    assert back.articles_returned == 1
    assert rows(pg_url, "SELECT article_id, gone_at FROM articles ORDER BY 1") == [
        ("1700000000-1", None),
        ("1700000000-2", None),
    ]
    assert rows(
        pg_url, "SELECT article_id, event, at, run_id, http_status FROM article_events ORDER BY at"
    ) == [
        ("1700000000-1", "gone", T0 + timedelta(minutes=60), "run-2", 410),
        ("1700000000-1", "returned", T0 + timedelta(minutes=120), "run-4", None),
    ]


# --- hostile and unusual text -----------------------------------------------------------------

HOSTILE = [
    "Robert'); DROP TABLE articles;--",
    "$$; DELETE FROM article_revisions; $$",
    "%s %(article_id)s {} \\x00 \\' \\\\",
    "1' OR '1'='1",
    "E'\\047' || pg_sleep(5) --",
]
KOREAN = "조선민주주의인민공화국 최고인민회의 상임위원회 — 평양 4월 11일발 조선중앙통신"


@pytest.mark.postgres
@pytest.mark.parametrize("path", ["copy_new", "upsert"])
def test_hostile_nul_huge_and_korean_text_round_trip(pg_url, path):
    """Both write paths: a batch of unknown articles is COPYed, any other upserted."""
    huge = ("가나다 abc " * 110_000)[:1_048_576]  # a 1 MB (in characters) body, multibyte
    items = [article(i, title=text, body=text) for i, text in enumerate(HOSTILE)]
    items += [
        article(10, title=KOREAN, body=f"{KOREAN}\n\n{KOREAN}"),
        article(11, body=huge),
        article(12, title="Nul\x00title", body="Body with \x00 NUL"),
    ]

    async def go() -> Any:
        async with await ArchiveStore.open(pg_url) as store:
            if path == "upsert":
                await store.upsert_articles([article(99)], "run-0")
                items.append(article(99, minutes=5))  # a known article: the batch is upserted
            return await store.upsert_articles(items, "run-1")

    result = run(go)
    assert (result.articles_added, result.nul_stripped, result.rejected) == (8, 1, [])
    assert result.articles_seen == (8 if path == "copy_new" else 9)
    stored = dict(rows(pg_url, "SELECT article_id, title || '|' || body FROM articles"))
    for i, text in enumerate(HOSTILE):
        assert stored[f"1700000000-{i}"] == f"{text}|{text}"
    assert stored["1700000000-10"] == f"{KOREAN}|{KOREAN}\n\n{KOREAN}"
    assert stored["1700000000-11"] == f"Title 11|{huge}"
    assert stored["1700000000-12"] == "Nultitle|Body with  NUL"
    assert rows(pg_url, "SELECT count(*) FROM article_revisions") == [
        (8 if path == "copy_new" else 9,)
    ]
    assert rows(pg_url, "SELECT length(body) FROM article_revisions WHERE article_id = %s",
                ("1700000000-11",)) == [(len(huge),)]  # fmt: skip


@pytest.mark.postgres
@pytest.mark.parametrize("path", ["copy_new", "upsert", "seen_again"])
def test_texts_written_unchecked_are_checked_again_when_the_write_fails(pg_url, path):
    """A batch goes with its texts unchecked (the COPY encodes them, the server verifies
    them); a NUL, a lone surrogate or a value that is not text fails it, and it is written
    again checked: the NUL stripped, the surrogate rejected, the number stored as text. On
    every write path, the narrow update of unchanged re-crawls included (a NUL in the URL)."""
    url_with_nul = {**article(7), "url": "https://kcnawatch.org/newstream/\x00x/"}
    items = [
        article(1),
        {**article(2), "title": "lone \ud800 surrogate"},
        article(3, body="a\x00b"),
        {**article(4), "source": 5},
        url_with_nul,
    ]

    async def go() -> Any:
        async with await ArchiveStore.open(pg_url) as store:
            if path == "upsert":
                await store.upsert_articles([article(99)], "run-0")
                items.append(article(99, minutes=5))  # a known article: the batch is upserted
            if path == "seen_again":
                first = await store.upsert_articles(items, "run-0")
                assert first.articles_added == 4
                return await store.upsert_articles(
                    [{**item, "crawled_at": at(60)} for item in items], "run-1"
                )
            return await store.upsert_articles(items, "run-1")

    result = run(go)
    assert [(item["article_id"], reason) for item, reason in result.rejected] == [
        ("1700000000-2", "invalid_unicode_title")
    ]
    assert result.articles_seen == (5 if path == "upsert" else 4)
    assert result.nul_stripped == 2  # the body of 3, the URL of 7
    stored = rows(pg_url, "SELECT article_id, url, body, source FROM articles ORDER BY 1")
    assert [row[0] for row in stored] == [f"1700000000-{n}" for n in (1, 3, 4, 7)] + (
        ["1700000000-99"] if path == "upsert" else []
    )
    by_id = {row[0]: row[1:] for row in stored}
    assert by_id["1700000000-3"][1] == "ab"
    assert by_id["1700000000-4"][2] == "5"
    assert by_id["1700000000-7"][0] == "https://kcnawatch.org/newstream/x/"
    if path == "seen_again":  # re-seen, not changed: one revision each, sighting moved
        assert rows(pg_url, "SELECT count(*), min(last_seen_at) FROM articles") == [
            (4, T0 + timedelta(minutes=60))
        ]
        assert rows(pg_url, "SELECT count(*) FROM article_revisions") == [(4,)]


@pytest.mark.postgres
def test_items_that_cannot_be_stored_come_back_with_a_reason(pg_url):
    items = [article(1), {**article(2), "article_id": ""}, {**article(3), "crawled_at": "nope"}]

    async def go() -> Any:
        async with await ArchiveStore.open(pg_url) as store:
            return await store.upsert_articles(items, "run-1")

    result = run(go)
    assert result.articles_added == 1
    assert sorted(reason for _, reason in result.rejected) == [
        "bad_crawled_at",
        "missing_article_id",
    ]


# --- concurrency ------------------------------------------------------------------------------


@pytest.mark.postgres
def test_concurrent_writers_never_duplicate_or_lose_a_row(pg_url):
    """Two crawls at once: overlapping articles, shuffled batches, some contents changed."""
    versions = {n: [article(n, minutes=0)] for n in range(300)}
    for n in range(0, 300, 3):
        versions[n].append(article(n, body="Edited.", minutes=30))
    batches = [
        [item for n in sorted(versions) for item in versions[n][:1]],
        [item for n in sorted(versions) for item in versions[n][-1:]],
    ]

    async def writer(items: list[dict], run_id: str, seed: int) -> None:
        items = items[:]
        random.Random(seed).shuffle(items)
        async with await ArchiveStore.open(pg_url) as store:
            for start in range(0, len(items), 25):
                await store.upsert_articles(items[start : start + 25], run_id)

    async def go() -> None:
        await asyncio.gather(
            writer(batches[0], "run-a", 1),
            writer(batches[1], "run-b", 2),
            writer(batches[0] + batches[1], "run-c", 3),
        )

    run(go)
    assert rows(pg_url, "SELECT count(*), count(DISTINCT article_id) FROM articles") == [(300, 300)]
    assert rows(pg_url, "SELECT count(*) FROM article_revisions") == [(400,)]
    assert rows(
        pg_url,
        "SELECT count(*) FROM articles a WHERE revision_count <>"
        " (SELECT count(*) FROM article_revisions r WHERE r.article_id = a.article_id)",
    ) == [(0,)]
    assert rows(pg_url, "SELECT count(*) FROM articles WHERE body = 'Edited.'") == [(100,)]


@pytest.mark.postgres
def test_a_new_article_stored_meanwhile_by_another_writer_falls_back_to_the_upsert(
    pg_url, monkeypatch
):
    """The COPY path is chosen when no article of the batch is archived; if another writer
    commits one of them before our COPY does, ours fails on the key and is upserted."""
    import threading

    other = psycopg.connect(pg_url)
    other.execute(  # the base tables of schema 0002 (``articles`` is a view)
        "INSERT INTO revisions (article_id, content_hash, title, body, first_seen_at,"
        " last_seen_at, first_run_id, last_run_id, kind, extractor_version)"
        " VALUES (%s, %s, 'Title 1', 'Body.', %s, %s, 'other', 'other', 'first', 'v')",
        ("1700000000-1", article(1)["content_hash"], T0, T0),
    )
    other.execute(
        "INSERT INTO article_state (article_id, url, crawled_at, content_hash, first_seen_at,"
        " last_seen_at, last_changed_at, revision_count, last_run_id, extractor_version)"
        " VALUES (%s, 'u', %s, %s, %s, %s, %s, 1, 'other', 'v')",
        ("1700000000-1", T0, article(1)["content_hash"], T0, T0, T0),
    )  # not committed yet: invisible to the store's look for known articles
    threading.Timer(0.5, other.commit).start()
    paths: list[bool] = []
    original = ArchiveStore._write

    async def spy(self, batch, gones, run_id, copy_new):  # type: ignore[no-untyped-def]
        paths.append(copy_new)
        return await original(self, batch, gones, run_id, copy_new)

    monkeypatch.setattr(ArchiveStore, "_write", spy)

    async def go() -> Any:
        async with await ArchiveStore.open(pg_url) as store:
            return await store.upsert_articles(
                [article(1, minutes=10), article(2, minutes=10)], "run-1"
            )

    result = run(go)
    other.close()
    assert paths == [True, False]  # tried the COPY, hit the other writer's key, upserted
    assert (result.articles_added, result.revisions_added, result.articles_seen) == (1, 1, 2)
    assert rows(
        pg_url, "SELECT article_id, revision_count, last_run_id FROM articles ORDER BY 1"
    ) == [("1700000000-1", 1, "run-1"), ("1700000000-2", 1, "run-1")]
    assert rows(pg_url, "SELECT count(*) FROM article_revisions") == [(2,)]


# --- runs and readers -------------------------------------------------------------------------


@pytest.mark.postgres
def test_runs_and_the_readers_other_features_use(pg_url):
    started = datetime.now(UTC)
    recent = {**article(1), "published_date": datetime.now(UTC).date().isoformat()}

    async def go() -> tuple:
        async with await ArchiveStore.open(pg_url) as store:
            await store.start_run(RunRecord("run-1", "naenara", "http://x/", started))
            await store.start_run(RunRecord("run-1", "naenara", "http://x/", started))
            await store.upsert_articles([recent, article(2)], "run-1")
            await store.finish_run(
                RunRecord("run-1", "naenara", "http://x/", started, finish_reason="finished",
                          item_count=2, stats={"newsarchive/items": 2})
            )  # fmt: skip
            await store.set_run_verdict("run-1", failed=False)
            await store.finish_run(
                RunRecord("run-0", "naenara", None, started, finish_reason="shutdown")
            )
            listed = [row["article_id"] async for row in store.iter_articles()]
            return (
                await store.known_article_ids("Naenara (En)"),
                await store.known_article_ids("KCNA"),
                await store.article_ids_published_since(7),
                listed,
                await store.get_article("1700000000-2"),
            )

    known, other, recent_ids, listed, row = run(go)
    assert known == {"1700000000-1", "1700000000-2"} and other == set()
    assert recent_ids == {"1700000000-1"}
    assert listed == ["1700000000-1", "1700000000-2"]
    assert row is not None and row["title"] == "Title 2"
    assert rows(
        pg_url,
        "SELECT run_id, status, finish_reason, item_count, failed FROM crawl_runs ORDER BY 1",
    ) == [("run-0", "incomplete", "shutdown", 0, None), ("run-1", "finished", "finished", 2, False)]


# --- spill files ------------------------------------------------------------------------------


@pytest.mark.postgres
def test_spill_files_load_idempotently(pg_url, tmp_path: Path):
    path = spill.spill_path(tmp_path, "naenara", "run-9")
    started = datetime.now(UTC)
    spill.append_records(path, [spill.run_record(RunRecord("run-9", "naenara", None, started))])
    spill.append_records(path, [spill.article_record(article(n), "run-9") for n in range(5)])
    spill.append_records(path, [spill.gone_record(gone(4, 10), "run-9")])
    spill.append_records(
        path,
        [spill.run_record(RunRecord("run-9", "naenara", None, started, started, "finished", 5))],
    )
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"kind": "article", "run_id": "run-9", "item": {"url"')  # torn last line

    async def go() -> tuple:
        async with await ArchiveStore.open(pg_url) as store:
            first = await spill.load_file(store, path, batch_size=2)
            second = await spill.load_file(store, path, batch_size=3)
            return first, second

    first, second = run(go)
    assert (first.articles, first.gone, first.runs, first.unreadable_lines) == (5, 1, 2, 1)
    assert (first.result.articles_added, first.result.gone_marked) == (5, 1)
    assert (second.result.articles_added, second.result.revisions_added) == (0, 0)
    assert rows(pg_url, "SELECT count(*), count(gone_at) FROM articles") == [(5, 1)]
    assert rows(pg_url, "SELECT status, item_count FROM crawl_runs") == [("finished", 5)]
    json.loads(path.read_text(encoding="utf-8").splitlines()[1])  # readable JSON Lines


@pytest.mark.postgres
def test_the_server_helper_survives_a_kill(postgres_server: PostgresServer, pg_url):
    """The crash the mid-crawl test relies on: SIGKILL, then a restart keeps committed rows."""
    run(lambda: _write_one(pg_url))
    postgres_server.kill()
    assert not postgres_server.running
    postgres_server.start()
    assert rows(pg_url, "SELECT count(*) FROM articles") == [(1,)]


async def _write_one(url: str) -> None:
    async with await ArchiveStore.open(url) as store:
        await store.upsert_articles([article(1)], "run-1")


def test_a_spill_line_written_during_a_load_is_never_lost(tmp_path: Path):
    """A crawl still spilling while the file is loaded: its line waits for the loader's lock,
    then goes to a fresh file, not into the one just loaded and renamed."""
    import threading

    path = spill.spill_path(tmp_path, "naenara", "run-1")
    spill.append_records(path, [spill.article_record(article(1), "run-1")])
    handle = spill._open_locked(path)  # what load_file holds while it reads
    writer = threading.Thread(
        target=spill.append_records, args=(path, [spill.article_record(article(2), "run-1")])
    )
    writer.start()
    writer.join(0.3)
    assert writer.is_alive()  # waiting for the lock
    path.rename(path.with_name(path.name + spill.LOADED_SUFFIX))
    handle.close()
    writer.join(5)
    loaded = path.with_name(path.name + spill.LOADED_SUFFIX).read_text(encoding="utf-8")
    assert "1700000000-1" in loaded and "1700000000-2" not in loaded
    assert "1700000000-2" in path.read_text(encoding="utf-8")


@pytest.mark.postgres
def test_pipeline_isolates_an_item_the_server_refuses(pg_url, tmp_path, monkeypatch):
    """A batch the server refuses for its data is retried item by item: the culprit is
    rejected (counted, logged, kept in <data>/rejected/), the rest written."""
    from newsarchive.items import ArticleItem

    original = ArchiveStore.write_batch

    async def refusing(self, articles, gones, run_id):  # type: ignore[no-untyped-def]
        articles = list(articles)
        if any(item.get("title") == "poison" for item in articles):
            raise psycopg.errors.NumericValueOutOfRange("value out of range")
        return await original(self, articles, gones, run_id)

    monkeypatch.setattr(ArchiveStore, "write_batch", refusing)
    crawler, spider, pipeline = unit_pipeline(pg_url, tmp_path, "run-unit")

    async def go() -> None:
        await pipeline.open_spider()
        for n in range(5):
            item = ArticleItem(article(n, title="poison" if n == 2 else None))
            assert await pipeline.process_item(item) is item  # returned at once
        await pipeline.close_spider()
        await pipeline.spider_closed(spider, "finished")
        await pipeline.database.close()  # what engine_stopped does in a crawl

    run(go)
    stats = crawler.stats.get_stats()
    assert stats["newsarchive/db/articles_written"] == 4
    assert stats["newsarchive/db/rejected/db_22003"] == 1
    rejected = (tmp_path / "rejected" / "unit-run-unit.jsonl").read_text(encoding="utf-8")
    assert '"title": "poison"' in rejected and '"reason": "db_22003"' in rejected
    assert rows(pg_url, "SELECT count(*) FROM articles") == [(4,)]
    assert rows(pg_url, "SELECT status, item_count, db_rejected_count FROM crawl_runs") == [
        ("finished", 0, 1)
    ]


@pytest.mark.postgres
def test_a_caller_that_never_waits_still_lets_the_writers_run(pg_url, tmp_path):
    """``writer.YIELD_EVERY``: a bulk load that queues items without ever waiting (under
    ``NEWSARCHIVE_DB_MAX_PENDING``) gives the event loop a turn every 256 items, so the writers'
    answers from the server are read meanwhile; every item is archived all the same."""
    from newsarchive.db.writer import YIELD_EVERY
    from newsarchive.items import ArticleItem

    crawler, spider, pipeline = unit_pipeline(pg_url, tmp_path, "run-bulk")
    count = 3 * YIELD_EVERY

    async def go() -> int:
        await pipeline.open_spider()
        turns = 0

        async def ticker() -> None:
            nonlocal turns
            while True:
                turns += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        before = turns
        for n in range(count):  # fewer than a batch: nothing else makes put() wait
            await pipeline.process_item(ArticleItem(article(n)))
        during = turns - before
        task.cancel()
        await pipeline.close_spider()
        await pipeline.spider_closed(spider, "finished")
        await pipeline.database.close()
        return during

    assert run(go) == 3
    assert crawler.stats.get_value("newsarchive/db/articles_written") == count
    assert rows(pg_url, "SELECT count(*) FROM articles") == [(count,)]


@pytest.mark.postgres
def test_one_pool_per_run_shared_by_loader_pipeline_and_monitor_closed_once(pg_url, tmp_path):
    """The pipeline, the run monitor and the incremental loader of one crawler share one
    RunDatabase: one pool, opened on first use, closed once when the engine stops."""
    from newsarchive.extensions.monitor import RunMonitor

    crawler, spider, pipeline = unit_pipeline(pg_url, tmp_path, "run-shared")
    monitor = RunMonitor(crawler)
    database = RunDatabase.for_crawler(crawler)
    assert database is not None
    assert pipeline.database is database and monitor.database is database
    other = get_crawler(Spider, archive_settings(NEWSARCHIVE_DATABASE_URL=pg_url))
    assert RunDatabase.for_crawler(other) is not database  # one per crawler, not per process

    async def go() -> tuple[int, int]:
        assert not database.is_open  # nothing opened before a user asks
        await pipeline.open_spider()
        store = await database.store()
        assert await database.store() is store  # the loader's open_store: the same pool
        await pipeline.close_spider()
        await pipeline.spider_closed(spider, "finished")
        await monitor.spider_closed(spider, "finished")
        backends = rows(
            pg_url,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE %s "
            "AND datname = current_database() AND pid <> pg_backend_pid()",
            (RUN_APPLICATION_PREFIX + "%",),
        )[0][0]
        await crawler.signals.send_catch_log_async(signal=signals.engine_stopped)
        assert store.pool.closed and not database.is_open
        with pytest.raises(ArchiveUnavailable, match="closed"):
            await database.store()  # after the engine stopped: no second pool
        return backends, writer_count(crawler.settings)

    backends, writers = run(go)
    assert 1 <= backends <= writers + 2  # the one pool's connections (named by the run)
    assert rows(pg_url, "SELECT status, failed FROM crawl_runs WHERE run_id = 'run-shared'") == [
        ("finished", True)  # no items: the monitor's verdict, through the same pool
    ]


@pytest.mark.postgres
def test_a_backlog_is_written_in_joined_batches_and_a_crawl_that_keeps_up_in_single_ones(
    pg_url, tmp_path
):
    """Writes behind (items arrive faster than batches commit): a writer joins several batches
    in one transaction; writes that keep up commit every batch on its own. Either way every
    item is archived once."""
    from newsarchive import stats as names
    from newsarchive.db.writer import JOINED_BATCHES
    from tests.test_postgres_search import crawl

    fast = {"NEWSARCHIVE_DB_BATCH_SIZE": 5, "NEWSARCHIVE_DB_WRITERS": 2}
    backlog = [article(n) for n in range(60)]
    stats = crawl(pg_url, tmp_path, "run-1", backlog, **fast)
    assert stats[names.DB_ARTICLES_WRITTEN] == 60
    # 12 batches' worth in fewer transactions (the buffer held ten when the writers woke)
    assert 60 // (5 * JOINED_BATCHES) <= stats[names.DB_BATCHES] < 12
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM articles").fetchone() == (60,)
    trickle = [article(n) for n in range(100, 115)]
    stats = crawl(pg_url, tmp_path, "run-2", trickle, pause_every=5, **fast)
    assert stats[names.DB_ARTICLES_WRITTEN] == 15
    assert stats[names.DB_BATCHES] == 3


@pytest.mark.postgres
def test_new_articles_among_archived_ids_are_told_from_archived_ones(pg_url, monkeypatch):
    """The first look is by id range: a batch of new articles whose ids fall between archived
    ones (a crawl's batches after its first) is looked up id by id and COPYed as new, with no
    upsert; one holding an archived id is upserted."""
    paths: list[str] = []

    def spy(name: str) -> Callable[..., Any]:
        real = getattr(batches, name)

        def call(*args: Any) -> Any:
            paths.append(name)
            return real(*args)

        return call

    for name in ("copy_new", "upsert"):
        monkeypatch.setattr(batches, name, spy(name))

    async def go() -> list[tuple[int, int, int]]:
        async with await ArchiveStore.open(pg_url) as store:
            results = [
                await store.upsert_articles([article(n) for n in (1, 3)], "run-1"),
                await store.upsert_articles([article(n) for n in (0, 2, 4)], "run-2"),
                await store.upsert_articles([article(2, body="Edited."), article(5)], "run-3"),
            ]
            return [(r.articles_added, r.articles_changed, r.revisions_added) for r in results]

    assert asyncio.run(go()) == [(2, 0, 2), (3, 0, 3), (1, 1, 2)]
    assert paths == ["copy_new", "copy_new", "upsert"]
    with psycopg.connect(pg_url) as conn:
        kinds = conn.execute(
            "SELECT article_id, kind, revision_count FROM article_revisions"
            " JOIN article_state USING (article_id) ORDER BY 1, 2"
        ).fetchall()
    assert [row[0] for row in kinds] == [f"1700000000-{n}" for n in (0, 1, 2, 2, 3, 4, 5)]
    assert ("1700000000-2", "edit", 2) in kinds and ("1700000000-2", "first", 2) in kinds


@pytest.mark.postgres
def test_a_copy_of_500_to_1000_rows_goes_as_two_halves(pg_url, monkeypatch):
    """``batches.COPY_HALVED``: PostgreSQL 15's COPY costs the square of its rows up to 1,000,
    so a batch of 600 new articles is two COPYs per table, its re-crawl two sightings COPYs,
    and a batch of 1,200 (or 10) one; every row arrives either way."""
    names = {
        id(statements.COPY_REVISIONS): "revisions",
        id(statements.COPY_ARTICLE_STATE): "state",
        id(statements.COPY_SIGHTINGS): "sightings",
    }
    copies: list[list[Any]] = []  # [table, rows written] of each COPY statement
    real_copy = psycopg.AsyncCursor.copy

    @contextlib.asynccontextmanager
    async def counted(self: Any, statement: Any, *args: Any, **kwargs: Any) -> Any:
        async with real_copy(self, statement, *args, **kwargs) as copy:
            entry = [names.get(id(statement), "other"), 0]
            copies.append(entry)
            real_write = copy.write_row

            async def write_row(row: Any) -> None:
                entry[1] += 1
                await real_write(row)

            copy.write_row = write_row
            yield copy

    monkeypatch.setattr(psycopg.AsyncCursor, "copy", counted)

    async def go() -> list[int]:
        async with await ArchiveStore.open(pg_url) as store:
            first = await store.upsert_articles([article(n) for n in range(600)], "run-1")
            again = await store.upsert_articles([article(n) for n in range(600)], "run-2")
            more = await store.upsert_articles([article(n) for n in range(1000, 2200)], "run-3")
            few = await store.upsert_articles([article(n) for n in range(3000, 3010)], "run-4")
            return [r.articles_added or r.articles_seen for r in (first, again, more, few)]

    assert run(go) == [600, 600, 1200, 10]
    assert copies == [
        *[["revisions", 300]] * 2, *[["state", 300]] * 2,
        *[["sightings", 300]] * 2,
        ["revisions", 1200], ["state", 1200],
        ["revisions", 10], ["state", 10],
    ]  # fmt: skip
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM articles").fetchone() == (1810,)
        assert conn.execute("SELECT count(*) FROM article_revisions").fetchone() == (1810,)
        assert conn.execute(
            "SELECT count(*) FROM article_state WHERE last_run_id = 'run-2'"
        ).fetchone() == (600,)


@pytest.mark.postgres
def test_an_id_holding_the_separator_of_the_known_look_is_written_all_the_same(pg_url):
    """The known look joins the batch's ids by ``statements.ID_SEPARATOR``; a batch with an
    id that holds it skips the look and is upserted, which is right for any batch."""
    odd = {**article(1), "article_id": f"1700000000-1{statements.ID_SEPARATOR}x"}
    assert batches.known_params(prepare_batch(prepare_items([odd], ())[0])) is None

    async def go() -> tuple[int, int]:
        async with await ArchiveStore.open(pg_url) as store:
            first = await store.upsert_articles([odd, article(2)], "run-1")
            again = await store.upsert_articles([odd, article(2)], "run-2")
            return first.articles_added, again.articles_seen

    assert run(go) == (2, 2)
    assert rows(pg_url, "SELECT count(*) FROM article_revisions") == [(2,)]
