"""One run's view of what earlier runs did, and its record of what this run does."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Container, Iterable, Mapping
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import CloseSpider
from scrapy.statscollectors import StatsCollector

from newsarchive import stats as names
from newsarchive.clock import utc_now_iso
from newsarchive.db.run_database import RunDatabase
from newsarchive.incremental.known import (
    DatabaseSource,
    KnownSource,
    KnownUnavailable,
    RecheckTarget,
    StateFileSource,
)
from newsarchive.incremental.policy import StopPolicy
from newsarchive.incremental.state import (
    CrawlState,
    RunChanges,
    StateError,
    state_path,
    update_state_file,
)
from newsarchive.items import ArticleItem
from newsarchive.processors import article_url_parts
from newsarchive.settings_helpers import data_dir

logger = logging.getLogger(__name__)

#: Runs that retry a transiently failed article before it counts as not an article.
RETRY_RUNS = 3
#: HTTP answers (after Scrapy's own retries) worth trying again in a later run.
TRANSIENT_STATUSES = frozenset({408, 429})
#: Drop reasons that are final answers about an article URL.
FINAL_REASONS = frozenset(
    {"gone", "paywall", "no_title", "not_html", "IgnoreRequest", "offsite_redirect", "oversized"}
)


def is_transient(reason: str) -> bool:
    """Whether a drop reason is worth another try in a later run."""
    if reason in FINAL_REASONS:
        return False
    if reason.startswith("http_") and reason[5:].isdigit():
        status = int(reason[5:])
        return status >= 500 or status in TRANSIENT_STATUSES
    return True  # a network error: timeout, refused connection, DNS, ...


class Incremental:
    """What is known, what to re-fetch, where the walk may stop; the state file at the end.

    ``load()`` (awaited in the spider's ``start()``) must succeed before anything else is
    asked; a failure stops the crawl before its first request with one line saying why.
    """

    def __init__(
        self,
        crawler: Crawler,
        spider_name: str,
        start_url: str,
        full: bool = False,
        recheck_days: int | None = None,
        known_source: KnownSource | None = None,
    ) -> None:
        self.crawler = crawler
        self.spider_name = spider_name
        self.start_url = start_url
        self.full = full
        self.recheck_days = recheck_days
        self.path: Path = state_path(data_dir(crawler.settings), spider_name, start_url)
        database = RunDatabase.for_crawler(crawler)
        self.uses_database = database is not None
        self.known_source: KnownSource = known_source or (
            DatabaseSource(database.store, database.url)
            if database is not None
            else StateFileSource(f"state file {self.path}")
        )
        self.policy = StopPolicy(full=full)
        self.loaded = False
        #: Known at run start: archived, and listed-but-not-an-article.
        self.archived: frozenset[str] = frozenset()
        self.not_articles: frozenset[str] = frozenset()
        self.retry_targets: list[RecheckTarget] = []
        self._retry_attempts: dict[str, int] = {}
        self._rechecks: dict[str, list[RecheckTarget]] = {}  # by source label
        self._recheck_source: dict[str, str] = {}  # article_id -> source, for recent ones
        # Dicts, not sets, for what grows with the run: a set of 20,000 ids has a 2 MiB
        # table, a dict 0.4 MiB.
        self._rechecks_issued: dict[str, None] = {}
        self._skipped: dict[str, None] = {}
        self._new_listed: dict[str, None] = {}
        self._changes = RunChanges(keep_articles=not self.uses_database)

    @property
    def stats(self) -> StatsCollector:
        return self.crawler.stats  # type: ignore[return-value]  # set once the crawl starts

    def connect(self, crawler: Crawler) -> None:
        """Record archived items as they pass the pipelines; save the state at the end."""
        crawler.signals.connect(self._item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(self._spider_closed, signal=signals.spider_closed)

    def _item_scraped(self, item: Any) -> None:
        if isinstance(item, ArticleItem):
            self.record_article(item)

    async def _spider_closed(self, spider: Spider, reason: str) -> None:
        await self.save(reason, getattr(spider, "run_id", ""))

    # --- loading ---------------------------------------------------------------------------

    async def load(self) -> None:
        """Read the state file (in a thread) and what the archive holds."""
        try:
            state = await asyncio.to_thread(CrawlState.load, self.path)
            known = await self.known_source.load(state, self.recheck_days)
        except StateError as exc:
            self._fail(str(exc), "state_unreadable")
        except KnownUnavailable as exc:
            self._fail(str(exc), exc.reason)
        self.archived = known.archived
        self.not_articles = frozenset(set(state.not_articles) - self.archived)
        for target in known.rechecks:
            if target.source is not None:
                self._rechecks.setdefault(target.source, []).append(target)
                self._recheck_source[target.article_id] = target.source
        self.retry_targets = [
            RecheckTarget(article_id, str(record["url"]), None)
            for article_id, record in sorted(state.retry.items())
            if article_id not in self.archived and record.get("url")
        ]
        self._retry_attempts = {
            article_id: int(record.get("attempts") or 0)
            for article_id, record in state.retry.items()
        }
        last_walk = state.walks.get(self.start_url)
        self.policy.last_walk_complete = None if last_walk is None else bool(
            last_walk.get("complete")
        )  # fmt: skip
        # Until this run ends cleanly its walk counts as incomplete: a run killed outright
        # (no chance to save) must not let the next one stop above what it left unread.
        await asyncio.to_thread(self._write_walk, self._walk_record(False, None))
        self.loaded = True
        self.stats.set_value(names.INCREMENTAL_MODE, self.policy.mode)
        self.stats.set_value(names.KNOWN_AT_START, len(self.archived) + len(self.not_articles))
        logger.info(
            "Incremental: %d archived articles and %d listed non-articles known (%s); %s%s%s",
            len(self.archived),
            len(self.not_articles),
            self.known_source.description,
            self.policy.describe(),
            f"; re-fetching {sum(len(t) for t in self._rechecks.values())} articles first "
            f"published in the last {self.recheck_days} days"
            if self.recheck_days is not None
            else "",
            f"; retrying {len(self.retry_targets)} that failed before"
            if self.retry_targets
            else "",
        )

    def _fail(self, message: str, reason: str) -> NoReturn:
        logger.error(message)
        self.stats.set_value(names.STARTUP_ERROR, message)
        raise CloseSpider(reason)

    # --- questions the spider asks -----------------------------------------------------------

    def is_known(self, article_id: str) -> bool:
        """Known at run start, for deciding where the walk stops (never under ``full=1``)."""
        return self.policy.may_stop and self._known_before(article_id)

    def skips(self, article_id: str) -> bool:
        """Whether a listed article is left alone: archived before (re-fetched only as a
        recheck), or known not to be an article (unless ``full=1``)."""
        skip = article_id in self.archived or (not self.full and article_id in self.not_articles)
        if skip and article_id not in self._skipped:
            self._skipped[article_id] = None
            self.stats.inc_value(names.KNOWN_SKIPPED)
        return skip

    def start_page_is_archived(self, article_id: str | None) -> bool:
        """Whether the start article is archived and not due a recheck: its page then serves
        as the first listing page only. (Due a recheck, its fetch counts as that recheck.)"""
        if not article_id or article_id not in self.archived:
            return False
        source = self._recheck_source.get(article_id)
        if source is None:
            return True
        self._rechecks_issued[article_id] = None
        self.stats.inc_value(names.RECHECKS)
        return False

    def caught_up(self, article_ids: Iterable[str]) -> bool:
        """Whether a listing page with these article links ends the walk: all known."""
        article_ids = list(article_ids)
        for article_id in article_ids:
            if not self._known_before(article_id) and article_id not in self._new_listed:
                self._new_listed[article_id] = None
                self.stats.inc_value(names.NEW_LISTED)
        return bool(article_ids) and all(self.is_known(article_id) for article_id in article_ids)

    def _known_before(self, article_id: str) -> bool:
        return (
            article_id in self.archived
            or article_id in self.not_articles
            or article_id in self._retry_attempts
        )

    # --- what the walk tells ---------------------------------------------------------------

    def note_walk_end(self, caught_up: bool) -> None:
        """The walk reached the end of the stream, or (``caught_up``) a page with nothing new."""
        self.policy.note_end(caught_up)
        if caught_up:
            self.stats.set_value(names.CAUGHT_UP, 1)

    def note_gap(self, why: str) -> None:
        """Part of the stream was not read (a listing failed, a loop, the page cap, ...)."""
        self.policy.note_gap(why)

    def sources_of(self, article_ids: Iterable[str]) -> set[str]:
        """Source labels of the listed ids that are due a recheck: the stream being walked."""
        return {self._recheck_source[i] for i in article_ids if i in self._recheck_source}

    def take_rechecks(self, sources: Iterable[str], seen: Container[str]) -> list[RecheckTarget]:
        """Recheck targets of these sources not issued yet (and not fetched in this run)."""
        taken = []
        for source in sorted(set(sources)):
            for target in self._rechecks.pop(source, ()):
                if target.article_id in seen or target.article_id in self._rechecks_issued:
                    continue
                self._rechecks_issued[target.article_id] = None
                taken.append(target)
        self.stats.inc_value(names.RECHECKS, len(taken))
        return taken

    def take_retries(self) -> list[RecheckTarget]:
        self.stats.inc_value(names.RETRIES, len(self.retry_targets))
        targets, self.retry_targets = self.retry_targets, []
        return targets

    # --- what this run saw -------------------------------------------------------------------

    def record_article(self, item: Mapping[str, Any]) -> None:
        """An article item that passed every pipeline (``item_scraped``)."""
        article_id = item.get("article_id")
        if not article_id:
            return
        self._changes.archive(
            article_id, item.get("source"), item.get("url"), item.get("published_date")
        )
        if article_id in self._retry_attempts:
            self._changes.retry[article_id] = None  # resolved

    def record_failure(self, url: str, reason: str) -> None:
        """An article URL that gave no item, for ``reason`` (the spider's drop reason)."""
        parts = article_url_parts(url)
        if not parts:
            return
        article_id = parts[0]
        now = utc_now_iso()
        if article_id in self.archived or article_id in self._changes.archived:
            # A re-fetched article: only a deletion changes what the archive knows.
            if reason == "gone":
                self._changes.gone[article_id] = now
            return
        if is_transient(reason):
            attempts = self._retry_attempts.get(article_id, 0) + 1
            if attempts < RETRY_RUNS:
                self._changes.retry[article_id] = {
                    "url": url, "reason": reason, "attempts": attempts, "at": now,
                }  # fmt: skip
                return
            reason = f"{reason} (after {attempts} runs)"
        self._changes.not_articles[article_id] = {"url": url, "reason": reason, "at": now}
        self._changes.retry[article_id] = None

    # --- saving ----------------------------------------------------------------------------

    def walk_complete(self, reason: str) -> bool:
        return self.policy.walk_complete(reason)

    async def save(self, reason: str, run_id: str) -> None:
        """Merge this run's record into the state file (in a thread), atomically."""
        if not self.loaded:
            return  # a run that could not read the state must not overwrite it
        complete = self.walk_complete(reason)
        if not complete and self.policy.gaps:
            logger.info("Incremental: gaps in this walk: %s", "; ".join(self.policy.gaps))
        walk = self._walk_record(complete, reason, run_id)
        await asyncio.to_thread(self._write_walk, walk, self._changes)
        logger.info(
            "Incremental: state saved to %s (walk %s)",
            self.path,
            "complete" if complete else "incomplete: the next run walks the whole stream",
        )

    def _walk_record(
        self, complete: bool, reason: str | None, run_id: str | None = None
    ) -> dict[str, Any]:
        if run_id is None:
            run_id = str(getattr(self.crawler.spider, "run_id", ""))
        return {"complete": complete, "run_id": run_id, "finish_reason": reason,
                "at": utc_now_iso()}  # fmt: skip

    def _write_walk(self, walk: dict[str, Any], run: RunChanges | None = None) -> None:
        """Record ``walk`` for this start URL (and ``run``, the run's changes). Blocking."""

        def change(state: CrawlState) -> None:
            state.walks[self.start_url] = walk

        update_state_file(
            self.path,
            change,
            run,
            spider=self.spider_name,
            site=urlsplit(self.start_url).netloc,
            updated_at=utc_now_iso(),
            run_id=walk["run_id"],
            archive="postgresql" if self.uses_database else "state_file",
        )
