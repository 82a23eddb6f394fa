"""PostgreSQL archive throughput: the store and the pipeline next to a raw COPY, and a crawl of
the replica with the database on and off.

1. Store/pipeline: a prepared stream of items (the replica's own articles, realistic text)
   goes into a fresh archive database (a) through ``ArchiveStore.upsert_articles`` in batches,
   (b) through ``PostgresPipeline.process_item`` exactly as a crawl feeds it (buffer, background
   writer, batches); (c) the same rows are COPYed into a scratch table with the same typed
   columns and no index: the fastest PostgreSQL can take them. Target: (b) >= 0.5 of (c).
   A re-crawl (same items again, only sighting times move) is measured too.
2. Crawl: ``scrapy crawl naenara`` of a static replica export served by nginx, with
   NEWSARCHIVE_DATABASE_URL set (fresh database each round) and unset, interleaved.
   Target: on/off article rate >= 0.9.

The server is a private one from tests/services.py (fsync off, like the tests; pass --fsync to
turn it on). Rates vary by machine; the ratios are the figures that matter.

    .venv/bin/python bench/bench_postgres.py [--items 20000] [--rounds 3]
        [--crawl-articles 2000] [--crawl-rounds 2] [--no-crawl]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import psycopg  # noqa: E402
from scrapy import Spider  # noqa: E402
from scrapy.utils.test import get_crawler  # noqa: E402

from newsarchive.db import migrate  # noqa: E402
from newsarchive.db.store import ARTICLE_FIELDS, ArchiveStore  # noqa: E402
from newsarchive.items import ArticleItem  # noqa: E402
from newsarchive.pipelines.postgres import PostgresPipeline  # noqa: E402
from newsarchive.replica.expected import expected_items  # noqa: E402
from newsarchive.replica.model import build_streams  # noqa: E402
from tests.services import PostgresServer  # noqa: E402

BATCH = 500
SCRATCH_COLUMNS = ", ".join(
    f"{name} {'date' if name in ('published_date', 'page_date') else 'timestamptz' if name in ('published_at', 'crawled_at') else 'text'}"  # noqa: E501
    for name in ARTICLE_FIELDS
)


def prepared_items(count: int) -> list[dict[str, Any]]:
    """``count`` article items from the replica model (its text, quirks, Korean titles)."""
    streams = build_streams(int(count * 1.1) + 50, 0)
    items = expected_items(streams["naenara"], "https://kcnawatch.org")[:count]
    if len(items) < count:
        raise SystemExit(f"bench: the replica yielded {len(items)} items, wanted {count}")
    crawled = "2026-01-01T00:00:00+00:00"
    return [{**item, "crawled_at": crawled} for item in items]


async def fresh_database(server: PostgresServer) -> str:
    url = server.create_database()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await migrate.migrate(conn)
    return url


async def store_rate(url: str, items: list[dict[str, Any]], run_id: str) -> float:
    async with await ArchiveStore.open(url) as store:
        started = time.perf_counter()
        for start in range(0, len(items), BATCH):
            await store.upsert_articles(items[start : start + BATCH], run_id)
        return len(items) / (time.perf_counter() - started)


async def pipeline_rate(url: str, items: list[dict[str, Any]], data_dir: Path) -> float:
    crawler = get_crawler(
        Spider,
        {
            "NEWSARCHIVE_DATABASE_URL": url,
            "NEWSARCHIVE_DB_BATCH_SIZE": BATCH,
            "NEWSARCHIVE_DATA_DIR": str(data_dir),
        },
    )
    spider = Spider(name="bench")
    crawler.spider = spider
    pipeline = PostgresPipeline.from_crawler(crawler)
    scrapy_items = [ArticleItem(item) for item in items]
    await pipeline.open_spider()
    started = time.perf_counter()
    for item in scrapy_items:
        await pipeline.process_item(item)
    await pipeline.close_spider()  # returns once every buffered item is committed
    elapsed = time.perf_counter() - started
    await pipeline.spider_closed(spider, "finished")
    stats = crawler.stats.get_stats()
    if stats.get("newsarchive/db/articles_written") != len(items):
        raise SystemExit(f"bench: the pipeline wrote {stats} instead of {len(items)} items")
    return len(items) / elapsed


async def copy_rate(url: str, items: list[dict[str, Any]]) -> float:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(f"CREATE TABLE scratch ({SCRATCH_COLUMNS})")
        started = time.perf_counter()
        async with conn.transaction():
            cur = conn.cursor()
            async with cur.copy(f"COPY scratch ({', '.join(ARTICLE_FIELDS)}) FROM STDIN") as copy:
                for item in items:
                    await copy.write_row([item[name] for name in ARTICLE_FIELDS])
        return len(items) / (time.perf_counter() - started)


async def bench_store(server: PostgresServer, count: int, rounds: int, work: Path) -> dict:
    items = prepared_items(count)
    megabytes = sum(len(i["title"].encode()) + len(i["body"].encode()) for i in items) / 2**20
    rates: dict[str, list[float]] = {"copy": [], "store": [], "pipeline": [], "recrawl": []}
    for round_ in range(rounds):
        rates["copy"].append(await copy_rate(await fresh_database(server), items))
        url = await fresh_database(server)
        rates["store"].append(await store_rate(url, items, f"bench-{round_}"))
        later = [{**item, "crawled_at": "2026-01-02T00:00:00+00:00"} for item in items]
        rates["recrawl"].append(await store_rate(url, later, f"bench-{round_}-again"))
        url = await fresh_database(server)
        rates["pipeline"].append(await pipeline_rate(url, items, work / f"data-{round_}"))
    print("  rounds:", {k: [round(v) for v in vs] for k, vs in rates.items()}, file=sys.stderr)
    medians = {name: statistics.median(values) for name, values in rates.items()}
    return {"items": count, "text_mib": megabytes, **medians}


# --- crawl on vs off --------------------------------------------------------------------------


def bench_crawl(server: PostgresServer, articles: int, rounds: int, work: Path) -> dict:
    from bench_crawl import count_lines, setting_args
    from common import SCRAPY, free_port, nginx_serving, run_measured

    from newsarchive.replica.export import export_static

    port = free_port()
    export = export_static(work / "site", f"http://127.0.0.1:{port}", naenara_articles=articles)
    expected = count_lines(export.directory / "expected.jsonl")
    rates: dict[str, list[float]] = {"off": [], "on": []}
    with nginx_serving(export.directory, port):
        for round_ in range(rounds):
            for mode in ("off", "on"):
                extra = {"NEWSARCHIVE_DATA_DIR": str(work / f"data-{mode}-{round_}")}
                url = asyncio.run(fresh_database(server)) if mode == "on" else None
                if url:
                    extra["NEWSARCHIVE_DATABASE_URL"] = url
                output = work / f"{mode}-{round_}.jsonl"
                measured = run_measured(
                    [*SCRAPY, "crawl", "naenara", "-a", f"start_url={export.start_url}",
                     "-O", str(output), *setting_args(extra)],
                    env=_env_without_database(),
                )  # fmt: skip
                if measured.returncode != 0:
                    raise SystemExit(f"bench: crawl ({mode}) failed:\n{measured.output[-2000:]}")
                if count_lines(output) != expected:
                    raise SystemExit(f"bench: crawl ({mode}) archived {count_lines(output)}")
                if url:
                    with psycopg.connect(url) as conn:
                        stored = conn.execute("SELECT count(*) FROM articles").fetchone()
                    if not stored or stored[0] != expected:
                        raise SystemExit(f"bench: crawl (on) stored {stored} of {expected}")
                rates[mode].append(expected / measured.seconds)
    off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
    return {"articles": expected, "off": off, "on": on, "ratio": on / off}


def _env_without_database() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "NEWSARCHIVE_DATABASE_URL"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--crawl-articles", type=int, default=2000)
    parser.add_argument("--crawl-rounds", type=int, default=2)
    parser.add_argument("--no-crawl", action="store_true")
    parser.add_argument("--fsync", action="store_true", help="run the server with fsync=on")
    options = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="newsarchive-bench-pg-") as tmp,
        PostgresServer(fsync=options.fsync) as server,
    ):
        store = asyncio.run(bench_store(server, options.items, options.rounds, Path(tmp)))
        print(
            f"PostgreSQL {server.bindir.parent.name}, {store['items']} items "
            f"({store['text_mib']:.1f} MiB of title+body), batches of {BATCH}, "
            f"median of {options.rounds} rounds, fsync={'on' if options.fsync else 'off'}"
        )
        print(f"  raw COPY into a scratch table : {store['copy']:>9.0f} items/s")
        print(
            f"  ArchiveStore.upsert_articles  : {store['store']:>9.0f} items/s"
            f"  ratio {store['store'] / store['copy']:.2f}"
        )
        print(
            f"  PostgresPipeline.process_item : {store['pipeline']:>9.0f} items/s"
            f"  ratio {store['pipeline'] / store['copy']:.2f}  (target >= 0.5)"
        )
        print(
            f"  re-crawl, same content        : {store['recrawl']:>9.0f} items/s"
            f"  ratio {store['recrawl'] / store['copy']:.2f}"
        )
        if not options.no_crawl:
            crawl = bench_crawl(server, options.crawl_articles, options.crawl_rounds, Path(tmp))
            print(
                f"crawl of a {crawl['articles']}-article replica (nginx), median of "
                f"{options.crawl_rounds} rounds: database off {crawl['off']:.1f} articles/s, "
                f"on {crawl['on']:.1f} articles/s, ratio {crawl['ratio']:.2f} "
                "(target >= 0.9)"
            )


if __name__ == "__main__":
    main()
