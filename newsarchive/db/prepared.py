"""A write's rows as one batch: the items typed (``newsarchive.db.rows``), in article id order,
kept in columns when every item is the usual case, and what the SQL of a batch needs of them.

Why apart from the typing: the typing decides what the archive accepts, item by item; this
is how one transaction's rows are laid out for its statements (columns for COPY, staging
rows for the upsert). Pure, like the typing: no driver, no server.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from itertools import repeat
from typing import Any

from newsarchive.db.records import BatchResult
from newsarchive.db.rows import (
    FIELD_INDEX,
    ArticleRow,
    GoneRow,
    accepted,
    prepare_article,
    prepare_gone,
    typed_columns,
)

_AID_INDEX = FIELD_INDEX["article_id"]
_SEEN_INDEX = FIELD_INDEX["crawled_at"]


def _prepare_article_unchecked(item: Mapping[str, Any]) -> ArticleRow:
    return prepare_article(item, check_text=False)


def prepare_items(
    articles: Sequence[Mapping[str, Any]],
    gones: Iterable[Mapping[str, Any]],
    check_text: bool = True,
) -> tuple[list[ArticleRow], list[GoneRow], BatchResult]:
    """The rows of one write: article rows (by article_id), one gone row per article (its
    earliest 404/410, by article_id), and a result holding the rejected items and the NUL
    count so far (``check_text``: see ``prepare_article``)."""
    batch, gone_rows, result = prepare_write(articles, gones, check_text)
    return batch.rows, gone_rows, result


def prepare_write(
    articles: Sequence[Mapping[str, Any]],
    gones: Iterable[Mapping[str, Any]],
    check_text: bool = True,
) -> tuple[PreparedBatch, list[GoneRow], BatchResult]:
    """``prepare_items`` as the store writes it: the article rows as a batch, typed a column
    at a time when the texts go unchecked and every item is the usual case."""
    result = BatchResult()
    typed = None if check_text else typed_columns(articles)
    if typed is not None:
        batch = PreparedBatch.of_columns(*typed)
    else:
        prepare = prepare_article if check_text else _prepare_article_unchecked
        batch = PreparedBatch(accepted(articles, prepare, result))
        result.nul_stripped = sum(row.nul_stripped for row in batch.rows)
    return batch, _earliest_gones(gones, result), result


def _earliest_gones(gones: Iterable[Mapping[str, Any]], result: BatchResult) -> list[GoneRow]:
    """One gone row per article, its earliest 404/410, by article_id."""
    gone_rows: dict[str, GoneRow] = {}
    for gone in accepted(gones, prepare_gone, result):
        earlier = gone_rows.get(gone.article_id)
        if earlier is None or gone.seen_at < earlier.seen_at:
            gone_rows[gone.article_id] = gone
    return [gone_rows[k] for k in sorted(gone_rows)]


class PreparedBatch:
    """A batch's rows in article id order (ties: in arrival order), and what the writes need
    of them. ``unique``: every article is seen once in the batch, the usual case, whose rows
    are written as they are; ``staging`` and ``sightings`` are built only when asked for."""

    __slots__ = ("_columns", "_kinds", "_rows", "_sightings", "_staging", "ids", "unique")

    def __init__(self, rows: Iterable[ArticleRow]) -> None:
        self._rows: list[ArticleRow] | None = sorted(rows, key=_article_id_of)
        self._columns: list[Sequence[Any]] | None = None
        self._kinds: list[str | None] | None = None
        self._ready([row.values[_AID_INDEX] for row in self._rows])

    @classmethod
    def of_columns(
        cls, columns: list[Sequence[Any]], kinds: list[str | None] | None
    ) -> PreparedBatch:
        """The batch of typed columns in article id order (``typed_columns``); its rows are
        built only when asked for (an upsert), never for a batch of new articles."""
        batch = cls.__new__(cls)
        batch._rows, batch._columns, batch._kinds = None, columns, kinds
        batch._ready(columns[_AID_INDEX])
        return batch

    def _ready(self, article_ids: Sequence[str]) -> None:
        #: the distinct article ids, sorted (byte order, as the "C" columns compare)
        self.ids = list(dict.fromkeys(article_ids))
        self.unique = len(self.ids) == len(article_ids)
        self._staging: list[tuple[Any, ...]] | None = None
        self._sightings: dict[str, list[datetime]] | None = None

    @property
    def rows(self) -> list[ArticleRow]:
        """The rows, by article id."""
        if self._rows is None:
            assert self._columns is not None
            kinds = self._kinds if self._kinds is not None else repeat(None)
            values = zip(*self._columns, strict=True)
            self._rows = list(map(ArticleRow, values, repeat(False), kinds))
        return self._rows

    @property
    def hinted(self) -> bool:
        """Whether any row carries a ``revision_kind`` hint."""
        if self._rows is None:
            return self._kinds is not None
        return any(row.revision_kind for row in self._rows)

    @property
    def columns(self) -> list[Sequence[Any]]:
        """The rows' values a column at a time, in ``ARTICLE_FIELDS`` order."""
        if self._columns is None:
            self._columns = list(zip(*[row.values for row in self.rows], strict=True))
        return self._columns

    @property
    def staging(self) -> list[tuple[Any, ...]]:
        """STAGING_COLUMNS values, one row per distinct (article, content), by article_id."""
        if self._staging is None:
            self._collapse()
        assert self._staging is not None
        return self._staging

    @property
    def sightings(self) -> dict[str, list[datetime]]:
        """article_id -> every crawled_at of it in the batch (to date a reappearance)."""
        if self._sightings is None:
            self._collapse()
        assert self._sightings is not None
        return self._sightings

    def seen_once(self, article_id: str) -> bool:
        return self.unique or len(self.sightings[article_id]) == 1

    def _collapse(self) -> None:
        """One staging row per (article, content), so no statement touches a row twice; the
        row of each article's latest content also carries the article's times."""
        by_article: dict[str, list[ArticleRow]] = defaultdict(list)
        for row in self.rows:
            by_article[row.values[_AID_INDEX]].append(row)
        staging: list[tuple[Any, ...]] = []
        sightings: dict[str, list[datetime]] = {}
        for article_id, group in by_article.items():  # in id order: the rows are sorted
            if len(group) == 1:  # the usual case: one sighting per article per batch
                row = group[0]
                seen = row.values[_SEEN_INDEX]
                sightings[article_id] = [seen]
                staging.append((*row.values, seen, seen, seen, seen, seen, True, row.revision_kind))
                continue
            times = [row["crawled_at"] for row in group]
            sightings[article_id] = times
            current = max(group, key=lambda row: row["crawled_at"])  # ties: the first of them
            contents: dict[str, list[Any]] = {}
            for row in group:
                seen = row["crawled_at"]
                entry = contents.get(row["content_hash"])
                if entry is None:
                    contents[row["content_hash"]] = [row, seen, seen]
                else:
                    entry[1], entry[2] = min(entry[1], seen), max(entry[2], seen)
            first, last = min(times), max(times)
            changed_at = contents[current["content_hash"]][1]
            for content_hash in sorted(contents):
                row, first_seen, last_seen = contents[content_hash]
                is_current = content_hash == current["content_hash"]
                values = current.values if is_current else row.values
                staging.append(
                    (*values, first_seen, last_seen, first, last, changed_at, is_current,
                     row.revision_kind)
                )  # fmt: skip
        self._staging, self._sightings = staging, sightings


def _article_id_of(row: ArticleRow) -> str:
    return row.values[_AID_INDEX]


def prepare_batch(rows: Iterable[ArticleRow]) -> PreparedBatch:
    """The batch of these rows (see ``PreparedBatch``)."""
    return PreparedBatch(rows)


def as_columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows to one list per column (the arrays ``unnest`` takes)."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]
