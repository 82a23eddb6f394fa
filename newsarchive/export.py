"""Export the PostgreSQL archive (not a crawl) to JSON Lines, CSV, Parquet and an SQLite
snapshot (``newsarchive.snapshot``, what ``scrapy browse`` serves), with a manifest.

Why streaming: the archive grows without bound and an export must run on a small machine. Rows
come from one server-side cursor (``itersize`` rows per round trip) inside one read-only
REPEATABLE READ transaction, so every file of an export shows the same snapshot; each batch is
written to all requested formats at once and dropped, Parquet as one row group per batch with
pyarrow's ``ParquetWriter``. Memory is bounded by one batch whatever the archive's size
(``bench/bench_export.py`` measures it).

Why here and not in ``newsarchive.db.store``: the store is async, for the crawl's reactor; an
export is a command-line tool, so it uses plain synchronous psycopg. The SQL is read-only and
reads the tables of ``newsarchive/db/migrations`` as documented in docs/DATA.md.

Rows use the feed's field names and value formats (ISO dates, ISO UTC instants with
``+00:00``), so a run's feed line and the archive's row for the same fetch compare equal.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from newsarchive import config
from newsarchive.db import statements
from newsarchive.db.errors import CANNOT_CONNECT, error_line
from newsarchive.db.urls import describe_target
from newsarchive.export_folder import check_output_folder, put_in_place, staging_folder
from newsarchive.export_formats import WRITERS, Column, CsvWriter, RowWriter
from newsarchive.files import write_json_atomically
from newsarchive.items import ARTICLE_FIELDS, ARTICLE_FIELDS_VERSION
from newsarchive.manifest import MANIFEST_NAME, build_manifest, file_entry
from newsarchive.snapshot import SnapshotWriter
from newsarchive.snapshot_source import write_snapshot

if TYPE_CHECKING:
    pass

#: Formats of the rows; ``sqlite`` is the whole archive (articles, revisions, events, runs).
FORMATS = ("jsonl", "csv", "parquet", "sqlite")
DEFAULT_FORMATS = ("jsonl", "csv", "parquet")
SNAPSHOT_FORMAT = "sqlite"
#: Rows fetched per round trip and written per Parquet row group.
DEFAULT_BATCH_SIZE = 2000


class ExportError(RuntimeError):
    """The export cannot run; ``str()`` is one line (never the database password)."""


_KINDS = {
    "published_date": "date",
    "page_date": "date",
    "published_at": "instant",
    "crawled_at": "instant",
}


def _item_columns(overrides: dict[str, str]) -> list[Column]:
    """The item fields, in their documented order, from ``articles`` unless overridden."""
    return [
        Column(name, overrides.get(name, f"a.{name}"), _KINDS.get(name, "text"))
        for name in ARTICLE_FIELDS
    ]


#: One row per article: its latest version (the item fields, ``run_id`` being the run that
#: fetched it) and the archive's history of it.
ARTICLE_COLUMNS: list[Column] = [
    *_item_columns({"run_id": "a.last_run_id"}),
    Column("first_seen_at", "a.first_seen_at", "instant"),
    Column("last_seen_at", "a.last_seen_at", "instant"),
    Column("last_changed_at", "a.last_changed_at", "instant"),
    Column("revision_count", "a.revision_count", "int"),
    Column("gone_at", "a.gone_at", "instant"),
]

#: One row per stored version (revision) of each article. Title, body and content_hash are
#: the revision's; the other item fields are the article's latest; crawled_at / run_id are
#: the last fetch that saw this revision.
REVISION_COLUMNS: list[Column] = [
    *_item_columns(
        {
            "title": "r.title",
            "body": "r.body",
            "content_hash": "r.content_hash",
            "crawled_at": "r.last_seen_at",
            "run_id": "r.last_run_id",
            "extractor_version": "r.extractor_version",
        }
    ),
    # first, edit (the outlet's) or reextract (our own extraction's): docs/DATA.md
    Column("kind", "r.kind", "text"),
    Column(
        "revision_number",
        "row_number() OVER (PARTITION BY r.article_id ORDER BY r.first_seen_at, r.content_hash)",
        "int",
    ),
    Column("revision_count", "a.revision_count", "int"),
    Column("is_current", "r.content_hash = a.content_hash", "bool"),
    Column("first_seen_at", "r.first_seen_at", "instant"),
    Column("last_seen_at", "r.last_seen_at", "instant"),
    Column("first_run_id", "r.first_run_id", "text"),
    Column("last_run_id", "r.last_run_id", "text"),
    Column("gone_at", "a.gone_at", "instant"),
]

#: Columns whose values name crawl runs: the manifest lists every run an export covers.
_RUN_COLUMNS = ("run_id", "first_run_id", "last_run_id")


@dataclass(frozen=True)
class ExportFilters:
    source: str | None = None
    since: date | None = None
    until: date | None = None
    revisions: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "revisions": self.revisions,
        }


def parse_date(text: str, option: str) -> date:
    """``YYYY-MM-DD`` or ExportError naming the option."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ExportError(f"{option} {text!r} is not a date (YYYY-MM-DD)") from None


