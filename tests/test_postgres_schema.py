"""Schema 0002 against a real PostgreSQL: the text stored once, revision kinds and extractor
versions, re-crawls that touch no revision, the upgrade of a populated 0001 archive, and the
documented queries."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from newsarchive.db import migrate
from newsarchive.db.rows import EXTRACTOR_VERSION
from newsarchive.db.store import ArchiveStore
from tests.db_items import T0, article

ROOT = Path(__file__).resolve().parents[1]
#: The columns of 0001's two tables, as researchers select them.
ARTICLE_COLUMNS_0001 = (
    "article_id, url, title, body, published_date, published_at, page_date, source, "
    "source_name, source_language, original_url, crawled_at, content_hash, first_seen_at, "
    "last_seen_at, last_changed_at, revision_count, gone_at, last_run_id"
)
REVISION_COLUMNS_0001 = (
    "article_id, content_hash, title, body, first_seen_at, last_seen_at, first_run_id, last_run_id"
)


def rows(url: str, query: str, params: Any = None) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def write(url: str, *batches: tuple[list[dict], str]) -> list:
    async def go() -> list:
        async with await ArchiveStore.open(url) as store:
            return [await store.upsert_articles(items, run_id) for items, run_id in batches]

    return asyncio.run(go())


def revisions_of(url: str, n: int) -> list[tuple]:
    return rows(
        url,
        "SELECT body, kind, extractor_version, first_seen_at, last_seen_at, first_run_id,"
        " last_run_id FROM article_revisions WHERE article_id = %s ORDER BY first_seen_at",
        (f"1700000000-{n}",),
    )


def t(minutes: int) -> Any:
    return T0 + timedelta(minutes=minutes)


# --- kinds and versions ----------------------------------------------------------------------


@pytest.mark.postgres
def test_first_edit_and_reextract_revisions_carry_the_extractor_version(pg_url):
    write(
        pg_url,
        ([article(1), {**article(2), "extractor_version": "2026.12.1"}], "run-1"),
        ([article(1, body="Edited.", minutes=10)], "run-2"),
        ([{**article(2, body="Cleaner.", minutes=20), "revision_kind": "reextract",
           "extractor_version": "2026.12.2"}], "run-3"),
    )  # fmt: skip
    assert revisions_of(pg_url, 1) == [
        ("Body.", "first", EXTRACTOR_VERSION, t(0), t(0), "run-1", "run-1"),
        ("Edited.", "edit", EXTRACTOR_VERSION, t(10), t(10), "run-2", "run-2"),
    ]
    assert revisions_of(pg_url, 2) == [
        ("Body.", "first", "2026.12.1", t(0), t(0), "run-1", "run-1"),
        ("Cleaner.", "reextract", "2026.12.2", t(20), t(20), "run-3", "run-3"),
    ]
    # The article shows its current text and the version that extracted its latest sighting.
    assert rows(pg_url, "SELECT body, extractor_version FROM articles ORDER BY 1") == [
        ("Cleaner.", "2026.12.2"),
        ("Edited.", EXTRACTOR_VERSION),
    ]
    # A re-extraction that finds the text unchanged adds nothing.
    (again,) = write(pg_url, ([{**article(2, body="Cleaner.", minutes=30),
                                "revision_kind": "reextract"}], "run-4"))  # fmt: skip
    assert again.revisions_added == 0 and len(revisions_of(pg_url, 2)) == 2
    # The outlet's edits, without our own re-extractions.
    assert rows(pg_url, "SELECT article_id FROM article_revisions WHERE kind = 'edit'") == [
        ("1700000000-1",)
    ]


@pytest.mark.postgres
@pytest.mark.parametrize("path", ["copy", "upsert"])
def test_a_new_article_seen_twice_in_one_batch_gets_a_first_and_an_edit(pg_url, path):
    """Both write paths agree: the COPY of new articles and the upsert (taken when any
    article of the batch is archived already)."""
    if path == "upsert":
        write(pg_url, ([article(9)], "run-0"))
    batch = [article(1, minutes=5), article(1, body="Edited.", minutes=9), article(9, minutes=9)]
    write(pg_url, (batch, "run-1"))
    assert [(body, kind) for body, kind, *_ in revisions_of(pg_url, 1)] == [
        ("Body.", "first"),
        ("Edited.", "edit"),
    ]
    assert rows(pg_url, "SELECT body, revision_count FROM articles WHERE article_id = %s",
                ("1700000000-1",)) == [("Edited.", 2)]  # fmt: skip


@pytest.mark.postgres
def test_a_reextract_is_never_a_sighting(pg_url):
    """A re-read capture moves no last_seen_at / last_run_id, of the article or of any stored
    revision, even at the instant of the crawl's own sighting (0004)."""
    write(
        pg_url,
        ([article(1, minutes=0), article(2, minutes=0)], "run-crawl"),
        ([article(1, minutes=10), article(2, minutes=10)], "run-crawl-2"),
    )
    sighting = "SELECT article_id, first_seen_at, last_seen_at, last_run_id FROM {} ORDER BY 1"
    state_before = rows(pg_url, sighting.format("article_state"))
    revisions_before = rows(pg_url, sighting.format("article_revisions"))
    reextracted = [
        # article 1: the same text from the capture of the latest sighting (same instant);
        {**article(1, minutes=10), "revision_kind": "reextract", "extractor_version": "x.2"},
        # article 2: a cleaner text from the first capture
        {**article(2, body="Cleaner.", minutes=0), "revision_kind": "reextract"},
    ]
    write(pg_url, (reextracted, "run-reextract"), (reextracted[:1], "run-reextract-2"))
    assert rows(pg_url, sighting.format("article_state")) == state_before
    assert sorted(rows(pg_url, sighting.format("article_revisions"))) == sorted(
        [*revisions_before, ("1700000000-2", t(0), t(0), "run-reextract")]
    )
    # ... while the re-extraction itself is recorded: the version, the new revision's kind.
    assert rows(pg_url, "SELECT article_id, extractor_version FROM articles ORDER BY 1")[0] == (
        "1700000000-1", "x.2")  # fmt: skip
    assert [kind for _, kind, *_ in revisions_of(pg_url, 2)] == ["first", "reextract"]
    assert rows(pg_url, "SELECT body FROM articles WHERE article_id = '1700000000-2'") == [
        ("Body.",)  # the capture read again is older than the article's text: not its head
    ]
    # A crawl after it is a sighting again.
    write(pg_url, ([article(1, minutes=20)], "run-crawl-3"))
    assert rows(pg_url, "SELECT last_seen_at, last_run_id FROM articles ORDER BY article_id")[
        0] == (t(20), "run-crawl-3")  # fmt: skip


