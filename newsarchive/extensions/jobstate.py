"""JOBDIR that survives ``kill -9``: a crashed job is restarted clean instead of trusted.

Scrapy saves a job's queue bookkeeping and spider state only when the crawl stops cleanly
(Ctrl-C once, SIGTERM); after ``kill -9`` or a power cut its JOBDIR holds a dupefilter file
that may already list the start page and a queue whose index is stale, so "resuming" can
silently crawl nothing and report success. This extension writes a marker file while a job
runs; when a run finds the marker of a dead process, it sets the queue, dupefilter and spider
state aside (``JOBDIR/crashed-<time>/``) before the scheduler opens them. The run then walks
the stream again and, since the incremental crawl skips what the archive already holds, only
fetches what the killed run had not archived: one row per article in PostgreSQL, none missing.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Self

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.utils.job import job_dir

from newsarchive import stats as names
from newsarchive.clock import utc_now

logger = logging.getLogger(__name__)

MARKER = "newsarchive.running"
#: Written when a run of the job finished (close reason "finished"): the job has nothing left,
#: and a later run with the same JOBDIR says so instead of failing for finding nothing.
FINISHED_MARKER = "newsarchive.finished"
#: What Scrapy keeps in a JOBDIR (scheduler queue, dupefilter, SpiderState).
JOB_FILES = ("requests.queue", "requests.seen", "spider.state")


def process_alive(pid: int) -> bool:
    """Whether a process runs under ``pid`` (a zombie, killed but not reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):  # a zombie is dead
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


class CrashSafeJob:
    """Mark a JOBDIR as in use; recover one left by a killed run (before the scheduler)."""

    def __init__(self, crawler: Crawler, folder: Path) -> None:
        self.crawler = crawler
        self.folder = folder
        self.marker = folder / MARKER
        self.finished_marker = folder / FINISHED_MARKER

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        folder = job_dir(crawler.settings)
        if not folder:
            raise NotConfigured
        job = cls(crawler, Path(folder))
        # Extensions are built before the engine opens the scheduler: the last moment the
        # job files can be set aside. A few renames, once, before the first request.
        if job.recover() is None:
            job.note_finished_before()
        crawler.signals.connect(job.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(job.engine_stopped, signal=signals.engine_stopped)
        return job

    def recover(self) -> Path | None:
        """Set aside the job files of a run that died without closing; mark this run."""
        moved_to = None
        try:
            pid = int(self.marker.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pid = None
        if self.marker.exists() and (pid is None or pid != os.getpid()):
            if pid is not None and process_alive(pid):
                logger.error(
                    "JOBDIR %s is in use by running process %d: two crawls must not share a job "
                    "directory",
                    self.folder,
                    pid,
                )
            else:
                moved_to = self._set_aside(pid)
        self.marker.write_text(f"{os.getpid()}\n", encoding="utf-8")
        return moved_to

    def _set_aside(self, pid: int | None) -> Path | None:
        present = [name for name in (*JOB_FILES, FINISHED_MARKER) if (self.folder / name).exists()]
        if not present:
            return None
        target = self.folder / f"crashed-{utc_now():%Y%m%dT%H%M%S%fZ}"
        target.mkdir(parents=True)
        for name in present:
            (self.folder / name).rename(target / name)
        self.crawler.stats.set_value(names.JOB_CRASH_RECOVERED, 1)
        logger.warning(
            "JOBDIR %s was left by a run that did not stop cleanly (process %s, killed?): its "
            "queue and dupefilter cannot be trusted and were moved to %s; walking the stream "
            "again, skipping what the archive already holds",
            self.folder,
            pid if pid is not None else "unknown",
            target,
        )
        return target

    def note_finished_before(self) -> None:
        """A job an earlier run finished: nothing is left to crawl, which is not a failure."""
        try:
            run_id = self.finished_marker.read_text(encoding="utf-8").strip()
        except OSError:
            return
        self.crawler.stats.set_value(names.JOB_FINISHED_BEFORE, 1)
        logger.info(
            "JOBDIR %s holds a job that run %s finished: nothing is left to crawl (remove the "
            "folder, or use another JOBDIR, for a new crawl)",
            self.folder,
            run_id or "(unknown)",
        )

    def spider_closed(self, spider: Spider, reason: str) -> None:
        if reason == "finished" and not self.finished_marker.exists():
            self.finished_marker.write_text(f"{getattr(spider, 'run_id', '')}\n", "utf-8")

    def engine_stopped(self) -> None:
        """A clean stop: Scrapy has saved the job, which a later run may resume as it is."""
        self.marker.unlink(missing_ok=True)
