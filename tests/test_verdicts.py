"""Issue 11's verdict table, one test per row, against a real PostgreSQL (tests/services.py).

Each test runs ``scrapy crawl`` (or ``scrapy export``, ``scrapy dbloadspill``) as cron or a
user would, against the offline replica, and checks what the run says about itself: its exit
status, the monitor's checks, its log lines, its summary and its ``crawl_runs`` row. The
scheduler row (``newsarchive-schedule … -a bogus=1``) is tested with the scheduler.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from newsarchive.clock import utc_now
from newsarchive.db.records import RunRecord
from newsarchive.db.store import ArchiveStore, run_application_name
from newsarchive_replica.server import ReplicaServer
from tests.conftest_postgres import migrate_url
from tests.crawling import FAST, ROOT, CrawlResult, crawl
from tests.services import PostgresServer

pytestmark = pytest.mark.postgres

STREAM = "kcna"
#: Small batches, and a lost server given up on quickly (its items spill).
DB_FAST = {
    "NEWSARCHIVE_DB_BATCH_SIZE": "5",
    "NEWSARCHIVE_DB_BATCH_SECONDS": "0.2",
    "NEWSARCHIVE_DB_RETRY_TIMES": "1",
    "NEWSARCHIVE_DB_RETRY_BACKOFF": "0.1",
    "NEWSARCHIVE_DB_PROBE_SECONDS": "0.3",
    "NEWSARCHIVE_DB_TIMEOUT": "1",
}


def archive_crawl(data_dir: Path, database: str, *arguments: str, **settings: str) -> CrawlResult:
    """``scrapy crawl naenara`` into ``database`` (by the environment: no password in ps)."""
    return crawl(
        data_dir, *arguments, settings={**DB_FAST, **settings},
        env={"NEWSARCHIVE_DATABASE_URL": database},
    )  # fmt: skip


def query(url: str, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()


def runs(url: str) -> list[dict[str, Any]]:
    return query(url, "SELECT * FROM crawl_runs ORDER BY started_at, run_id")


def failed_checks(result: CrawlResult) -> list[str]:
    assert result.summary is not None, result.log[-3000:]
    return result.summary["monitor"]["failed"]


def lines(result: CrawlResult, text: str, level: str = "") -> list[str]:
    return [line for line in result.log.splitlines() if text in line and level in line]


def site_requests(site: ReplicaServer) -> int:
    return len(site.requests)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def scrapy(*args: str, database: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """A project command (export, dbloadspill) with the archive in the environment."""
    env = {**os.environ, "NEWSARCHIVE_DATABASE_URL": database}
    command = [sys.executable, "-m", "scrapy", *args, "-s", f"NEWSARCHIVE_DATA_DIR={data_dir}"]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def start_crawl(
    site: ReplicaServer, database: str, data_dir: Path, quiet: bool = False, **settings: str
) -> subprocess.Popen[str]:
    """The crawl of row 4 and row 6, in the background (its own session: kill -9 reaches
    all of it); ``quiet``: its output is not kept."""
    command = [sys.executable, "-m", "scrapy", "crawl", "naenara", "-a",
               f"start_url={site.start_url(STREAM)}"]  # fmt: skip
    values = {**FAST, **DB_FAST, "NEWSARCHIVE_DATA_DIR": str(data_dir), **settings}
    for name, value in values.items():
        command += ["-s", f"{name}={value}"]
    output = subprocess.DEVNULL if quiet else subprocess.PIPE
    return subprocess.Popen(
        command, cwd=ROOT, env={**os.environ, "NEWSARCHIVE_DATABASE_URL": database},
        stdout=output, stderr=output, text=True, start_new_session=True,
    )  # fmt: skip


@pytest.fixture
def site():
    with ReplicaServer(naenara_articles=0, kcna_articles=40) as server:
        yield server


# --- row 1: `-a full=1` again on an archive that holds everything ----------------------------


def test_full_walk_again_on_a_complete_archive_passes_and_an_empty_one_still_fails(
    site, pg_url, postgres_server: PostgresServer, tmp_path
):
    start = f"start_url={site.start_url(STREAM)}"
    first = archive_crawl(tmp_path, pg_url, start, "full=1")
    assert first.returncode == 0, first.log[-3000:]
    again = archive_crawl(tmp_path, pg_url, start, "full=1")
    assert again.returncode == 0, again.log[-3000:]
    assert failed_checks(again) == []
    assert len(lines(again, "Monitor: all")) == 1
    assert again.summary["items"] == 0
    (check,) = [c for c in again.summary["monitor"]["checks"] if c["name"] == "min_items"]
    assert "every one of the 40 listed articles was archived before" in check["message"]
    assert [run["failed"] for run in runs(pg_url)] == [False, False]

    # A first walk of an empty archive that finds nothing still fails.
    empty = postgres_server.create_database()
    migrate_url(empty)
    site.faults.add("source=", "empty", repeat=True)
    nothing = archive_crawl(tmp_path / "empty", empty, start, "full=1")
    assert nothing.returncode == 1
    assert {"min_items", "article_links"} <= set(failed_checks(nothing))
    assert [run["failed"] for run in runs(empty)] == [True]


# --- row 2: the same command again after a finished JOBDIR run -------------------------------


def test_a_finished_jobdir_job_run_again_has_nothing_left_and_passes(site, pg_url, tmp_path):
    start = f"start_url={site.start_url(STREAM)}"
    job = {"JOBDIR": str(tmp_path / "job")}
    first = archive_crawl(tmp_path, pg_url, start, **job)
    assert first.returncode == 0, first.log[-3000:]
    before = site_requests(site)
    again = archive_crawl(tmp_path, pg_url, start, **job)
    assert again.returncode == 0, again.log[-3000:]
    assert site_requests(site) == before  # nothing fetched
    [line] = lines(again, "nothing is left to crawl", "INFO")
    assert first.summary["run_id"] in line
    assert failed_checks(again) == []
    assert [(run["status"], run["failed"]) for run in runs(pg_url)] == [("finished", False)] * 2


# --- row 3: the last listing's "More Articles" leads back to page 1 --------------------------


def test_pagination_that_loops_back_to_page_one_is_the_end_of_the_walk(site, pg_url, tmp_path):
    site.faults.add("paged=3", "loop:1", repeat=True)  # the last page leads back to page 1
    start = f"start_url={site.start_url(STREAM)}"
    first = archive_crawl(tmp_path, pg_url, start)
    assert first.returncode == 0, first.log[-3000:]
    assert first.summary["items"] == 40
    [warning] = lines(first, "pagination loops", "WARNING")
    assert "repeats the cards of an earlier page" in warning or "read before" in warning
    assert "walk complete" in first.log
    for _ in range(2):  # later runs with nothing new: incremental, and done in 3 requests
        before = site_requests(site)
        later = archive_crawl(tmp_path, pg_url, start)
        assert later.returncode == 0, later.log[-3000:]
        assert site_requests(site) - before <= 3
        assert "stopping at the first listing page with nothing new" in later.log
    assert [run["failed"] for run in runs(pg_url)] == [False] * 3


# --- row 4: PostgreSQL goes away early in a crawl and stays away -----------------------------


def test_database_gone_for_good_fails_the_run_and_the_replay_records_why(
    site, pg_url, postgres_server: PostgresServer, tmp_path
):
    expected = {item["article_id"] for item in site.expected(STREAM)}
    site.faults.add("^/newstream/", "delay:0.05", repeat=True)
    process = start_crawl(site, pg_url, tmp_path, CONCURRENT_REQUESTS_PER_DOMAIN="2")
    try:
        # Early in the crawl, once it archives (before that, a lost server is a failed start).
        wait_for(
            lambda: bool(query(pg_url, "SELECT article_id FROM articles LIMIT 1")),
            60,
            "the first archived articles",
        )
        postgres_server.kill()  # and it stays away until the crawl has ended
        _, stderr = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
        if not postgres_server.running:
            postgres_server.start()
    assert process.returncode == 1, stderr[-4000:]
    (spill_file,) = (tmp_path / "spill").glob("*.jsonl")
    last_line = stderr.strip().splitlines()[-1]
    assert last_line.startswith("scrapy crawl: error: ")
    assert f"wait in the spill file {spill_file}" in last_line
    assert f"`scrapy dbloadspill {spill_file}`" in last_line
    assert "Monitor check database FAILED" in stderr
    (summary_file,) = (tmp_path / "runs" / "naenara").glob("*.json")
    summary = json.loads(summary_file.read_text(encoding="utf-8"))
    assert "database" in summary["monitor"]["failed"]
    spilled = summary["database"]["spilled"]
    assert spilled > 0 and f"{spilled} items never reached PostgreSQL" in last_line
    assert summary["database"]["load_command"] == f"scrapy dbloadspill {spill_file}"

    load = scrapy("dbloadspill", str(spill_file), database=pg_url, data_dir=tmp_path)
    assert load.returncode == 0, load.stderr[-3000:]
    # Nothing lost: what the database got and what the spill held make the whole stream.
    assert {r["article_id"] for r in query(pg_url, "SELECT article_id FROM articles")} == expected
    (run,) = runs(pg_url)
    assert run["run_id"] == summary["run_id"]
    assert run["status"] == "finished" and run["failed"] is True
    assert run["failure_reason"].startswith(f"database: {spilled} items never reached PostgreSQL")


# --- row 5: a scripted listing crawled with -a render=never ----------------------------------


def test_render_never_on_a_scripted_listing_fails_listings_fetched(pg_url, tmp_path):
    with ReplicaServer(scripted=True, naenara_articles=60) as scripted:
        start = f"start_url={scripted.start_url('naenara', 'listing')}"
        result = archive_crawl(tmp_path, pg_url, start, "render=never")
    assert result.returncode == 1
    assert result.summary["items"] == 20  # the listing's first page: all it could read
    assert failed_checks(result) == ["listings_fetched"]
    [line] = lines(result, "Monitor check listings_fetched FAILED", "ERROR")
    assert "not_rendered_render_never 1" in line
    (run,) = runs(pg_url)
    assert run["failed"] is True and run["failure_reason"].startswith("listings_fetched:")


# --- row 6: a run killed with kill -9 -----------------------------------------------------


def test_the_next_run_closes_the_row_of_a_run_killed_with_kill_9(site, pg_url, tmp_path):
    site.faults.add("^/newstream/", "delay:0.2", repeat=True)
    killed = start_crawl(site, pg_url, tmp_path, quiet=True, CONCURRENT_REQUESTS_PER_DOMAIN="1")
    try:
        wait_for(lambda: len(query(pg_url, "SELECT article_id FROM articles")) >= 5, 60, "5 rows")
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait(timeout=30)
    finally:
        if killed.poll() is None:
            os.killpg(killed.pid, signal.SIGKILL)
    [dead] = runs(pg_url)
    assert dead["status"] == "running"  # nobody could say otherwise yet
    site.faults.clear()
    # While a run is alive its row is left alone: only the dead one is closed.
    next_run = archive_crawl(tmp_path, pg_url, f"start_url={site.start_url(STREAM)}")
    assert next_run.returncode == 0, next_run.log[-3000:]
    [warning] = lines(next_run, "never recorded its end", "WARNING")
    assert dead["run_id"] in warning
    closed, finished = runs(pg_url)
    assert closed["run_id"] == dead["run_id"]
    assert (closed["status"], closed["finish_reason"], closed["failed"]) == (
        "incomplete", "killed", True,
    )  # fmt: skip
    assert closed["failure_reason"].startswith("killed: ")
    assert next_run.summary["run_id"] in closed["failure_reason"]
    assert (finished["status"], finished["failed"]) == ("finished", False)


def test_only_runs_no_connection_names_are_closed_and_a_real_end_wins(pg_url):
    """The store's half of row 6: a live run (its pool names it) is left alone, a dead one is
    closed as killed; a run wrongly closed (it had lost the server) gets its real end back."""

    async def scenario() -> list[str]:
        started = utc_now()
        live = await ArchiveStore.open(pg_url, application_name=run_application_name("live"))
        async with live, await ArchiveStore.open(pg_url) as other:
            for run_id in ("live", "dead", "lost"):
                await other.start_run(RunRecord(run_id, "naenara", None, started))
            closed = await other.close_dead_runs("now")
            # "lost" ends after all (the server had only been away): its end wins.
            await other.finish_run(RunRecord("lost", "naenara", None, started, utc_now(),
                                             "finished"))  # fmt: skip
            return closed

    assert asyncio.run(scenario()) == ["dead", "lost"]
    rows = {row["run_id"]: row for row in runs(pg_url)}
    assert (rows["live"]["status"], rows["live"]["failed"]) == ("running", None)
    assert (rows["dead"]["status"], rows["dead"]["finish_reason"], rows["dead"]["failed"]) == (
        "incomplete", "killed", True,
    )  # fmt: skip
    assert "closed by run now" in rows["dead"]["failure_reason"]
    lost = rows["lost"]
    assert (lost["status"], lost["failed"], lost["failure_reason"]) == ("finished", None, None)


# --- row 7: a body streamed past DOWNLOAD_MAXSIZE without Content-Length -----------------------


def test_a_body_streamed_past_the_max_size_is_dropped_as_oversized(site, pg_url, tmp_path):
    big = site.expected(STREAM)[4]["article_id"]
    site.faults.add(f"/newstream/{big}/", "oversize_stream:300000", repeat=True)
    result = archive_crawl(
        tmp_path, pg_url, f"start_url={site.start_url(STREAM)}", DOWNLOAD_MAXSIZE="200000"
    )
    assert result.returncode == 0, result.log[-3000:]
    assert result.summary["drops"] == {"oversized": 1}
    assert not lines(result, "DownloadCancelledError", "Dropped")
    assert "'newsarchive/responses/oversized': 1" in result.log
    assert len(result.items) == 39 and big not in {item["article_id"] for item in result.items}


# --- row 8: start URL on an alias host ------------------------------------------------------


def test_a_start_url_on_an_alias_host_is_one_warning_naming_both_hosts(site, pg_url, tmp_path):
    alias = site.start_url(STREAM).replace("127.0.0.1", "localhost")
    result = archive_crawl(tmp_path, pg_url, f"start_url={alias}")
    assert result.returncode == 1  # nothing was archived: still a failed run
    [warning] = lines(result, "not on the start URL's host", "WARNING")
    assert "on 127.0.0.1, not on the start URL's host localhost" in warning
    assert "start from a URL on 127.0.0.1" in warning


# --- rows 9 and 10: `scrapy export` ---------------------------------------------------------


def test_export_names_the_labels_and_never_mixes_two_exports(site, pg_url, tmp_path):
    archived = archive_crawl(tmp_path, pg_url, f"start_url={site.start_url(STREAM)}")
    assert archived.returncode == 0, archived.log[-3000:]
    folder = tmp_path / "export"

    # Row 9: a label the archive does not hold: one line listing the ones it does, exit 2.
    wrong = scrapy("export", "--output", str(folder), "--source", "KCNA",
                   database=pg_url, data_dir=tmp_path)  # fmt: skip
    assert wrong.returncode == 2
    assert wrong.stderr == (
        "scrapy export: error: --source 'KCNA' is no source label of the archive; "
        "the archive holds 'KCNA.kp (En)'\n"
    )
    assert not folder.exists()  # nothing written

    # Row 10: a folder holding an older export is refused; --replace replaces the whole set.
    older = scrapy("export", "--output", str(folder), database=pg_url, data_dir=tmp_path)
    assert older.returncode == 0, older.stderr
    older_files = sorted(path.name for path in folder.iterdir())
    assert older_files == ["articles.csv", "articles.jsonl.gz", "articles.parquet", "manifest.json"]
    older_manifest = (folder / "manifest.json").read_bytes()
    refused = scrapy("export", "--output", str(folder), "--format", "jsonl",
                     database=pg_url, data_dir=tmp_path)  # fmt: skip
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "already holds files" in refused.stderr
    assert sorted(path.name for path in folder.iterdir()) == older_files  # untouched
    assert (folder / "manifest.json").read_bytes() == older_manifest
    replaced = scrapy("export", "--output", str(folder), "--format", "jsonl", "--replace",
                      database=pg_url, data_dir=tmp_path)  # fmt: skip
    assert replaced.returncode == 0, replaced.stderr
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    listed = {entry["name"] for entry in manifest["files"]}
    assert listed == {"articles.jsonl.gz"}
    assert {path.name for path in folder.iterdir()} == listed | {"manifest.json"}
    assert not list(tmp_path.glob(".export.*"))  # no staging or replaced folder left behind

    # --replace never deletes a folder that is not an export.
    other = tmp_path / "notes"
    other.mkdir()
    (other / "mine.txt").write_text("keep\n", encoding="utf-8")
    kept = scrapy("export", "--output", str(other), "--replace", database=pg_url,
                  data_dir=tmp_path)  # fmt: skip
    assert kept.returncode == 2 and "earlier export only" in kept.stderr
    assert [path.name for path in other.iterdir()] == ["mine.txt"]