@pytest.mark.postgres
def test_an_unverified_change_is_stored_as_such(pg_url):
    write(
        pg_url,
        ([article(1)], "run-1"),
        ([{**article(1, body="Changed.", minutes=5), "revision_kind": "unverified"}], "run-2"),
    )
    assert [kind for _, kind, *_ in revisions_of(pg_url, 1)] == ["first", "unverified"]
    assert rows(pg_url, "SELECT count(*) FROM article_revisions WHERE kind = 'edit'") == [(0,)]


@pytest.mark.postgres
def test_a_recrawl_with_the_same_text_but_other_fields_updates_them(pg_url):
    """The narrow re-crawl path takes only articles whose state is unchanged too: a new
    extractor version, source label or date with the same text still reaches the row."""
    write(pg_url, ([article(1), article(2)], "run-1"))
    later = [
        {**article(1, minutes=30), "extractor_version": "2099.1.1", "source": "KCNA"},
        article(2, minutes=30),
    ]
    (result,) = write(pg_url, (later, "run-2"))
    assert (result.articles_seen, result.revisions_added) == (2, 0)
    assert rows(
        pg_url,
        "SELECT article_id, source, extractor_version, crawled_at, last_seen_at, last_run_id,"
        " revision_count FROM articles ORDER BY 1",
    ) == [
        ("1700000000-1", "KCNA", "2099.1.1", t(30), t(30), "run-2", 1),
        ("1700000000-2", "Naenara (En)", EXTRACTOR_VERSION, t(30), t(30), "run-2", 1),
    ]


@pytest.mark.postgres
def test_a_bad_revision_kind_is_rejected(pg_url):
    (result,) = write(pg_url, ([{**article(1), "revision_kind": "first"}], "run-1"))
    assert [reason for _, reason in result.rejected] == ["bad_revision_kind"]
    assert rows(pg_url, "SELECT count(*) FROM revisions") == [(0,)]


# --- the text once, and re-crawls ------------------------------------------------------------


