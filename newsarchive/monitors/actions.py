"""Spidermon actions: record the verdict, alert on a failed run, send the changes digest.

Why our own small actions rather than Spidermon's ``SendSmtpEmail``/Slack/Discord ones: theirs
need a user and password (no unauthenticated relay), Jinja2 templates plus premailer, one
channel per action with its own settings family, and they send from the reactor thread
without a timeout (Scrapy's ``MailSender`` Deferred is dropped, so a crawl may exit before
the mail left). These build one ``Message`` and hand it to the ``Outbox``, which sends it in
a thread with a timeout and is awaited at spider close.
"""

from __future__ import annotations

from typing import Any

from scrapy.crawler import Crawler
from spidermon import Action
from spidermon.exceptions import SkipAction

from newsarchive.monitors.delivery import (
    SmtpConfig,
    WebhookConfig,
    outbox_for,
    post_webhook,
    send_email,
)
from newsarchive.monitors.digest import ChangeDigest
from newsarchive.monitors.messages import Message, digest_message, failure_message
from newsarchive.monitors.verdict import verdict_of


class CrawlerAction(Action):
    """An action that knows its crawler (Spidermon builds actions with ``from_crawler``)."""

    def __init__(self, crawler: Crawler | None = None) -> None:
        super().__init__()
        self.crawler = crawler

    @classmethod
    def from_crawler_kwargs(cls, crawler: Crawler) -> dict[str, Any]:
        return {"crawler": crawler}

    @property
    def spider_and_run(self) -> tuple[str, str | None]:
        spider = self.data.spider
        return spider.name, getattr(spider, "run_id", None)


class RecordVerdict(CrawlerAction):
    """Hand the suite's verdict to the RunMonitor extension: ERROR lines, stats, exit status,
    the summary's "monitor" block and crawl_runs all come from it."""

    def run_action(self) -> None:
        from newsarchive.extensions.monitor import RunMonitor

        monitor = self.crawler.get_extension(RunMonitor) if self.crawler else None
        if monitor is None:
            raise SkipAction("NEWSARCHIVE_MONITOR_ENABLED is off")
        monitor.accept(verdict_of(self.data))


class Notify(CrawlerAction):
    """Send ``message()`` by email and webhook, each if configured."""

    def message(self) -> Message | None:
        raise NotImplementedError

    def run_action(self) -> None:
        assert self.crawler is not None
        message = self.message()
        if message is None:
            raise SkipAction("nothing to say")
        settings = self.crawler.settings
        outbox = outbox_for(self.crawler)
        sent = False
        for config, deliver in (
            (SmtpConfig.from_settings(settings), send_email),
            (WebhookConfig.from_settings(settings), post_webhook),
        ):
            if config is not None:
                outbox.send(config.target, deliver, config, message)
                sent = True
        if not sent:
            raise SkipAction("no NEWSARCHIVE_ALERT_SMTP_HOST/EMAIL_TO or WEBHOOK_URL set")


class FailureAlert(Notify):
    """On a failed run (a ``monitors_failed`` action): which checks failed and why."""

    def message(self) -> Message | None:
        return failure_message(*self.spider_and_run, verdict_of(self.data))


class ChangesDigest(Notify):
    """After every run (a ``monitors_finished`` action): its edits and deletions, if any."""

    def message(self) -> Message | None:
        digest = self.crawler.get_extension(ChangeDigest) if self.crawler else None
        return digest_message(*self.spider_and_run, digest.changes) if digest else None
