"""Incremental crawls: what earlier runs archived, where a stream walk may stop, what to re-fetch.

Why a module of its own: the spider asks only a few questions ("is this article known?", "may
the walk stop on this page?", "what must be re-fetched?"), and the answers come from two
places, PostgreSQL when ``NEWSARCHIVE_DATABASE_URL`` is set, else the state file. They are
read once when the run starts (asynchronously: the reactor never waits on a disk or a socket)
and written back once when it ends.

Known at run start means handled by an earlier run: archived, or listed but final and not an
article (404/410, paywall, no title, 403 after retries, ...), which must neither count as new
nor be fetched again on every run. A listing page whose article links are all known ends the
walk of the stream, since listings show the newest first; a page holding anything unknown is
always followed by the next one, so articles pushed down by new posts are never missed.

The state file, ``<data>/state/<spider>-<host>[_<port>].json``, is crawl bookkeeping:

``articles``      archived articles per source label (url, published_date, gone_at): the
                  archive's index when there is no database (never written in database mode);
                  only items that passed every pipeline are recorded, never the feeds' lines
``not_articles``  listed ids whose answer was final but not an article (``full=1`` retries)
``retry``         ids that failed transiently (5xx after retries, network errors): fetched
                  directly by the next runs, ``RETRY_RUNS`` times at most
``walks``         per start URL, whether the last walk of the stream ended cleanly; after an
                  interrupted walk the next run does not stop early (an older gap may remain)

The file is replaced atomically, and merged with what another run may have written meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import CloseSpider
from scrapy.statscollectors import StatsCollector

from newsarchive import stats as names
from newsarchive.clock import utc_now_iso, utc_today
from newsarchive.files import write_json_atomically
from newsarchive.items import ArticleItem
from newsarchive.processors import article_url_parts
from newsarchive.settings_helpers import data_dir

logger = logging.getLogger(__name__)

STATE_FORMAT = 1
#: Runs that retry a transiently failed article before it counts as not an article.
RETRY_RUNS = 3
#: HTTP answers (after Scrapy's own retries) worth trying again in a later run.
TRANSIENT_STATUSES = frozenset({408, 429})
#: Drop reasons that are final answers about an article URL.
FINAL_REASONS = frozenset(
    {"gone", "paywall", "no_title", "not_html", "IgnoreRequest", "offsite_redirect", "oversized"}
)

PREFIX = f"{names.PREFIX}/incremental"
KNOWN_AT_START = f"{PREFIX}/known_at_start"
KNOWN_SKIPPED = f"{PREFIX}/known_skipped"  # listed known articles not fetched
NEW_LISTED = f"{PREFIX}/new_listed"  # listed ids unknown at run start (what a run may find)
CAUGHT_UP = f"{PREFIX}/caught_up"  # 1 when the walk stopped on a page with nothing new
RECHECKS = f"{PREFIX}/rechecks"
RETRIES = f"{PREFIX}/retries"
MODE = f"{PREFIX}/mode"
#: Shared with the PostgreSQL pipeline: the crawl command prints it and exits 1.
STARTUP_ERROR = names.STARTUP_ERROR

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


class StateError(RuntimeError):
    """The state file cannot be read or written; ``str()`` is one line."""


# --- arguments ------------------------------------------------------------------------------


def parse_full(value: str | bool | None) -> bool:
    """``-a full=1``: walk the whole stream; raises ValueError with a one-line reason."""
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"full={value!r} is not a boolean (use full=1 or full=0)")


def parse_recheck_days(value: str | int | None) -> int | None:
    """``-a recheck_days=N``: a whole number of days >= 0, or None when not given."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if not text.isdigit():
        raise ValueError(f"recheck_days={value!r} is not a whole number of days >= 0")
    return int(text)


# --- the state file -------------------------------------------------------------------------


