"""The run monitor on Spidermon: the suite on stats dicts, the item schema, alert delivery to a
real SMTP server (aiosmtpd) and an HTTP webhook on loopback, and `scrapy crawl` end to end:
a failed run's alert arrives by both channels; a clean run sends nothing."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path

import jsonschema
import pytest
from scrapy import Spider
from scrapy.utils.test import get_crawler

from newsarchive import settings as project_settings
from newsarchive import stats as names
from newsarchive.extensions.monitor import RunMonitor
from newsarchive.extraction_version import EXTRACTOR_VERSION
from newsarchive.items import ARTICLE_FIELDS
from newsarchive.monitors.delivery import Outbox, SmtpConfig, WebhookConfig
from newsarchive.monitors.messages import Message, digest_message, failure_message
from newsarchive.monitors.schema import article_schema, schema_check
from newsarchive.monitors.suite import CHECK_NAMES, RunChecks, run_suite
from newsarchive.monitors.verdict import judge_stats
from newsarchive.signals import ArticleChange
from newsarchive_replica.server import ReplicaServer
from tests.alerting import PASSWORD, USER, alert_env, smtp_server, webhook_receiver
from tests.crawling import crawl
from tests.test_monitor import LIMITS, healthy

ROOT = Path(__file__).resolve().parents[1]
RUN_ID = "20261201T090000Z-0123abcd"


def project(**overrides: object) -> dict[str, object]:
    """The project's NEWSARCHIVE_*/SPIDERMON_* settings, RunMonitor and the digest on."""
    values = {
        name: getattr(project_settings, name)
        for name in dir(project_settings)
        if name.startswith(("NEWSARCHIVE_", "SPIDERMON_"))
    }
    values["EXTENSIONS"] = {
        "newsarchive.extensions.monitor.RunMonitor": 0,
        "newsarchive.monitors.digest.ChangeDigest": 0,
    }
    values["NEWSARCHIVE_DATABASE_URL"] = ""
    values.update(overrides)
    return values


def run_checks(stats: dict, reason: str = "finished", **settings: object):
    """The suite through Spidermon's runner, as the extension runs it at spider close."""
    crawler = get_crawler(Spider, project(**settings))
    crawler._apply_settings()
    spider = Spider.from_crawler(crawler, name="naenara")
    spider.run_id = RUN_ID
    crawler.spider = spider
    crawler.stats.open_spider()
    for key, value in stats.items():
        crawler.stats.set_value(key, value)
    result = run_suite(crawler, spider, RunChecks(crawler=crawler), finish_reason=reason)
    return crawler, result


def test_the_suite_has_one_monitor_per_check():
    verdict = judge_stats(healthy(), LIMITS, "finished")
    assert [check.name for check in verdict.checks] == list(CHECK_NAMES)
    assert [m.check_name for m in RunChecks().all_monitors] == list(CHECK_NAMES)


def test_a_healthy_run_passes_every_monitor_and_records_the_verdict(caplog):
    crawler, result = run_checks(healthy())
    assert result.all_monitors_passed
    assert len(result.monitors_passed_results) == len(CHECK_NAMES)
    verdict = crawler.get_extension(RunMonitor).judge("finished")
    assert verdict.passed and crawler.stats.get_value(names.RUN_FAILED) is None
    assert "ERROR" not in {record.levelname for record in caplog.records}


def test_a_failed_check_is_one_error_line_and_the_run_fails(caplog):
    stats = healthy(**{names.ITEMS: 0, names.LISTING_CAP_REACHED: 1})
    crawler, result = run_checks(stats)
    failed = sorted(r.item.check_name for r in result.monitors_failed_results)
    assert failed == ["min_items", "pagination"]
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 2 and all(e.startswith("Monitor check ") for e in errors)
    assert any("Monitor check min_items FAILED: 0 articles archived" in e for e in errors)
    assert not any("Traceback" in r.getMessage() for r in caplog.records)
    assert crawler.stats.get_value(names.RUN_FAILED) == 1
    assert crawler.stats.get_value(f"{names.MONITOR_FAILED}/pagination") == 1
    # The summary's "monitor" block and crawl_runs read this same verdict.
    verdict = crawler.get_extension(RunMonitor).judge("finished")
    assert verdict.to_json()["failed"] == ["min_items", "pagination"]


