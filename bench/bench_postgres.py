"""PostgreSQL archive throughput: the store and the pipeline next to a raw COPY, and a crawl of
the replica with the database on and off.

1. Store/pipeline: a prepared stream of items (the replica's own articles, realistic text)
   goes into a fresh archive database (a) through ``ArchiveStore.upsert_articles`` in
   batches, (b) through ``PostgresPipeline.process_item`` exactly as a crawl feeds it (buffer,
   background writers, batches), and (c) the same rows are COPYed into a scratch table with
   the same typed columns and no index: the fastest PostgreSQL takes them. A re-crawl (the
   same items again: only sighting times move) is measured too. Target: (b) >= 0.5 of (c).
   The search index's write cost: (b) and the re-crawl again on a database without migration
   0003's generated tsvector and GIN index (with / without).
2. Crawl: ``scrapy crawl naenara`` of a static replica export served by nginx, with
   NEWSARCHIVE_DATABASE_URL set (a fresh database each round) and unset. Target: >= 0.9.

Each round measures the compared runs back to back and the median of the per-round ratios
is reported, since other processes on a shared machine move absolute rates a lot. The
server is a private one from tests/services.py (fsync off, like the tests; --fsync for on).

    .venv/bin/python bench/bench_postgres.py [--items 20000] [--rounds 3]
        [--crawl-articles 2000] [--crawl-rounds 2] [--no-crawl] [--fsync]
"""

from __future__ import annotations

import argparse
import asyncio
import os
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
from scrapy.settings import Settings  # noqa: E402
from scrapy.utils.test import get_crawler  # noqa: E402

from newsarchive import settings as project_settings  # noqa: E402
from newsarchive import stats as names  # noqa: E402
from newsarchive.db import migrate  # noqa: E402
from newsarchive.db.rows import ARTICLE_FIELDS, DATE_FIELDS, INSTANT_FIELDS  # noqa: E402
from newsarchive.db.run_database import RunDatabase  # noqa: E402
from newsarchive.db.store import ArchiveStore  # noqa: E402
from newsarchive.items import ArticleItem  # noqa: E402
from newsarchive.pipelines.postgres import PostgresPipeline  # noqa: E402
from newsarchive_replica.expected import expected_items  # noqa: E402
from newsarchive_replica.model import build_streams  # noqa: E402
from tests.services import PostgresServer  # noqa: E402

#: The project's own batch size, so the figures describe the shipped configuration.
BATCH = Settings(vars(project_settings)).getint("NEWSARCHIVE_DB_BATCH_SIZE")
SCRATCH_COLUMNS = ", ".join(
    f"{name} "
    + ("date" if name in DATE_FIELDS else "timestamptz" if name in INSTANT_FIELDS else "text")
    for name in ARTICLE_FIELDS
)


def prepared_items(count: int) -> list[dict[str, Any]]:
    """``count`` article items from the replica model (its text, quirks, Korean titles)."""
    streams = build_streams(int(count * 1.1) + 50, 0)
    items = expected_items(streams["naenara"], "https://kcnawatch.org")[:count]
    if len(items) < count:
        raise SystemExit(f"bench: the replica yielded {len(items)} items, wanted {count}")
    return [{**item, "crawled_at": "2026-01-01T00:00:00+00:00"} for item in items]


#: Undoes migration 0003 (full-text search) for the "without the index" case.
DROP_SEARCH = (
    "DROP INDEX article_revisions_search_idx; ALTER TABLE article_revisions DROP COLUMN search"
)


async def fresh_database(server: PostgresServer, search: bool = True) -> str:
    url = server.create_database()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await migrate.migrate(conn)
        if not search:
            await conn.execute(DROP_SEARCH)
    return url


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


REVISION_COLUMNS = ("article_id", "content_hash", "title", "body", "first_seen_at",
                    "last_seen_at", "first_run_id", "last_run_id")  # fmt: skip
HISTORY_COLUMNS = ("first_seen_at", "last_seen_at", "last_changed_at", "revision_count",
                   "last_run_id")  # fmt: skip


