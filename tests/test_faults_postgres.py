"""Faults and security with the PostgreSQL archive on: kill -9 and resume, the monitor's verdict
in crawl_runs, passwords never printed, hostile titles and bodies stored verbatim.

These tests need a real server (tests/services.py); under CI=true a missing one fails them.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from newsarchive.db.store import ArchiveStore
from newsarchive_replica.server import ReplicaServer
from tests.crawling import FAST, ROOT
from tests.services import PostgresServer

pytestmark = pytest.mark.postgres

STREAM = "kcna"
DB_FAST = {"NEWSARCHIVE_DB_BATCH_SIZE": "5", "NEWSARCHIVE_DB_BATCH_SECONDS": "0.2"}


def command(site: ReplicaServer, data_dir: Path, **settings: str) -> list[str]:
    line = [sys.executable, "-m", "scrapy", "crawl", "naenara", "-a",
            f"start_url={site.start_url(STREAM)}"]  # fmt: skip
    values = {**FAST, **DB_FAST, "NEWSARCHIVE_DATA_DIR": str(data_dir), **settings}
    for name, value in values.items():
        line += ["-s", f"{name}={value}"]
    return line


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NEWSARCHIVE_DATABASE_URL"}
    env.update(extra)
    return env


def crawl(site: ReplicaServer, data_dir: Path, env: dict[str, str] | None = None, **settings: str):
    return subprocess.run(
        command(site, data_dir, **settings), cwd=ROOT, capture_output=True, text=True,
        timeout=180, env=env or environment(),
    )  # fmt: skip


def query(url: str, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()


def assert_archive_holds_exactly(url: str, expected: list[dict]) -> None:
    """One row per expected article, each equal to the oracle; one revision per article."""
    rows = {row["article_id"]: row for row in query(url, "SELECT * FROM articles")}
    assert sorted(rows) == sorted(item["article_id"] for item in expected)
    for item in expected:
        row = rows[item["article_id"]]
        assert (row["title"], row["body"], row["content_hash"]) == (
            item["title"], item["body"], item["content_hash"],
        ), item["article_id"]  # fmt: skip
    assert query(url, "SELECT count(*) AS n FROM article_revisions") == [{"n": len(expected)}]
    assert query(url, "SELECT DISTINCT revision_count FROM articles") == [{"revision_count": 1}]


# --- kill -9 in the middle of a crawl with a job directory, then the same command again ----------


def test_kill_9_with_jobdir_then_the_same_command_archives_every_article_once(pg_url, tmp_path):
    with ReplicaServer(naenara_articles=0, kcna_articles=40) as site:
        expected = site.expected(STREAM)
        site.faults.add("^/newstream/", "delay:0.1", repeat=True)  # slow enough to kill mid-way
        line = command(
            site, tmp_path, JOBDIR=str(tmp_path / "job"), NEWSARCHIVE_DATABASE_URL=pg_url,
            CONCURRENT_REQUESTS_PER_DOMAIN="1", DOWNLOAD_DELAY="0.01",
        )  # fmt: skip
        first = subprocess.Popen(
            line, cwd=ROOT, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while len(query(pg_url, "SELECT article_id FROM articles")) < 10:
                assert first.poll() is None, first.communicate()[1][-3000:]
                assert time.monotonic() < deadline, "the first crawl archived nothing"
                time.sleep(0.05)
            os.killpg(first.pid, signal.SIGKILL)
            first.communicate(timeout=30)
        finally:
            if first.poll() is None:
                os.killpg(first.pid, signal.SIGKILL)
        assert first.returncode == -signal.SIGKILL
        archived_by_first = len(query(pg_url, "SELECT article_id FROM articles"))
        assert 10 <= archived_by_first < len(expected)
        fetched_before = sum(
            e["status"] == 200 for e in site.requests if "/newstream/" in e["path"]
        )

        again = subprocess.run(
            line, cwd=ROOT, env=environment(), capture_output=True, text=True, timeout=180
        )
        fetched_again = (
            sum(e["status"] == 200 for e in site.requests if "/newstream/" in e["path"])
            - fetched_before
        )
    assert again.returncode == 0, again.stderr[-4000:]
    assert "did not stop cleanly" in again.stderr
    assert list((tmp_path / "job").glob("crashed-*/requests.seen"))
    assert "scheduler/unserializable" not in again.stderr  # requests pickle into the JOBDIR
    # Resumed: what the first run archived is not fetched again ...
    assert fetched_again <= len(expected) - archived_by_first + 5
    # ... and together the runs archived every article exactly once.
    assert_archive_holds_exactly(pg_url, expected)
    runs = query(pg_url, "SELECT status, failed FROM crawl_runs ORDER BY started_at")
    assert runs[-1] == {"status": "finished", "failed": False}


# --- the monitor's verdict in crawl_runs; no password anywhere ----------------------------------


def test_monitor_verdict_is_in_crawl_runs_and_the_password_is_never_printed(
    postgres_server: PostgresServer, pg_url, tmp_path
):
    password = postgres_server.password
    assert password in pg_url
    with ReplicaServer(naenara_articles=0, kcna_articles=40) as site:
        good = crawl(site, tmp_path / "good", NEWSARCHIVE_DATABASE_URL=pg_url)  # -s: worst case
        site.faults.add(r"^/(\?|newstream/)", "403", repeat=True)
        blocked = crawl(
            site, tmp_path / "blocked", env=environment(NEWSARCHIVE_DATABASE_URL=pg_url),
            NEWSARCHIVE_THROTTLE_RETRY_TIMES="1",
        )  # fmt: skip
    assert good.returncode == 0, good.stderr[-3000:]
    assert blocked.returncode == 1
    runs = query(pg_url, "SELECT failed, failure_reason, stats FROM crawl_runs ORDER BY started_at")
    assert [run["failed"] for run in runs] == [False, True]
    assert runs[0]["failure_reason"] is None
    assert runs[1]["failure_reason"].startswith("blocked: BLOCKED")
    assert runs[1]["stats"]["newsarchive/run_failed"] == 1
    # The password is in no log line, summary, feed or other file of either run.
    assert "postgresql://newsarchive:***@" in good.stderr
    for result in (good, blocked):
        assert password not in result.stdout + result.stderr
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".json" and "runs" in p.parts for p in written)
    for path in written:
        assert password.encode() not in path.read_bytes(), path


def test_unreachable_database_url_is_masked(tmp_path):
    secret = "s3cr3t-Pa55"
    url = f"postgresql://archivist:{secret}@127.0.0.1:9/newsarchive"
    with ReplicaServer(naenara_articles=0, kcna_articles=5) as site:
        result = crawl(site, tmp_path, NEWSARCHIVE_DATABASE_URL=url)
    assert result.returncode != 0
    assert secret not in result.stdout + result.stderr
    assert "archivist:***@127.0.0.1:9" in result.stderr or "127.0.0.1:9" in result.stderr
    for path in (p for p in tmp_path.rglob("*") if p.is_file()):
        assert secret.encode() not in path.read_bytes(), path


# --- hostile titles and bodies are data, stored and read back verbatim ---------------------------

SQL_TITLE = "Robert'); DROP TABLE articles; -- \" %s %(x)s {0} $$ \\' <b>bold</b>"
PAYLOAD_BODY = [
    "'; DELETE FROM crawl_runs WHERE ''=''; --",
    '<script>alert(document.cookie)</script><img src=x onerror="alert(1)">',
    "1' OR '1'='1\"; SELECT pg_sleep(10); -- E'\\x41' || chr(39) || $tag$ injected $tag$",
    "&lt;not an entity&gt; &amp; %% %(body)s \\N \\\\ ' \"",
]


def test_sql_and_html_payloads_through_a_replica_article_are_stored_verbatim(pg_url, tmp_path):
    with ReplicaServer(naenara_articles=0, kcna_articles=40) as site:
        target = site.expected(STREAM)[3]["article_id"]
        edited = site.edit(target, title=SQL_TITLE, body=PAYLOAD_BODY)
        expected = site.expected(STREAM)
        result = crawl(site, tmp_path, NEWSARCHIVE_DATABASE_URL=pg_url)
    assert result.returncode == 0, result.stderr[-3000:]
    # (KCNA.kp bodies end with their "-0-" and Juche dateline paragraphs.)
    assert edited["title"] == SQL_TITLE and edited["body"].startswith("\n\n".join(PAYLOAD_BODY))
    (row,) = query(pg_url, "SELECT title, body FROM articles WHERE article_id = %s", (target,))
    assert row == {"title": SQL_TITLE, "body": edited["body"]}
    assert_archive_holds_exactly(pg_url, expected)  # every table still there, nothing else hit
    assert len(query(pg_url, "SELECT run_id FROM crawl_runs")) == 1


def test_sql_payloads_through_the_store_are_stored_verbatim(pg_url):
    hostile_id = "1700000000-1'); DROP TABLE articles; --"
    item = {
        "url": "http://example.org/newstream/1700000000-1/x'%20OR%201=1/",
        "article_id": hostile_id,
        "title": SQL_TITLE,
        "body": "\n\n".join(PAYLOAD_BODY) + "\n\ttabs\r\nand\u2028separators\u00a0",
        "published_date": "2024-04-13",
        "published_at": "2024-04-13T11:04:43+00:00",
        "page_date": "2025-12-27",
        "source": "Naenara (En)'; --",
        "source_name": "Naenara",
        "source_language": "en",
        "original_url": "javascript:alert('x')",
        "crawled_at": "2025-12-27T10:00:00+00:00",
        "content_hash": None,
    }

    async def store_and_read() -> dict[str, Any] | None:
        async with await ArchiveStore.open(pg_url) as store:
            result = await store.upsert_articles([item], run_id="run'); --")
            assert result.rejected == [] and result.articles_added == 1
            assert await store.known_article_ids(source=item["source"]) == {hostile_id}
            return await store.get_article(hostile_id)

    row = asyncio.run(store_and_read())
    assert row is not None
    for field in ("url", "article_id", "title", "body", "source", "original_url"):
        assert row[field] == item[field], field
    assert row["last_run_id"] == "run'); --"
    assert json.dumps(query(pg_url, "SELECT count(*) AS n FROM articles")) == '[{"n": 1}]'
