"""`scrapy export` memory stays flat: peak RSS of an export of 10k rows vs 100k rows, same run.

A private PostgreSQL (tests/services.py) gets a scratch archive database; rows of realistic size
(about 3 KB of body, some Korean) are loaded with COPY, 10k first, then 90k more. After each
load, ``scrapy export`` (JSON Lines gzip + CSV + Parquet, then ``--revisions``, then the SQLite
snapshot ``--format sqlite``: articles, revisions, events, runs and its FTS5 index) runs as a
child process and its own peak RSS (wait4) and wall time are recorded. A streaming export's peak RSS
is the interpreter plus one batch, whatever the row count: the 100k/10k RSS ratio should stay
close to 1 while the row count grows tenfold.

    .venv/bin/python bench/bench_export.py [--small 10000] [--large 100000] [--batch-size 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import psycopg  # noqa: E402
from common import SCRAPY, run_measured  # noqa: E402

from newsarchive.db import migrate  # noqa: E402
from newsarchive.processors import content_hash  # noqa: E402
from tests.services import PostgresServer  # noqa: E402

#: Words for bodies of a realistic size and vocabulary (one string: easier to read than a list).
_TEXT = (
    "the Korean people socialist construction country great leader Pyongyang workers farmers "
    "province factory production plan anniversary delegation friendship cooperation meeting "
    "Supreme People's Assembly committee congress achievements innovation science education"
)
WORDS = _TEXT.split(" ")
KOREAN = ("평양의 새 거리", "새로 건설된 살림집", "농업근로자들의 기쁨")
ARTICLE_COLUMNS = (
    "article_id", "url", "title", "body", "published_date", "published_at", "page_date",
    "source", "source_name", "source_language", "original_url", "crawled_at", "content_hash",
    "first_seen_at", "last_seen_at", "last_changed_at", "revision_count", "last_run_id",
)  # fmt: skip
REVISION_COLUMNS = (
    "article_id", "content_hash", "title", "body", "first_seen_at", "last_seen_at",
    "first_run_id", "last_run_id",
)  # fmt: skip


def article(n: int, rng: random.Random) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    """One article row and its revision rows (every tenth article was edited once)."""
    published = datetime(2015, 1, 1, tzinfo=UTC) + timedelta(minutes=97 * n)
    article_id = f"{int(published.timestamp())}-{500000000 + n}"
    title = KOREAN[n % 3] if n % 50 == 0 else " ".join(rng.choices(WORDS, k=8)).title()
    paragraphs = [" ".join(rng.choices(WORDS, k=60)) + "." for _ in range(6)]
    body = "\n\n".join([*paragraphs, "KCNA"])
    crawled = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=n)
    revisions = []
    first_seen = crawled
    if n % 10 == 0:
        old = body.replace("KCNA", "(Revision 1.)\n\nKCNA")
        first_seen = crawled - timedelta(days=30)
        revisions.append((article_id, content_hash(title, old), title, old, first_seen,
                          first_seen, "bench-run-0", "bench-run-0"))  # fmt: skip
    digest = content_hash(title, body)
    revisions.append((article_id, digest, title, body, crawled, crawled, "bench-run-1",
                      "bench-run-1"))  # fmt: skip
    row = (
        article_id, f"https://kcnawatch.org/newstream/{article_id}/article-{n}/", title, body,
        published.date(), published, date(2026, 1, 1), "Naenara (En)", "Naenara", "en",
        "http://www.naenara.com.kp/main/index/en/first", crawled, digest,
        first_seen, crawled, crawled, len(revisions), "bench-run-1",
    )  # fmt: skip
    return row, revisions


def load(url: str, start: int, stop: int) -> None:
    """COPY articles [start, stop) and their revisions into the archive tables.

    Rows are generated twice (same seed) rather than kept: this process forks the measured
    exports, and a child's peak RSS starts from its parent's resident memory.
    """
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY articles ({', '.join(ARTICLE_COLUMNS)}) FROM STDIN") as copy:
            rng = random.Random(start)
            for n in range(start, stop):
                copy.write_row(article(n, rng)[0])
        with cur.copy(f"COPY article_revisions ({', '.join(REVISION_COLUMNS)}) FROM STDIN") as c:
            rng = random.Random(start)
            for n in range(start, stop):
                for revision in article(n, rng)[1]:
                    c.write_row(revision)
        conn.commit()


def own_rss_mib() -> float:
    """This process's resident memory (what a forked child starts from)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def migrate_database(url: str) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await migrate.migrate(conn)


#: What each measured export writes, by the name the report gives it.
EXPORTS = {
    "articles": [],
    "--revisions": ["--revisions"],
    "--format sqlite": ["--format", "sqlite"],
}


def measure(url: str, out: Path, rows: int, batch_size: int, kind: str) -> dict[str, Any]:
    folder = out / f"{rows}-{kind.strip('-').replace(' ', '-')}"
    command = [*SCRAPY, "export", "--output", str(folder), "--batch-size", str(batch_size)]
    command += EXPORTS[kind]
    env = {**os.environ, "NEWSARCHIVE_DATABASE_URL": url}
    result = run_measured(command, env=env)
    if result.returncode != 0:
        raise SystemExit(f"bench: export failed: {result.output.strip()}")
    sizes = {p.name: p.stat().st_size for p in folder.iterdir() if p.name != "manifest.json"}
    return {
        "rows": rows,
        "kind": kind,
        "seconds": result.seconds,
        "peak_rss_mib": result.peak_rss_mib,
        "mib_written": sum(sizes.values()) / 2**20,
    }


def report(results: list[dict[str, Any]]) -> None:
    print(f"{'export':<22}{'articles':>10}{'seconds':>9}{'rows/s':>9}{'peak RSS':>11}"
          f"{'written':>10}")  # fmt: skip
    for r in results:
        print(
            f"{r['kind']:<22}{r['rows']:>10}{r['seconds']:>9.1f}{r['rows'] / r['seconds']:>9.0f}"
            f"{r['peak_rss_mib']:>8.1f} MiB{r['mib_written']:>6.1f} MiB"
        )
    for kind in EXPORTS:
        small, large = [r for r in results if r["kind"] == kind]
        print(
            f"peak RSS {kind}: {large['rows']} rows / "
            f"{small['rows']} rows = {large['peak_rss_mib'] / small['peak_rss_mib']:.2f}x "
            f"for {large['rows'] / small['rows']:.0f}x the rows"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=2000)
    args = parser.parse_args()
    with PostgresServer() as server, tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        url = server.create_database("bench_export")
        asyncio.run(migrate_database(url))
        out = Path(tmp)
        results = []
        loaded = 0
        for rows in (args.small, args.large):
            load(url, loaded, rows)
            loaded = rows
            print(f"bench: {rows} articles loaded with COPY (bench RSS {own_rss_mib():.0f} MiB)",
                  flush=True)  # fmt: skip
            for kind in EXPORTS:
                results.append(measure(url, out, rows, args.batch_size, kind))
        report(results)


if __name__ == "__main__":
    main()
