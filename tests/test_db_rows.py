"""What the archive accepts, decided before any SQL: row typing, NUL and Unicode checks,
rejections, batch collapsing, run records, one-line errors. No server, no driver."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import pytest

from newsarchive.db import migrate
from newsarchive.db.errors import error_line, one_line_error
from newsarchive.db.prepared import as_columns, prepare_batch, prepare_items
from newsarchive.db.records import BatchResult, RunRecord
from newsarchive.db.rows import (
    ARTICLE_FIELDS,
    NOT_ARTICLE_COLUMNS,
    Rejected,
    prepare_article,
    prepare_gone,
    typed_columns,
)
from newsarchive.db.spill import dumps_record
from newsarchive.items import ARTICLE_FIELDS as ITEM_FIELDS
from tests.crawling import ROOT
from tests.db_items import T0, article, at


def test_every_item_field_has_a_column_or_a_documented_home():
    """A field added to the item needs a migration (and ARTICLE_FIELDS in the rows), or the
    archive would silently drop it; ``run_id`` is ``articles.last_run_id``. Since 0002
    ``articles`` is a view: its select list names every column."""
    assert {"run_id", "revision_kind"} == NOT_ARTICLE_COLUMNS  # revision_kind: revisions.kind
    assert set(ITEM_FIELDS) - set(ARTICLE_FIELDS) <= NOT_ARTICLE_COLUMNS
    view = migrate.load_migrations()[1].sql.split("CREATE VIEW articles AS")[1].split("FROM")[0]
    columns = {name.strip().split(".")[-1] for name in view.replace("SELECT", "").split(",")}
    assert set(ARTICLE_FIELDS) <= columns


def test_nul_is_stripped_and_bad_values_rejected_before_sql():
    row = prepare_article(article(1, body="a\x00b"))
    assert row["body"] == "ab" and row.nul_stripped
    assert row["content_hash"] == article(1, body="a\x00b")["content_hash"]  # the crawler's own
    for broken, reason in [
        ({"article_id": None}, "missing_article_id"),
        ({"crawled_at": "yesterday"}, "bad_crawled_at"),
        ({"published_date": "13/04/2024"}, "bad_published_date"),
        ({"title": "lone \ud800 surrogate"}, "invalid_unicode_title"),
        ({"content_hash": "DROP TABLE"}, "bad_content_hash"),
    ]:
        with pytest.raises(ValueError) as info:
            prepare_article({**article(1), **broken})
        assert info.value.reason == reason  # type: ignore[attr-defined]


def test_rows_are_typed_and_a_missing_hash_is_computed_the_crawlers_way():
    item = article(1)
    row = prepare_article({**item, "content_hash": None, "crawled_at": "2026-01-01T00:00:00"})
    assert row["content_hash"] == item["content_hash"]
    assert row["published_date"] == date(2026, 1, 1)
    assert row["crawled_at"] == T0  # a naive instant is read as UTC, not dropped
    assert row["published_at"].tzinfo is not None
    assert not row.nul_stripped
    assert row["title"] == "Title 1" and row.values[ARTICLE_FIELDS.index("url")] == item["url"]
    with pytest.raises(Rejected) as info:
        prepare_article({**item, "page_date": datetime(2026, 1, 1, tzinfo=UTC)})
    assert info.value.reason == "bad_page_date"  # a date field holding an instant


def test_a_content_hash_is_accepted_exactly_as_the_sha256_pattern_accepts_it():
    """The fast check (64 lower hex digits) accepts nothing the pattern refuses, and the
    pattern still decides the rest: a final newline passes as before, capitals do not."""
    good = article(1)["content_hash"]
    for value, accepted in [
        (good, True),
        (good + "\n", True),  # ``$`` matches before a final newline
        (good.upper(), False),
        (good[:-1], False),
        (good[:-1] + "g", False),
        (good + "0", False),
        (" " + good[1:], False),
    ]:
        item = {**article(1), "content_hash": value}
        if accepted:
            assert prepare_article(item)["content_hash"] == value
        else:
            with pytest.raises(Rejected) as info:
                prepare_article(item)
            assert info.value.reason == "bad_content_hash"
    with pytest.raises(TypeError):  # unchecked: a hash that is not text fails as before
        prepare_article({**article(1), "content_hash": 12}, check_text=False)
    with pytest.raises(Rejected):  # checked: it is read as text, and refused
        prepare_article({**article(1), "content_hash": 12})


def _one_by_one(items: list[dict]) -> list[tuple]:
    """What ``prepare_article(check_text=False)`` makes of each item: values and kind hint, or
    the rejection's reason."""
    out: list[tuple] = []
    for item in items:
        try:
            row = prepare_article(item, check_text=False)
        except Rejected as exc:
            out.append(("rejected", exc.reason))
        else:
            out.append((row.values, row.revision_kind, row.nul_stripped))
    return out


