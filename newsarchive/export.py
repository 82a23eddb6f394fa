"""Export the PostgreSQL archive (not a crawl) to JSON Lines, CSV and Parquet, with a manifest.

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
import csv
import gzip
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import psycopg
from psycopg import sql

from newsarchive.db.errors import CANNOT_CONNECT, error_line
from newsarchive.db.urls import describe_target
from newsarchive.files import write_json_atomically
from newsarchive.items import ARTICLE_FIELDS, ARTICLE_FIELDS_VERSION
from newsarchive.manifest import MANIFEST_NAME, build_manifest, file_entry

if TYPE_CHECKING:
    import pyarrow as pa

FORMATS = ("jsonl", "csv", "parquet")
#: Rows fetched per round trip and written per Parquet row group.
DEFAULT_BATCH_SIZE = 2000


class ExportError(RuntimeError):
    """The export cannot run; ``str()`` is one line (never the database password)."""


@dataclass(frozen=True)
class Column:
    """One exported column: its name, the SQL giving it, and its type."""

    name: str
    expression: str
    kind: str  # text | date | instant | int | bool

    @property
    def arrow_type(self) -> pa.DataType:
        import pyarrow as pa

        return {
            "text": pa.string(),
            "date": pa.date32(),
            "instant": pa.timestamp("us", tz="UTC"),
            "int": pa.int32(),
            "bool": pa.bool_(),
        }[self.kind]


_KINDS = {
    "published_date": "date",
    "page_date": "date",
    "published_at": "instant",
    "crawled_at": "instant",
}


#: Item fields schema 0001 does not store: exported as null (unknown) until a migration adds
#: them (``extractor_version``: schema 0002).
_NOT_STORED = {"extractor_version": "NULL::text"}


def _item_columns(overrides: dict[str, str]) -> list[Column]:
    """The item fields, in their documented order, from ``articles`` unless overridden."""
    overrides = {**_NOT_STORED, **overrides}
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
        }
    ),
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


def build_query(filters: ExportFilters) -> tuple[list[Column], sql.Composed, dict[str, Any]]:
    """The export's columns, its SELECT, and the bound parameters of its filters."""
    columns = REVISION_COLUMNS if filters.revisions else ARTICLE_COLUMNS
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


# --- value formatting -------------------------------------------------------------------------