@pytest.mark.postgres
def test_the_text_lives_in_revisions_only(pg_url):
    write(pg_url, ([article(1)], "run-1"))
    columns = {
        name
        for (name,) in rows(
            pg_url,
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s",
            ("article_state",),
        )
    }
    assert {"title", "body"}.isdisjoint(columns) and "content_hash" in columns
    # The article points at its current revision; the documented check finds a broken pointer
    # (not a declared foreign key: docs/POSTGRES.md says what one would cost).
    assert integrity_problems(pg_url) == []
    with psycopg.connect(pg_url) as conn:
        conn.execute("UPDATE article_state SET content_hash = %s", ("0" * 64,))
        problems = conn.execute(integrity_check()).fetchall()
        conn.rollback()
    assert ("current content without revision", "1700000000-1") in problems
    # Events must name an archived article.
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        rows(pg_url, "INSERT INTO article_events VALUES ('nope', 'gone', now(), 'r', 410)")
    assert rows(pg_url, "SELECT table_name, table_type FROM information_schema.tables"
                " WHERE table_name IN ('articles', 'article_revisions') ORDER BY 1") == [
        ("article_revisions", "VIEW"), ("articles", "VIEW")]  # fmt: skip


@pytest.mark.postgres
def test_a_recrawl_of_unchanged_text_touches_no_revision(pg_url):
    write(pg_url, ([article(n) for n in range(5)], "run-1"))
    # ctid and xmin change with every write of a row, even one that sets the same values.
    physical = "SELECT article_id, ctid::text, xmin::text FROM revisions ORDER BY 1"
    before = rows(pg_url, physical)
    (same,) = write(pg_url, ([article(n, minutes=60) for n in range(5)], "run-2"))
    assert (same.revisions_added, same.articles_seen) == (0, 5)
    assert rows(pg_url, physical) == before
    # ... and yet the revisions read as seen again, by the later run.
    assert rows(pg_url, "SELECT DISTINCT last_seen_at, last_run_id FROM article_revisions") == [
        (t(60), "run-2")
    ]


@pytest.mark.postgres
def test_a_recrawl_of_every_article_updates_each_state_row_on_its_own_page(pg_url):
    """0005: with half of each page of article_state free, a re-crawl that sees every
    article again moves none of their rows to another page (the update is HOT: no index
    entry is added), however full the page was written."""
    write(pg_url, *[([article(n) for n in range(k, k + 100)], "run-1") for k in (0, 100, 200)])
    block = "SELECT article_id, (ctid::text::point)[0] FROM article_state ORDER BY 1"
    before = rows(pg_url, block)
    assert len({page for _, page in before}) > 5  # many full pages, not one
    for minutes, run_id in ((60, "run-2"), (120, "run-3")):
        later = [article(n, minutes=minutes) for n in range(300)]
        results = write(pg_url, *[(later[k : k + 100], run_id) for k in (0, 100, 200)])
        assert sum(result.articles_seen for result in results) == 300
        assert rows(pg_url, block) == before
    assert rows(pg_url, "SELECT DISTINCT last_seen_at FROM articles") == [(t(120),)]


