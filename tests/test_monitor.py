"""The run monitor's checks on stats dicts (each made to pass and to fail), and the pure helpers
of the fault handling: Retry-After, backoff delays, incomplete pages, replica fault actions."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest
from scrapy.http import HtmlResponse, Request, TextResponse

from newsarchive import stats as names
from newsarchive.middlewares.resilience import incomplete_kind, parse_retry_after
from newsarchive.monitor import Thresholds, coverage, evaluate
from newsarchive_replica.faults import FaultError, FaultRule, parse_action

LIMITS = Thresholds()


def healthy(**changes: int) -> dict[str, int]:
    """The stats of a good run of 100 articles over 6 listing pages; ``changes`` override."""
    values = {
        names.ITEMS: 100,
        names.ARTICLE_PAGES: 100,
        names.LISTING_PAGES: 6,
        names.LISTINGS_READ: 6,
        names.ARTICLE_LINKS: 110,
        names.missing_anchor("more_articles"): 1,  # the last page has no "More Articles"
        "downloader/request_count": 110,
        "log_count/ERROR": 0,
    }
    values.update(changes)
    return values


def check(values: dict, name: str, reason: str = "finished", limits: Thresholds = LIMITS):
    verdict = evaluate(values, limits, reason)
    (found,) = [c for c in verdict.checks if c.name == name]
    return found


def test_a_healthy_run_passes_every_check():
    verdict = evaluate(healthy(), LIMITS, "finished")
    assert verdict.passed, verdict.reason
    assert verdict.reason is None
    assert {c.name for c in verdict.checks} == {
        "finished", "blocked", "min_items", "article_links", "listings_have_links",
        "listings_fetched", "pagination", "database", "capture", "coverage", "error_rate",
        "drop_rate", "layout",
    }  # fmt: skip
    assert verdict.to_json()["failed"] == []


def test_a_reextract_is_judged_without_the_walk_and_fails_without_captures():
    reread = {names.REEXTRACT_RUN: 1, names.ITEMS: 40, names.REEXTRACT_ITEMS: 40,
              names.ARTICLE_PAGES: 40, names.REEXTRACT_COMPLETE: 1}  # fmt: skip
    verdict = evaluate(reread, LIMITS, "finished")
    assert verdict.passed, verdict.reason
    assert [c.name for c in verdict.checks] == [c.name for c in evaluate(healthy(), LIMITS,
                                                "finished").checks]  # fmt: skip
    assert "not applicable" in check(reread, "article_links").message
    empty = check({names.REEXTRACT_RUN: 1, names.REEXTRACT_NO_CAPTURES: 1}, "min_items")
    assert not empty.passed and "no captures" in empty.message
    assert not check({**reread, names.DB_SPILLED: 3}, "database").passed


def test_a_reextract_that_stopped_before_its_last_share_is_not_finished():
    """Scrapy says "finished" once the engine stops, even if start() was left mid-job."""
    unread = {names.REEXTRACT_RUN: 1, names.ITEMS: 40, names.REEXTRACT_ITEMS: 40}
    failed = check(unread, "finished")
    assert not failed.passed and "before every capture was re-read" in failed.message
    assert check({**unread, names.REEXTRACT_COMPLETE: 1}, "finished").passed
    assert not check({**unread, names.REEXTRACT_COMPLETE: 1}, "finished", reason="shutdown").passed


def test_finished():
    assert check(healthy(), "finished").passed
    failed = check(healthy(), "finished", reason="shutdown")
    assert not failed.passed and "shutdown" in failed.message


def test_min_items_floor_and_zero_for_incremental_runs():
    assert check(healthy(), "min_items").passed
    assert not check(healthy(**{names.ITEMS: 0}), "min_items").passed
    few = check(healthy(**{names.ITEMS: 4}), "min_items", limits=Thresholds(min_items=5))
    assert not few.passed and "NEWSARCHIVE_MIN_ITEMS=5" in few.message
    # NEWSARCHIVE_MIN_ITEMS=0, or an incremental run: finding nothing new passes ...
    nothing_new = healthy(**{names.ITEMS: 0})
    assert check(nothing_new, "min_items", limits=Thresholds(min_items=0)).passed
    incremental = {**nothing_new, "newsarchive/incremental/mode": "incremental"}
    assert check(incremental, "min_items").passed
    assert not check({**nothing_new, "newsarchive/incremental/mode": "full"}, "min_items").passed
    # ... but not when the listings yielded no article links at all.
    nothing_found = {**nothing_new, names.ARTICLE_LINKS: 0}
    verdict = evaluate(nothing_found, Thresholds(min_items=0), "finished")
    assert [c.name for c in verdict.failed] == ["article_links"]
    assert "not the same as nothing new" in verdict.reason


def test_min_items_floor_is_zero_when_nothing_was_missing():
    """Issue 11: ``full=1`` again on an archive that holds everything, or a finished JOBDIR
    job run again, archives nothing and is right; a first walk that finds nothing is not."""
    everything_known = healthy(**{
        names.ITEMS: 0, names.INCREMENTAL_MODE: "full", names.KNOWN_SKIPPED: 40,
        names.KNOWN_AT_START: 40,
    })  # fmt: skip
    verdict = evaluate(everything_known, LIMITS, "finished")
    assert verdict.passed, verdict.reason
    assert "every one of the 40 listed articles was archived before" in check(
        everything_known, "min_items").message  # fmt: skip
    # One listed article the archive did not hold, and no item for it: something is missing.
    one_new = {**everything_known, names.NEW_LISTED: 1}
    assert not check(one_new, "min_items").passed
    # A first walk of an empty archive that finds nothing still fails.
    empty_archive = healthy(**{names.ITEMS: 0, names.INCREMENTAL_MODE: "resume"})
    assert not check(empty_archive, "min_items").passed
    nothing_listed = {**empty_archive, names.ARTICLE_LINKS: 0, names.LISTINGS_READ: 0}
    verdict = evaluate(nothing_listed, LIMITS, "finished")
    assert {"min_items", "article_links"} <= {c.name for c in verdict.failed}


def test_a_finished_jobdir_job_has_nothing_left():
    finished_job = {names.JOB_FINISHED_BEFORE: 1, "downloader/request_count": 0}
    verdict = evaluate(finished_job, LIMITS, "finished")
    assert verdict.passed, verdict.reason
    assert "the job (JOBDIR) had nothing left" in check(finished_job, "min_items").message
    assert check(finished_job, "article_links").passed
    # Without the job's word, a run that read nothing is still "nothing found".
    assert not evaluate({"downloader/request_count": 0}, LIMITS, "finished").passed


def test_database_check_fails_while_items_wait_in_the_spill():
    assert check(healthy(), "database").passed
    assert check(healthy(**{names.DB_ARTICLES_WRITTEN: 100}), "database").passed
    spilled = {**healthy(**{names.DB_SPILLED: 7}), names.DB_SPILL_FILE: "/d/spill/x.jsonl"}
    failed = check(spilled, "database")
    assert not failed.passed
    assert failed.message == (
        "7 items never reached PostgreSQL and wait in the spill file /d/spill/x.jsonl: "
        "load them with `scrapy dbloadspill /d/spill/x.jsonl`"
    )
    assert "database: 7 items never reached PostgreSQL" in evaluate(spilled, LIMITS, "x").reason


def test_capture_check_fails_when_the_warc_files_are_incomplete():
    assert check(healthy(), "capture").passed
    assert check(healthy(**{names.CAPTURE_WACZ_FAILED: 1}), "capture").passed  # WARCs whole
    failed = check(healthy(**{names.CAPTURE_FAILED: 1}), "capture")
    assert not failed.passed and "incomplete" in failed.message
    reread = {names.REEXTRACT_RUN: 1, names.REEXTRACT_ITEMS: 1, names.CAPTURE_FAILED: 1}
    assert not check(reread, "capture").passed


def test_database_check_fails_when_the_server_refused_items():
    refused = healthy(**{names.db_rejected("db_22003"): 2, names.db_rejected("bad_url"): 1})
    failed = check(refused, "database")
    assert not failed.passed
    assert failed.message.startswith("3 items were refused by PostgreSQL (bad_url 1, db_22003 2)")


def test_blocked_is_reported_as_blocked_not_as_no_new_articles():
    one_forbidden_page = healthy(**{f"{names.BLOCKED}/403": 1, names.drop("http_403"): 1})
    assert check(one_forbidden_page, "blocked").passed
    many = healthy(**{f"{names.BLOCKED}/429": 20, names.drop("http_429"): 20})
    failed = check(many, "blocked")
    assert not failed.passed and failed.message.startswith("BLOCKED") and "429 20" in failed.message
    listing = {
        names.LISTINGS_READ: 0,
        names.ARTICLE_LINKS: 0,
        names.ITEMS: 0,
        f"{names.BLOCKED}/403": 1,
        names.listing_failed("http_403"): 1,
    }
    verdict = evaluate(listing, Thresholds(min_items=0), "finished")
    assert "blocked" in [c.name for c in verdict.failed]
    assert "this is not 'no new articles'" in verdict.reason


def test_listings_have_links_and_listings_fetched():
    assert check(healthy(), "listings_have_links").passed
    assert not check(healthy(**{names.LISTINGS_WITHOUT_LINKS: 1}), "listings_have_links").passed
    assert check(healthy(), "listings_fetched").passed
    failed = check(healthy(**{names.listing_failed("http_503"): 1}), "listings_fetched")
    assert not failed.passed and "http_503 1" in failed.message
    no_browser = healthy(**{"newsarchive/listing/not_followed/no_browser": 1})
    assert "not_rendered_no_browser 1" in check(no_browser, "listings_fetched").message
    # render=never is the user's choice, but the stream beyond the listing was still not read.
    by_choice = check(healthy(**{"newsarchive/listing/not_followed/render_never": 1}),
                      "listings_fetched")  # fmt: skip
    assert not by_choice.passed and "not_rendered_render_never 1" in by_choice.message


def test_pagination_cap():
    assert check(healthy(**{names.LISTING_LOOPS: 1}), "pagination").passed
    failed = check(healthy(**{names.LISTING_CAP_REACHED: 1}), "pagination")
    assert not failed.passed and "NEWSARCHIVE_MAX_LISTING_PAGES" in failed.message


def test_field_coverage():
    assert check(healthy(), "coverage").passed
    assert check(healthy(**{names.null_field("body"): 1}), "coverage").passed  # 99 % is enough
    failed = check(
        healthy(**{names.null_field("body"): 2, names.null_field("title"): 50}), "coverage"
    )
    assert not failed.passed
    assert "body 98.0% (98 of 100)" in failed.message and "title 50.0%" in failed.message
    assert check({names.ITEMS: 0}, "coverage").passed  # nothing to cover
    assert coverage(healthy(**{names.null_field("source"): 3}))["fields"]["source"] == 0.97


def test_error_rate():
    assert check(healthy(**{"log_count/ERROR": 5}), "error_rate").passed  # 4.5 %
    failed = check(healthy(**{"log_count/ERROR": 6}), "error_rate")
    assert not failed.passed and "6 ERROR lines for 110 requests" in failed.message
    # Retry give-ups log ERROR too; those pages are judged as drops, blocked or listings.
    gave_up = healthy(**{"log_count/ERROR": 9, "retry/max_reached": 8})
    assert check(gave_up, "error_rate").passed


def test_drop_rate():
    assert check(healthy(**{names.drop("gone"): 5}), "drop_rate").passed
    failed = check(healthy(**{names.drop("gone"): 8, names.drop("paywall"): 8}), "drop_rate")
    assert not failed.passed and "gone 8, paywall 8" in failed.message
    # An incremental run re-asks about a few known failures among many archived articles.
    incremental = {
        names.ITEMS: 0,
        names.drop("gone"): 5,
        "newsarchive/incremental/known_skipped": 150,
    }
    assert check(incremental, "drop_rate").passed
    full = {**incremental, "newsarchive/incremental/known_skipped": 0}
    assert not check(full, "drop_rate").passed


@pytest.mark.parametrize(
    ("anchor", "pages_key", "label"),
    [
        ("meta_line", names.ARTICLE_PAGES, "'Date: … | Source: …' meta line"),
        ("date_line", names.ARTICLE_PAGES, "'Date:' label"),
        ("body", names.ARTICLE_PAGES, "article body"),
        ("title", names.ARTICLE_PAGES, "<h1> title"),
        ("original_link", names.ARTICLE_PAGES, "Read original version at source"),
        ("more_articles", names.LISTINGS_READ, "'More Articles' link"),
    ],
)
def test_layout_drift_names_the_anchor_that_broke(anchor, pages_key, label):
    values = healthy()
    pages = values[pages_key]
    values[names.missing_anchor(anchor)] = pages // 2  # half the pages: not "most"
    assert check(values, "layout").passed
    values[names.missing_anchor(anchor)] = pages
    failed = check(values, "layout")
    assert not failed.passed
    assert failed.message.startswith("LAYOUT DRIFT") and label in failed.message
    assert f"(anchor {anchor}) not found on {pages} of {pages}" in failed.message


def test_thresholds_come_from_settings():
    from scrapy.settings import Settings

    from newsarchive import config

    # The project's settings hold every registry default (newsarchive/settings.py).
    settings = Settings(config.defaults())
    settings.setdict({"NEWSARCHIVE_MIN_ITEMS": "0", "NEWSARCHIVE_MAX_DROP_RATE": "0.5"})
    limits = Thresholds.from_settings(settings)
    assert limits.min_items == 0 and limits.max_drop_rate == 0.5
    assert limits.min_field_coverage == 0.99


def test_verdict_reason_is_one_line_per_failure():
    verdict = evaluate(healthy(**{names.ITEMS: 0, names.LISTING_CAP_REACHED: 1}), LIMITS, "x")
    assert [c.name for c in verdict.failed] == ["finished", "min_items", "pagination"]
    assert "\n" not in verdict.reason and verdict.reason.count("; ") >= 2


# --- helpers of the fault handling ------------------------------------------------------------


def test_retry_after_seconds_and_http_date():
    assert parse_retry_after(b"120") == 120.0
    assert parse_retry_after(" 7 ") == 7.0
    now = time.time()
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30, abs=1)
    assert parse_retry_after(formatdate(now - 30, usegmt=True), now=now) == 0.0  # past: now
    assert parse_retry_after(None) is None
    assert parse_retry_after(b"") is None
    assert parse_retry_after(b"soon") is None


def test_backoff_is_exponential_and_capped():
    from scrapy.utils.test import get_crawler

    from newsarchive.middlewares.resilience import BackoffRetryMiddleware

    crawler = get_crawler(
        settings_dict={
            "NEWSARCHIVE_RETRY_BACKOFF_BASE": 2,
            "NEWSARCHIVE_RETRY_BACKOFF_MAX": 10,
            "NEWSARCHIVE_RETRY_AFTER_MAX": 60,
        }
    )
    middleware = BackoffRetryMiddleware.from_crawler(crawler)
    assert [middleware.delay_for(n, None) for n in (1, 2, 3, 4, 5)] == [2, 4, 8, 10, 10]
    assert middleware.delay_for(1, 30) == 30  # Retry-After wins ...
    assert middleware.delay_for(1, 3600) == 60  # ... up to NEWSARCHIVE_RETRY_AFTER_MAX


def _page(body: bytes, content_type: str = "text/html; charset=UTF-8", status: int = 200):
    url = "http://example.org/x"
    return HtmlResponse(
        url, status=status, body=body, headers={"Content-Type": content_type},
        request=Request(url),
    )  # fmt: skip


def test_incomplete_pages_are_recognised():
    assert incomplete_kind(_page(b"<html><body><h1>x</h1></body></html>\n")) is None
    assert incomplete_kind(_page(b"")) == "empty"
    assert incomplete_kind(_page(b"  \n")) == "empty"
    assert incomplete_kind(_page(b"<html><body><h1>x</h1><p>cut mid-sen")) == "truncated"
    assert incomplete_kind(_page(b"", status=404)) is None  # errors are judged elsewhere
    plain = TextResponse("http://example.org/r", body=b"x", headers={"Content-Type": "text/plain"})
    assert incomplete_kind(plain) is None


def test_robots_txt_served_as_html_is_not_an_incomplete_page():
    """Scrapy asks for robots.txt itself (callback NO_CALLBACK): a server calling it text/html
    must not cost three truncated_html retries before the first page (issue 13)."""
    from scrapy.http.request import NO_CALLBACK
    from scrapy.utils.test import get_crawler

    from newsarchive import config
    from newsarchive.middlewares.resilience import BackoffRetryMiddleware

    url = "http://example.org/robots.txt"
    headers = {"Content-Type": "text/html; charset=UTF-8"}
    robots = Request(url, callback=NO_CALLBACK, meta={"dont_obey_robotstxt": True})
    robots_answer = HtmlResponse(url, body=b"User-agent: *\nAllow: /\n", headers=headers,
                                 request=robots)  # fmt: skip
    assert incomplete_kind(robots_answer) is None
    page = Request("http://example.org/x")  # a page the spider parses: still judged
    page_answer = HtmlResponse(page.url, body=b"<html><p>cut", headers=headers, request=page)
    assert incomplete_kind(page_answer) == "truncated"

    crawler = get_crawler(settings_dict={**config.defaults(), "RETRY_TIMES": 3})
    crawler.spider = crawler._create_spider("unit")
    middleware = BackoffRetryMiddleware.from_crawler(crawler)

    async def answers() -> tuple[object, object]:
        return (
            await middleware.process_response(robots, robots_answer),
            await middleware.process_response(page, page_answer),
        )

    import asyncio

    robots_result, page_result = asyncio.run(answers())
    assert robots_result is robots_answer
    assert isinstance(page_result, Request) and page_result.meta["retry_times"] == 1


def test_replica_fault_actions_parse():
    assert parse_action("503") == {"do": "status", "status": 503}
    assert parse_action("429:retry_after=2") == {"do": "status", "status": 429, "retry_after": "2"}
    assert parse_action("delay:1.5") == {"do": "delay", "seconds": 1.5}
    assert parse_action("truncate") == {"do": "truncate", "fraction": 0.5}
    assert parse_action("theme:date_label") == {"do": "theme", "name": "date_label"}
    assert parse_action({"do": "status", "status": "502"})["status"] == 502
    for bad in ("frobnicate", "theme:unknown", "redirect", {"status": 1}):
        with pytest.raises(FaultError):
            parse_action(bad)


def test_replica_fault_rule_sequences():
    once_each = FaultRule("^/a", [parse_action("503"), parse_action("reset")], per_url=True)
    assert [once_each.next_action(u)["do"] for u in ("/a1", "/a2", "/a1", "/a2")] == [
        "status", "status", "reset", "reset",
    ]  # fmt: skip
    assert once_each.next_action("/a1") is None  # used up: the page itself
    assert once_each.next_action("/b") is None  # not matched
    forever = FaultRule("^/a", [parse_action("403")], repeat=True)
    assert all(forever.next_action("/a")["status"] == 403 for _ in range(5))
    assert forever.hits == 5