def _text_value(value: Any) -> Any:
    """A database value as the feed writes it: ISO dates, UTC instants as ``…+00:00``."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _text_value(value)


# --- writers ---------------------------------------------------------------------------------


class _Writer:
    """Writes to ``<name>.part`` and renames on ``commit`` so a failed export leaves no file
    that looks complete."""

    suffix = ""
    file_format = ""
    compression: str | None = None

    def __init__(self, folder: Path, stem: str, columns: Sequence[Column]) -> None:
        self.path = folder / f"{stem}{self.suffix}"
        self.part = self.path.with_name(self.path.name + ".part")
        self.columns = columns
        self.names = [column.name for column in columns]
        self.rows = 0

    def write(self, rows: Sequence[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        os.replace(self.part, self.path)

    def discard(self) -> None:
        self.part.unlink(missing_ok=True)


class JsonlWriter(_Writer):
    """gzip JSON Lines, UTF-8 with non-ASCII text as is (Korean stays readable)."""

    suffix = ".jsonl.gz"
    file_format = "jsonlines"
    compression = "gzip"

    def __init__(self, folder: Path, stem: str, columns: Sequence[Column]) -> None:
        super().__init__(folder, stem, columns)
        # Level 6 (zlib's default): level 9 is several times slower for ~2% smaller files.
        raw = gzip.GzipFile(self.part, "wb", compresslevel=6, mtime=0)
        self.stream: TextIO = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")

    def write(self, rows: Sequence[tuple[Any, ...]]) -> None:
        names = self.names
        lines = (
            json.dumps(dict(zip(names, map(_text_value, row), strict=True)), ensure_ascii=False)
            for row in rows
        )
        self.stream.write("".join(line + "\n" for line in lines))
        self.rows += len(rows)

    def close(self) -> None:
        self.stream.close()


class CsvWriter(_Writer):
    """RFC 4180 CSV (the csv module's default dialect, like Scrapy's CSV feed), header first;
    fields holding commas, quotes or newlines (bodies) are quoted; null is an empty field."""

    suffix = ".csv"
    file_format = "csv"

    def __init__(self, folder: Path, stem: str, columns: Sequence[Column]) -> None:
        super().__init__(folder, stem, columns)
        self.stream = self.part.open("w", encoding="utf-8", newline="")
        self.writer = csv.writer(self.stream)
        self.writer.writerow(self.names)

    def write(self, rows: Sequence[tuple[Any, ...]]) -> None:
        self.writer.writerows([_csv_value(value) for value in row] for row in rows)
        self.rows += len(rows)

    def close(self) -> None:
        self.stream.close()


class ParquetWriter(_Writer):
    """Parquet with typed columns (dates, UTC timestamps, ints, booleans), one row group per
    batch, so only one batch is ever in memory."""

    suffix = ".parquet"
    file_format = "parquet"
    compression = "zstd"

    def __init__(self, folder: Path, stem: str, columns: Sequence[Column]) -> None:
        super().__init__(folder, stem, columns)
        # Imported here: Scrapy imports every command module on every `scrapy` run, and
        # pyarrow would add ~40 MiB and a fraction of a second to each crawl for nothing.
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa = pa
        self.types = [column.arrow_type for column in columns]
        self.schema = pa.schema([pa.field(c.name, c.arrow_type) for c in columns])
        # Dictionary-encode only repetitive columns: a dictionary of unique bodies is wasted
        # memory and time before pyarrow falls back to plain encoding anyway.
        self.writer = pq.ParquetWriter(
            self.part,
            self.schema,
            compression=self.compression,
            use_dictionary=[c.name for c in columns if c.name in _REPETITIVE],
        )

    def write(self, rows: Sequence[tuple[Any, ...]]) -> None:
        pa = self.pa
        arrays = [
            pa.array([row[i] for row in rows], type=arrow_type)
            for i, arrow_type in enumerate(self.types)
        ]
        self.writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=self.schema))
        self.rows += len(rows)

    def close(self) -> None:
        self.writer.close()


#: Columns with few distinct values, worth Parquet's dictionary encoding.
_REPETITIVE = frozenset(
    {"source", "source_name", "source_language", "original_url", "page_date", "run_id",
     "first_run_id", "last_run_id", "revision_count", "revision_number", "is_current"}
)  # fmt: skip

WRITERS: dict[str, type[_Writer]] = {
    "jsonl": JsonlWriter,
    "csv": CsvWriter,
    "parquet": ParquetWriter,
}


# --- the export ------------------------------------------------------------------------------


@dataclass
class ExportResult:
    folder: Path
    manifest: Path
    rows: int
    files: list[Path] = field(default_factory=list)
    run_ids: set[str] = field(default_factory=set)


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
    formats: Iterable[str] = FORMATS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
) -> ExportResult:
    """Write the archive's rows matching ``filters`` to ``folder`` in each format, then
    ``manifest.json``. Raises ExportError (one line) when the database cannot be used."""
    columns, query, params = build_query(filters)
    stem = "revisions" if filters.revisions else "articles"
    run_indexes = [i for i, c in enumerate(columns) if c.name in _RUN_COLUMNS]
    conn = connect(url)
    writers: list[_Writer] = []
    run_ids: set[str] = set()
    try:
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            conn.execute("SET LOCAL TIME ZONE 'UTC'")
            version = schema_version(conn)
            folder.mkdir(parents=True, exist_ok=True)
            writers = [WRITERS[name](folder, stem, columns) for name in formats]
            total = 0
            for rows in stream_rows(conn, query, params, batch_size):
                for writer in writers:
                    writer.write(rows)
                for row in rows:
                    run_ids.update(row[i] for i in run_indexes if row[i])
                total += len(rows)
                if progress is not None:
                    progress(total)
        for writer in writers:
            writer.close()
        for writer in writers:
            writer.commit()
    except psycopg.Error as exc:
        _discard(writers)
        raise ExportError(error_line("cannot export from PostgreSQL", url, exc)) from None
    except BaseException:
        _discard(writers)
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
        ],
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
    return ExportResult(folder, manifest_path, total, [w.path for w in writers], run_ids)


def _discard(writers: list[_Writer]) -> None:
    for writer in writers:
        with contextlib.suppress(Exception):  # the original error matters, not this one
            writer.close()
        writer.discard()
