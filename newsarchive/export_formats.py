"""The export's file formats: each exported column's type, and one streaming writer per row
format (gzip JSON Lines, CSV, Parquet), all writing batch by batch to ``<name>.part`` and renaming
on commit. Split from ``newsarchive.export`` (the query and the run of an export) so each module
keeps one job.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from newsarchive import config
from newsarchive.csv_cells import escape_formula

if TYPE_CHECKING:
    import pyarrow as pa


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


# --- value formatting -------------------------------------------------------------------------


def _text_value(value: Any) -> Any:
    """A database value as the feed writes it: ISO dates, UTC instants as ``…+00:00``."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _inert(cell: Any) -> Any:
    return escape_formula(cell) if isinstance(cell, str) else cell


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _text_value(value)


# --- writers ---------------------------------------------------------------------------------


class RowWriter:
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


class JsonlWriter(RowWriter):
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


class CsvWriter(RowWriter):
    """RFC 4180 CSV (the csv module's default dialect, like Scrapy's CSV feed), header first;
    fields holding commas, quotes or newlines (bodies) are quoted; null is an empty field;
    formula cells are made inert as in the run feeds (newsarchive.csv_cells)."""

    suffix = ".csv"
    file_format = "csv"

    def __init__(
        self,
        folder: Path,
        stem: str,
        columns: Sequence[Column],
        escape_formulas: bool = config.default("NEWSARCHIVE_CSV_ESCAPE_FORMULAS"),
    ) -> None:
        super().__init__(folder, stem, columns)
        self.stream = self.part.open("w", encoding="utf-8", newline="")
        self.writer = csv.writer(self.stream)
        self.writer.writerow(self.names)
        self.escape_formulas = escape_formulas

    def write(self, rows: Sequence[tuple[Any, ...]]) -> None:
        if self.escape_formulas:
            cells = ([_inert(_csv_value(value)) for value in row] for row in rows)
        else:
            cells = ([_csv_value(value) for value in row] for row in rows)
        self.writer.writerows(cells)
        self.rows += len(rows)

    def close(self) -> None:
        self.stream.close()


class ParquetWriter(RowWriter):
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

WRITERS: dict[str, type[RowWriter]] = {
    "jsonl": JsonlWriter,
    "csv": CsvWriter,
    "parquet": ParquetWriter,
}
