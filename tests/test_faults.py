"""Faults a scheduled crawl meets, injected into the offline replica, and what each run says.

Every test crawls the replica's "KCNA.kp (En)" stream (40 articles on 3 listing pages, no
built-in faults), with one kind of fault switched on through ``ReplicaServer.faults`` (or the
``/_replica/faults`` admin endpoint), and checks the run's outcome (exit status, summary,
monitor) and that nothing was lost: the items equal the replica's own expected items.
"""

from __future__ import annotations

import json
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from newsarchive_replica.server import ReplicaServer
from tests.crawling import CrawlResult, crawl

STREAM = "kcna"
RESEARCH_FIELDS = ("title", "body", "published_date", "source")


@pytest.fixture
def site() -> Iterator[ReplicaServer]:
    with ReplicaServer(naenara_articles=0, kcna_articles=40) as server:
        yield server


def run(site: ReplicaServer, tmp_path: Path, **settings: str) -> CrawlResult:
    return crawl(tmp_path, f"start_url={site.start_url(STREAM)}", settings=settings)


def by_id(items: list[dict]) -> dict[str, dict]:
    return {item["article_id"]: item for item in items}


def assert_nothing_lost(site: ReplicaServer, result: CrawlResult, missing: set[str] = frozenset()):
    """Every expected article once, field for field (except ``missing``, dropped on purpose)."""
    ids = [item["article_id"] for item in result.items]
    assert len(ids) == len(set(ids)), "an article was archived twice"
    expected = {a: i for a, i in by_id(site.expected(STREAM)).items() if a not in missing}
    got = by_id(result.items)
    assert set(got) == set(expected), (set(expected) - set(got), set(got) - set(expected))
    for article_id, want in expected.items():
        assert {k: got[article_id][k] for k in want} == want, article_id


def assert_no_empty_fields(result: CrawlResult) -> None:
    for item in result.items:
        assert all(item[field] for field in RESEARCH_FIELDS), item


def article_paths(site: ReplicaServer) -> list[str]:
    return [e["path"] for e in site.requests if e["path"].startswith("/newstream/")]


def failed_checks(result: CrawlResult) -> list[str]:
    return result.summary["monitor"]["failed"]


def monitor_errors(result: CrawlResult) -> list[str]:
    return [line for line in result.log.splitlines() if "ERROR: Monitor check" in line]


def stat(result: CrawlResult, name: str) -> float:
    """A number from the "Dumping Scrapy stats" block of the log (0 when absent)."""
    for line in result.log.splitlines():
        if f"'{name}':" in line:
            return float(line.split(":", 1)[1].strip().rstrip(",}"))
    return 0


# --- the fault facility itself ------------------------------------------------------------------