def state_path(folder: Path, spider: str, start_url: str) -> Path:
    """``<data>/state/<spider>-<host>[_<port>].json``: one file per spider and site."""
    parts = urlsplit(start_url)
    site = (parts.hostname or "unknown").replace(":", "_")
    if parts.port:
        site += f"_{parts.port}"
    return folder / "state" / f"{spider}-{site}.json"


@dataclass
class CrawlState:
    """The state file's content; see the module docstring."""

    articles: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    not_articles: dict[str, dict[str, Any]] = field(default_factory=dict)
    retry: dict[str, dict[str, Any]] = field(default_factory=dict)
    walks: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> CrawlState:
        """The state at ``path``; an empty one if there is no file. Blocking: run in a thread."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls()
        except OSError as exc:
            raise StateError(f"cannot read the state file {path}: {exc.strerror or exc}") from None
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
                raise ValueError(f"not a format {STATE_FORMAT} state file")
            state = cls(
                articles=dict(data.get("articles") or {}),
                not_articles=dict(data.get("not_articles") or {}),
                retry=dict(data.get("retry") or {}),
                walks=dict(data.get("walks") or {}),
            )
        except (ValueError, TypeError, AttributeError) as exc:
            raise StateError(
                f"the state file {path} is unreadable ({exc}); move it away to start afresh"
            ) from None
        return state

    def to_json(self, **extra: Any) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            **extra,
            "articles": self.articles,
            "not_articles": self.not_articles,
            "retry": self.retry,
            "walks": self.walks,
        }

    def archived_ids(self) -> set[str]:
        return {article_id for stream in self.articles.values() for article_id in stream}

    def find_article(self, article_id: str) -> dict[str, Any] | None:
        for stream in self.articles.values():
            if article_id in stream:
                return stream[article_id]
        return None


# --- one run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecheckTarget:
    """An archived article to fetch again: first published in the last ``recheck_days``."""

    article_id: str
    url: str
    source: str | None


@dataclass
class _Changes:
    """What this run learned, applied to the file's latest content at the end."""

    #: article_id -> (source, url, published_date): tuples, not dicts, since a long first
    #: run holds one per article until it ends.
    archived: dict[str, tuple[str | None, str | None, str | None]] = field(default_factory=dict)
    gone: dict[str, str] = field(default_factory=dict)
    not_articles: dict[str, dict[str, Any]] = field(default_factory=dict)
    retry: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # None: resolved

    def apply(self, state: CrawlState, keep_articles: bool) -> None:
        for article_id, (source, url, published_date) in self.archived.items():
            if keep_articles:
                for stream in state.articles.values():
                    stream.pop(article_id, None)
                record = {"url": url, "published_date": published_date}
                state.articles.setdefault(source or "", {})[article_id] = record
            state.not_articles.pop(article_id, None)
            state.retry.pop(article_id, None)
        for article_id, at in self.gone.items():
            record = state.find_article(article_id)
            if record is not None:
                record["gone_at"] = at
        for article_id, record in self.not_articles.items():
            if state.find_article(article_id) is None and article_id not in self.archived:
                state.not_articles[article_id] = record
            state.retry.pop(article_id, None)
        for article_id, retry in self.retry.items():
            if retry is None:
                state.retry.pop(article_id, None)
            elif article_id not in self.archived and article_id not in self.not_articles:
                state.retry[article_id] = retry