def test_the_finish_reason_reaches_the_finished_monitor():
    _, result = run_checks(healthy(), reason="shutdown")
    assert [r.item.check_name for r in result.monitors_failed_results] == ["finished"]


# --- the item contract as a JSON Schema -------------------------------------------------------


def test_published_schema_is_the_code_schema_and_matches_article_fields():
    published = json.loads((ROOT / "docs" / "article.schema.json").read_text(encoding="utf-8"))
    assert published == article_schema()
    assert list(published["properties"]) == list(ARTICLE_FIELDS)
    assert published["required"] == list(ARTICLE_FIELDS)
    assert published["additionalProperties"] is False
    jsonschema.Draft202012Validator.check_schema(published)


def test_schema_accepts_the_specimen_item_and_refuses_broken_ones(specimen_expected):
    validator = jsonschema.Draft202012Validator(article_schema())
    item = {field: specimen_expected.get(field) for field in ARTICLE_FIELDS}
    item["run_id"] = RUN_ID
    item["extractor_version"] = EXTRACTOR_VERSION
    item["crawled_at"] = "2025-12-27T09:15:02+00:00"
    item["content_hash"] = hashlib.sha256(f"{item['title']}\n\n{item['body']}".encode()).hexdigest()
    assert list(validator.iter_errors(item)) == []
    for broken in (
        {**item, "body": ""},
        {**item, "content_hash": "abc"},
        {**item, "published_date": "13/04/2024"},
        {**item, "extra": 1},
        {k: v for k, v in item.items() if k != "url"},
    ):
        assert list(validator.iter_errors(broken)), broken


def test_schema_check_counts_violations():
    assert schema_check({names.SCHEMA_ITEMS: 10}).passed
    bad = schema_check(
        {
            names.SCHEMA_ITEMS: 10,
            names.SCHEMA_ITEMS_WITH_ERRORS: 2,
            f"{names.SCHEMA_FIELD_ERRORS}/regex_not_matched/content_hash": 2,
        }
    )
    assert not bad.passed
    assert bad.message.startswith("2 of 10 items violate docs/article.schema.json")
    assert "regex_not_matched/content_hash 2" in bad.message


# --- messages ---------------------------------------------------------------------------------


def test_failure_and_digest_messages():
    verdict = judge_stats(healthy(**{names.ITEMS: 0}), LIMITS, "finished")
    message = failure_message("naenara", RUN_ID, verdict)
    assert message.subject == f"[newsarchive] naenara {RUN_ID} FAILED: min_items"
    assert "- min_items: 0 articles archived" in message.text
    assert digest_message("naenara", RUN_ID, []) is None
    digest = digest_message(
        "naenara",
        RUN_ID,
        [
            ArticleChange("2-2", "deleted", "http://x/2", "Gone title"),
            ArticleChange("1-1", "edited", "http://x/1", "New title"),
        ],
    )
    assert digest is not None and digest.subject.endswith("1 edited, 1 deleted")
    assert digest.text.splitlines()[1:] == [
        "- deleted: 2-2 Gone title http://x/2",
        "- edited: 1-1 New title http://x/1",
    ]
    post = digest.webhook_json()
    assert post["text"] == post["content"] and "1-1 New title" in post["text"]


# --- delivery to real receivers ---------------------------------------------------------------


def configs(smtp_port: int, url: str, **overrides: str):
    crawler = get_crawler(Spider, project(**{**alert_env(smtp_port, url), **overrides}))
    return SmtpConfig.from_settings(crawler.settings), WebhookConfig.from_settings(crawler.settings)


def deliver(*sends) -> None:
    async def run() -> None:
        outbox = Outbox()
        for target, function, config, message in sends:
            outbox.send(target, function, config, message)
        await outbox.drain()

    asyncio.run(run())


