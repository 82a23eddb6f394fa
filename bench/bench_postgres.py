"""PostgreSQL archive throughput: the store and the pipeline next to a raw COPY, and a crawl of
the replica with the database on and off.

1. Store/pipeline: a prepared stream of items (the replica's own articles, realistic text)
   goes into a fresh archive database (a) through ``ArchiveStore.upsert_articles`` in
   batches, (b) through ``PostgresPipeline.process_item`` exactly as a crawl feeds it (buffer,
   background writers, batches), and (c) the same rows are COPYed into a scratch table with
   the same typed columns and no index: the fastest PostgreSQL takes them. A re-crawl (the
   same items again: only sighting times move) is measured too. Target: (b) >= 0.5 of (c).
   The search index (schema 0004) is filled outside the write path: (b) is timed until every
   item is committed (the write path, the fill running beside it) and until the run's
   catch-up has indexed the rest (the whole); again with NEWSARCHIVE_DB_SEARCH_FILL off (the
   write path with no search work at all, then the whole index at the end); and the fill
   rate alone (revisions indexed per second by the catch-up of a store-written archive). The
   re-crawl is measured through the store (one batch after the other) and through the
   pipeline (its writers overlap one batch's Python work with another's SQL, as in a crawl).
   The items go in id order; the pipeline is measured again with them in a crawl's order
   (``crawl_order``), whose batches after the first hold ids between those already written.
2. Crawl: ``scrapy crawl naenara`` of a static replica export served by nginx, with
   NEWSARCHIVE_DATABASE_URL set (a fresh database each round) and unset. Target: >= 0.9.

Besides rates, every side reports its CPU per item: the bench process's own (the client:
typing, formatting, the driver) and the server's (every process of the private cluster),
over the same window as its rate. Those do not move with other load on the machine the way
wall rates do, so they are the figures to compare changes by.

Every measured side starts from the same heap: the inputs are built first, then collected
and frozen (``gc.freeze``, as a crawl does once its engine has started), so neither side's
collector walks the bench's own 60,000 input objects. Each side's ratio is to a raw COPY
measured just before it (its baseline), and the median of the per-round ratios is reported,
since other processes on a shared machine move absolute rates a lot: the raw COPY's own rate
moved twofold between the rounds of one run (100k to 200k items/s), so one COPY per round,
the baseline of sides measured up to ten seconds later, moved every ratio with it. The
server is a private one from tests/services.py (fsync off, like the tests; --fsync for on).

    .venv/bin/python bench/bench_postgres.py [--items 20000] [--rounds 3]
        [--crawl-articles 2000] [--crawl-rounds 2] [--no-crawl] [--fsync]
        [--foreign-keys-cost]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import psutil  # noqa: E402
import psycopg  # noqa: E402
from scrapy import Spider  # noqa: E402
from scrapy.settings import Settings  # noqa: E402
from scrapy.utils.test import get_crawler  # noqa: E402

from newsarchive import settings as project_settings  # noqa: E402
from newsarchive import stats as names  # noqa: E402
from newsarchive.db import migrate  # noqa: E402
from newsarchive.db.rows import (  # noqa: E402
    ARTICLE_FIELDS,
    DATE_FIELDS,
    EXTRACTOR_VERSION,
    INSTANT_FIELDS,
    STATE_FIELDS,
)
from newsarchive.db.run_database import RunDatabase  # noqa: E402
from newsarchive.db.store import ArchiveStore  # noqa: E402
from newsarchive.items import ArticleItem  # noqa: E402
from newsarchive.pipelines.postgres import PostgresPipeline  # noqa: E402
from newsarchive.worker_processes import usable_cores  # noqa: E402
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
    stamp = {"crawled_at": "2026-01-01T00:00:00+00:00", "extractor_version": EXTRACTOR_VERSION}
    return [{**item, **stamp} for item in items]


def crawl_order(items: list[dict[str, Any]], window: int = 64) -> list[dict[str, Any]]:
    """The items as a crawl delivers them: newest first, each stretch of ``window`` shuffled
    (a listing's articles leave Scrapy's last-in-first-out scheduler in reverse, the next
    listing's interleave), the stretches overlapping by half; the same order every run."""
    rng = random.Random(12)
    ordered = items[::-1]
    for start in range(0, len(ordered), window // 2):
        stretch = ordered[start : start + window]
        rng.shuffle(stretch)
        ordered[start : start + window] = stretch
    return ordered


@contextlib.contextmanager
def settled_heap() -> Iterator[None]:
    """Collect, then freeze what is alive (the bench's inputs) for one measured side."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


#: The private server whose processes' CPU the sides report (set by ``main``).
SERVER: PostgresServer | None = None


def server_cpu_seconds() -> float:
    """User + system CPU of the server's processes alive now (the postmaster and its
    children: backends, WAL writer, checkpointer, autovacuum)."""
    if SERVER is None or SERVER.pid is None:
        return 0.0
    total = 0.0
    postmaster = psutil.Process(SERVER.pid)
    for process in (postmaster, *postmaster.children(recursive=True)):
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


class Window:
    """One measured side: wall time from ``Window()``, and the CPU the bench process and the
    server spent meanwhile (a process that ends inside the window is not counted)."""

    def __init__(self) -> None:
        self.client, self.server = time.process_time(), server_cpu_seconds()
        self.started = time.perf_counter()

    def close(self, items: int) -> Measured:
        elapsed = time.perf_counter() - self.started
        client = time.process_time() - self.client
        server = server_cpu_seconds() - self.server
        per_item = 1e6 / items
        return Measured(items / elapsed, client * per_item, server * per_item, elapsed * per_item)


@dataclass(frozen=True)
class Measured:
    rate: float  # items per second
    client_us: float  # the bench process's CPU, microseconds per item
    server_us: float  # the server's CPU, microseconds per item
    wall_us: float  # wall time, microseconds per item


#: The links schema 0002 leaves undeclared for their cost (docs/POSTGRES.md): added by
#: ``--foreign-keys-cost`` to measure what they would cost.
CANDIDATE_FOREIGN_KEYS = """
ALTER TABLE article_state ADD CONSTRAINT article_state_current_revision_fkey
    FOREIGN KEY (article_id, content_hash) REFERENCES revisions (article_id, content_hash);
ALTER TABLE revisions ADD CONSTRAINT revisions_article_fkey
    FOREIGN KEY (article_id) REFERENCES article_state (article_id) DEFERRABLE INITIALLY DEFERRED;
"""


#: The bench's databases still on the server (at most the one in use).
_DATABASES: list[str] = []


async def fresh_database(server: PostgresServer, more_foreign_keys: bool = False) -> str:
    """A new migrated database, with CANDIDATE_FOREIGN_KEYS when ``more_foreign_keys``. The
    earlier ones are dropped first: autovacuum would otherwise work on their freshly written
    tables while the next side is measured, taking CPU from that side alone."""
    while _DATABASES:
        server.drop_database(_DATABASES.pop())
    return await scratch_database(server, more_foreign_keys)


async def scratch_database(server: PostgresServer, more_foreign_keys: bool = False) -> str:
    """A new migrated database, the earlier ones kept (the next ``fresh_database`` drops
    them): for a baseline measured between two sides that share a database."""
    name = f"bench_{time.monotonic_ns()}"
    _DATABASES.append(name)
    url = server.create_database(name)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await migrate.migrate(conn)
        if more_foreign_keys:
            await conn.execute(CANDIDATE_FOREIGN_KEYS)
    return url


async def copy_rate(url: str, items: list[dict[str, Any]]) -> Measured:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(f"CREATE TABLE scratch ({SCRATCH_COLUMNS})")
        with settled_heap():
            window = Window()
            async with conn.transaction():
                cur = conn.cursor()
                copy_sql = f"COPY scratch ({', '.join(ARTICLE_FIELDS)}) FROM STDIN"
                async with cur.copy(copy_sql) as copy:
                    for item in items:
                        await copy.write_row([item[name] for name in ARTICLE_FIELDS])
            return window.close(len(items))


REVISION_COLUMNS = ("article_id", "content_hash", "title", "body", "kind", "extractor_version",
                    "first_seen_at", "last_seen_at", "first_run_id", "last_run_id")  # fmt: skip
HISTORY_COLUMNS = ("first_seen_at", "last_seen_at", "last_changed_at", "revision_count",
                   "last_run_id")  # fmt: skip


async def archive_copy_rate(url: str, items: list[dict[str, Any]]) -> Measured:
    """The same rows COPYed straight into the archive's own two tables (their keys, indexes
    and constraints; the text goes into ``revisions`` only): the floor of what this schema
    costs, with no checking, typing, de-duplication or upsert logic at all."""
    fields = list(STATE_FIELDS)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        with settled_heap():
            return await _archive_copy(conn, items, fields)


async def _archive_copy(
    conn: psycopg.AsyncConnection, items: list[dict[str, Any]], fields: list[str]
) -> Measured:
    window = Window()
    async with conn.transaction():
        cur = conn.cursor()
        columns = ", ".join(REVISION_COLUMNS)
        async with cur.copy(f"COPY revisions ({columns}) FROM STDIN") as copy:
            for item in items:
                at, version = item["crawled_at"], item["extractor_version"]
                key = [item["article_id"], item["content_hash"]]
                text = [item["title"], item["body"]]
                await copy.write_row([*key, *text, "first", version, at, at, "b", "b"])
        columns = ", ".join([*fields, *HISTORY_COLUMNS])
        async with cur.copy(f"COPY article_state ({columns}) FROM STDIN") as copy:
            for item in items:
                at = item["crawled_at"]
                await copy.write_row([*(item[name] for name in fields), at, at, at, 1, "b"])
    return window.close(len(items))


async def store_rate(url: str, items: list[dict[str, Any]], run_id: str) -> Measured:
    async with await ArchiveStore.open(url) as store:
        with settled_heap():
            window = Window()
            for start in range(0, len(items), BATCH):
                await store.upsert_articles(items[start : start + BATCH], run_id)
            return window.close(len(items))


async def fill_rate(url: str) -> float:
    """Revisions indexed per second by the catch-up, on an archive the store wrote (the
    store alone never fills the index)."""
    async with await ArchiveStore.open(url) as store:
        started = time.perf_counter()
        indexed = await store.catch_up_search()
        elapsed = time.perf_counter() - started
    if not indexed:
        raise SystemExit("bench: the catch-up indexed nothing")
    return indexed / elapsed


async def pipeline_rate(
    url: str, items: list[dict[str, Any]], data_dir: Path, search_fill: bool = True
) -> tuple[Measured, float]:
    """Items per second through ``PostgresPipeline.process_item``: until every item is
    committed (the write path), and until the run's search catch-up is done too (the whole)."""
    settings = {name: value for name, value in vars(project_settings).items() if name.isupper()}
    crawler = get_crawler(
        Spider,
        {
            **{k: v for k, v in settings.items() if k.startswith("NEWSARCHIVE_")},
            "NEWSARCHIVE_DATABASE_URL": url,
            "NEWSARCHIVE_DATA_DIR": str(data_dir),
            "NEWSARCHIVE_DB_SEARCH_FILL": search_fill,
        },
    )
    spider = Spider(name="bench")
    crawler.spider = spider
    pipeline = PostgresPipeline.from_crawler(crawler)
    # The fields the item declares (``extractor_version`` arrives with issue 12's provenance;
    # until then the store stamps the current version itself).
    scrapy_items = [
        ArticleItem({k: v for k, v in item.items() if k in ArticleItem.fields}) for item in items
    ]
    await pipeline.open_spider()
    assert pipeline.writer is not None
    with settled_heap():
        window = Window()
        for item in scrapy_items:
            await pipeline.process_item(item)
        await pipeline.writer.flush()  # returns once every buffered item is committed
        written = window.close(len(items))
        await pipeline.close_spider()  # the flush again (nothing left), then the catch-up
        elapsed = time.perf_counter() - window.started
    await pipeline.spider_closed(spider, "finished")
    database = RunDatabase.for_crawler(crawler)
    assert database is not None
    await database.close()  # what engine_stopped does in a crawl
    stored = crawler.stats.get_value(names.DB_ARTICLES_WRITTEN)
    if stored != len(items):
        raise SystemExit(f"bench: the pipeline wrote {stored} of {len(items)} items")
    with psycopg.connect(url) as conn:
        indexed = conn.execute("SELECT count(*) FROM revision_search").fetchone()
    if not indexed or indexed[0] != len(items):
        raise SystemExit(f"bench: the pipeline indexed {indexed} of {len(items)} revisions")
    return written, len(items) / elapsed


