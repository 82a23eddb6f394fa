"""The crawl-time judgement: is a changed text the outlet's edit, or our extraction's change?

Issue 12: an edit is a change the outlet made. When an archived article's current text was
read by another extractor version and today's crawl finds a different text, the previous
text's capture is re-extracted with today's rules (in a thread of its own, off the reactor):

- it gives today's text: the change is ours, the item is a ``reextract``;
- it gives another text: the outlet changed the page, the item is an ``edit``; when today's
  rules read the old capture differently from the stored text, that reading is written first
  as a ``reextract`` revision at the old capture's own instant, so the edit is measured
  against like-for-like text;
- no capture of the previous text, or today's rules cannot read it: ``unverified``.

Which capture: ``article_state`` says which run last saw the article, when, and with which
extractor version (the version that produced the current text from that very capture). The
capture is the article's page recorded at that instant, in that run's WARC files (else in a
run started before it; else that run's page of the article).

Cost when nothing needs judging (the usual crawl): one query at the run's start, and one
dictionary lookup per item. Without a database a crawl has no history to judge against.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from scrapy import signals
from scrapy.crawler import Crawler

from newsarchive import stats
from newsarchive.extraction_version import EXTRACTOR_VERSION
from newsarchive.processors import article_url_parts
from newsarchive.reextract.captures import (
    PageLocation,
    RunCapture,
    article_locations,
    find_captures,
    read_page,
    warc_instant,
)
from newsarchive.reextract.shares import extract_captured
from newsarchive.settings_helpers import data_dir

if TYPE_CHECKING:
    from scrapy.statscollectors import StatsCollector

    from newsarchive.db.store import ArchiveStore

logger = logging.getLogger(__name__)

#: The kinds a judgement gives a changed text.
JUDGED_KINDS = ("reextract", "edit", "unverified")
#: Runs tried, besides the one that last saw the article, for a capture at its instant.
EARLIER_RUNS_TRIED = 3


@dataclass(frozen=True, slots=True)
class Previous:
    """An archived article's current text: its hash, and the sighting that last read it."""

    content_hash: str
    crawled_at: datetime
    run_id: str | None


class CaptureIndex:
    """Article pages of earlier runs' captures, by article id; a run's WARC files are read
    once (headers only), the first time one of its pages is needed. Thread-safe."""

    def __init__(self, folder: Path, current_run: str | None) -> None:
        self.folder = folder
        self.current_run = current_run
        self._runs: dict[str, dict[str, list[PageLocation]]] = {}
        self._captures: list[tuple[str, RunCapture]] | None = None
        self._lock = threading.Lock()

    def find(self, article_id: str, previous: Previous) -> PageLocation | None:
        """The capture the previous text was read from (see the module docstring)."""
        instant = previous.crawled_at.astimezone(UTC).replace(microsecond=0)
        started_before = instant.strftime("%Y%m%dT%H%M%SZ")
        with self._lock:
            runs = [run for run in self._run_ids() if run[0][:16] <= started_before]
            earlier = [run for run, _ in reversed(runs) if run != previous.run_id]
            candidates = [previous.run_id] if previous.run_id else []
            for run_id in candidates + earlier[:EARLIER_RUNS_TRIED]:
                pages = self._pages(run_id).get(article_id, [])
                for location in reversed(pages):
                    if _instant(location.fetched_at) == instant:
                        return location
            pages = self._pages(previous.run_id).get(article_id) if previous.run_id else None
            return pages[-1] if pages else None

    def _run_ids(self) -> list[tuple[str, RunCapture]]:
        """Every earlier run with captures, oldest first (listed once)."""
        if self._captures is None:
            self._captures = [
                (capture.run_id, capture)
                for capture in find_captures(self.folder)
                if capture.run_id != self.current_run
            ]
        return self._captures

    def _pages(self, run_id: str) -> dict[str, list[PageLocation]]:
        pages = self._runs.get(run_id)
        if pages is None:
            pages = self._runs[run_id] = {}
            for path in (p for r, c in self._run_ids() if r == run_id for p in c.files):
                for url, location in article_locations(path):
                    parts = article_url_parts(url)
                    if parts is not None:
                        pages.setdefault(parts[0], []).append(location)
        return pages


