"""The PostgreSQL side of the SQLite snapshot: the archive's tables as streams of row dicts.

Runs inside the export's read-only REPEATABLE READ transaction (``newsarchive.export``), so the
snapshot shows the same instant as the other files of the export. Each table is read through
its own server-side cursor, one after the other, ``batch_size`` rows per round trip.

Revisions carry ``kind`` and ``extractor_version`` (migration 0002 adds them). On an archive
without those columns the kind is derived as agreed: an article's earliest revision is
``first``, later ones ``edit``; the extractor version is unknown (null).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from newsarchive.snapshot import SnapshotWriter

_REVISION_NUMBER = (
    "row_number() OVER (PARTITION BY r.article_id ORDER BY r.first_seen_at, r.content_hash)"
)


def has_column(conn: psycopg.Connection, table: str, column: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = %s AND column_name = %s",
        (table, column),
    ).fetchone()
    return row is not None


def _queries(conn: psycopg.Connection, where: sql.Composable) -> dict[str, sql.Composable]:
    """The SELECT of each snapshot table; ``where`` filters articles (alias ``a``)."""
    if has_column(conn, "article_revisions", "kind"):
        kind, version = sql.SQL("r.kind"), sql.SQL("r.extractor_version")
    else:
        kind = sql.SQL(f"CASE WHEN {_REVISION_NUMBER} = 1 THEN 'first' ELSE 'edit' END")
        version = sql.SQL("NULL::text")
    articles = sql.SQL(
        "SELECT a.article_id, a.url, a.title, a.body, a.published_date, "
        "extract(year FROM a.published_date)::int AS published_year, a.published_at, "
        "a.page_date, a.source, a.source_name, a.source_language, a.original_url, "
        "a.crawled_at, a.content_hash, a.first_seen_at, a.last_seen_at, a.last_changed_at, "
        "a.revision_count, a.gone_at, a.last_run_id FROM articles a{} ORDER BY a.article_id"
    ).format(where)
    revisions = sql.SQL(
        "SELECT r.article_id, {} AS revision_number, {} AS kind, {} AS extractor_version, "
        "r.content_hash, r.title, r.body, r.first_seen_at, r.last_seen_at, r.first_run_id, "
        "r.last_run_id FROM article_revisions r JOIN articles a USING (article_id){} "
        "ORDER BY r.article_id, r.first_seen_at, r.content_hash"
    ).format(sql.SQL(_REVISION_NUMBER), kind, version, where)
    events = sql.SQL(
        "SELECT e.article_id, e.event, e.at, e.run_id, e.http_status FROM article_events e "
        "JOIN articles a USING (article_id){} ORDER BY e.article_id, e.at"
    ).format(where)
    runs = sql.SQL(
        "SELECT run_id, spider, start_url, started_at, finished_at, finish_reason, status, "
        "failed, failure_reason, item_count, gone_count, drop_count, error_count, "
        "request_count, stats FROM crawl_runs ORDER BY started_at, run_id"
    )
    return {"articles": articles, "revisions": revisions, "events": events, "runs": runs}


def stream_dicts(
    conn: psycopg.Connection, query: sql.Composable, params: dict[str, Any], batch_size: int
) -> Iterator[dict[str, Any]]:
    with conn.cursor(name="newsarchive_snapshot", row_factory=dict_row) as cursor:
        cursor.itersize = batch_size
        cursor.execute(query, params)
        yield from cursor


def write_snapshot(
    conn: psycopg.Connection,
    folder: Path,
    *,
    conditions: list[sql.Composable],
    params: dict[str, Any],
    batch_size: int,
    info: dict[str, Any],
) -> SnapshotWriter:
    """Stream the archive (articles matching ``conditions``, their revisions and events, every
    run) into ``folder/archive.sqlite``; the committed writer (path, counts)."""
    where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")
    writer = SnapshotWriter(folder, batch_size)
    try:
        for table, query in _queries(conn, where).items():
            writer.write(table, stream_dicts(conn, query, params, batch_size))
        writer.commit(info)
    except BaseException:
        writer.discard()
        raise
    return writer
