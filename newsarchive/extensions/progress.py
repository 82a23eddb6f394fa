"""Progress lines while a crawl runs, and a one-paragraph summary plus a JSON summary at the end."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Self

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.utils.asyncio import create_looping_call, run_in_thread

from newsarchive import stats as names
from newsarchive.clock import utc_now
from newsarchive.files import write_json_atomically
from newsarchive.monitor import coverage
from newsarchive.settings_helpers import data_dir, require_run_records

logger = logging.getLogger(__name__)


#: A %-placeholder with its conversion, e.g. ``%(run_id)s`` or ``%(batch_id)05d``.
_PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[a-zA-Z]")


def feed_paths(crawler: Crawler, spider: Spider) -> list[str]:
    """The run's feed URIs with the spider's own parameters filled in (others, such as
    ``%(batch_id)05d``, are left as they are; the manifest lists the files written)."""
    params = {"name": spider.name, "run_id": getattr(spider, "run_id", "")}
    return [
        _PLACEHOLDER.sub(lambda m: str(params[m[1]]) if m[1] in params else m[0], uri)
        for uri in crawler.settings.getdict("FEEDS")
    ]


def run_summary(crawler: Crawler, spider: Spider, reason: str) -> dict[str, Any]:
    """The machine-readable account of a run: counts, drops by reason, duration, feeds."""
    values = crawler.stats.get_stats()
    started = values.get("start_time") or utc_now()
    finished = values.get("finish_time") or utc_now()
    return {
        "run_id": getattr(spider, "run_id", None),
        "spider": spider.name,
        "start_url": getattr(spider, "start_url", None),
        "finish_reason": reason,
        "started_at": started.isoformat(),
        "finished_at": finished.isoformat(),
        "duration_seconds": round((finished - started).total_seconds(), 3),
        "listing_pages": values.get(names.LISTING_PAGES, 0),
        "article_pages": values.get(names.ARTICLE_PAGES, 0),
        "items": values.get(names.ITEMS, 0),
        "gone": values.get(names.GONE, 0),
        "requests": values.get("downloader/request_count", 0),
        "drops": names.with_prefix(values, names.DROPS),
        "null_fields": names.with_prefix(values, names.NULL_FIELDS),
        "unparsed": names.with_prefix(values, names.UNPARSED),
        "missing_anchors": names.with_prefix(values, names.MISSING_ANCHOR),
        "feeds": feed_paths(crawler, spider),
        # issue 6: coverage of the research fields, what blocked us, the monitor's verdict
        "coverage": coverage(values),
        "blocked": names.with_prefix(values, names.BLOCKED),
        "listing_failures": names.with_prefix(values, names.LISTING_FAILED),
        "monitor": monitor_results(crawler, reason),
        "database": database_results(values),
    }


def database_results(values: dict[str, Any]) -> dict[str, Any]:
    """What reached PostgreSQL, and what waits in the spill with the command that loads it."""
    spilled, spill_file = values.get(names.DB_SPILLED, 0), values.get(names.DB_SPILL_FILE)
    return {
        "written": values.get(names.DB_ARTICLES_WRITTEN, 0),
        "spilled": spilled,
        "spill_file": spill_file,
        "load_command": f"scrapy dbloadspill {spill_file}" if spilled and spill_file else None,
    }


def monitor_results(crawler: Crawler, reason: str) -> dict[str, Any] | None:
    """The run monitor's verdict (newsarchive.extensions.monitor), or None when it is off."""
    from newsarchive.extensions.monitor import RunMonitor

    monitor = crawler.get_extension(RunMonitor)
    return monitor.judge(reason).to_json() if monitor is not None else None


def summary_path(crawler: Crawler, spider: Spider) -> Path:
    """data/runs/<spider>/<run_id>.json, beside the run's feeds."""
    return data_dir(crawler.settings) / "runs" / spider.name / f"{spider.run_id}.json"


def describe(counts: dict[str, int]) -> str:
    return ", ".join(f"{reason} {count}" for reason, count in sorted(counts.items())) or "none"


class CrawlProgress:
    """Log pages, articles and drops every few seconds; summarise the run at the end."""

    def __init__(self, crawler: Crawler, interval: float) -> None:
        self.crawler = crawler
        self.interval = interval
        self.task: Any = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        require_run_records(crawler.settings)
        # 0 turns the progress lines off; the end-of-run summary is always written.
        interval = crawler.settings.getfloat("NEWSARCHIVE_PROGRESS_INTERVAL")
        extension = cls(crawler, interval)
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    def spider_opened(self, spider: Spider) -> None:
        self.task = create_looping_call(self.log_progress, spider)
        if self.interval > 0:
            self.task.start(self.interval, now=False)

    def log_progress(self, spider: Spider) -> None:
        values = self.crawler.stats.get_stats()
        logger.info(
            "Progress: %d listing pages, %d article pages, %d articles archived, dropped: %s",
            values.get(names.LISTING_PAGES, 0),
            values.get(names.ARTICLE_PAGES, 0),
            values.get(names.ITEMS, 0),
            describe(names.with_prefix(values, names.DROPS)),
            extra={"spider": spider},
        )

    async def spider_closed(self, spider: Spider, reason: str) -> None:
        if self.task is not None and self.task.running:
            self.task.stop()
        summary = run_summary(self.crawler, spider, reason)
        path = summary_path(self.crawler, spider)
        # Durable (fsync + rename), in a thread: a crash never leaves half a summary.
        await run_in_thread(write_json_atomically, path, summary, indent=2)
        logger.info(
            "Run %s finished (%s) in %.1fs: %d articles archived from %d listing pages and "
            "%d article pages (%d requests); dropped: %s; gone: %d; null fields: %s; "
            "missing anchors: %s. Feeds: %s. Summary: %s",
            summary["run_id"],
            reason,
            summary["duration_seconds"],
            summary["items"],
            summary["listing_pages"],
            summary["article_pages"],
            summary["requests"],
            describe(summary["drops"]),
            summary["gone"],
            describe(summary["null_fields"]),
            describe(summary["missing_anchors"]),
            ", ".join(summary["feeds"]) or "none",
            path,
            extra={"spider": spider},
        )