def parse_formats(text: str) -> tuple[str, ...]:
    """``jsonl,csv,parquet`` (any subset, any order) or ExportError."""
    chosen = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    unknown = [name for name in chosen if name not in FORMATS]
    if unknown or not chosen:
        raise ExportError(
            f"--format {text!r}: expected a comma-separated subset of {', '.join(FORMATS)}"
        )
    return chosen


def filter_conditions(filters: ExportFilters) -> tuple[list[sql.Composable], dict[str, Any]]:
    """The filters as conditions on ``articles a`` and their bound parameters."""
    conditions: list[sql.Composable] = []
    params: dict[str, Any] = {}
    if filters.source is not None:
        conditions.append(sql.SQL("a.source = %(source)s"))
        params["source"] = filters.source
    if filters.since is not None:
        conditions.append(sql.SQL("a.published_date >= %(since)s"))
        params["since"] = filters.since
    if filters.until is not None:
        conditions.append(sql.SQL("a.published_date <= %(until)s"))
        params["until"] = filters.until
    return conditions, params


def build_query(filters: ExportFilters) -> tuple[list[Column], sql.Composed, dict[str, Any]]:
    """The export's columns, its SELECT, and the bound parameters of its filters."""
    columns = REVISION_COLUMNS if filters.revisions else ARTICLE_COLUMNS
    conditions, params = filter_conditions(filters)
    select = sql.SQL(", ").join(
        sql.SQL("{} AS {}").format(sql.SQL(column.expression), sql.Identifier(column.name))
        for column in columns
    )
    if filters.revisions:
        source = sql.SQL("article_revisions r JOIN articles a USING (article_id)")
        order = sql.SQL("r.article_id, r.first_seen_at, r.content_hash")
    else:
        source = sql.SQL("articles a")
        order = sql.SQL("a.article_id")
    where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")
    query = sql.SQL("SELECT {} FROM {}{} ORDER BY {}").format(select, source, where, order)
    return columns, query, params


# --- the export ------------------------------------------------------------------------------


@dataclass
class ExportResult:
    folder: Path
    manifest: Path
    rows: int
    files: list[Path] = field(default_factory=list)
    run_ids: set[str] = field(default_factory=set)


class UnknownSource(ExportError):
    """``--source`` names no label the archive holds; the message lists the labels it does."""


#: Labels listed at most in the hint of an unknown ``--source``.
MAX_LABELS_SHOWN = 20


def check_source(conn: psycopg.Connection, source: str | None) -> None:
    """Raise UnknownSource when no article carries the label ``source``: a mistyped label
    (``Naenara`` for ``Naenara (En)``) would otherwise export 0 rows and look like success."""
    if source is None:
        return
    found = conn.execute(statements.SOURCE_EXISTS, (source,)).fetchone()
    if found and found[0]:
        return
    labels = [row[0] for row in conn.execute(statements.SOURCE_LABELS).fetchall()]
    shown = ", ".join(repr(label) for label in labels[:MAX_LABELS_SHOWN])
    more = f" and {len(labels) - MAX_LABELS_SHOWN} more" if len(labels) > MAX_LABELS_SHOWN else ""
    held = f"the archive holds {shown}{more}" if labels else "the archive holds no articles"
    raise UnknownSource(f"--source {source!r} is no source label of the archive; {held}")


def connect(url: str, connect_timeout: int = 10) -> psycopg.Connection:
    """A connection, or ExportError naming the server (never the password)."""
    try:
        describe_target(url)  # a bad URL is one line naming it
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    try:
        return psycopg.connect(url, connect_timeout=connect_timeout)
    except psycopg.Error as exc:
        raise ExportError(error_line(CANNOT_CONNECT, url, exc)) from None


def schema_version(conn: psycopg.Connection) -> str:
    """The latest applied migration (``schema_migrations.version``), or ExportError when the
    database holds no archive."""
    found = conn.execute(
        "SELECT to_regclass('schema_migrations') IS NOT NULL AND to_regclass('articles') "
        "IS NOT NULL"
    ).fetchone()
    if not found or not found[0]:
        raise ExportError("the database holds no newsarchive archive (run `scrapy dbmigrate`)")
    row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return str(row[0]) if row and row[0] else ""


def stream_rows(
    conn: psycopg.Connection,
    query: sql.Composed,
    params: dict[str, Any],
    batch_size: int,
) -> Iterator[list[tuple[Any, ...]]]:
    """The query's rows, ``batch_size`` at a time, from a server-side cursor."""
    with conn.cursor(name="newsarchive_export") as cursor:
        cursor.itersize = batch_size
        cursor.execute(query, params)
        while rows := cursor.fetchmany(batch_size):
            yield rows