def test_faults_are_set_and_listed_over_http(site):
    article = site.start_url(STREAM, "article")
    body = json.dumps({"rules": [{"pattern": "^/newstream/", "actions": ["503", "pass"]}]})
    request = urllib.request.Request(
        f"{site.base_url}/_replica/faults", data=body.encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert json.load(response)["rules"][0]["actions"][0] == {"do": "status", "status": 503}
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(article, timeout=5)
    assert error.value.code == 503
    with urllib.request.urlopen(article, timeout=5) as response:
        assert response.status == 200
    with urllib.request.urlopen(f"{site.base_url}/_replica/faults?clear=1", timeout=5) as answer:
        assert json.load(answer) == {"rules": []}
    bad = urllib.request.Request(
        f"{site.base_url}/_replica/faults", data=b'{"rules": [{"pattern": "x", "actions": ["?"]}]}'
    )
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(bad, timeout=5)
    assert error.value.code == 400


# --- transient faults: retried with backoff, every article lands ---------------------------------


def test_transient_errors_resets_and_timeouts_are_retried_with_backoff(site, tmp_path):
    slow = site.expected(STREAM)[5]["url"].removeprefix(site.base_url)
    site.faults.add(f"^{slow}$", "504", "delay:2", "pass")  # a 504, a timeout, the page
    # Twisted retries a request once by itself when a reused connection is reset: two resets
    # in a row reach Scrapy.
    site.faults.add("^/newstream/", "503", "reset", "reset", per_url=True)
    site.faults.add("source=", "500", "502", per_url=True)  # listing pages too
    result = run(site, tmp_path, DOWNLOAD_TIMEOUT="1", RETRY_TIMES="4")
    assert result.returncode == 0, result.log[-3000:]
    assert_nothing_lost(site, result)
    assert result.summary["monitor"]["passed"]
    seen: dict[str, list[dict]] = defaultdict(list)
    for entry in site.requests:
        if entry["path"].startswith("/newstream/") or entry["query"].startswith("s="):
            seen[entry["path"] + entry["query"]].append(entry)
    for key, entries in seen.items():
        assert entries[0]["status"] >= 500 and entries[-1]["status"] == 200, key
        # Scrapy's RetryMiddleware would ask again at once; here the first retry waits 0.05 s.
        assert entries[1]["time"] - entries[0]["time"] >= 0.045, key
    reasons = {
        line.split("retry/reason_count/", 1)[1].split("'", 1)[0]
        for line in result.log.splitlines()
        if "retry/reason_count/" in line
    }
    assert {"500 Internal Server Error", "502 Bad Gateway", "503 Service Unavailable"} <= reasons
    assert {"504 Gateway Time-out", "scrapy.exceptions.DownloadTimeoutError"} <= reasons
    assert any("Connection" in r or "DownloadFailed" in r for r in reasons), reasons
    assert stat(result, "newsarchive/backoff/seconds") > 0


def test_429_and_403_bursts_back_off_then_carry_on(site, tmp_path):
    # Retry-After 30 s is cut to NEWSARCHIVE_RETRY_AFTER_MAX (1 s here).
    site.faults.add("^/newstream/", "429:retry_after=30", "429:retry_after=1", "403", "403")
    # One request at a time (Scrapy 2.19 enforces that only with a download delay).
    result = run(site, tmp_path, CONCURRENT_REQUESTS_PER_DOMAIN="1", DOWNLOAD_DELAY="0.001")
    assert result.returncode == 0, result.log[-3000:]
    assert_nothing_lost(site, result)
    log = [e for e in site.requests if e["path"].startswith("/newstream/")]
    statuses = [e["status"] for e in log]
    assert statuses[:4] == [429, 429, 403, 403] and set(statuses[4:]) == {200}
    # After each 429 the whole host waited about a second (Retry-After, capped) ...
    assert log[1]["time"] - log[0]["time"] >= 0.95
    assert log[2]["time"] - log[1]["time"] >= 0.95
    assert all(later["time"] - log[0]["time"] >= 0.95 for later in log[1:])
    # ... and 403s in a row are a burst too: the host pauses (exponential backoff).
    assert "pausing all requests to it" in result.log
    assert stat(result, "newsarchive/backoff/host_pauses") >= 3
    assert result.summary["monitor"]["passed"] and result.summary["blocked"] == {}


def test_a_persistent_403_is_reported_as_blocked(site, tmp_path):
    site.faults.add(r"^/(\?|newstream/)", "403", repeat=True)  # everything but robots.txt
    result = run(site, tmp_path, NEWSARCHIVE_THROTTLE_RETRY_TIMES="2")
    assert result.returncode == 1
    assert "blocked" in failed_checks(result)
    assert result.summary["blocked"] == {"403": 1}
    assert result.summary["listing_failures"] == {"http_403": 1}
    (line,) = [line for line in monitor_errors(result) if "check blocked" in line]
    assert "BLOCKED" in line and "this is not 'no new articles'" in line
    assert "Traceback" not in result.log


# --- bad input: counted with a reason, never an empty item, never a crash -------------------------


def test_truncated_and_empty_pages_once_are_retried(site, tmp_path):
    site.faults.add("^/newstream/", "truncate", per_url=True)
    site.faults.add("source=", "empty", per_url=True)
    result = run(site, tmp_path)
    assert result.returncode == 0, result.log[-3000:]
    assert_nothing_lost(site, result)
    assert stat(result, "newsarchive/responses/incomplete/truncated") == 40
    assert stat(result, "newsarchive/responses/incomplete/empty") == 3


def test_pages_that_stay_truncated_empty_or_untitled_are_dropped_with_a_reason(site, tmp_path):
    expected = site.expected(STREAM)
    broken = {
        expected[1]["article_id"]: "truncate:0.3",
        expected[2]["article_id"]: "empty",
        expected[3]["article_id"]: "theme:no_title",
    }
    for article_id, action in broken.items():
        site.faults.add(f"/newstream/{article_id}/", action, repeat=True)
    result = run(site, tmp_path)
    assert result.returncode == 0, result.log[-3000:]
    assert_nothing_lost(site, result, missing=set(broken))
    assert_no_empty_fields(result)
    assert result.summary["drops"] == {"truncated_page": 1, "empty_page": 1, "no_title": 1}
    assert "Traceback" not in result.log


def test_a_listing_with_zero_article_links_fails_the_run(site, tmp_path):
    site.faults.add("paged=2", "empty", repeat=True)
    result = run(site, tmp_path)
    assert result.returncode == 1
    assert "listings_have_links" in failed_checks(result)
    assert any("held no article links" in line for line in monitor_errors(result))
    assert_no_empty_fields(result)
    assert "Traceback" not in result.log


# --- pagination that loops or never ends ----------------------------------------------------------


def test_pagination_that_loops_back_ends(site, tmp_path):
    site.faults.add("paged=3", "loop:2", repeat=True)  # the last page leads back to page 2
    result = run(site, tmp_path)
    assert result.returncode == 0, result.log[-3000:]
    assert_nothing_lost(site, result)
    assert stat(result, "newsarchive/listing/loop_detected") == 1
    assert "pagination loops" in result.log


def test_pagination_that_never_ends_stops_at_the_cap(site, tmp_path):
    site.faults.add("source=", "endless", repeat=True)
    result = run(site, tmp_path, NEWSARCHIVE_MAX_LISTING_PAGES="5")
    assert result.returncode == 1
    assert_nothing_lost(site, result)
    assert result.summary["listing_pages"] == 5
    assert failed_checks(result) == ["pagination"]


# --- oversized responses, off-site links and redirects: not followed -----------------------


def test_oversized_response_is_not_downloaded(site, tmp_path):
    big = site.expected(STREAM)[4]["article_id"]
    site.faults.add(f"/newstream/{big}/", "oversize:300000", repeat=True)
    result = run(site, tmp_path, DOWNLOAD_MAXSIZE="200000")
    assert result.returncode == 0, result.log[-3000:]
    assert_nothing_lost(site, result, missing={big})
    assert result.summary["drops"] == {"oversized": 1}
    assert stat(result, "newsarchive/responses/oversized") == 1


def test_offsite_links_and_redirects_to_other_hosts_are_not_followed(site, tmp_path):
    with ReplicaServer(naenara_articles=0, kcna_articles=5) as elsewhere:
        moved = site.expected(STREAM)[7]["article_id"]
        target = f"http://localhost:{elsewhere.port}/newstream/{moved}/"
        site.faults.add(f"/newstream/{moved}/", f"redirect:{target}", repeat=True)
        site.faults.add("source=", "offsite_links", repeat=True)
        result = run(site, tmp_path)
        assert elsewhere.requests == []
    assert result.returncode == 0, result.log[-3000:]
    assert_nothing_lost(site, result, missing={moved})
    assert result.summary["drops"] == {"offsite_redirect": 1}
    assert stat(result, "newsarchive/redirects/offsite_blocked") == 1
    assert stat(result, "newsarchive/links/offsite_ignored") == 9  # 3 per listing page
    assert all(item["url"].startswith(site.base_url) for item in result.items)


# --- layout drift: the monitor names the anchor that broke --------------------------------------


def test_theme_change_is_reported_as_layout_drift(site, tmp_path):
    site.faults.add("^/newstream/", "theme:date_label", repeat=True)
    site.faults.add("source=", "theme:no_more_articles", repeat=True)
    result = run(site, tmp_path)
    assert result.returncode == 1
    assert "layout" in failed_checks(result)
    (line,) = [line for line in monitor_errors(result) if "check layout" in line]
    assert "LAYOUT DRIFT" in line
    assert "the 'Date: … | Source: …' meta line (anchor meta_line) not found on 20 of 20" in line
    assert "the 'More Articles' link (anchor more_articles) not found on 1 of 1" in line
    # Fields still fall back where they can (the URL's date), never empty.
    assert_no_empty_fields(result)


def test_missing_body_gives_no_item_and_is_layout_drift(site, tmp_path):
    site.faults.add("^/newstream/", "theme:no_body", repeat=True)
    result = run(site, tmp_path)
    assert result.returncode == 1
    assert result.items == []
    assert result.summary["drops"] == {"no_body": 40}
    assert {"layout", "min_items", "drop_rate"} <= set(failed_checks(result))
    assert any("the article body (anchor body)" in line for line in monitor_errors(result))


# --- a clean stop (SIGTERM) with a job directory, then the same command again -------------------


def test_sigterm_with_jobdir_then_the_same_command_resumes(site, tmp_path):
    import os
    import signal
    import subprocess
    import time

    from tests.crawling import FAST, ROOT, SCRAPY, read_jsonl

    site.faults.add("^/newstream/", "delay:0.1", repeat=True)

    def command(output: str) -> list[str]:
        line = [*SCRAPY, "crawl", "naenara", "-a", f"start_url={site.start_url(STREAM)}",
                "-O", str(tmp_path / output)]  # fmt: skip
        settings = {**FAST, "NEWSARCHIVE_DATA_DIR": str(tmp_path), "JOBDIR": str(tmp_path / "job"),
                    "CONCURRENT_REQUESTS_PER_DOMAIN": "1", "DOWNLOAD_DELAY": "0.01"}  # fmt: skip
        for name, value in settings.items():
            line += ["-s", f"{name}={value}"]
        return line

    env = {k: v for k, v in os.environ.items() if k != "NEWSARCHIVE_DATABASE_URL"}
    first = subprocess.Popen(
        command("first.jsonl"), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while sum(e["status"] == 200 for e in site.requests if "/newstream/" in e["path"]) < 10:
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        first.send_signal(signal.SIGTERM)
        _, first_log = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 1  # stopped early: not a finished run
    assert "Monitor check finished FAILED" in first_log
    second = subprocess.run(
        command("second.jsonl"), cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert second.returncode == 0, second.stderr[-3000:]
    assert "did not stop cleanly" not in second.stderr  # Scrapy's own resume, trusted
    first_ids = [item["article_id"] for item in read_jsonl(tmp_path / "first.jsonl")]
    second_ids = [item["article_id"] for item in read_jsonl(tmp_path / "second.jsonl")]
    assert 10 <= len(first_ids) < 40
    assert len(first_ids) + len(second_ids) == len(set(first_ids) | set(second_ids)) == 40
    assert set(first_ids) | set(second_ids) == {
        item["article_id"] for item in site.expected(STREAM)
    }
