"""Incremental crawls against the offline replica, measured by the replica's own request log.

Every crawl is ``scrapy crawl`` in a subprocess (tests/crawling.py). The budget the issue
sets: a re-run that finds nothing new makes at most 3 requests (robots.txt included); one
that finds k new articles at most k + ceil(k/20) + 3. Both archives are covered: the state
file (no database) and PostgreSQL (``NEWSARCHIVE_DATABASE_URL``).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg.rows import dict_row

from newsarchive.incremental import state_path
from newsarchive_replica.server import ReplicaServer
from tests.crawling import CrawlResult, crawl

#: 60 articles: four listing pages, every kind of non-article (404, 410, paywall, no title,
#: 403) on pages 2-3, so "not an article" must be remembered to stay within budget.
ARTICLES = 60


def budget(k: int) -> int:
    return k + math.ceil(k / 20) + 3 if k else 3


def today() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def site():
    # Dated around today, so "first published in the last N days" means something.
    with ReplicaServer(naenara_articles=ARTICLES, today=today().date()) as server:
        yield server


@pytest.fixture(params=["state_file", pytest.param("postgres", marks=pytest.mark.postgres)])
def archive(request) -> dict[str, str]:
    """Settings for each kind of archive: none (state file) or a fresh migrated database."""
    if request.param == "state_file":
        return {}
    return {"NEWSARCHIVE_DATABASE_URL": request.getfixturevalue("pg_url")}


class Runner:
    """Crawls of one stream into one data folder, each measured on the replica's log."""

    def __init__(
        self, site: ReplicaServer, data: Path, settings: dict[str, str], kind: str = "listing"
    ) -> None:
        self.site, self.data, self.settings = site, data, settings
        self.start_url = site.start_url("naenara", kind)
        self.measured: list[tuple[str, int, int]] = []

    def run(self, *arguments: str, label: str = "", **settings: str) -> tuple[CrawlResult, list]:
        self.site.reset_log()
        result = crawl(
            self.data, f"start_url={self.start_url}", *arguments,
            settings={**self.settings, **settings},
        )  # fmt: skip
        requests = self.site.requests
        self.measured.append((label or " ".join(arguments), len(result.items), len(requests)))
        print(f"{label or arguments}: {len(result.items)} items, {len(requests)} requests")
        return result, requests


def ids(items: list[dict]) -> set[str]:
    return {item["article_id"] for item in items}


def article_paths(requests: list[dict[str, Any]]) -> list[str]:
    return [r["path"] for r in requests if r["path"].startswith("/newstream/")]


def ok(result: CrawlResult) -> str:
    return result.log[-4000:]


