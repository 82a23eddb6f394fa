"""`scrapy crawl naenara` on the offline replica equals the replica's own expected items."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from newsarchive.items import ARTICLE_FIELDS
from newsarchive_replica.server import ReplicaServer
from newsarchive_replica.themes import THEME_NAMES
from tests.crawling import CrawlResult, crawl, read_jsonl

ISO_DATE = re.compile(r"\d{4}-\d\d-\d\d")
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")


@pytest.fixture(scope="module", params=THEME_NAMES)
def replica(request):
    """The replica in each of its themes: every test below holds on every theme."""
    with ReplicaServer(theme=request.param) as server:
        yield server


@pytest.fixture(scope="module")
def naenara_run(replica, tmp_path_factory) -> CrawlResult:
    return crawl(
        tmp_path_factory.mktemp("naenara"), f"start_url={replica.start_url('naenara', 'listing')}"
    )


@pytest.fixture(scope="module")
def expected(replica) -> dict[str, dict]:
    return {item["article_id"]: item for item in replica.expected("naenara")}


def by_id(items: list[dict]) -> dict[str, dict]:
    return {item["article_id"]: item for item in items}


def test_crawl_succeeds(naenara_run):
    assert naenara_run.returncode == 0, naenara_run.log[-3000:]


def test_every_expected_article_once(naenara_run, expected):
    ids = [item["article_id"] for item in naenara_run.items]
    assert len(ids) == len(set(ids)), "an article was archived twice"
    assert set(ids) == set(expected)
    assert len(expected) >= 150


def test_items_equal_expected_field_for_field(naenara_run, expected):
    got = by_id(naenara_run.items)
    mismatches = {
        (article_id, field): (got[article_id].get(field), want)
        for article_id, item in expected.items()
        for field, want in item.items()
        if article_id in got and got[article_id].get(field) != want
    }
    assert not mismatches


@pytest.mark.parametrize("field", ARTICLE_FIELDS)
def test_rule_every_item_has_field(naenara_run, field):
    assert all(field in item for item in naenara_run.items)


#: The one field a replica article may lack (docs/DATA.md): pages without an original link.
MAY_BE_NULL = frozenset({"original_url"})


@pytest.mark.parametrize("field", [name for name in ARTICLE_FIELDS if name not in MAY_BE_NULL])
def test_rule_required_fields_never_null(naenara_run, field):
    assert all(item[field] for item in naenara_run.items)


def test_rule_dates_are_iso(naenara_run):
    for item in naenara_run.items:
        assert ISO_DATE.fullmatch(item["published_date"])
        assert ISO_DATE.fullmatch(item["page_date"])
        assert ISO_UTC.fullmatch(item["published_at"])
        assert ISO_UTC.fullmatch(item["crawled_at"])


def test_rule_bodies_are_clean(naenara_run):
    for item in naenara_run.items:
        assert "\xa0" not in item["body"] and "  " not in item["body"]
        assert "NK News is hiring" not in item["body"]
        assert "Subscribe to NK Pro" not in item["body"]
        assert all(paragraph.strip() == paragraph for paragraph in item["body"].split("\n\n"))


def test_non_articles_are_dropped_with_reasons(naenara_run):
    drops = naenara_run.summary["drops"]
    assert drops.get("paywall") == 1
    assert drops.get("gone") == 2
    assert drops.get("http_403") == 1
    assert drops.get("no_title") == 1
    assert naenara_run.summary["items"] == len(naenara_run.items)


def test_drops_logged_once_at_warning_with_url(naenara_run):
    warnings = [line for line in naenara_run.log.splitlines() if "WARNING: Dropped" in line]
    assert len(warnings) == sum(naenara_run.summary["drops"].values())
    assert all("http://" in line for line in warnings)


def test_log_has_summary_paragraph(naenara_run):
    assert re.search(
        r"Run \S+ finished \(finished\) in [\d.]+s: \d+ articles archived", naenara_run.log
    )


def test_default_feed_is_replaced_by_dash_o(naenara_run, tmp_path_factory):
    # -O was given: the run's feeds are exactly that file.
    assert [Path(feed).name for feed in naenara_run.summary["feeds"]] == ["out.jsonl"]


def test_kcna_stream_from_an_article_page(replica, tmp_path):
    start = replica.start_url("kcna", "article")
    result = crawl(tmp_path, f"start_url={start}")
    assert result.returncode == 0, result.log[-3000:]
    expected = {item["article_id"]: item for item in replica.expected("kcna")}
    got = by_id(result.items)
    assert set(got) == set(expected)
    assert all({k: got[a][k] for k in item} == item for a, item in expected.items())
    assert all(item["body"].split("\n\n")[-2] == "-0-" for item in result.items)


def test_korean_stream_gives_exact_fields(replica, tmp_path):
    result = crawl(tmp_path, f"start_url={replica.start_url('rodong', 'listing')}")
    assert result.returncode == 0, result.log[-3000:]
    expected = {item["article_id"]: item for item in replica.expected("rodong")}
    got = by_id(result.items)
    assert set(got) == set(expected) and len(expected) == 30
    assert all({k: got[a][k] for k in item} == item for a, item in expected.items())
    assert all(item["source_language"] == "ko" for item in result.items)
    korean_slug = re.compile(r"/newstream/\d+-\d+/(laws/)?(%[0-9a-f]{2}|-)+/$")
    assert all(korean_slug.search(item["url"]) for item in result.items)
    # /newstream/<ts>-<id>/laws/<slug>/ is an article like any other, with the same id
    assert sum("/laws/" in item["url"] for item in result.items) == 1


def test_default_feed_in_data_dir(replica, tmp_path):
    """Without -O, a run writes data/feeds/<spider>/<run_id>/articles-00001.jsonl.gz (and .csv)
    under NEWSARCHIVE_DATA_DIR."""
    import subprocess
    import sys

    from tests.crawling import FAST, ROOT

    command = [
        sys.executable,
        "-m",
        "scrapy",
        "crawl",
        "naenara",
        "-a",
        f"start_url={replica.start_url('kcna', 'listing')}",
        "-s",
        f"NEWSARCHIVE_DATA_DIR={tmp_path}",
    ]
    for name, value in FAST.items():
        command += ["-s", f"{name}={value}"]
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr[-2000:]
    feeds = list((tmp_path / "feeds" / "naenara").glob("*/articles-*.jsonl.gz"))
    assert len(feeds) == 1
    assert len(read_jsonl(feeds[0])) == len(replica.expected("kcna"))


@pytest.mark.parametrize(
    "argument",
    ["start_url=not a url", "start_url=ftp://example.org/x", "start_url=http://", "strat_url=x"],
)
def test_bad_start_url_is_one_line(tmp_path, argument):
    result = crawl(tmp_path, argument)
    assert result.returncode == 2
    errors = [line for line in result.log.splitlines() if "error:" in line]
    assert len(errors) == 1
    assert "Traceback" not in result.log