async def bench_store(
    server: PostgresServer, count: int, rounds: int, work: Path, fk_cost: bool = False
) -> dict:
    """COPY, the store, a re-crawl and the pipeline, back to back in every round; with
    ``fk_cost`` the three again with CANDIDATE_FOREIGN_KEYS added."""
    items = prepared_items(count)
    crawled = crawl_order(items)
    later = [{**item, "crawled_at": "2026-01-02T00:00:00+00:00"} for item in items]
    megabytes = sum(len(i["title"].encode()) + len(i["body"].encode()) for i in items) / 2**20
    rates: dict[str, list[float]] = {
        "copy": [],
        "copy_archive": [],
        "store": [],
        "recrawl": [],
        "recrawl_pipeline": [],
        "fill": [],
        "pipeline": [],
        "pipeline_whole": [],
        "pipeline_no_fill": [],
        "pipeline_no_fill_whole": [],
        "pipeline_crawl_order": [],
    }
    if fk_cost:
        rates.update({"store_fk": [], "recrawl_fk": [], "pipeline_fk": []})
    #: name -> the raw COPY's rate measured just before each of its sides: its baselines
    baselines: dict[str, list[float]] = {name: [] for name in rates}
    #: name -> (client, server) CPU and wall microseconds per item, per round
    cpu: dict[str, list[tuple[float, float, float]]] = {}

    def record_rate(name: str, rate: float, baseline: float) -> None:
        rates[name].append(rate)
        baselines[name].append(baseline)

    def record(name: str, measured: Measured, baseline: float) -> None:
        record_rate(name, measured.rate, baseline)
        cpu.setdefault(name, []).append((measured.client_us, measured.server_us, measured.wall_us))

    async def baseline(beside: bool = False) -> float:
        """The raw COPY, measured now, just before the side it is the baseline of: in a fresh
        database (the earlier ones dropped first, as before each side), or ``beside`` the
        database a re-crawl is about to reuse."""
        url = await (scratch_database(server) if beside else fresh_database(server))
        measured = await copy_rate(url, items)
        record("copy", measured, measured.rate)  # its own baseline: "copy" has no ratio
        return measured.rate

    for round_ in range(rounds):
        before = await baseline()
        record("copy_archive", await archive_copy_rate(await fresh_database(server), items), before)
        before = await baseline()
        url = await fresh_database(server)
        record("store", await store_rate(url, items, f"bench-{round_}"), before)
        before = await baseline(beside=True)
        record("recrawl", await store_rate(url, later, f"bench-{round_}-again"), before)
        record_rate("fill", await fill_rate(url), before)
        # The two pipeline variants alternate which goes first.
        for fill in (True, False) if round_ % 2 == 0 else (False, True):
            before = await baseline()
            url = await fresh_database(server)
            data = work / f"data-{round_}-{'fill' if fill else 'no-fill'}"
            write, whole = await pipeline_rate(url, items, data, search_fill=fill)
            name = "pipeline" if fill else "pipeline_no_fill"
            record(name, write, before)
            record_rate(f"{name}_whole", whole, before)
            if fill:
                before = await baseline(beside=True)
                data = work / f"data-{round_}-again"
                record("recrawl_pipeline", (await pipeline_rate(url, later, data))[0], before)
        before = await baseline()
        url = await fresh_database(server)
        data = work / f"data-{round_}-crawl-order"
        record("pipeline_crawl_order", (await pipeline_rate(url, crawled, data))[0], before)
        if fk_cost:
            before = await baseline()
            url = await fresh_database(server, more_foreign_keys=True)
            record("store_fk", await store_rate(url, items, f"bench-{round_}"), before)
            before = await baseline(beside=True)
            record("recrawl_fk", await store_rate(url, later, f"bench-{round_}-again"), before)
            before = await baseline()
            url = await fresh_database(server, more_foreign_keys=True)
            data = work / f"data-fk-{round_}"
            write, _ = await pipeline_rate(url, items, data, search_fill=False)
            record("pipeline_fk", write, before)
        print(
            f"  round {round_ + 1}: "
            + ", ".join(f"{name} {values[-1]:.0f}/s" for name, values in rates.items()),
            file=sys.stderr,
        )
    ratios = {
        name: statistics.median(r / c for r, c in zip(values, baselines[name], strict=True))
        for name, values in rates.items()
        if name != "copy"
    }
    medians = {name: statistics.median(values) for name, values in rates.items()}
    cpu_medians = {
        name: tuple(statistics.median(column) for column in zip(*values, strict=True))
        for name, values in cpu.items()
    }
    return {
        "items": count,
        "text_mib": megabytes,
        "rates": medians,
        "ratios": ratios,
        "cpu": cpu_medians,
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
    parser.add_argument(
        "--foreign-keys-cost",
        action="store_true",
        help="also measure store, pipeline and re-crawl with the undeclared foreign keys added",
    )
    options = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="newsarchive-bench-pg-") as tmp,
        PostgresServer(fsync=options.fsync) as server,
    ):
        global SERVER
        SERVER = server
        result = asyncio.run(
            bench_store(server, options.items, options.rounds, Path(tmp), options.foreign_keys_cost)
        )
        rates, ratios = result["rates"], result["ratios"]
        print(
            f"PostgreSQL {server.bindir.parent.name}, {result['items']} items "
            f"({result['text_mib']:.1f} MiB of title+body), batches of {BATCH}, "
            f"{options.rounds} rounds (medians), fsync={'on' if options.fsync else 'off'}, "
            f"{usable_cores()} usable cores, load average {os.getloadavg()[0]:.1f}"
        )
        rows = [
            ("raw COPY into a scratch table", "copy", ""),
            ("ArchiveStore.upsert_articles", "store", ""),
            ("PostgresPipeline: write path", "pipeline", "  (target >= 0.5)"),
            ("  the whole, search caught up", "pipeline_whole", ""),
            ("  search fill off: write path", "pipeline_no_fill", ""),
            ("  search fill off: the whole", "pipeline_no_fill_whole", ""),
            ("  items in crawl order", "pipeline_crawl_order", ""),
            ("re-crawl, same content (store)", "recrawl", "  (target >= 0.4)"),
            ("  the same through the pipeline", "recrawl_pipeline", ""),
            ("search index fill (revisions)", "fill", ""),
        ]
        if options.foreign_keys_cost:
            rows += [
                ("  with all foreign keys: store", "store_fk", ""),
                ("  with all foreign keys: pipeline (fill off)", "pipeline_fk", ""),
                ("  with all foreign keys: re-crawl", "recrawl_fk", ""),
            ]
        cpu = result["cpu"]
        for label, name, note in rows:
            ratio = "" if name == "copy" else f"  ratio {ratios[name]:.2f}{note}"
            print(f"  {label:<31}: {rates[name]:>8.0f} items/s{ratio}")
        # Wall against CPU shows the overlap: on a quiet machine with two cores, a side whose
        # bench process and server worked at once takes about max(client, server) per item;
        # one whose two sides took turns, about their sum (a loaded machine adds its waits).
        print("  per item, microseconds (CPU: bench process / server; wall; medians):")
        for label, name, _ in [*rows, ("raw COPY into the archive tables", "copy_archive", "")]:
            if name in cpu:
                client, server_us, wall = cpu[name]
                print(f"    {label.strip():<40}: {client:5.1f} / {server_us:5.1f}; {wall:5.1f}")
        everything = result["all"]
        to_archive = statistics.median(
            p / c for p, c in zip(everything["pipeline"], everything["copy_archive"], strict=True)
        )
        print(
            f"  {'raw COPY into the archive tables':<31}: {rates['copy_archive']:>8.0f} items/s"
            f"  ratio {ratios['copy_archive']:.2f}; the pipeline against it: {to_archive:.2f}"
        )
        fill_cost = statistics.median(
            w / n
            for w, n in zip(everything["pipeline"], everything["pipeline_no_fill"], strict=True)
        )
        print(f"  write path, fill beside it / fill off: {fill_cost:.2f}")
        order_cost = statistics.median(
            c / i
            for c, i in zip(everything["pipeline_crawl_order"], everything["pipeline"], strict=True)
        )
        print(f"  write path, crawl order / id order: {order_cost:.2f}")
        if options.foreign_keys_cost:
            # the pipeline with foreign keys runs with the search fill off
            for name, base in (("store", "store"), ("pipeline", "pipeline_no_fill"),
                               ("recrawl", "recrawl")):  # fmt: skip
                cost = statistics.median(
                    f / w for f, w in zip(everything[f"{name}_fk"], everything[base], strict=True)
                )
                print(f"  foreign keys cost, {name}: with / without = {cost:.2f}")
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
