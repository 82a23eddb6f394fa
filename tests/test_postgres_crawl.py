"""`scrapy crawl` into a real PostgreSQL, end to end, against the offline replica.

Each crawl is a subprocess from the project root, as a user or cron would run it, with the
database URL passed by ``-s``. Covers: a full crawl lands every expected article once with
every field equal to the replica's oracle; a re-crawl adds no rows; an edit adds one
revision and keeps the old text; a deletion sets gone_at; two crawls at once; an unreachable
server and a wrong password stop the crawl in one line without the password; and a server
killed mid-crawl loses nothing once the spill file is replayed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from newsarchive.db.rows import ARTICLE_FIELDS, EXTRACTOR_VERSION
from newsarchive_replica.server import ReplicaServer
from tests.crawling import FAST as CRAWL_FAST
from tests.crawling import after_this_second
from tests.services import PostgresServer, free_port

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[1]
#: The shared fast-crawl settings (no politeness delays, short retry waits), small batches.
FAST = {
    **CRAWL_FAST,
    "NEWSARCHIVE_DB_BATCH_SIZE": "50",
    "NEWSARCHIVE_DB_BATCH_SECONDS": "0.5",
}


def scrapy_command(
    command: str,
    *args: str,
    url: str | None,
    data_dir: Path,
    settings: dict[str, str] | None = None,
) -> list[str]:
    line = [sys.executable, "-m", "scrapy", command, *args]
    values = {**FAST, "NEWSARCHIVE_DATA_DIR": str(data_dir), **(settings or {})}
    if url is not None:
        values["NEWSARCHIVE_DATABASE_URL"] = url
    for name, value in values.items():
        line += ["-s", f"{name}={value}"]
    return line


def environment() -> dict[str, str]:
    # A database URL in the developer's shell must not stand in for the one under test.
    return {k: v for k, v in os.environ.items() if k != "NEWSARCHIVE_DATABASE_URL"}


def start_crawl(
    site: ReplicaServer, url: str | None, data_dir: Path, *spider_args: str, **settings: str
):
    arguments = [f"start_url={site.start_url('naenara', 'listing')}", *spider_args]
    line = scrapy_command(
        "crawl", "naenara", *(f"-a{a}" for a in arguments),
        url=url, data_dir=data_dir, settings=settings,
    )  # fmt: skip
    return subprocess.Popen(
        line, cwd=ROOT, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def crawl(site: ReplicaServer, url: str | None, data_dir: Path, *spider_args: str, **settings: str):
    process = start_crawl(site, url, data_dir, *spider_args, **settings)
    stdout, stderr = process.communicate(timeout=180)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def query(url: str, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()


def as_item(row: dict[str, Any]) -> dict[str, Any]:
    """An articles row as the item the crawler produced (without crawled_at)."""
    item = {"run_id": row["last_run_id"]}  # the run that fetched the latest version
    for name in ARTICLE_FIELDS:
        value = row[name]
        if isinstance(value, datetime):
            value = value.astimezone(UTC).isoformat()
        elif isinstance(value, date):
            value = value.isoformat()
        item[name] = value
    item.pop("crawled_at")
    return item


def archived(url: str) -> dict[str, dict[str, Any]]:
    return {row["article_id"]: row for row in query(url, "SELECT * FROM articles")}


def assert_archive_equals(url: str, expected: list[dict]) -> None:
    rows = archived(url)
    assert len(query(url, "SELECT article_id FROM articles")) == len(rows)
    assert sorted(rows) == sorted(item["article_id"] for item in expected)
    for item in expected:
        want = {k: v for k, v in item.items() if k != "crawled_at"}
        got = as_item(rows[item["article_id"]])
        if "extractor_version" not in want:  # until the items carry it (issue 12)
            assert got.pop("extractor_version") == EXTRACTOR_VERSION
        assert {k: got[k] for k in want} == want, item["article_id"]
        assert set(got) - set(want) <= {"run_id"}


#: Re-fetch every archived article (the replica's articles are all younger than a century).
RECHECK_ALL = "recheck_days=36500"


def tail(result: subprocess.CompletedProcess) -> str:
    return (result.stderr or "")[-4000:]


# --- a full crawl, a re-crawl, an edit and a deletion ----------------------------------------


def test_crawl_recrawl_edit_and_delete(pg_url, tmp_path):
    with ReplicaServer() as site:
        expected = site.expected("naenara")
        first = crawl(site, pg_url, tmp_path / "1")
        assert first.returncode == 0, tail(first)
        assert "postgresql://newsarchive:***@127.0.0.1" in first.stderr  # logged, masked
        assert_archive_equals(pg_url, expected)
        (run1,) = query(pg_url, "SELECT * FROM crawl_runs")
        assert (run1["status"], run1["finish_reason"], run1["item_count"]) == (
            "finished", "finished", len(expected),
        )  # fmt: skip
        assert run1["db_written_count"] == len(expected) and run1["db_spilled_count"] == 0
        assert run1["start_url"] == site.start_url("naenara", "listing")
        assert query(pg_url, "SELECT DISTINCT revision_count, last_run_id FROM articles") == [
            {"revision_count": 1, "last_run_id": run1["run_id"]}
        ]
        before = archived(pg_url)

        # The same content again: no rows, only the sighting times and the run move. (With a
        # database a crawl skips archived articles; recheck_days re-fetches them.)
        after_this_second()  # sighted in a later second than the first crawl's
        second = crawl(site, pg_url, tmp_path / "2", RECHECK_ALL)
        assert second.returncode == 0, tail(second)
        run2 = query(pg_url, "SELECT * FROM crawl_runs ORDER BY started_at")[-1]
        after = archived(pg_url)
        assert sorted(after) == sorted(before)
        assert query(pg_url, "SELECT count(*) AS n FROM article_revisions") == [
            {"n": len(expected)}
        ]
        for article_id, row in after.items():
            old = before[article_id]
            assert row["last_seen_at"] > old["last_seen_at"]
            assert row["last_run_id"] == run2["run_id"]
            for same in ("first_seen_at", "last_changed_at", "revision_count", "body", "title"):
                assert row[same] == old[same], (article_id, same)

        # An edit and a deletion (the deleted article stays listed, so it is re-requested).
        edited_id, deleted_id = expected[0]["article_id"], expected[1]["article_id"]
        new_version = site.edit(edited_id)
        site.delete(deleted_id, status=410)
        after_this_second()  # the deletion answered after the last sighting
        third = crawl(site, pg_url, tmp_path / "3", RECHECK_ALL)
        assert third.returncode == 0, tail(third)
        run3 = query(pg_url, "SELECT * FROM crawl_runs ORDER BY started_at")[-1]

    final = archived(pg_url)
    assert len(final) == len(expected)
    assert query(pg_url, "SELECT count(*) AS n FROM article_revisions") == [
        {"n": len(expected) + 1}
    ]
    edited = final[edited_id]
    assert edited["revision_count"] == 2 and edited["body"] == new_version["body"]
    assert edited["last_changed_at"] == edited["crawled_at"]
    revisions = query(
        pg_url,
        "SELECT body, first_run_id FROM article_revisions WHERE article_id = %s"
        " ORDER BY first_seen_at",
        (edited_id,),
    )
    assert revisions == [
        {"body": expected[0]["body"], "first_run_id": run1["run_id"]},
        {"body": new_version["body"], "first_run_id": run3["run_id"]},
    ]
    deleted = final[deleted_id]
    assert deleted["gone_at"] is not None and deleted["gone_at"] > deleted["last_seen_at"]
    assert deleted["body"] == expected[1]["body"]  # the text stays
    assert query(pg_url, "SELECT article_id, event, http_status, run_id FROM article_events") == [
        {"article_id": deleted_id, "event": "gone", "http_status": 410, "run_id": run3["run_id"]}
    ]
    assert sum(row["gone_at"] is not None for row in final.values()) == 1


def test_two_crawls_at_once_store_each_article_once(pg_url, tmp_path):
    with ReplicaServer() as site:
        expected = site.expected("naenara")
        processes = [start_crawl(site, pg_url, tmp_path / name) for name in ("a", "b")]
        results = [p.communicate(timeout=180) for p in processes]
    for process, (_, stderr) in zip(processes, results, strict=True):
        assert process.returncode == 0, stderr[-4000:]
    assert_archive_equals(pg_url, expected)
    assert query(pg_url, "SELECT DISTINCT revision_count FROM articles") == [{"revision_count": 1}]
    assert query(pg_url, "SELECT count(*) AS n FROM crawl_runs WHERE status = 'finished'") == [
        {"n": 2}
    ]


# --- a database that cannot be used -----------------------------------------------------------


@pytest.mark.parametrize("failure", ["unreachable", "wrong_password", "not_migrated"])
def test_unusable_database_stops_the_crawl_in_one_line(
    failure, postgres_server: PostgresServer, pg_empty_url, tmp_path
):
    secret = "Sup3r-Secret-pw"
    if failure == "unreachable":
        url = f"postgresql://newsarchive:{secret}@127.0.0.1:{free_port()}/newsarchive"
        reason = "refused"
    elif failure == "wrong_password":
        url = postgres_server.url_with_password(secret)
        reason = "password authentication failed"
    else:
        url = pg_empty_url
        secret = postgres_server.password
        reason = "scrapy dbmigrate"
    with ReplicaServer() as site:
        result = crawl(site, url, tmp_path)
        assert site.requests == []  # the crawl never started
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("scrapy crawl: error: "), tail(result)
    assert "127.0.0.1:" in last and reason in last, last
    assert secret not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr, tail(result)


def test_dbmigrate_command_is_idempotent_and_fails_in_one_line(
    postgres_server: PostgresServer, pg_empty_url, tmp_path
):
    def migrate(url: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            scrapy_command("dbmigrate", url=url, data_dir=tmp_path),
            cwd=ROOT, env=environment(), capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    first, second = migrate(pg_empty_url), migrate(pg_empty_url)
    assert first.returncode == 0 and "applied 0001_initial" in first.stdout, first.stderr
    assert second.returncode == 0 and "schema up to date" in second.stdout, second.stderr
    bad = migrate(postgres_server.url_with_password("Wrong-pw-123"))
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        line for line in bad.stderr.strip().splitlines() if line.startswith("scrapy dbmigrate:")
    ]
    assert "127.0.0.1" in bad.stderr and "Wrong-pw-123" not in bad.stderr + bad.stdout


# --- the server dies mid-crawl ----------------------------------------------------------------


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def article_requests(site: ReplicaServer) -> int:
    return sum(entry["path"].startswith("/newstream/") for entry in site.requests)


def test_server_killed_mid_crawl_loses_nothing_after_the_spill_is_replayed(
    postgres_server: PostgresServer, pg_url, tmp_path
):
    with ReplicaServer(naenara_articles=1200) as site:
        expected = site.expected("naenara")
        process = start_crawl(
            site, pg_url, tmp_path,
            DOWNLOAD_DELAY="0.004", CONCURRENT_REQUESTS_PER_DOMAIN="4",
            NEWSARCHIVE_DB_BATCH_SIZE="20", NEWSARCHIVE_DB_BATCH_SECONDS="0.2",
            NEWSARCHIVE_DB_RETRY_TIMES="2", NEWSARCHIVE_DB_RETRY_BACKOFF="0.1",
            NEWSARCHIVE_DB_PROBE_SECONDS="0.3",
            NEWSARCHIVE_DB_TIMEOUT="2",
        )  # fmt: skip
        try:
            total = len(expected)
            wait_for(lambda: article_requests(site) >= total // 4, 60, "a quarter of the crawl")
            postgres_server.kill()
            # An outage longer than the retries (~0.3 s here): batches go to the spill file.
            wait_for(lambda: article_requests(site) >= total * 3 // 5, 60, "60% of the crawl")
            postgres_server.start()  # back while the crawl still runs: writing resumes
            _, stderr = process.communicate(timeout=180)
        finally:
            if process.poll() is None:
                process.kill()
            if not postgres_server.running:
                postgres_server.start()
    # Issue 11: items that wait in the spill file are not in the archive yet: a failed run
    # (the database check), whose last line says what waits and the command that loads it.
    assert process.returncode == 1, stderr[-4000:]
    assert "Monitor check database FAILED" in stderr
    assert "`scrapy dbloadspill " in stderr.strip().splitlines()[-1]
    database_lines = "\n".join(line for line in stderr.splitlines() if "postgres" in line.lower())
    assert "spilling items to" in stderr, database_lines[-4000:]
    assert "answers again; writing resumed" in stderr, database_lines[-4000:]
    spill_files = sorted((tmp_path / "spill").glob("*.jsonl"))
    assert len(spill_files) == 1, spill_files
    written = len(query(pg_url, "SELECT article_id FROM articles"))
    assert 0 < written < len(expected)  # part of the crawl is only in the spill file

    load = subprocess.run(
        scrapy_command("dbloadspill", str(spill_files[0]), url=pg_url, data_dir=tmp_path),
        cwd=ROOT, env=environment(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert load.returncode == 0, load.stderr[-3000:]
    assert "rejected 0" in load.stdout, load.stdout
    assert_archive_equals(pg_url, expected)
    assert query(pg_url, "SELECT DISTINCT revision_count FROM articles") == [{"revision_count": 1}]
    assert query(pg_url, "SELECT count(*) AS n FROM article_revisions") == [{"n": len(expected)}]
    (run,) = query(pg_url, "SELECT * FROM crawl_runs")
    assert run["status"] == "finished" and run["db_spilled_count"] > 0
    assert run["failed"] is True and run["failure_reason"].startswith("database: ")
    assert not spill_files[0].exists()  # renamed *.loaded once fully loaded
    # Replaying again changes nothing.
    again = subprocess.run(
        scrapy_command(
            "dbloadspill", str(spill_files[0]) + ".loaded", "--keep", url=pg_url, data_dir=tmp_path
        ),
        cwd=ROOT, env=environment(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert again.returncode == 0 and "0 new articles, 0 new revisions" in again.stdout
    assert len(query(pg_url, "SELECT article_id FROM articles")) == len(expected)


def test_a_feeds_only_crawl_never_loads_the_database_driver(tmp_path):
    """Without NEWSARCHIVE_DATABASE_URL the crawl neither opens a pool nor imports psycopg
    (start-up cost, issue 13): checked in the crawling process itself, at its exit."""
    with ReplicaServer() as site:
        line = scrapy_command(
            "crawl", "naenara", f"-astart_url={site.start_url('naenara', 'listing')}",
            "-O", f"{tmp_path / 'out.jsonl'}:jsonlines", url=None, data_dir=tmp_path,
        )  # fmt: skip
        probe = (
            "import atexit, runpy, sys\n"
            "atexit.register(lambda: print('drivers:', sorted(m for m in sys.modules"
            " if m.split('.')[0] in ('psycopg', 'psycopg_pool'))))\n"
            f"sys.argv = ['scrapy', *{line[3:]!r}]\n"
            "runpy.run_module('scrapy', run_name='__main__', alter_sys=True)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", probe], cwd=ROOT, env=environment(), capture_output=True,
            text=True, timeout=180,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Archiving to PostgreSQL" not in done.stderr
    assert len((tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()) > 100
    assert done.stdout.strip().splitlines()[-1] == "drivers: []"


@pytest.mark.parametrize("command", ["dbmigrate", "dbloadspill", "export"])
def test_database_commands_share_one_option_and_one_line_usage_errors(command, tmp_path):
    """``--database-url`` everywhere; a missing database or a stale ``--url`` is one line,
    exit 2, never ignored in silence."""

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            scrapy_command(command, *args, url=None, data_dir=tmp_path),
            cwd=ROOT, env=environment(), capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    missing = run()
    assert missing.returncode == 2
    assert missing.stderr.splitlines() == [
        f"scrapy {command}: error: no database: set NEWSARCHIVE_DATABASE_URL "
        "(environment or -s) or --database-url"
    ]
    if command != "dbloadspill":  # its arguments are spill files
        stale = run("--url", "postgresql://u@127.0.0.1/x")
        assert stale.returncode == 2
        assert stale.stderr.splitlines() == [
            f"scrapy {command}: error: unexpected argument(s): --url postgresql://u@127.0.0.1/x"
        ]