async def archive_copy_rate(url: str, items: list[dict[str, Any]]) -> float:
    """The same rows COPYed straight into the archive's own two tables (their keys and
    indexes, text stored twice): the floor of what this schema costs, with no checking,
    typing, de-duplication or upsert logic at all."""
    fields = list(ARTICLE_FIELDS)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        async with conn.transaction():
            cur = conn.cursor()
            columns = ", ".join(REVISION_COLUMNS)
            async with cur.copy(f"COPY article_revisions ({columns}) FROM STDIN") as copy:
                for item in items:
                    at = item["crawled_at"]
                    key = [item["article_id"], item["content_hash"]]
                    await copy.write_row([*key, item["title"], item["body"], at, at, "b", "b"])
            columns = ", ".join([*fields, *HISTORY_COLUMNS])
            async with cur.copy(f"COPY articles ({columns}) FROM STDIN") as copy:
                for item in items:
                    at = item["crawled_at"]
                    await copy.write_row([*(item[name] for name in fields), at, at, at, 1, "b"])
        return len(items) / (time.perf_counter() - started)


async def store_rate(url: str, items: list[dict[str, Any]], run_id: str) -> float:
    async with await ArchiveStore.open(url) as store:
        started = time.perf_counter()
        for start in range(0, len(items), BATCH):
            await store.upsert_articles(items[start : start + BATCH], run_id)
        return len(items) / (time.perf_counter() - started)