def query(url: str, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()


# --- the budget -------------------------------------------------------------------------------


def test_new_articles_are_found_within_budget(site, archive, tmp_path):
    runner = Runner(site, tmp_path, archive)
    expected = ids(site.expected("naenara"))

    first, _ = runner.run(label="first run")
    assert first.returncode == 0, ok(first)
    assert ids(first.items) == expected

    again, requests = runner.run(label="nothing new")
    assert again.items == []
    assert len(requests) <= budget(0), requests
    assert "Caught up at" in again.log

    for k in (3, 25):  # 25: the new articles span two listing pages
        added = set(site.publish("naenara", k))
        result, requests = runner.run(label=f"k={k}")
        assert result.returncode == 0, ok(result)
        assert ids(result.items) == added
        assert len(requests) <= budget(k), [r["path"] + "?" + r["query"] for r in requests]
        # Nothing known was fetched again: each article request is one of the new ones.
        assert len(article_paths(requests)) == k

    if archive:
        url = archive["NEWSARCHIVE_DATABASE_URL"]
        rows = query(url, "SELECT article_id, revision_count FROM articles")
        assert {row["article_id"] for row in rows} == expected | ids(site.expected("naenara"))
        assert {row["revision_count"] for row in rows} == {1}
        runs = query(url, "SELECT status FROM crawl_runs")
        assert [row["status"] for row in runs] == ["finished"] * 4


def test_recheck_records_edits_and_deletions(site, archive, tmp_path):
    runner = Runner(site, tmp_path, archive)
    first, _ = runner.run(label="first run")
    assert first.returncode == 0, ok(first)

    days = 1
    since = (today() - timedelta(days=days)).date().isoformat()
    recent = sorted(
        (item for item in first.items if item["published_date"] >= since),
        key=lambda item: item["article_id"],
    )
    assert len(recent) >= 3, "the replica should have articles from the last day"
    edited, deleted = recent[0], recent[1]
    new_version = site.edit(edited["article_id"])
    site.delete(deleted["article_id"], status=410)  # still listed

    # A deletion a recheck finds is a "drop" to the run monitor; one in a handful of
    # rechecks is not the site failing, so its drop-rate limit is relaxed for these runs.
    runner.settings = {**runner.settings, "NEWSARCHIVE_MAX_DROP_RATE": "0.5"}
    result, requests = runner.run(f"recheck_days={days}", label=f"recheck_days={days}")
    assert result.returncode == 0, ok(result)
    # Exactly the recent archived articles were fetched again, once each.
    assert sorted(article_paths(requests)) == sorted(urlsplit(item["url"]).path for item in recent)
    assert len(requests) == 2 + len(recent)  # robots.txt and listing page 1
    got = {item["article_id"]: item for item in result.items}
    assert set(got) == {item["article_id"] for item in recent} - {deleted["article_id"]}
    assert got[edited["article_id"]]["body"] == new_version["body"]
    assert got[edited["article_id"]]["content_hash"] != edited["content_hash"]

    if archive:
        url = archive["NEWSARCHIVE_DATABASE_URL"]
        (row,) = query(
            url, "SELECT * FROM articles WHERE article_id = %s", (deleted["article_id"],)
        )
        assert row["gone_at"] is not None
        events = query(url, "SELECT article_id, event, http_status FROM article_events")
        assert events == [
            {"article_id": deleted["article_id"], "event": "gone", "http_status": 410}
        ]
        (row,) = query(url, "SELECT * FROM articles WHERE article_id = %s", (edited["article_id"],))
        assert row["revision_count"] == 2 and row["body"] == new_version["body"]
    else:
        state = json.loads(state_path(tmp_path, "naenara", runner.start_url).read_text())
        records = state["articles"]["Naenara (En)"]
        assert records[deleted["article_id"]]["gone_at"]
        assert not records[edited["article_id"]].get("gone_at")

    # A deletion is recorded once: the next recheck leaves the gone article alone.
    again, requests = runner.run(f"recheck_days={days}", label="recheck again")
    assert again.returncode == 0, ok(again)
    assert len(article_paths(requests)) == len(recent) - 1
    assert urlsplit(deleted["url"]).path not in article_paths(requests)


def test_an_article_start_page_is_the_first_listing_page(site, tmp_path):
    """The default start page is an article: its "More From" cards are listing page 1."""
    runner = Runner(site, tmp_path, {}, kind="article")
    first, _ = runner.run(label="first run (article start)")
    assert first.returncode == 0, ok(first)
    assert ids(first.items) == ids(site.expected("naenara"))
    again, requests = runner.run(label="nothing new (article start)")
    assert again.returncode == 0, ok(again)
    assert again.items == [] and len(requests) <= budget(0), requests
    added = set(site.publish("naenara", 5))
    result, requests = runner.run(label="k=5 (article start)")
    assert ids(result.items) == added  # the archived start article is not archived again
    assert len(requests) <= budget(5), [r["path"] + "?" + r["query"] for r in requests]


# --- walks that did not end, full=1, bad arguments, a broken state file --------------------------


def test_an_interrupted_walk_is_resumed_not_skipped(site, tmp_path):
    runner = Runner(site, tmp_path, {})
    expected = ids(site.expected("naenara"))
    # A run stopped early (as a shutdown would) archived only the newest articles...
    partial, _ = runner.run(label="stopped early", CLOSESPIDER_ITEMCOUNT="10")
    assert 10 <= len(partial.items) < len(expected)
    state = json.loads(state_path(tmp_path, "naenara", runner.start_url).read_text())
    assert state["walks"][runner.start_url]["complete"] is False
    # ...so the next run must not stop at page 1 (all known): it walks on and fetches the rest.
    # (Its 40 articles hold the small stream's 5 non-articles: over the monitor's drop limit.)
    rest, requests = runner.run(label="resumed", NEWSARCHIVE_MAX_DROP_RATE="0.2")
    assert rest.returncode == 0, ok(rest)
    assert ids(rest.items) == expected - ids(partial.items)
    assert not ids(rest.items) & ids(partial.items)
    # From then on the walk is complete and a quiet run is cheap again.
    quiet, requests = runner.run(label="quiet")
    assert quiet.items == [] and len(requests) <= budget(0)


def test_full_walks_everything_and_fetches_only_what_is_missing(site, tmp_path):
    runner = Runner(site, tmp_path, {})
    first, _ = runner.run(label="first run")
    assert first.returncode == 0, ok(first)
    archived_paths = {urlsplit(item["url"]).path for item in first.items}
    # Nothing is missing, so the run archives nothing and re-tries only the non-articles
    # (one always 403): the run monitor would call that a failed, blocked run. Not judged here.
    result, requests = runner.run("full=1", label="full=1", NEWSARCHIVE_MONITOR_ENABLED="False")
    assert result.returncode == 0, ok(result)
    assert result.items == []
    listings = [r for r in requests if r["path"] == "/"]
    assert len(listings) == site.stream("naenara").page_count()
    # Only the listed non-articles (404, 410, paywall, no title, 403) were tried again.
    fetched = set(article_paths(requests))
    assert fetched and not fetched & archived_paths


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("recheck_days=abc", "recheck_days='abc' is not a whole number of days"),
        ("recheck_days=-2", "recheck_days='-2' is not a whole number of days"),
        ("full=maybe", "full='maybe' is not a boolean"),
    ],
)
def test_bad_incremental_arguments_are_one_line(tmp_path, argument, message):
    result = crawl(tmp_path, "start_url=http://127.0.0.1:9/", argument)
    assert result.returncode == 2
    errors = [line for line in result.log.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0]
    assert "Traceback" not in result.log


def test_an_unreadable_state_file_stops_the_run_in_one_line(site, tmp_path):
    runner = Runner(site, tmp_path, {})
    path = state_path(tmp_path, "naenara", runner.start_url)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    result, requests = runner.run(label="broken state")
    assert result.returncode == 1
    assert requests == []
    errors = [line for line in result.log.splitlines() if "error:" in line]
    assert len(errors) == 1 and str(path) in errors[0]
    assert path.read_text() == "{not json"  # left for a human to look at