def _as_prepared(items: list[dict]) -> list[tuple]:
    rows, _, result = prepare_items(items, (), check_text=False)
    return [(row.values, row.revision_kind, row.nul_stripped) for row in rows] + [
        ("rejected", reason) for _, reason in result.rejected
    ]


USUAL_BATCHES = {
    "plain": {},
    "no published_at": {"published_at": None},
    "empty page_date": {"page_date": ""},
    "an offset kept": {"crawled_at": "2026-01-01T09:00:00+09:00"},
    "a version": {"extractor_version": "2026.1"},
    "a kind hint": {"revision_kind": "reextract"},
    "text unchecked": {"body": "a\x00b"},
}


@pytest.mark.parametrize("change", USUAL_BATCHES.values(), ids=USUAL_BATCHES.keys())
def test_a_usual_batch_is_typed_a_column_at_a_time_as_item_by_item(change):
    items = [article(1), {**article(2), **change}, article(3, minutes=4)]
    assert typed_columns(items) is not None  # the column path took it
    assert _as_prepared(items) == _one_by_one(items)


UNUSUAL_ITEMS = {
    "a bad date": {"published_date": "13/04/2024"},
    "a date object": {"published_date": date(2026, 1, 1)},
    "a falsy non-date": {"page_date": 0},
    "a naive time": {"crawled_at": "2026-01-01T00:00:00"},
    "a datetime": {"published_at": datetime(2026, 1, 1, tzinfo=UTC)},
    "capitals in the hash": {"content_hash": article(2)["content_hash"].upper()},
    "a short hash": {"content_hash": article(2)["content_hash"][:-1]},
    "spaces in the hash": {"content_hash": " " + article(2)["content_hash"][1:]},
    "no hash": {"content_hash": None},
    "no url": {"url": ""},
    "a bad kind": {"revision_kind": "rewrite"},
}


@pytest.mark.parametrize("change", UNUSUAL_ITEMS.values(), ids=UNUSUAL_ITEMS.keys())
def test_an_unusual_item_sends_its_batch_item_by_item(change):
    items = [article(1), {**article(2), **change}]
    assert typed_columns(items) is None
    assert _as_prepared(items) == _one_by_one(items)


def test_hashes_of_other_lengths_that_add_up_are_still_refused():
    """63 and 65 digits join to 128: each hash's own length is checked."""
    one, two = article(1)["content_hash"], article(2)["content_hash"]
    items = [{**article(1), "content_hash": one[:-1]}, {**article(2), "content_hash": two + "0"}]
    assert typed_columns(items) is None
    assert _as_prepared(items) == [("rejected", "bad_content_hash")] * 2


def test_gone_rows_need_an_id_and_a_time_and_a_numeric_status():
    gone = prepare_gone({"article_id": "1-2", "url": "u", "status": "410", "seen_at": at(5)})
    assert (gone.article_id, gone.status, gone.seen_at) == ("1-2", 410, T0 + timedelta(minutes=5))
    for broken, reason in [
        ({"article_id": ""}, "missing_article_id"),
        ({"seen_at": None}, "missing_seen_at"),
        ({"status": "gone"}, "bad_status"),
    ]:
        with pytest.raises(Rejected) as info:
            prepare_gone({"article_id": "1-2", "seen_at": at(0), **broken})
        assert info.value.reason == reason