@pytest.mark.postgres
def test_published_ranges_are_found_by_the_brin_index_summarized_or_not(pg_url):
    """0006: ``published_date`` is indexed by BRIN, a date range is read through it, and it
    answers the same as a scan of the table before autovacuum has summarized the ranges
    written last (they are read whole) and after."""
    dated = []
    for n in range(2000):  # a day per ten articles, in id order, as a crawl writes them
        item = article(n)
        item["published_date"] = (T0.date() - timedelta(days=200 - n // 10)).isoformat()
        dated.append(item)
    write(pg_url, *[(dated[k : k + 500], "run-1") for k in range(0, 2000, 500)])
    method = "SELECT amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE relname = %s"
    assert rows(pg_url, method, ("article_state_published_date_idx",)) == [("brin",)]
    query = "SELECT article_id FROM article_state WHERE published_date BETWEEN %s AND %s ORDER BY 1"
    days = (T0.date() - timedelta(days=120), T0.date() - timedelta(days=101))
    with psycopg.connect(pg_url) as conn:
        conn.execute("SET enable_bitmapscan = off")  # the table scanned: the reference
        expected = conn.execute(query, days).fetchall()
    assert len(expected) == 200

    def through_the_index() -> list[tuple]:
        with psycopg.connect(pg_url) as conn:
            conn.execute("SET enable_seqscan = off")
            plan = conn.execute("EXPLAIN (FORMAT JSON) " + query, days).fetchone()[0]
            assert "Bitmap Index Scan" in str(plan)
            assert "article_state_published_date_idx" in str(plan)
            return conn.execute(query, days).fetchall()

    assert through_the_index() == expected  # the last ranges not summarized yet
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("SELECT brin_summarize_new_values('article_state_published_date_idx')")
    assert through_the_index() == expected


@pytest.mark.postgres
def test_a_replaced_head_keeps_its_last_sighting_and_a_revert_moves_it_again(pg_url):
    write(
        pg_url,
        ([article(1, minutes=0)], "run-1"),
        ([article(1, minutes=30)], "run-2"),  # same text again: only the article row moves
        ([article(1, body="Edited.", minutes=60)], "run-3"),
        ([article(1, body="Edited.", minutes=90)], "run-4"),
        ([article(1, minutes=120)], "run-5"),  # reverted to the first text
    )
    assert [(body, kind, first, last, first_run, last_run)
            for body, kind, _, first, last, first_run, last_run in revisions_of(pg_url, 1)] == [
        ("Body.", "first", t(0), t(120), "run-1", "run-5"),
        ("Edited.", "edit", t(60), t(90), "run-3", "run-4"),
    ]  # fmt: skip
    # An older sighting replayed late (a spill file) moves nothing it should not.
    write(pg_url, ([article(1, body="Edited.", minutes=45)], "run-late"))
    seen = [(first, last, run) for _, _, _, first, last, run, _ in revisions_of(pg_url, 1)]
    assert seen == [(t(0), t(120), "run-1"), (t(45), t(90), "run-late")]
    assert rows(pg_url, "SELECT body, revision_count FROM articles") == [("Body.", 2)]


# --- the upgrade from 0001 -------------------------------------------------------------------


def build_0001_archive(url: str) -> None:
    """A populated archive as schema 0001 held it: 60 articles with one to three revisions,
    deletions and a reappearance, written as the 0001 store wrote them (the article row holds
    the text of its latest revision), and one article row whose revision is missing."""

    async def apply_0001() -> None:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await migrate.migrate(conn, migrate.load_migrations()[:1])

    asyncio.run(apply_0001())
    with psycopg.connect(url) as conn:
        for n in range(60):
            versions = [article(n, body=f"Body {n} v{v}.") for v in range(n % 3 + 1)]
            for v, item in enumerate(versions):
                conn.execute(
                    f"INSERT INTO article_revisions ({REVISION_COLUMNS_0001})"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    (item["article_id"], item["content_hash"], item["title"], item["body"],
                     t(100 * v), t(100 * v + 50), f"run-{v}", f"run-{v}"),
                )  # fmt: skip
            latest = versions[-1]
            gone = t(1000) if n % 7 == 0 else None
            conn.execute(
                f"INSERT INTO articles ({ARTICLE_COLUMNS_0001}) VALUES"
                " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (latest["article_id"], latest["url"], latest["title"], latest["body"],
                 latest["published_date"], latest["published_at"], latest["page_date"],
                 latest["source"], latest["source_name"], latest["source_language"],
                 latest["original_url"], t(100 * (len(versions) - 1) + 50),
                 latest["content_hash"], t(0), t(100 * (len(versions) - 1) + 50),
                 t(100 * (len(versions) - 1)), len(versions), gone,
                 f"run-{len(versions) - 1}"),
            )  # fmt: skip
            if gone:
                conn.execute(
                    "INSERT INTO article_events VALUES (%s, 'gone', %s, 'run-9', 410)",
                    (latest["article_id"], gone),
                )
        conn.execute(
            "INSERT INTO article_events VALUES ('1700000000-1', 'returned', %s, 'run-8', NULL)",
            (t(900),),
        )
        damaged = article(99, body="Only in the article row.")
        conn.execute(
            f"INSERT INTO articles ({ARTICLE_COLUMNS_0001}) VALUES"
            " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 1, NULL, 'run-0')",
            (damaged["article_id"], damaged["url"], damaged["title"], damaged["body"],
             damaged["published_date"], damaged["published_at"], damaged["page_date"],
             damaged["source"], damaged["source_name"], damaged["source_language"], None,
             t(10), damaged["content_hash"], t(10), t(10), t(10)),
        )  # fmt: skip
        conn.execute(
            "INSERT INTO crawl_runs (run_id, spider, started_at) VALUES ('run-0', 'naenara', %s)",
            (t(0),),
        )


@pytest.mark.postgres
def test_0002_upgrades_a_populated_0001_archive_keeping_every_revision(pg_empty_url):
    url = pg_empty_url
    build_0001_archive(url)
    revisions_query = f"SELECT {REVISION_COLUMNS_0001} FROM article_revisions ORDER BY 1, 2"
    articles_query = f"SELECT {ARTICLE_COLUMNS_0001} FROM articles ORDER BY 1"
    revisions_before, articles_before = rows(url, revisions_query), rows(url, articles_query)
    events_before = rows(url, "SELECT * FROM article_events ORDER BY 1, 2, 3")
    assert len(revisions_before) == 120

    async def upgrade() -> list:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            return await migrate.migrate(conn, migrate.load_migrations()[:2])

    assert [m.label for m in asyncio.run(upgrade())] == ["0002_text_once"]
    damaged_id = "1700000000-99"
    damaged = article(99, body="Only in the article row.")
    revisions_after = rows(url, revisions_query)
    assert [r for r in revisions_after if r[0] != damaged_id] == revisions_before
    assert [r[:4] for r in revisions_after if r[0] == damaged_id] == [
        (damaged_id, damaged["content_hash"], damaged["title"], damaged["body"])
    ]
    assert rows(url, articles_query) == articles_before
    assert rows(url, "SELECT * FROM article_events ORDER BY 1, 2, 3") == events_before
    # Kinds: each article's earliest revision is its first, the later ones edits.
    kinds = rows(
        url,
        "SELECT article_id, kind, extractor_version FROM article_revisions"
        " ORDER BY article_id, first_seen_at",
    )
    for n in range(60):
        mine = [(kind, version) for aid, kind, version in kinds if aid == f"1700000000-{n}"]
        assert mine == [("first", "unknown-0001")] + [("edit", "unknown-0001")] * (n % 3)
    # The archive keeps working on the new layout (with the migrations after 0002 applied too):
    # an edit of an upgraded article.

    async def the_rest() -> list:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            return await migrate.migrate(conn)

    assert [m.label for m in asyncio.run(the_rest())] == [
        m.label for m in migrate.load_migrations()[2:]
    ]
    assert rows(url, revisions_query) == revisions_after
    write(url, ([article(2, body="Body 2 v3.", minutes=500)], "run-after"))
    assert [(body, kind) for body, kind, *_ in revisions_of(url, 2)] == [
        ("Body 2 v0.", "first"), ("Body 2 v1.", "edit"), ("Body 2 v2.", "edit"),
        ("Body 2 v3.", "edit")]  # fmt: skip
    assert rows(url, "SELECT revision_count, body FROM articles WHERE article_id = %s",
                ("1700000000-2",)) == [(4, "Body 2 v3.")]  # fmt: skip
    assert integrity_problems(url) == []


# --- the documented queries ------------------------------------------------------------------


def sql_blocks(doc: Path) -> list[str]:
    return re.findall(r"```sql\n(.*?)```", doc.read_text(encoding="utf-8"), flags=re.S)


def integrity_check() -> str:
    """The doc's link check (the SQL block under "Foreign keys, few indexes")."""
    (check,) = [block for block in sql_blocks(ROOT / "docs/POSTGRES.md")
                if "revision_count mismatch" in block]  # fmt: skip
    return check


def integrity_problems(url: str) -> list[tuple]:
    return rows(url, integrity_check())


@pytest.mark.postgres
@pytest.mark.parametrize("doc", ["docs/POSTGRES.md", "docs/DATA.md"])
def test_every_documented_query_runs_on_an_upgraded_archive(pg_empty_url, doc):
    url = pg_empty_url
    build_0001_archive(url)

    async def upgrade() -> None:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await migrate.migrate(conn)

    asyncio.run(upgrade())
    write(
        url,
        ([article(1, body="Body 1 v1.", minutes=2000)], "run-a"),
        ([{**article(3, body="Re-extracted.", minutes=2000), "revision_kind": "reextract"}],
         "run-b"),
    )  # fmt: skip
    blocks = sql_blocks(ROOT / doc)
    if doc == "docs/POSTGRES.md":
        assert len(blocks) >= 8
    with psycopg.connect(url) as conn:
        for block in blocks:
            conn.execute(block).fetchall()  # raises on any error
    assert integrity_problems(url) == []
