"""Where a run's captures are, and the article pages they hold.

Two layouts, read alike: ``<data>/warc/<spider>/<run_id>.warc.gz`` (article pages only, with
``NEWSARCHIVE_WARC_ENABLED``) and ``<data>/warc/<spider>/<run_id>/*.warc.gz`` (every response,
rotated by size; packaged beside it as ``<run_id>.wacz``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.recordloader import ArcWarcRecord

from newsarchive.processors import is_article_url
from newsarchive.site import PAYWALL_PATH

_RUN_ID = re.compile(r"^(?P<day>\d{8})T\d{6}Z-[0-9a-f]{8}$")


@dataclass(frozen=True)
class RunCapture:
    """One crawl run's WARC files, in the order they were written."""

    spider: str
    run_id: str
    files: tuple[Path, ...]

    @property
    def day(self) -> date:
        match = _RUN_ID.match(self.run_id)
        text = match["day"] if match else "19700101"
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))


def warc_instant(warc_date: str) -> datetime:
    """A WARC-Date (``2026-12-01T10:00:00.123456Z``) as a UTC instant to the second, the
    precision of the items' ``crawled_at``; ValueError when it is not one."""
    instant = datetime.fromisoformat(warc_date.replace("Z", "+00:00")).astimezone(UTC)
    return instant.replace(microsecond=0)


@dataclass(frozen=True, slots=True)
class CapturedPage:
    """An article response as the site sent it (body decoded from its Content-Encoding)."""

    record_id: str
    url: str
    fetched_at: str  # WARC-Date, ISO 8601
    headers: list[tuple[str, str]]
    body: bytes


def run_files(folder: Path, spider: str, run_id: str) -> tuple[Path, ...]:
    """A run's WARC files in either layout (the single file, or the rotated folder)."""
    base = folder / "warc" / spider
    single = base / f"{run_id}.warc.gz"
    rotated = sorted((base / run_id).glob("*.warc.gz")) if (base / run_id).is_dir() else []
    return ((single,) if single.is_file() else ()) + tuple(rotated)


def find_captures(
    folder: Path,
    run_id: str | None = None,
    since: date | None = None,
    until: date | None = None,
) -> list[RunCapture]:
    """The runs with captures under ``<data>/warc``: one (``run_id``), those started between
    ``since`` and ``until`` (inclusive, UTC days), or all; oldest first."""
    runs: dict[tuple[str, str], None] = {}
    root = folder / "warc"
    for spider_dir in sorted(root.iterdir()) if root.is_dir() else []:
        if not spider_dir.is_dir():
            continue
        for entry in spider_dir.iterdir():
            name = entry.name.removesuffix(".warc.gz")
            if _RUN_ID.match(name) and (entry.is_dir() or entry.name.endswith(".warc.gz")):
                runs[(spider_dir.name, name)] = None
    found = []
    for spider, rid in runs:
        capture = RunCapture(spider, rid, run_files(folder, spider, rid))
        if not capture.files or (run_id and rid != run_id):
            continue
        if (since and capture.day < since) or (until and capture.day > until):
            continue
        found.append(capture)
    return sorted(found, key=lambda c: (c.run_id, c.spider))


def article_pages(path: Path, share: int = 0, shares: int = 1) -> Iterator[CapturedPage]:
    """The 200 responses to article URLs in one WARC file; with ``shares`` > 1, only every
    ``shares``-th of them, starting at ``share`` (so several workers split one file)."""
    number = -1
    with path.open("rb") as stream:
        for record, _ in _article_records(stream):
            number += 1
            if number % shares != share:
                continue
            yield _page(record, f"{path}#{number}")


@dataclass(frozen=True, slots=True)
class PageLocation:
    """Where one captured article page is: its file, the record's offset, its WARC-Date."""

    path: Path
    offset: int
    fetched_at: str


def article_locations(path: Path) -> Iterator[tuple[str, PageLocation]]:
    """``(article URL, location)`` of every article page in one WARC file, bodies unread."""
    with path.open("rb") as stream:
        for record, records in _article_records(stream):
            headers = record.rec_headers
            # the offset is known once the record is read past (its body is not needed)
            location = PageLocation(
                path, records.get_record_offset(), headers.get_header("WARC-Date") or ""
            )
            yield headers.get_header("WARC-Target-URI") or "", location


def read_page(location: PageLocation) -> CapturedPage:
    """The article page at ``location`` (each record is its own gzip member: seekable)."""
    with location.path.open("rb") as stream:
        stream.seek(location.offset)
        record, _ = next(_article_records(stream))
        return _page(record, f"{location.path}@{location.offset}")


def _article_records(stream: BinaryIO) -> Iterator[tuple[ArcWarcRecord, ArchiveIterator]]:
    """The article responses from ``stream`` on, each with the iterator that read it."""
    records = ArchiveIterator(stream)
    for record in records:
        if record.rec_type != "response" or record.http_headers is None:
            continue
        url = record.rec_headers.get_header("WARC-Target-URI") or ""
        if record.http_headers.get_statuscode() != "200" or not is_article_url(url):
            continue
        if PAYWALL_PATH in url:
            continue
        yield record, records


def _page(record: ArcWarcRecord, fallback_id: str) -> CapturedPage:
    headers = record.rec_headers
    return CapturedPage(
        record_id=headers.get_header("WARC-Record-ID") or fallback_id,
        url=headers.get_header("WARC-Target-URI") or "",
        fetched_at=headers.get_header("WARC-Date") or "",
        headers=list(record.http_headers.headers),
        # content_stream: de-chunked and decoded (gzip, br) as a browser would
        body=record.content_stream().read(),
    )