def test_prepare_items_keeps_rejections_counts_nuls_and_the_earliest_gone():
    good, nul, bad = article(1), article(2, body="x\x00y"), {**article(3), "crawled_at": "?"}
    gones = [
        {"article_id": "b", "seen_at": at(9)},
        {"article_id": "a", "seen_at": at(5)},
        {"article_id": "a", "seen_at": at(1)},
        {"article_id": None, "seen_at": at(1)},
    ]
    rows, gone_rows, result = prepare_items([good, nul, bad], gones)
    assert [row["article_id"] for row in rows] == ["1700000000-1", "1700000000-2"]
    assert result.nul_stripped == 1
    assert [reason for _, reason in result.rejected] == ["bad_crawled_at", "missing_article_id"]
    assert [(g.article_id, g.seen_at) for g in gone_rows] == [
        ("a", T0 + timedelta(minutes=1)),
        ("b", T0 + timedelta(minutes=9)),
    ]


def test_a_batch_collapses_to_one_staging_row_per_article_and_content():
    sightings = [
        article(1, body="Old.", minutes=0),
        article(1, body="New.", minutes=30),
        article(1, body="Old.", minutes=10),
        article(2, minutes=5),
    ]
    batch = prepare_batch(prepare_items(sightings, [])[0])
    n = len(ARTICLE_FIELDS)
    hash_at = ARTICLE_FIELDS.index("content_hash")
    by_content = {row[hash_at]: row for row in batch.staging}
    old, new = article(1, body="Old.")["content_hash"], article(1, body="New.")["content_hash"]
    assert len(batch.staging) == 3
    # content first/last seen, article first/last seen, last changed, is_current, kind hint
    assert by_content[old][n:] == (at_(0), at_(10), at_(0), at_(30), at_(30), False, None)
    assert by_content[new][n:] == (at_(30), at_(30), at_(0), at_(30), at_(30), True, None)
    assert sorted(batch.sightings) == ["1700000000-1", "1700000000-2"]
    assert as_columns([(1, "a"), (2, "b")], 2) == [[1, 2], ["a", "b"]]
    assert as_columns([], 3) == [[], [], []]


def at_(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_run_records_round_trip_through_json_and_say_their_status():
    run = RunRecord("run-1", "naenara", None, T0)
    assert run.status == "running"
    finished = RunRecord("run-1", "naenara", "http://x/", T0, T0, "finished", item_count=3)
    assert finished.status == "finished"
    assert RunRecord("r", "s", None, T0, T0, "shutdown").status == "incomplete"
    line = dumps_record({"kind": "run", "run": finished.to_json()})
    assert line.endswith("\n") and "\n" not in line[:-1]
    again = RunRecord.from_json({**finished.to_json(), "unknown_field": 1})
    assert again == finished


def test_batch_results_add_up():
    total = BatchResult(articles_added=1, nul_stripped=2, rejected=[({}, "x")])
    total.add(BatchResult(articles_added=2, gone_marked=1, rejected=[({}, "y")]))
    assert (total.articles_added, total.gone_marked, total.nul_stripped) == (3, 1, 2)
    assert [reason for _, reason in total.rejected] == ["x", "y"]


def test_driver_errors_are_one_line_without_password_or_server_prefix():
    url = "postgresql://archivist:Hunter!2@db.example.org:5433/newsarchive"
    error = RuntimeError(
        'connection failed: connection to server at "10.0.0.5", port 5433 failed: FATAL:  '
        'password authentication failed for user "archivist"\nHunter!2'
    )
    assert one_line_error(error, url) == ('password authentication failed for user "archivist" ***')
    assert error_line("cannot connect to PostgreSQL", url, error) == (
        "cannot connect to PostgreSQL at db.example.org:5433/newsarchive as archivist: "
        'password authentication failed for user "archivist" ***'
    )
    assert len(one_line_error(RuntimeError("x" * 5000), url)) == 300
    assert one_line_error(RuntimeError(""), url) == "RuntimeError"


def test_row_preparation_and_the_feeds_only_modules_never_load_the_driver():
    """psycopg is loaded only when a database is used (start-up cost, issue 13)."""
    modules = [
        "newsarchive.db.rows",
        "newsarchive.db.prepared",
        "newsarchive.db.errors",
        "newsarchive.db.urls",
        "newsarchive.db.run_database",
        "newsarchive.db.command",
        "newsarchive.pipelines.postgres",
        "newsarchive.extensions.monitor",
        "newsarchive.commands.dbmigrate",
        "newsarchive.commands.dbloadspill",
        "newsarchive.commands.export",
    ]
    code = (
        f"import sys\nfor name in {modules!r}:\n    __import__(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('psycopg', 'psycopg_pool')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
