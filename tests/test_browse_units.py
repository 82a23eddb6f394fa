"""The pieces of the researchers' view that need no server: the word diff and the snapshot
check (tests/test_browse.py runs the whole of it in a browser)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import xml.etree.ElementTree as ET

import pytest

from newsarchive.browse.app import build_datasette
from newsarchive.browse.diff import PARAGRAPH_BREAK, Segment, changed_words, word_diff
from newsarchive.snapshot import SNAPSHOT_NAME, SnapshotError, SnapshotWriter, check_snapshot


def test_word_diff_marks_inserted_deleted_and_replaced_words():
    segments = word_diff("The harvest was rich.", "The harvest was very rich, officials said.")
    assert segments == [
        Segment("same", "The harvest was"),
        Segment("same", " "),
        Segment("delete", "rich."),
        Segment("same", " "),
        Segment("insert", "very rich, officials said."),
    ]
    assert changed_words(segments) == (4, 1)


def test_word_diff_keeps_paragraphs_and_reads_back_as_the_new_text():
    old = "First paragraph.\n\nSecond paragraph."
    new = "First paragraph.\n\nA new paragraph.\n\nSecond paragraph."
    segments = word_diff(old, new)
    assert [s for s in segments if s.op != "same"] == [Segment("insert", "A new paragraph.")]
    assert "".join(s.text for s in segments if s.op != "delete") == new
    # A removed paragraph leaves its two breaks behind when the marks are dropped.
    kept = "".join(s.text for s in word_diff(new, old) if s.op != "delete")
    assert re.sub(r"\n{3,}", PARAGRAPH_BREAK, kept) == old
    assert word_diff(None, "x") == [Segment("insert", "x")]
    unchanged = word_diff("same\n\n\n\ntext", f"same{PARAGRAPH_BREAK}text")
    assert {s.op for s in unchanged} == {"same"}
    assert "".join(s.text for s in unchanged) == f"same{PARAGRAPH_BREAK}text"


def test_word_diff_leaves_markup_as_plain_text():
    (segment,) = word_diff("", "<script>alert(1)</script>")
    assert segment == Segment("insert", "<script>alert(1)</script>")  # escaped by the template


def write_snapshot(folder) -> SnapshotWriter:
    writer = SnapshotWriter(folder, batch_size=2)
    article = {
        "article_id": "1-2", "url": "u", "title": "Title", "body": "Body", "crawled_at": "t",
        "content_hash": "h", "first_seen_at": "t", "last_seen_at": "t", "last_changed_at": "t",
        "revision_count": 1, "last_run_id": "r",
    }  # fmt: skip
    assert writer.write("articles", iter([article] * 1)) == 1
    writer.write("runs", [{"run_id": "r", "spider": "s", "started_at": "t", "status": "x",
                            "failed": False, "stats": {"a": 1}}])  # fmt: skip
    writer.commit({"archive_schema_version": "0001"})
    return writer


def test_snapshot_writer_renames_into_place_and_check_accepts_it(tmp_path):
    writer = write_snapshot(tmp_path)
    assert writer.path == tmp_path / SNAPSHOT_NAME and not writer.part.exists()
    assert writer.run_ids == {"r"}
    info = check_snapshot(writer.path)
    assert info["schema_version"] == "1" and info["archive_schema_version"] == "0001"
    with sqlite3.connect(writer.path) as db:
        assert db.execute("SELECT failed, stats FROM runs").fetchone() == (0, '{"a": 1}')
        hit = db.execute("SELECT rowid FROM articles_fts WHERE articles_fts MATCH 'body'")
        assert hit.fetchall() == [(1,)]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("missing", "no snapshot at"),
        ("garbage", "not a readable SQLite snapshot"),
        ("plain", "not a newsarchive snapshot"),
        ("no_info", "older schema"),
        ("newer", r"another schema \(2"),
        ("no_view", "incomplete: no changes"),
    ],
)
def test_check_snapshot_refuses_in_one_line(tmp_path, damage, message):
    path = write_snapshot(tmp_path).path
    with sqlite3.connect(path) as db:
        if damage == "no_info":
            db.execute("DROP TABLE snapshot_info")
        elif damage == "newer":
            db.execute("UPDATE snapshot_info SET value = '2' WHERE key = 'schema_version'")
        elif damage == "no_view":
            db.execute("DROP VIEW changes")
    db.close()
    if damage == "missing":
        path.unlink()
    elif damage == "garbage":
        path.write_bytes(b"\0garbage" * 1000)
    elif damage == "plain":
        path.unlink()
        sqlite3.connect(path).execute("CREATE TABLE other (x)").connection.commit()
    with pytest.raises(SnapshotError, match=message) as raised:
        check_snapshot(path)
    assert "\n" not in str(raised.value)


def test_an_archive_without_changes_has_an_empty_feed_not_an_error(tmp_path):
    """datasette-atom answers 500 here; our renderer gives an empty, valid feed."""
    datasette = build_datasette(write_snapshot(tmp_path).path)

    async def get(path: str):
        return await datasette.client.get(path)

    answer = asyncio.run(get("/archive/changes_feed.atom"))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(answer.text)
    atom = "{http://www.w3.org/2005/Atom}"
    assert feed.findall(f"{atom}entry") == []
    assert feed.findtext(f"{atom}title") == "newsarchive: edits and deletions"
    info = check_snapshot(tmp_path / SNAPSHOT_NAME)
    assert feed.findtext(f"{atom}updated")[:19] == info["created_at"][:19]  # when it was taken
