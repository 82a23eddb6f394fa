"""Scrapy's own tools work as in any Scrapy project, and none of them is an archive run.

Each runs as a user runs it (``python -m scrapy …`` in the project, a subprocess) against the
replica, with no ``-a`` and no ``-c``. Afterwards the data folder must hold no file at all: no
run summary, no feed folder, no state file, no WARC; with a database, no ``crawl_runs`` row.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from newsarchive.processors import article_url_parts, is_article_url
from newsarchive_replica.server import ReplicaServer

ROOT = Path(__file__).resolve().parents[1]
ERROR_LINE = re.compile(r"\] (ERROR|CRITICAL):|Traceback|AttributeError")
REQUEST = re.compile(r"<GET (\S+)>")


@pytest.fixture(scope="module")
def site() -> Iterator[ReplicaServer]:
    with ReplicaServer(naenara_articles=40, kcna_articles=5) as server:
        yield server


def scrapy(
    site: ReplicaServer | None, data: Path, *args: str, database_url: str = ""
) -> subprocess.CompletedProcess[str]:
    """``python -m scrapy <args>`` with the replica as the stream's start page (the live
    site's host is the default one: the replica's must be named, as with ``scrapy crawl``);
    ``site=None``: the default start page."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSARCHIVE_")}
    env.update(NEWSARCHIVE_DATA_DIR=str(data), NEWSARCHIVE_DATABASE_URL=database_url)
    if site is not None:
        env["NEWSARCHIVE_NAENARA_START_URL"] = site.start_url("naenara", "listing")
    return subprocess.run(
        [sys.executable, "-m", "scrapy", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def assert_clean(result: subprocess.CompletedProcess[str], data: Path) -> None:
    """Exit 0, no error line or traceback, and nothing written to the data folder."""
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    errors = [line for line in output.splitlines() if ERROR_LINE.search(line)]
    assert not errors, output[-3000:]
    written = sorted(str(p.relative_to(data)) for p in data.rglob("*") if p.is_file())
    assert written == [], written


def test_parse_an_article_prints_its_item(site, tmp_path):
    url = site.start_url("naenara", "article")
    (expected,) = [item for item in site.expected("naenara") if item["url"] == url]
    result = scrapy(site, tmp_path / "data", "parse", "--spider=naenara", url)
    assert_clean(result, tmp_path / "data")
    items = result.stdout.split("# Scraped Items")[1].split("# Requests")[0]
    assert f"'article_id': '{expected['article_id']}'" in items, result.stdout
    assert repr(expected["title"]) in items, result.stdout
    assert "'body': " in items


def test_parse_a_listing_prints_its_article_requests(site, tmp_path):
    url = site.start_url("naenara", "listing")
    result = scrapy(site, tmp_path / "data", "parse", "--spider=naenara", url)
    assert_clean(result, tmp_path / "data")
    requests = REQUEST.findall(result.stdout.split("# Requests")[1])
    ids = [article_url_parts(u)[0] for u in requests if is_article_url(u)]  # type: ignore[index]
    in_stream = {article.article_id for article in site.stream("naenara")}
    assert len(ids) >= 10 and len(set(ids)) == len(ids) and set(ids) <= in_stream, requests
    assert [u for u in requests if not is_article_url(u)] == [
        site.links.listing(site.stream("naenara").spec, 2)
    ], requests  # and "More Articles"


def test_parse_with_a_database_records_no_run(site, tmp_path, pg_url):
    result = scrapy(
        site, tmp_path / "data", "parse", "--spider=naenara", site.start_url("naenara", "article"),
        database_url=pg_url,
    )  # fmt: skip
    assert_clean(result, tmp_path / "data")
    assert "'article_id': " in result.stdout
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM crawl_runs").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM articles").fetchone() == (0,)


def test_fetch_prints_the_page(site, tmp_path):
    url = site.start_url("naenara", "article")
    result = scrapy(site, tmp_path / "data", "fetch", "--nolog", url)
    assert_clean(result, tmp_path / "data")
    assert result.stdout.lstrip().startswith("<!DOCTYPE html>") and "</html>" in result.stdout


def test_shell_reads_the_page(site, tmp_path):
    url = site.start_url("naenara", "article")
    (expected,) = [item for item in site.expected("naenara") if item["url"] == url]
    code = "response.css('h1::text').get() or response.css('title::text').get()"
    result = scrapy(site, tmp_path / "data", "shell", url, "-c", code)
    assert_clean(result, tmp_path / "data")
    assert expected["title"] in result.stdout


def test_bench_runs(site, tmp_path):
    result = scrapy(site, tmp_path / "data", "bench", "-s", "CLOSESPIDER_TIMEOUT=3")
    assert_clean(result, tmp_path / "data")
    assert "Spider closed (closespider_timeout)" in result.stderr, result.stderr[-3000:]
    assert re.search(r"'downloader/response_count': [1-9]", result.stderr), result.stderr[-3000:]


def test_check_runs_the_callbacks_contracts_on_saved_pages(tmp_path):
    """The saved pages are the live site's (tests/fixtures): its host is the default one."""
    result = scrapy(None, tmp_path / "data", "check", "-v", "naenara")
    # check's own output goes to stderr (unittest's runner)
    assert_clean(result, tmp_path / "data")
    output = result.stderr
    assert re.search(r"Ran [5-9] contracts", output), output
    for line in (
        "parse_article (@scrapes post-hook) ... ok",
        "parse_listing (@returns post-hook) ... ok",
    ):
        assert line in output, output
    assert output.rstrip().endswith("OK"), output