class RevisionJudge:
    """Decides the ``revision_kind`` hint of a changed text read before by another extractor.

    Called by the PostgreSQL pipeline for each article item: ``await judge.judge(values)``
    sets ``values["revision_kind"]`` when the item needed judging and returns the rows to
    write before it (the old capture re-read, as a ``reextract``).
    """

    def __init__(
        self,
        previous: dict[str, Previous],
        captures: CaptureIndex,
        run_id: str | None,
        run_stats: StatsCollector,
    ) -> None:
        self.previous = previous
        self.captures = captures
        self.run_id = run_id
        self.stats = run_stats
        #: One thread of its own: re-reading is CPU work (one at a time is all the GIL
        #: allows), and indexing a run's captures must not hold up the loop's shared threads.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="judgement")

    @classmethod
    async def load(cls, crawler: Crawler, store: ArchiveStore) -> Self | None:
        """The run's judge, or None when every archived text was read by today's rules.
        Raises ArchiveUnavailable (one line) when the archive cannot say."""
        import psycopg

        from newsarchive.db import statements
        from newsarchive.db.errors import ArchiveUnavailable, error_line

        try:
            async with store.pool.connection() as conn:
                cursor = await conn.execute(
                    statements.ARTICLES_READ_BY_OTHER_EXTRACTOR, (EXTRACTOR_VERSION,)
                )
                rows = await cursor.fetchall()
        except psycopg.Error as exc:
            doing = "cannot read which articles another extractor read"
            raise ArchiveUnavailable(error_line(doing, store.url, exc)) from None
        if not rows:
            return None
        previous = {row[0]: Previous(row[1], row[2], row[3]) for row in rows}
        run_id = getattr(crawler.spider, "run_id", None)
        captures = CaptureIndex(data_dir(crawler.settings), run_id)
        judge = cls(previous, captures, run_id, crawler.stats)
        crawler.stats.set_value(stats.JUDGEMENT_CANDIDATES, len(previous))
        crawler.signals.connect(judge.spider_closed, signal=signals.spider_closed)
        logger.info(
            "%d archived articles were read by another extractor than %s: a changed text "
            "among them is judged against its capture",
            len(previous),
            EXTRACTOR_VERSION,
        )
        return judge

    async def judge(self, values: dict[str, Any]) -> list[dict[str, Any]]:
        article_id = values.get("article_id")
        previous = self.previous.get(article_id) if article_id else None
        if previous is None or previous.content_hash == values.get("content_hash"):
            return []
        del self.previous[article_id]  # judged once: its text is today's rules' from now on
        loop = asyncio.get_running_loop()
        old = await loop.run_in_executor(self._thread, self._reread, article_id, previous)
        earlier: list[dict[str, Any]] = []
        if old is None:
            kind = "unverified"
        elif old["content_hash"] == values.get("content_hash"):
            kind = "reextract"
        else:
            kind = "edit"
            if old["content_hash"] != previous.content_hash:
                earlier.append({**old, "revision_kind": "reextract"})
                self.stats.inc_value(stats.JUDGEMENT_OLD_CAPTURES)
        values["revision_kind"] = kind
        self.stats.inc_value(stats.judged(kind))
        return earlier

    def _reread(self, article_id: str, previous: Previous) -> dict[str, Any] | None:
        """Today's item for the previous text's capture; None: no capture, or unreadable."""
        location = self.captures.find(article_id, previous)
        if location is None:
            return None
        try:
            page = read_page(location)
        except (OSError, StopIteration, ValueError) as exc:
            logger.warning("Capture of %s unreadable at %s: %s", article_id, location, exc)
            return None
        return extract_captured(page, self.run_id)

    def spider_closed(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)
        judged = {kind: self.stats.get_value(stats.judged(kind), 0) for kind in JUDGED_KINDS}
        if any(judged.values()):
            logger.info(
                "Judged %d changed texts read before by another extractor: %d reextract, "
                "%d edit, %d unverified (no readable capture of the previous text)",
                sum(judged.values()),
                judged["reextract"],
                judged["edit"],
                judged["unverified"],
            )


def _instant(warc_date: str) -> datetime | None:
    try:
        return warc_instant(warc_date)
    except ValueError:
        return None