class Incremental:
    """One run's view of what earlier runs did, and its record of what this run does.

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
    ) -> None:
        self.crawler = crawler
        self.start_url = start_url
        self.full = full
        self.recheck_days = recheck_days
        self.path = state_path(data_dir(crawler.settings), spider_name, start_url)
        self.database_url = (crawler.settings.get("NEWSARCHIVE_DATABASE_URL") or "").strip()
        self.loaded = False
        #: Known at run start: archived, and listed-but-not-an-article.
        self.archived: frozenset[str] = frozenset()
        self.not_articles: frozenset[str] = frozenset()
        #: Whether the walk may stop on a page with nothing new: not ``full``, and the last
        #: walk from this start URL ended cleanly.
        self.may_stop = False
        self.retry_targets: list[RecheckTarget] = []
        self._retry_attempts: dict[str, int] = {}
        self._rechecks: dict[str, list[RecheckTarget]] = {}  # by source label
        self._recheck_source: dict[str, str] = {}  # article_id -> source, for recent ones
        self._rechecks_issued: set[str] = set()
        self._skipped: set[str] = set()
        self._new_listed: set[str] = set()
        self._archived_now: set[str] = set()
        self._changes = _Changes()
        self.walk_ended = False

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
        await self.save(reason, getattr(spider, "run_id", ""), spider.name)

    # --- loading ---------------------------------------------------------------------------

    @property
    def uses_database(self) -> bool:
        return bool(self.database_url)

    async def load(self) -> None:
        """Read the state file (in a thread) and, with a database, the archived ids."""
        try:
            state = await asyncio.to_thread(CrawlState.load, self.path)
        except StateError as exc:
            self._fail(str(exc), "state_unreadable")
        if self.uses_database:
            archived, targets = await self._load_from_database()
        else:
            archived = state.archived_ids()
            targets = self._targets_from_state(state) if self.recheck_days is not None else []
        self.archived = frozenset(archived)
        self.not_articles = frozenset(set(state.not_articles) - self.archived)
        for target in targets:
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
        last_walk = state.walks.get(self.start_url) or {}
        self.may_stop = not self.full and bool(last_walk.get("complete"))
        # Until this run ends cleanly its walk counts as incomplete: a run killed outright
        # (no chance to save) must not let the next one stop above what it left unread.
        await asyncio.to_thread(self._mark_walk_started)
        self.loaded = True
        mode = "full" if self.full else "incremental" if self.may_stop else "resume"
        self.stats.set_value(MODE, mode)
        self.stats.set_value(KNOWN_AT_START, len(self.archived) + len(self.not_articles))
        where = "PostgreSQL" if self.uses_database else f"state file {self.path}"
        if mode == "incremental":
            how = "stopping at the first listing page with nothing new"
        elif mode == "full":
            how = "walking the whole stream (full=1)"
        else:
            how = (
                "walking the whole stream: no earlier walk from this start URL ended cleanly"
                if last_walk
                else "walking the whole stream: first run from this start URL"
            )
        logger.info(
            "Incremental: %d archived articles and %d listed non-articles known (%s); %s%s%s",
            len(self.archived),
            len(self.not_articles),
            where,
            how,
            f"; re-fetching {sum(len(t) for t in self._rechecks.values())} articles first "
            f"published in the last {self.recheck_days} days"
            if self.recheck_days is not None
            else "",
            f"; retrying {len(self.retry_targets)} that failed before"
            if self.retry_targets
            else "",
        )

    async def _load_from_database(self) -> tuple[set[str], list[RecheckTarget]]:
        # Imported here: a feeds-only crawl never needs the driver.
        from newsarchive.db.errors import ArchiveUnavailable, error_line
        from newsarchive.db.run_database import RunDatabase
        from newsarchive.db.store import CONNECTION_ERRORS

        database = RunDatabase.for_crawler(self.crawler)
        assert database is not None
        try:
            store = await database.store()  # the run's one pool, closed when the engine stops
        except ArchiveUnavailable as exc:
            self._fail(str(exc), "database_unavailable")
        try:
            archived = await store.known_article_ids()
            targets: list[RecheckTarget] = []
            if self.recheck_days is not None:
                rows = await store.articles_to_recheck(self.recheck_days)
                targets = [RecheckTarget(r["article_id"], r["url"], r["source"]) for r in rows]
        except CONNECTION_ERRORS as exc:
            self._fail(
                error_line("cannot read the archive", database.url, exc), "database_unavailable"
            )
        return archived, targets

    def _targets_from_state(self, state: CrawlState) -> list[RecheckTarget]:
        assert self.recheck_days is not None
        since = utc_today() - timedelta(days=self.recheck_days)
        targets = []
        for source, stream in state.articles.items():
            for article_id, record in stream.items():
                published = record.get("published_date")
                if record.get("gone_at") or not published or not record.get("url"):
                    continue
                with contextlib.suppress(ValueError):
                    if date.fromisoformat(published) >= since:
                        targets.append(RecheckTarget(article_id, record["url"], source))
        return sorted(targets, key=lambda t: t.article_id)

    def _fail(self, message: str, reason: str) -> NoReturn:
        logger.error(message)
        self.stats.set_value(STARTUP_ERROR, message)
        raise CloseSpider(reason)

    # --- questions the spider asks -----------------------------------------------------------

    def is_known(self, article_id: str) -> bool:
        """Known at run start, for deciding where the walk stops (never under ``full=1``)."""
        return self.may_stop and self._known_before(article_id)

    def skips(self, article_id: str) -> bool:
        """Whether a listed article is left alone: archived before (re-fetched only as a
        recheck), or known not to be an article (unless ``full=1``)."""
        skip = article_id in self.archived or (not self.full and article_id in self.not_articles)
        if skip and article_id not in self._skipped:
            self._skipped.add(article_id)
            self.stats.inc_value(KNOWN_SKIPPED)
        return skip

    def start_page_is_archived(self, article_id: str | None) -> bool:
        """Whether the start article is archived and not due a recheck: its page then serves
        as the first listing page only. (Due a recheck, its fetch counts as that recheck.)"""
        if not article_id or article_id not in self.archived:
            return False
        source = self._recheck_source.get(article_id)
        if source is None:
            return True
        self._rechecks_issued.add(article_id)
        self.stats.inc_value(RECHECKS)
        return False

    def caught_up(self, article_ids: list[str]) -> bool:
        """Whether a listing page with these article links ends the walk: all known."""
        for article_id in article_ids:
            if not self._known_before(article_id) and article_id not in self._new_listed:
                self._new_listed.add(article_id)
                self.stats.inc_value(NEW_LISTED)
        return bool(article_ids) and all(self.is_known(article_id) for article_id in article_ids)

    def _known_before(self, article_id: str) -> bool:
        return (
            article_id in self.archived
            or article_id in self.not_articles
            or article_id in self._retry_attempts
        )

    def note_walk_end(self, caught_up: bool) -> None:
        self.walk_ended = True
        if caught_up:
            self.stats.set_value(CAUGHT_UP, 1)

    def sources_of(self, article_ids: Iterable[str]) -> set[str]:
        """Source labels of the listed ids that are due a recheck: the stream being walked."""
        return {self._recheck_source[i] for i in article_ids if i in self._recheck_source}

    def take_rechecks(self, sources: Iterable[str], seen: set[str]) -> list[RecheckTarget]:
        """Recheck targets of these sources not issued yet (and not fetched in this run)."""
        taken = []
        for source in sorted(set(sources)):
            for target in self._rechecks.pop(source, ()):
                if target.article_id in seen or target.article_id in self._rechecks_issued:
                    continue
                self._rechecks_issued.add(target.article_id)
                taken.append(target)
        self.stats.inc_value(RECHECKS, len(taken))
        return taken

    def take_retries(self) -> list[RecheckTarget]:
        self.stats.inc_value(RETRIES, len(self.retry_targets))
        targets, self.retry_targets = self.retry_targets, []
        return targets

    # --- what this run saw -------------------------------------------------------------------

    def record_article(self, item: Mapping[str, Any]) -> None:
        """An article item that passed every pipeline (``item_scraped``)."""
        article_id = item.get("article_id")
        if not article_id:
            return
        self._archived_now.add(article_id)
        self._changes.archived[article_id] = (
            item.get("source"),
            item.get("url"),
            item.get("published_date"),
        )
        self._changes.not_articles.pop(article_id, None)
        if article_id in self._retry_attempts:
            self._changes.retry[article_id] = None  # resolved

    def record_failure(self, url: str, reason: str) -> None:
        """An article URL that gave no item, for ``reason`` (the spider's drop reason)."""
        parts = article_url_parts(url)
        if not parts:
            return
        article_id = parts[0]
        now = utc_now_iso()
        if article_id in self.archived or article_id in self._archived_now:
            # A re-fetched article: only a deletion changes what the archive knows.
            if reason == "gone":
                self._changes.gone[article_id] = now
            return
        if self._is_transient(reason):
            attempts = self._retry_attempts.get(article_id, 0) + 1
            if attempts < RETRY_RUNS:
                self._changes.retry[article_id] = {
                    "url": url, "reason": reason, "attempts": attempts, "at": now,
                }  # fmt: skip
                return
            reason = f"{reason} (after {attempts} runs)"
        self._changes.not_articles[article_id] = {"url": url, "reason": reason, "at": now}
        self._changes.retry[article_id] = None

    @staticmethod
    def _is_transient(reason: str) -> bool:
        if reason in FINAL_REASONS:
            return False
        if reason.startswith("http_") and reason[5:].isdigit():
            status = int(reason[5:])
            return status >= 500 or status in TRANSIENT_STATUSES
        return True  # a network error: timeout, refused connection, DNS, ...

    def walk_complete(self, reason: str) -> bool:
        """Whether this run's walk reached its end (caught up, or the end of the stream) with
        every listing page read: only then may the next run stop early."""
        values = self.stats.get_stats()
        if reason != "finished" or names.with_prefix(values, names.LISTING_FAILED):
            return False
        if values.get(names.LISTING_LOOPS) or values.get(names.LISTING_CAP_REACHED):
            return False
        if names.with_prefix(values, names.LISTING_NOT_FOLLOWED):
            return False
        clicks = names.with_prefix(values, names.LISTING_STOPPED)
        if set(clicks) - {"exhausted", "known"}:
            return False
        return self.walk_ended or bool(clicks)

    async def save(self, reason: str, run_id: str, spider_name: str) -> None:
        """Merge this run's record into the state file (in a thread), atomically."""
        if not self.loaded:
            return  # a run that could not read the state must not overwrite it
        complete = self.walk_complete(reason)
        walk = {
            "complete": complete,
            "run_id": run_id,
            "finish_reason": reason,
            "at": utc_now_iso(),
        }
        await asyncio.to_thread(self._save_blocking, walk, run_id, spider_name)
        logger.info(
            "Incremental: state saved to %s (walk %s)",
            self.path,
            "complete" if complete else "incomplete: the next run walks the whole stream",
        )

    def _mark_walk_started(self) -> None:
        spider = self.crawler.spider
        run_id = str(getattr(spider, "run_id", ""))
        walk = {
            "complete": False,
            "run_id": run_id,
            "finish_reason": None,
            "at": utc_now_iso(),
        }
        self._update_file(lambda state: state.walks.__setitem__(self.start_url, walk), run_id,
                          getattr(spider, "name", ""))  # fmt: skip

    def _save_blocking(self, walk: dict[str, Any], run_id: str, spider_name: str) -> None:
        def change(state: CrawlState) -> None:
            self._changes.apply(state, keep_articles=not self.uses_database)
            state.walks[self.start_url] = walk

        self._update_file(change, run_id, spider_name)

    def _update_file(
        self, change: Callable[[CrawlState], None], run_id: str, spider_name: str
    ) -> None:
        """Apply ``change`` to the file's latest content and replace it. Blocking."""
        try:
            state = CrawlState.load(self.path)
        except StateError as exc:
            logger.warning("%s: writing a new one", exc)
            state = CrawlState()
        change(state)
        extra = {
            "spider": spider_name,
            "site": urlsplit(self.start_url).netloc,
            "updated_at": utc_now_iso(),
            "run_id": run_id,
            "archive": "postgresql" if self.uses_database else "state_file",
        }
        try:
            write_json_atomically(self.path, state.to_json(**extra))
        except OSError as exc:
            logger.error("Cannot write the state file %s: %s", self.path, exc.strerror or exc)
