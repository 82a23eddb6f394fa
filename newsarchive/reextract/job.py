"""A re-extraction's job: its selection's captures cut into shares, what a killed run of the
same selection already finished, and the shares handed to the workers.

Prepared by the command before Scrapy's crawler is built, so the workers (``reextract.pool``)
extract while the crawler starts up (about a third of a second of the main process, during
which the second core idled); the spider then streams the shares' items into the pipelines.
"""

from __future__ import annotations

from concurrent.futures import Executor, Future
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from newsarchive.extraction_version import EXTRACTOR_VERSION
from newsarchive.reextract.captures import RunCapture, find_captures
from newsarchive.reextract.shares import Share, ShareResult, extract_share

#: The journal: one WARC record ID a line, each a page the pipelines finished with.
DONE_FILE = "done.txt"

#: A re-extraction's selection: one run, or the runs started between two UTC days.
Selection = tuple[str | None, date | None, date | None]


@dataclass
class Job:
    """The shares of one selection, given to the workers, and where their journal is."""

    folder: Path  # <data>/reextract/<version>-<selection>/: the journal and the share files
    captures: list[RunCapture]
    shares: list[Share]
    done: set[str]  # WARC record IDs a killed run had finished
    extracted: list[Future[ShareResult]]  # one per share, in order

    @property
    def journal(self) -> Path:
        return journal_of(self.folder)


def journal_of(folder: Path) -> Path:
    """The journal file of the job whose folder is ``folder``."""
    return folder / DONE_FILE


def job_name(run_id: str | None, since: date | None, until: date | None) -> str:
    """The journal folder of a selection under today's extractor."""
    selection = run_id or f"{since or 'start'}_{until or 'end'}"
    return f"{EXTRACTOR_VERSION}-{selection}"


def plan_shares(captures: list[RunCapture], workers: int, folder: Path) -> list[Share]:
    """A share per WARC file, each file split in ``workers`` when there are fewer files than
    twice the workers (one big file must still use every core)."""
    files = [(capture, path) for capture in captures for path in capture.files]
    split = workers if len(files) < 2 * workers else 1
    return [
        Share(path, capture.run_id, part, split, folder / f"share-{number:05d}-{part}.frames")
        for number, (capture, path) in enumerate(files)
        for part in range(split)
    ]


def start_job(data: Path, selection: Selection, workers: Executor, count: int) -> Job | None:
    """The selection's job under ``data``, its shares submitted to ``workers`` (``count`` of
    them); None when the selection names no capture. Blocking file I/O: call it before the
    reactor runs, or in a thread."""
    captures = find_captures(data, *selection)
    if not captures:
        return None
    folder = data / "reextract" / job_name(*selection)
    folder.mkdir(parents=True, exist_ok=True)
    journal = journal_of(folder)
    done = set(journal.read_text(encoding="utf-8").split()) if journal.is_file() else set()
    shares = plan_shares(captures, count, folder)
    for share in shares:  # a killed run's share files: never to be read as this run's lines
        share.output.unlink(missing_ok=True)
    extracted = [workers.submit(extract_share, share) for share in shares]
    return Job(folder, captures, shares, done, extracted)
