"""Run the monitor checks once at the end of a run and make a failure impossible to miss.

A failed check becomes: one ERROR line per check in the log, the stat
``newsarchive/run_failed`` (so ``scrapy crawl`` exits 1 for cron and Scrapyd users),
``newsarchive/monitor/failed/<check>`` stats, the ``monitor`` section of the run summary
(written by the progress extension, which asks ``RunMonitor.judge``), and, when the archive
is on, ``crawl_runs.failed``/``failure_reason`` for the run.
"""

from __future__ import annotations

import logging
from typing import Self

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from newsarchive import stats as names
from newsarchive.db.errors import ArchiveUnavailable
from newsarchive.db.run_database import RunDatabase
from newsarchive.monitor import Thresholds, Verdict

logger = logging.getLogger(__name__)


class RunMonitor:
    """Judge the run on spider_closed; ``judge`` is idempotent so every reader sees one verdict."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.limits = Thresholds.from_settings(crawler.settings)
        self.database = RunDatabase.for_crawler(crawler)
        self.verdict: Verdict | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if not crawler.settings.getbool("NEWSARCHIVE_MONITOR_ENABLED"):
            raise NotConfigured
        monitor = cls(crawler)
        crawler.signals.connect(monitor.spider_closed, signal=signals.spider_closed)
        return monitor

    def judge(self, reason: str, spider: Spider | None = None) -> Verdict:
        """The verdict of the Spidermon suite (newsarchive.monitors.suite), which hands it to
        ``accept`` at spider close; run here when Spidermon did not (SPIDERMON_ENABLED off)."""
        if self.verdict is None:
            from newsarchive.monitors.suite import RunChecks, run_suite

            spider = spider or self.crawler.spider
            assert spider is not None
            run_suite(self.crawler, spider, RunChecks(crawler=self.crawler), finish_reason=reason)
        if self.verdict is None:
            # The suite hands its verdict to the registered RunMonitor extension; a monitor
            # built outside the extension manager takes the same verdict itself.
            from newsarchive.monitors.verdict import judge_stats

            self.accept(judge_stats(self.crawler.stats.get_stats(), self.limits, reason))
        assert self.verdict is not None
        return self.verdict

    def accept(self, verdict: Verdict) -> None:
        """Log the verdict (one ERROR line per failed check) and set the stats, once."""
        if self.verdict is not None:
            return
        stats = self.crawler.stats
        self.verdict = verdict
        for check in verdict.failed:
            stats.set_value(names.monitor_failed(check.name), 1)
            logger.error("Monitor check %s FAILED: %s", check.name, check.message)
        if verdict.failed:
            stats.set_value(names.RUN_FAILED, 1)
        else:
            logger.info("Monitor: all %d checks passed", len(verdict.checks))

    async def spider_closed(self, spider: Spider, reason: str) -> None:
        verdict = self.judge(reason, spider)
        run_id = getattr(spider, "run_id", None)
        # A database that refused the run at its start has no row to mark (it said so once).
        started = not self.crawler.stats.get_value(names.STARTUP_ERROR)
        if self.database is not None and run_id and started:
            await self.record(run_id, verdict)

    async def record(self, run_id: str, verdict: Verdict) -> None:
        """``crawl_runs.failed``/``failure_reason`` through the run's database; a database
        that cannot be reached now is a WARNING (the log and the exit status still say it)."""
        assert self.database is not None
        try:
            await self.database.set_run_verdict(run_id, not verdict.passed, verdict.reason)
        except ArchiveUnavailable as exc:
            logger.warning("The monitor's verdict was not recorded in crawl_runs: %s", exc)
