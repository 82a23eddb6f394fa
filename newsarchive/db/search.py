"""The full-text index's catch-up (schema 0004), shared by the store and ``scrapy dbmigrate``.

Why apart: the vectors are computed outside the write path, so something must find the
revisions still without one; the run's end does it through the store, and ``dbmigrate`` does
it on its own connection after upgrading an archive.
"""

from __future__ import annotations

import psycopg

from newsarchive.db import statements

#: Revisions indexed per statement (one short transaction each, in autocommit).
SEARCH_CHUNK = 5000


async def index_missing(
    conn: psycopg.AsyncConnection, part: int = 0, parts: int = 1, chunk: int = SEARCH_CHUNK
) -> int:
    """Index every revision that has no search vector (of share ``part`` of ``parts``, split
    by article, so several connections can share the work), ``chunk`` at a time; how many.
    ``conn`` must be in autocommit mode, so each chunk commits on its own."""
    total = 0
    while True:
        cur = await conn.execute(
            statements.FILL_SEARCH_MISSING, {"part": part, "parts": parts, "limit": chunk}
        )
        total += max(0, cur.rowcount)
        if cur.rowcount < chunk:
            return total