def test_email_and_webhook_arrive_and_failures_are_one_warning(caplog):
    from newsarchive.monitors.delivery import post_webhook, send_email

    message = Message("[newsarchive] test", "line one\nline two")
    with smtp_server() as (inbox, port), webhook_receiver() as (posts, url):
        smtp, hook = configs(port, url)
        deliver(
            (smtp.target, send_email, smtp, message), (hook.target, post_webhook, hook, message)
        )
    (mail,) = inbox.messages
    assert mail["Subject"] == "[newsarchive] test" and mail["From"] == "crawler@example.org"
    assert mail["To"] == "ops@example.org, research@example.org"
    assert mail.get_content().replace("\r\n", "\n").strip() == "line one\nline two"
    assert inbox.logins == [(USER, PASSWORD)]
    assert posts == [message.webhook_json()]

    # A receiver that answers 500 and a closed SMTP port: one WARNING each, no secret in it.
    with webhook_receiver(status=500) as (_, url):
        smtp, hook = configs(port, url)  # the SMTP server above is stopped now
        deliver(
            (smtp.target, send_email, smtp, message), (hook.target, post_webhook, hook, message)
        )
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelname == "WARNING" and r.name.startswith("newsarchive")
    ]
    assert len(warnings) == 2, warnings
    assert any("webhook at 127.0.0.1" in w and "HTTP Error 500" in w for w in warnings)
    assert any(f"SMTP server 127.0.0.1:{port}" in w for w in warnings)
    assert not any("secret" in w or PASSWORD in w for w in warnings)


def test_a_receiver_that_never_answers_is_bounded_by_the_timeout(caplog):
    from newsarchive.monitors.delivery import post_webhook

    message = Message("[newsarchive] slow", "x")
    with webhook_receiver(delay=30) as (_, url):
        _, hook = configs(1, url, NEWSARCHIVE_ALERT_TIMEOUT="0.5")
        started = time.monotonic()
        deliver((hook.target, post_webhook, hook, message))
        assert time.monotonic() - started < 5
    assert any("not delivered" in r.getMessage() for r in caplog.records)


def test_bad_alert_settings_are_refused():
    with pytest.raises(ValueError, match="NEWSARCHIVE_ALERT_SMTP_TLS"):
        configs(25, "http://127.0.0.1/", NEWSARCHIVE_ALERT_SMTP_TLS="maybe")
    with pytest.raises(ValueError, match="not an http"):
        configs(25, "ftp://example.org/hook")
    crawler = get_crawler(Spider, project())
    assert SmtpConfig.from_settings(crawler.settings) is None  # off unless configured
    assert WebhookConfig.from_settings(crawler.settings) is None


# --- `scrapy crawl` end to end ----------------------------------------------------------------


def test_a_failed_run_alerts_by_email_and_webhook_and_a_clean_run_sends_nothing(tmp_path):
    with (
        ReplicaServer() as site,
        smtp_server() as (inbox, port),
        webhook_receiver() as (posts, url),
    ):
        start = f"start_url={site.start_url('naenara', 'listing')}"
        clean = crawl(tmp_path / "clean", start, env=alert_env(port, url))
        assert clean.returncode == 0, clean.log[-3000:]
        assert clean.summary["monitor"]["passed"] is True
        assert "item_schema" in {check["name"] for check in clean.summary["monitor"]["checks"]}
        assert (inbox.messages, posts) == ([], [])

        failed = crawl(
            tmp_path / "failed", start, env=alert_env(port, url),
            settings={"NEWSARCHIVE_MIN_ITEMS": "1000"},
        )  # fmt: skip
    assert failed.returncode == 1
    errors = [line for line in failed.log.splitlines() if "] ERROR: Monitor check" in line]
    assert len(errors) == 1 and "Monitor check min_items FAILED:" in errors[0]
    assert "[Spidermon] min_items/test_check... FAIL" in failed.log  # Spidermon ran the suite
    assert "Traceback" not in failed.log
    assert failed.summary["monitor"]["failed"] == ["min_items"]
    run_id = failed.summary["run_id"]
    (mail,) = inbox.messages
    assert mail["Subject"] == f"[newsarchive] naenara {run_id} FAILED: min_items"
    assert "min_items: 155 articles archived (NEWSARCHIVE_MIN_ITEMS=1000)" in mail.get_content()
    (post,) = posts
    assert post["text"] == post["content"] and f"naenara {run_id} FAILED: min_items" in post["text"]
    assert "min_items: 155 articles archived" in post["text"]
    assert PASSWORD not in failed.log and "secret-token" not in failed.log
    summary_text = json.dumps(failed.summary)
    assert PASSWORD not in summary_text and "secret-token" not in summary_text