def export_archive(
    url: str,
    folder: Path,
    *,
    filters: ExportFilters = ExportFilters(),
    formats: Iterable[str] = DEFAULT_FORMATS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
    escape_formulas: bool = config.default("NEWSARCHIVE_CSV_ESCAPE_FORMULAS"),
    replace: bool = False,
) -> ExportResult:
    """Write the archive's rows matching ``filters`` to ``folder`` in each format, then
    ``manifest.json``. Raises ExportError (one line) when the database cannot be used or the
    source label is unknown (UnknownSource), FolderRefused when the folder holds something
    else (``newsarchive.export_folder``). ``escape_formulas``: CSV cells are made inert
    (newsarchive.csv_cells).

    The files are written to a staging folder beside ``folder`` and renamed into place once
    complete, so ``folder`` never holds part of one export beside part of another."""
    check_output_folder(folder, replace)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_folder(folder)
    shutil.rmtree(staging, ignore_errors=True)
    try:
        result = _export_to(url, staging, filters, formats, batch_size, progress, escape_formulas)
        put_in_place(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    files = [folder / path.name for path in result.files]
    return ExportResult(folder, folder / MANIFEST_NAME, result.rows, files, result.run_ids)


def _export_to(
    url: str,
    folder: Path,
    filters: ExportFilters,
    formats: Iterable[str],
    batch_size: int,
    progress: Callable[[int], None] | None,
    escape_formulas: bool,
) -> ExportResult:
    """The export itself, into ``folder`` (the staging folder)."""
    columns, query, params = build_query(filters)
    stem = "revisions" if filters.revisions else "articles"
    formats = tuple(formats)
    row_formats = [name for name in formats if name != SNAPSHOT_FORMAT]
    run_indexes = [i for i, c in enumerate(columns) if c.name in _RUN_COLUMNS]
    conn = connect(url)
    writers: list[RowWriter] = []
    snapshot: SnapshotWriter | None = None
    run_ids: set[str] = set()
    try:
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            conn.execute("SET LOCAL TIME ZONE 'UTC'")
            version = schema_version(conn)
            check_source(conn, filters.source)
            folder.mkdir(parents=True, exist_ok=True)
            writers = [
                CsvWriter(folder, stem, columns, escape_formulas)
                if name == "csv"
                else WRITERS[name](folder, stem, columns)
                for name in row_formats
            ]
            total = 0
            for rows in stream_rows(conn, query, params, batch_size) if writers else ():
                for writer in writers:
                    writer.write(rows)
                for row in rows:
                    run_ids.update(row[i] for i in run_indexes if row[i])
                total += len(rows)
                if progress is not None:
                    progress(total)
            if SNAPSHOT_FORMAT in formats:
                snapshot = write_snapshot(
                    conn, folder, conditions=filter_conditions(filters)[0], params=params,
                    batch_size=batch_size, info={"archive_schema_version": version},
                )  # fmt: skip
                run_ids |= snapshot.run_ids
                if not writers:
                    total = snapshot.rows
        for writer in writers:
            writer.close()
        for writer in writers:
            writer.commit()
    except psycopg.Error as exc:
        _discard(writers)
        _discard_snapshot(snapshot)
        raise ExportError(error_line("cannot export from PostgreSQL", url, exc)) from None
    except BaseException:
        _discard(writers)
        _discard_snapshot(snapshot)
        raise
    finally:
        conn.close()
    manifest_path = folder / MANIFEST_NAME
    manifest = build_manifest(
        kind="archive_export",
        files=[
            file_entry(
                w.path,
                folder,
                rows=w.rows,
                file_format=w.file_format,
                compression=w.compression,
            )
            for w in writers
        ]
        + ([snapshot.manifest_entry(folder)] if snapshot else []),
        schema={
            "name": stem,
            "version": version,
            "source": "schema_migrations",
            "item_fields_version": ARTICLE_FIELDS_VERSION,
            "fields": [c.name for c in columns],
        },
        run_ids=run_ids,
        filters=filters.as_json(),
        rows=total,
    )
    write_json_atomically(manifest_path, manifest, indent=2)
    files = [w.path for w in writers] + ([snapshot.path] if snapshot else [])
    return ExportResult(folder, manifest_path, total, files, run_ids)


def _discard_snapshot(snapshot: SnapshotWriter | None) -> None:
    """A committed snapshot that the rest of the export failed to finish goes too."""
    if snapshot is not None:
        snapshot.path.unlink(missing_ok=True)


def _discard(writers: list[RowWriter]) -> None:
    for writer in writers:
        with contextlib.suppress(Exception):  # the original error matters, not this one
            writer.close()
        writer.discard()
