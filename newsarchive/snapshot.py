"""The SQLite snapshot of the archive (``archive.sqlite``): what ``scrapy browse`` serves.

Why SQLite: researchers open one file with Datasette, sqlite3, pandas or R, offline, and cite
it by its sha256 (the export's manifest lists it). The snapshot holds the archive's four
tables (articles, revisions with their ``kind``, events, runs) and an FTS5 index on the
articles' title and body.

Why a writer fed by iterators of plain row dicts: the PostgreSQL side
(``newsarchive.snapshot_source``) streams from server-side cursors, and this module only
appends batches, so memory stays one batch whatever the archive's size. The file is written as
``<name>.part`` and renamed when complete: a failed export never leaves a file that looks whole.

``snapshot_info`` records the snapshot's own schema version; ``check_snapshot`` refuses a file
of another version in one line (``scrapy browse`` exits 2 on it).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from newsarchive.clock import utc_now_iso
from newsarchive.manifest import file_entry

SNAPSHOT_NAME = "archive.sqlite"
#: The snapshot's table layout; bumped when a table or column the browser reads changes.
SNAPSHOT_SCHEMA_VERSION = "1"

#: Columns of each table, in order (the writer binds row dicts by these names).
COLUMNS: dict[str, tuple[str, ...]] = {
    "articles": (
        "article_id", "url", "title", "body", "published_date", "published_year",
        "published_at", "page_date", "source", "source_name", "source_language",
        "original_url", "crawled_at", "content_hash", "first_seen_at", "last_seen_at",
        "last_changed_at", "revision_count", "gone_at", "last_run_id",
    ),
    "revisions": (
        "article_id", "revision_number", "kind", "extractor_version", "content_hash", "title",
        "body", "first_seen_at", "last_seen_at", "first_run_id", "last_run_id",
    ),
    "events": ("article_id", "event", "at", "run_id", "http_status"),
    "runs": (
        "run_id", "spider", "start_url", "started_at", "finished_at", "finish_reason",
        "status", "failed", "failure_reason", "item_count", "gone_count", "drop_count",
        "error_count", "request_count", "stats",
    ),
}  # fmt: skip

SCHEMA = """
CREATE TABLE snapshot_info (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE articles (
    article_id text NOT NULL UNIQUE, url text NOT NULL, title text, body text,
    published_date text, published_year integer, published_at text, page_date text,
    source text, source_name text, source_language text, original_url text,
    crawled_at text NOT NULL, content_hash text NOT NULL, first_seen_at text NOT NULL,
    last_seen_at text NOT NULL, last_changed_at text NOT NULL, revision_count integer NOT NULL,
    gone_at text, last_run_id text NOT NULL
);
CREATE TABLE revisions (
    article_id text NOT NULL, revision_number integer NOT NULL,
    kind text NOT NULL CHECK (kind IN ('first', 'edit', 'reextract', 'unverified')),
    extractor_version text, content_hash text NOT NULL, title text, body text,
    first_seen_at text NOT NULL, last_seen_at text NOT NULL, first_run_id text NOT NULL,
    last_run_id text NOT NULL,
    PRIMARY KEY (article_id, revision_number)
);
CREATE TABLE events (
    article_id text NOT NULL, event text NOT NULL, at text NOT NULL, run_id text NOT NULL,
    http_status integer
);
CREATE TABLE runs (
    run_id text PRIMARY KEY, spider text NOT NULL, start_url text, started_at text NOT NULL,
    finished_at text, finish_reason text, status text NOT NULL, failed integer,
    failure_reason text, item_count integer, gone_count integer, drop_count integer,
    error_count integer, request_count integer, stats text
);
-- What the outlet changed: its edits (never our re-extractions) and its deletions, one row
-- each, with the text of the change (an edit's new text, a deletion's last text seen).
CREATE VIEW changes AS
SELECT 'edit' AS change, r.first_seen_at AS at, r.article_id, r.title, a.source, a.url,
       'revision ' || r.revision_number AS detail, r.body AS text
FROM revisions r JOIN articles a USING (article_id) WHERE r.kind = 'edit'
UNION ALL
SELECT 'deletion', e.at, e.article_id, a.title, a.source, a.url,
       'HTTP ' || coalesce(e.http_status, '?'), a.body
FROM events e JOIN articles a USING (article_id) WHERE e.event = 'gone';
"""

#: Built after the rows are in: one pass each instead of an update per insert.
INDEXES = """
CREATE VIRTUAL TABLE articles_fts USING fts5(
    title, body, content='articles', content_rowid='rowid', tokenize='unicode61'
);
INSERT INTO articles_fts(articles_fts) VALUES ('rebuild');
CREATE INDEX articles_published_date_idx ON articles (published_date);
CREATE INDEX articles_gone_at_idx ON articles (gone_at) WHERE gone_at IS NOT NULL;
CREATE INDEX revisions_kind_idx ON revisions (kind, first_seen_at);
CREATE INDEX events_article_idx ON events (article_id, at);
ANALYZE;
"""


class SnapshotError(RuntimeError):
    """The snapshot cannot be read or written; ``str()`` is one line."""


def sqlite_value(value: Any) -> Any:
    """A row value as the snapshot stores it: ISO dates, UTC instants as ``…+00:00`` (like the
    feeds and the other export formats), booleans as 0/1, JSON documents as text."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value


def batches(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


class SnapshotWriter:
    """Appends rows table by table to ``<folder>/archive.sqlite.part``; ``commit`` builds the
    indexes, records ``snapshot_info`` and renames the file into place."""

    file_format = "sqlite"
    compression = None

    def __init__(self, folder: Path, batch_size: int = 2000) -> None:
        self.path = folder / SNAPSHOT_NAME
        self.part = self.path.with_name(self.path.name + ".part")
        self.batch_size = batch_size
        self.counts: dict[str, int] = dict.fromkeys(COLUMNS, 0)
        self.run_ids: set[str] = set()
        self.part.unlink(missing_ok=True)
        self.db = sqlite3.connect(self.part)
        # A scratch file until the rename: no journal, no fsync per transaction.
        self.db.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;" + SCHEMA)

    @property
    def rows(self) -> int:
        """The manifest's row count for the file: its articles."""
        return self.counts["articles"]

    def write(self, table: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Append ``rows`` (dicts keyed by column name; missing keys are null) to ``table``."""
        names = COLUMNS[table]
        statement = (
            f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        )
        written = 0
        for batch in batches(rows, self.batch_size):
            if table == "runs":
                self.run_ids.update(row["run_id"] for row in batch)
            self.db.executemany(
                statement, [tuple(sqlite_value(row.get(n)) for n in names) for row in batch]
            )
            self.db.commit()
            written += len(batch)
        self.counts[table] += written
        return written

    def commit(self, info: Mapping[str, Any]) -> Path:
        self.db.executescript(INDEXES)
        entries = {"schema_version": SNAPSHOT_SCHEMA_VERSION, "created_at": utc_now_iso(), **info}
        self.db.executemany(
            "INSERT INTO snapshot_info (key, value) VALUES (?, ?)",
            [(key, str(sqlite_value(value))) for key, value in entries.items()],
        )
        self.db.commit()
        self.db.close()
        os.replace(self.part, self.path)
        return self.path

    def manifest_entry(self, folder: Path) -> dict[str, Any]:
        """The file's manifest entry: rows are articles; every table's count beside."""
        return file_entry(
            self.path, folder, rows=self.rows, file_format=self.file_format,
            compression=self.compression, schema_version=SNAPSHOT_SCHEMA_VERSION,
            tables=dict(self.counts),
        )  # fmt: skip

    def discard(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.db.close()
        self.part.unlink(missing_ok=True)


def open_read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


def check_snapshot(path: Path) -> dict[str, str]:
    """The snapshot's ``snapshot_info``, or SnapshotError saying in one line why ``path`` is not
    a snapshot this version can serve (missing, not SQLite, corrupt, another schema)."""
    if not path.exists():
        raise SnapshotError(
            f"no snapshot at {path} (write one with `scrapy export --format sqlite`)"
        )
    if not path.is_file():
        raise SnapshotError(f"{path} is not a file")
    try:
        db = open_read_only(path)
    except sqlite3.Error as exc:
        raise SnapshotError(f"cannot open {path}: {exc}") from None
    try:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        if "snapshot_info" not in tables:
            if "articles" in tables:
                raise SnapshotError(
                    f"{path} is a snapshot of an older schema (no snapshot_info; this version "
                    f"reads schema {SNAPSHOT_SCHEMA_VERSION}): export it again"
                )
            raise SnapshotError(f"{path} is an SQLite file but not a newsarchive snapshot")
        info = dict(db.execute("SELECT key, value FROM snapshot_info").fetchall())
        version = info.get("schema_version", "")
        if version != SNAPSHOT_SCHEMA_VERSION:
            older = version.isdigit() and int(version) < int(SNAPSHOT_SCHEMA_VERSION)
            age = "an older" if older or not version else "another"
            raise SnapshotError(
                f"{path} is a snapshot of {age} schema ({version or 'unknown'}; this version "
                f"reads {SNAPSHOT_SCHEMA_VERSION}): export it again"
            )
        missing = {*COLUMNS, "articles_fts", "changes"} - tables
        if missing:
            raise SnapshotError(f"{path} is incomplete: no {', '.join(sorted(missing))} table")
        problem = db.execute("PRAGMA quick_check").fetchone()[0]
        if problem != "ok":
            raise SnapshotError(f"{path} is corrupt: {' '.join(str(problem).split())[:200]}")
    except sqlite3.DatabaseError as exc:
        raise SnapshotError(f"{path} is not a readable SQLite snapshot: {exc}") from None
    finally:
        db.close()
    return info
