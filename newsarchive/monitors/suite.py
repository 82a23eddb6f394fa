"""The run monitor as a Spidermon suite: one monitor per check, run at spider close.

Spidermon's extension (``SPIDERMON_SPIDER_CLOSE_MONITORS``) runs ``RunChecks``; each monitor
passes or fails with its check's one-line message; the actions then record the verdict
(``RecordVerdict``), send the changes digest, and on a failure alert a person.

``Spidermon`` here is Spidermon's extension with two changes: its runner's result logs a
failed monitor as one INFO line (the verdict's ERROR line is the RunMonitor's) instead of a
multi-line ERROR with a traceback, and its spider_closed awaits the alerts in flight.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Self

from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from spidermon import Monitor, MonitorSuite
from spidermon.contrib.scrapy.extensions import Spidermon as SpidermonExtension
from spidermon.contrib.scrapy.runners import SpiderMonitorResult, SpiderMonitorRunner

from newsarchive.monitor import COVERED_FIELDS
from newsarchive.monitors.actions import ChangesDigest, FailureAlert, RecordVerdict
from newsarchive.monitors.delivery import outbox_for
from newsarchive.monitors.verdict import verdict_of

logger = logging.getLogger(__name__)

#: The checks, in the order the verdict lists them (newsarchive.monitor.evaluate + schema).
CHECK_NAMES = (
    "finished", "blocked", "min_items", "article_links", "listings_have_links",
    "listings_fetched", "pagination", "database", "capture", "coverage", "error_rate", "drop_rate",
    "layout", "item_schema",
)  # fmt: skip


class CheckMonitor(Monitor):
    """One check of the verdict: fails with the check's message."""

    check_name: ClassVar[str] = ""

    def test_check(self) -> None:
        (check,) = [c for c in verdict_of(self.data).checks if c.name == self.check_name]
        if not check.passed:
            self.fail(check.message)


def _monitor(name: str) -> type[CheckMonitor]:
    doc = f"The run monitor's {name!r} check (fields covered: {', '.join(COVERED_FIELDS)})."
    return type(name, (CheckMonitor,), {"check_name": name, "__doc__": doc})


CHECK_MONITORS = [_monitor(name) for name in CHECK_NAMES]


class RunChecks(MonitorSuite):
    """Every check of the run monitor, then the verdict, the digest and the alerts."""

    monitors: ClassVar[list[Any]] = CHECK_MONITORS
    monitors_finished_actions: ClassVar[list[Any]] = [RecordVerdict, ChangesDigest]
    monitors_failed_actions: ClassVar[list[Any]] = [FailureAlert]


class OneLineResult(SpiderMonitorResult):
    """Spidermon's result, but a failure or a failed action is one line, not a traceback."""

    def write_errors(self) -> None:
        for status in self.step.error_statuses:
            for entry in self.step.items_for_status(status):
                lines = str(getattr(entry, "error", "") or "").strip().splitlines()
                why = getattr(entry, "reason", None) or (lines[-1] if lines else status)
                self.log_info(f"{entry.item.name} {status}: {why}")

    def log(self, msg: str, level: int = logging.DEBUG) -> None:
        self.spider.logger.log(level, "[Spidermon] %s", msg)  # Spider.log() is deprecated


class OneLineRunner(SpiderMonitorRunner):
    def create_result(self) -> OneLineResult:
        return OneLineResult(self.spider)


def run_suite(crawler: Crawler, spider: Spider, suite: MonitorSuite, **data: Any) -> Any:
    """Run one suite as Spidermon's extension does (tests and RunMonitor's fallback)."""
    values = {"stats": crawler.stats.get_stats(), "stats_history": [], "crawler": crawler,
              "spider": spider, "sc_spider_name": spider.name, "job": None, "meta": {},
              **data}  # fmt: skip
    return OneLineRunner(spider=spider).run(suite, **values)


class Spidermon(SpidermonExtension):
    """Spidermon's extension with one-line results and awaited alerts (see the module); off
    with NEWSARCHIVE_MONITOR_ENABLED as well as with SPIDERMON_ENABLED."""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if not crawler.settings.getbool("NEWSARCHIVE_MONITOR_ENABLED"):
            raise NotConfigured
        return super().from_crawler(crawler)

    def _run_suites(self, spider: Spider, suites: list[MonitorSuite]) -> None:
        for suite in suites:
            # A fresh "meta" per run: Spidermon's default one is shared by every run.
            data = {**self._generate_data_for_spider(spider), "meta": {}}
            OneLineRunner(spider=spider).run(suite, **data)

    async def spider_closed(self, spider: Spider) -> None:  # type: ignore[override]
        super().spider_closed(spider)
        await outbox_for(self.crawler).drain()
