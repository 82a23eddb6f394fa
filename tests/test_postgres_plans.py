"""The write path's plans on a young archive (no statistics yet, as in a first crawl).

Why: a crawl's items arrive out of id order, so its batches after the first take the upsert
path, whose statements join temporary tables that PostgreSQL has no statistics for. On a
small archive that autovacuum has not analyzed yet, the planner took the archive for a few
rows and scanned it whole once per batch row (1,000 new ids among 1,000 archived: 222 ms
against 1); and on any archive the upsert joined its own CTEs by nested loops (1,500 rows:
390 ms against 63 on an analyzed one). These tests read the plans, not the clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from psycopg import sql

from newsarchive.db import batches, statements
from newsarchive.db.prepared import prepare_batch, prepare_items
from newsarchive.db.store import ArchiveStore
from tests.db_items import article

pytestmark = pytest.mark.postgres

ARCHIVED = 400


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of an EXPLAIN (FORMAT JSON) plan."""
    yield plan
    for child in plan.get("Plans", ()):
        yield from nodes(child)


def archive_scans(plan: dict[str, Any]) -> list[str]:
    return [
        node["Relation Name"]
        for node in nodes(plan)
        if node["Node Type"] == "Seq Scan"
        and node.get("Relation Name") in {"article_state", "revisions"}
    ]


def nested_loops_over_ctes(plan: dict[str, Any]) -> list[str]:
    """Nested loops whose inner side re-reads a CTE (or a materialized copy of one) per row."""
    found = []
    for node in nodes(plan):
        if node["Node Type"] != "Nested Loop":
            continue
        for child in node.get("Plans", ()):
            if child.get("Parent Relationship") == "Inner" and child["Node Type"] in {
                "CTE Scan",
                "Materialize",
            }:
                found.append(child.get("CTE Name") or child["Node Type"])
    return found


def plans(url: str) -> dict[str, dict[str, Any]]:
    """EXPLAIN of ANY_ARTICLE_KNOWN, SEEN_UNCHANGED and UPSERT_BATCH for a batch like a
    crawl's second: new ids between archived ones, edits of archived ones, set up as the
    store and ``batches.upsert`` set them up."""
    archived = [article(n) for n in range(0, 2 * ARCHIVED, 2)]
    batch_items = [article(n) for n in range(1, 2 * ARCHIVED, 2)]
    batch_items += [article(n, body="Edited.", minutes=5) for n in range(0, ARCHIVED, 2)]

    async def go() -> dict[str, dict[str, Any]]:
        async with await ArchiveStore.open(url) as store:
            await store.upsert_articles(archived, "run-a")
            rows, _, _ = prepare_items(batch_items, ())
            batch = prepare_batch(rows)
            explained: dict[str, dict[str, Any]] = {}
            async with store.pool.connection() as conn, conn.transaction(force_rollback=True):
                cur = conn.cursor()
                # the first statement of a batch's transaction, before any planner setting
                params = batches.known_params(batch)
                explained["known"] = await explain(cur, statements.ANY_ARTICLE_KNOWN, params)
                async with cur.copy(statements.COPY_SIGHTINGS) as copy:
                    copy.set_types(statements.SIGHTING_TYPES)
                    for row in batch.rows:
                        await copy.write_row(batches._state_of(row.values))
                async with cur.copy(statements.COPY_STAGING) as copy:
                    copy.set_types(statements.STAGING_TYPES)
                    for row in batch.staging:
                        await copy.write_row(row)
                await cur.execute(statements.PREFER_INDEX_LOOKUPS)
                explained["seen"] = await explain(
                    cur, statements.SEEN_UNCHANGED, {"run_id": "run-b", "candidates": 1}
                )
                await cur.execute(statements.PLAN_UPSERT)
                explained["upsert"] = await explain(
                    cur, statements.UPSERT_BATCH, {"run_id": "run-b"}
                )
            return explained

    return asyncio.run(go())


async def explain(cur: Any, query: Any, params: Any) -> dict[str, Any]:
    """The plan of ``query`` (psycopg parses EXPLAIN's json)."""
    statement = query if isinstance(query, sql.Composable) else sql.SQL(query)
    await cur.execute(sql.SQL("EXPLAIN (FORMAT JSON) ") + statement, params)
    row = await cur.fetchone()
    assert row is not None
    return row[0][0]["Plan"]


@pytest.fixture
def young_archive_plans(pg_url: str) -> dict[str, dict[str, Any]]:
    return plans(pg_url)


def test_the_narrow_update_looks_articles_up_by_key(young_archive_plans):
    assert archive_scans(young_archive_plans["seen"]) == []


def test_the_known_check_looks_articles_up_by_key(young_archive_plans):
    assert archive_scans(young_archive_plans["known"]) == []


def test_the_upsert_reads_the_archive_by_key(young_archive_plans):
    assert archive_scans(young_archive_plans["upsert"]) == []


def test_the_upsert_joins_its_own_steps_without_nested_loops(young_archive_plans):
    assert nested_loops_over_ctes(young_archive_plans["upsert"]) == []