async def pipeline_rate(url: str, items: list[dict[str, Any]], data_dir: Path) -> float:
    settings = {name: value for name, value in vars(project_settings).items() if name.isupper()}
    crawler = get_crawler(
        Spider,
        {
            **{k: v for k, v in settings.items() if k.startswith("NEWSARCHIVE_")},
            "NEWSARCHIVE_DATABASE_URL": url,
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
    database = RunDatabase.for_crawler(crawler)
    assert database is not None
    await database.close()  # what engine_stopped does in a crawl
    written = crawler.stats.get_value(names.DB_ARTICLES_WRITTEN)
    if written != len(items):
        raise SystemExit(f"bench: the pipeline wrote {written} of {len(items)} items")
    return len(items) / elapsed


async def bench_store(server: PostgresServer, count: int, rounds: int, work: Path) -> dict:
    """COPY, the store, a re-crawl and the pipeline, back to back in every round."""
    items = prepared_items(count)
    later = [{**item, "crawled_at": "2026-01-02T00:00:00+00:00"} for item in items]
    megabytes = sum(len(i["title"].encode()) + len(i["body"].encode()) for i in items) / 2**20
    rates: dict[str, list[float]] = {
        "copy": [],
        "copy_archive": [],
        "store": [],
        "pipeline": [],
        "recrawl": [],
        "pipeline_no_search": [],
        "recrawl_no_search": [],
    }
    for round_ in range(rounds):
        rates["copy"].append(await copy_rate(await fresh_database(server), items))
        rates["copy_archive"].append(await archive_copy_rate(await fresh_database(server), items))
        url = await fresh_database(server)
        rates["store"].append(await store_rate(url, items, f"bench-{round_}"))
        rates["recrawl"].append(await store_rate(url, later, f"bench-{round_}-again"))
        url = await fresh_database(server)
        rates["pipeline"].append(await pipeline_rate(url, items, work / f"data-{round_}"))
        url = await fresh_database(server, search=False)
        no_search = await pipeline_rate(url, items, work / f"data-{round_}-no-search")
        rates["pipeline_no_search"].append(no_search)
        await store_rate(url, items, f"bench-{round_}-no-search")
        rates["recrawl_no_search"].append(
            await store_rate(url, later, f"bench-{round_}-no-search-again")
        )
        print(
            f"  round {round_ + 1}: "
            + ", ".join(f"{name} {values[-1]:.0f}/s" for name, values in rates.items()),
            file=sys.stderr,
        )
    ratios = {
        name: statistics.median(r / c for r, c in zip(values, rates["copy"], strict=True))
        for name, values in rates.items()
    }
    medians = {name: statistics.median(values) for name, values in rates.items()}
    return {
        "items": count,
        "text_mib": megabytes,
        "rates": medians,
        "ratios": ratios,
        "all": rates,
    }


# --- crawl on vs off --------------------------------------------------------------------------


def bench_crawl(server: PostgresServer, articles: int, rounds: int, work: Path) -> dict:
    from bench_crawl import count_lines, crawl_args
    from common import SCRAPY, free_port, nginx_serving, run_measured

    from newsarchive_replica.export import export_static

    port = free_port()
    export = export_static(work / "site", f"http://127.0.0.1:{port}", naenara_articles=articles)
    expected = count_lines(export.directory / "expected.jsonl")
    rates: dict[str, list[float]] = {"off": [], "on": []}
    environment = {k: v for k, v in os.environ.items() if k != "NEWSARCHIVE_DATABASE_URL"}
    with nginx_serving(export.directory, port):
        for round_ in range(rounds):
            for mode in ("off", "on") if round_ % 2 == 0 else ("on", "off"):
                extra = {"NEWSARCHIVE_DATA_DIR": str(work / f"data-{mode}-{round_}")}
                url = asyncio.run(fresh_database(server)) if mode == "on" else None
                if url:
                    extra["NEWSARCHIVE_DATABASE_URL"] = url
                output = work / f"{mode}-{round_}.jsonl"
                measured = run_measured(
                    [*SCRAPY, "crawl", "naenara", "-a", f"start_url={export.start_url}",
                     "-O", str(output), *crawl_args(extra)],
                    env=environment,
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
            print(
                f"  crawl round {round_ + 1}: off {rates['off'][-1]:.1f}/s, "
                f"on {rates['on'][-1]:.1f}/s",
                file=sys.stderr,
            )
    ratio = statistics.median(a / b for a, b in zip(rates["on"], rates["off"], strict=True))
    off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
    return {"articles": expected, "off": off, "on": on, "ratio": ratio}


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
        result = asyncio.run(bench_store(server, options.items, options.rounds, Path(tmp)))
        rates, ratios = result["rates"], result["ratios"]
        print(
            f"PostgreSQL {server.bindir.parent.name}, {result['items']} items "
            f"({result['text_mib']:.1f} MiB of title+body), batches of {BATCH}, "
            f"{options.rounds} rounds (medians), fsync={'on' if options.fsync else 'off'}, "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
        )
        rows = [
            ("raw COPY into a scratch table", "copy", ""),
            ("ArchiveStore.upsert_articles", "store", ""),
            ("PostgresPipeline.process_item", "pipeline", "  (target >= 0.5)"),
            ("re-crawl, same content (store)", "recrawl", ""),
        ]
        for label, name, note in rows:
            ratio = "" if name == "copy" else f"  ratio {ratios[name]:.2f}{note}"
            print(f"  {label:<31}: {rates[name]:>8.0f} items/s{ratio}")
        to_archive = statistics.median(
            p / c
            for p, c in zip(result["all"]["pipeline"], result["all"]["copy_archive"], strict=True)
        )
        print(
            f"  {'raw COPY into the archive tables':<31}: {rates['copy_archive']:>8.0f} items/s"
            f"  ratio {ratios['copy_archive']:.2f}; the pipeline against it: {to_archive:.2f}"
        )
        for name, label in (("pipeline", "pipeline"), ("recrawl", "re-crawl")):
            cost = statistics.median(
                w / n
                for w, n in zip(
                    result["all"][name], result["all"][f"{name}_no_search"], strict=True
                )
            )
            print(
                f"  {label + ' without search index':<31}: "
                f"{rates[f'{name}_no_search']:>8.0f} items/s; with / without = {cost:.2f}"
            )
        if not options.no_crawl:
            crawl = bench_crawl(server, options.crawl_articles, options.crawl_rounds, Path(tmp))
            print(
                f"crawl of a {crawl['articles']}-article replica (nginx), "
                f"{options.crawl_rounds} rounds (medians): database off {crawl['off']:.1f} "
                f"articles/s, on {crawl['on']:.1f} articles/s, ratio {crawl['ratio']:.2f} "
                "(target >= 0.9)"
            )


if __name__ == "__main__":
    main()
