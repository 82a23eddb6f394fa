"""``scrapy crawl`` with one-line errors for bad arguments and an honest exit code.

Scrapy reports a bad spider argument or setting as a traceback (or not at all) and exits 0
after a failed run; cron and Scrapyd users need one line and a non-zero status instead. Scrapyd
runs this same command (its runner calls ``scrapy crawl`` with the job's ``-s``/``-a``), so
every check here holds for scheduled jobs too.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import tempfile
from typing import Any, NoReturn

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.crawler import Crawler
from scrapy.exceptions import UsageError
from scrapy.settings import SETTINGS_PRIORITIES, BaseSettings
from scrapy.spiderloader import get_spider_loader

from newsarchive import stats as names
from newsarchive.clock import utc_now
from newsarchive.config import SettingError, validate
from newsarchive.monitor import spill_notice
from newsarchive.outcome import Outcome
from newsarchive.settings_helpers import data_dir, user_agent
from newsarchive.spiders.arguments import ConfigurationError

logger = logging.getLogger(__name__)

#: Close reasons that mean the run did what it was asked.
SUCCESS_REASONS = frozenset({"finished"})


class Command(ScrapyCrawlCommand):
    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        """Check the settings, the data folder, the spider and its arguments before Scrapy
        starts (and logs) anything."""
        super().process_options(args, opts)
        try:
            validate(self.settings)
        except SettingError as exc:
            self._exit(str(exc))
        if self.settings.getbool("NEWSARCHIVE_TOOL_RUN"):
            self._exit("NEWSARCHIVE_TOOL_RUN is for Scrapy's own tools: a crawl always archives")
        self._check_data_dir()
        self._check_database_url()
        self._resolve_user_agent()
        if len(args) != 1:
            return  # run() raises the usage error
        try:
            check_spider_arguments(self.settings, args[0], opts.spargs)
        except KeyError:
            self._exit(f"no spider named {args[0]!r}; `scrapy list` shows them")
        except ConfigurationError as exc:
            self._exit(str(exc))

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            raise UsageError
        assert self.crawler_process
        crawler = self._create_crawler(args[0])
        self.crawler_process.crawl(crawler, **opts.spargs)
        self.crawler_process.start()
        stats = _stats_of(crawler)
        # A component that refused to start (e.g. the database) left its one-line reason.
        startup_error = stats.get(names.STARTUP_ERROR)
        if (
            startup_error
            or self.crawler_process.bootstrap_failed
            or stats.get("finish_reason") not in SUCCESS_REASONS
            or stats.get(names.RUN_FAILED)
        ):
            self.exitcode = 1
        outcome = Outcome(self.exitcode, _run_id_of(crawler), _why(stats, startup_error))
        # The log's last line, for newsarchive-schedule (Scrapyd keeps no exit status).
        logger.log(logging.INFO if outcome.passed else logging.ERROR, outcome.line())
        if startup_error:  # the last line on stderr
            self._fail(str(startup_error))
        spilled = int(stats.get(names.DB_SPILLED) or 0)
        if spilled and not startup_error:  # and the last line on stderr says what waits
            self._fail(spill_notice(spilled, stats.get(names.DB_SPILL_FILE)))

    def _resolve_user_agent(self) -> None:
        """``-s NEWSARCHIVE_CONTACT_URL=…`` (or a Scrapyd job's ``-d setting=…``) names the
        contact in the user agent, as the environment variable does; ``-s USER_AGENT`` wins."""
        settings = self.settings
        if settings.getpriority("USER_AGENT") < SETTINGS_PRIORITIES["cmdline"]:
            agent = user_agent(
                settings.get("NEWSARCHIVE_USER_AGENT"), settings.get("NEWSARCHIVE_CONTACT_URL")
            )
            settings.set("USER_AGENT", agent, priority=settings.getpriority("USER_AGENT"))

    def _check_database_url(self) -> None:
        """A URL libpq cannot read is one line naming the setting, its password masked (the
        pipeline would raise it as a traceback, the URL in it)."""
        url = (self.settings.get("NEWSARCHIVE_DATABASE_URL") or "").strip()
        if not url:
            return
        from newsarchive.db.urls import InvalidDatabaseURL, describe_target

        try:
            describe_target(url)
        except InvalidDatabaseURL as exc:
            self._exit(str(exc))

    def _check_data_dir(self) -> None:
        """The data folder must take files now, not after the whole stream was crawled."""
        folder = data_dir(self.settings)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            self._exit(f"data folder {folder} (NEWSARCHIVE_DATA_DIR) is not writable: {reason}")

    def _exit(self, message: str) -> NoReturn:
        """One line on stderr, exit status 2; with a LOG_FILE (a Scrapyd job's), the outcome
        line there too, since logging has not started yet."""
        print(f"scrapy crawl: error: {message}", file=sys.stderr)
        log_file = self.settings.get("LOG_FILE") if self.settings is not None else None
        if log_file:
            with contextlib.suppress(OSError), open(log_file, "a", encoding="utf-8") as log:
                when = utc_now().strftime("%Y-%m-%d %H:%M:%S")
                log.write(f"{when} [{__name__}] ERROR: {Outcome(2, None, message).line()}\n")
        sys.exit(2)

    def _fail(self, message: str) -> None:
        print(f"scrapy crawl: error: {message}", file=sys.stderr)


def check_spider_arguments(
    settings: BaseSettings, spider_name: str, arguments: dict[str, str]
) -> None:
    """The spider's own argument check (``check_arguments``), as ``scrapy crawl`` and
    ``newsarchive-schedule`` run it: KeyError for an unknown spider, ConfigurationError with
    a one-line reason for arguments it cannot use."""
    spider_class = get_spider_loader(settings).load(spider_name)
    check = getattr(spider_class, "check_arguments", None)
    if check is not None:
        check(arguments)


def _run_id_of(crawler: Crawler) -> str | None:
    try:
        return getattr(crawler.spider, "run_id", None)
    except RuntimeError:  # never built
        return None


def _why(stats: dict[str, Any], startup_error: Any) -> str:
    """The outcome's reason: what kept the run from starting, how it stopped, what failed."""
    if startup_error:
        return str(startup_error)
    parts = []
    reason = stats.get("finish_reason")
    if reason not in SUCCESS_REASONS:
        parts.append(f"stopped: {reason or 'never started'}")
    failed = sorted(names.with_prefix(stats, names.MONITOR_FAILED))
    if failed:
        parts.append(f"monitor checks failed: {', '.join(failed)}")
    if spilled := int(stats.get(names.DB_SPILLED) or 0):
        parts.append(spill_notice(spilled, stats.get(names.DB_SPILL_FILE)))
    return "; ".join(parts)


def _stats_of(crawler: Crawler) -> dict[str, Any]:
    """The crawler's stats, or none when it never got as far as creating them."""
    try:
        return crawler.stats.get_stats()
    except RuntimeError:  # Scrapy 2.19 raises on a crawler attribute that was never set
        return {}
