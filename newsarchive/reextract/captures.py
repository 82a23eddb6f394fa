"""Where a run's captures are, and the article pages they hold.

Two layouts, read alike: ``<data>/warc/<spider>/<run_id>.warc.gz`` (article pages only, with
``NEWSARCHIVE_WARC_ENABLED``) and ``<data>/warc/<spider>/<run_id>/*.warc.gz`` (every response,
rotated by size; packaged beside it as ``<run_id>.wacz``).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import BinaryIO

import brotli
from fastwarc.warc import ArchiveIterator as FastArchiveIterator
from fastwarc.warc import WarcRecord, WarcRecordType
from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import ChunkedDataReader
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
    ``shares``-th of them, starting at ``share`` (so several workers split one file).

    Scanned with FastWARC, whose parser costs a third of warcio's per page (a re-extraction
    reads every page of every capture); each body is decoded as warcio's ``content_stream``
    decodes it, by warcio itself whenever the fast path is not certain to agree."""
    with path.open("rb") as stream:
        for number, record in enumerate(_article_responses(stream)):
            if number % shares != share:
                continue
            headers = list(record.http_headers.items())
            body = _plain_body(record.reader.read(), headers)
            if body is None:  # framing or an encoding the fast path leaves to warcio
                body = read_page(PageLocation(path, record.stream_pos, "")).body
            yield CapturedPage(
                record_id=record.headers.get("WARC-Record-ID") or f"{path}#{number}",
                url=record.headers.get("WARC-Target-URI") or "",
                fetched_at=record.headers.get("WARC-Date") or "",
                headers=headers,
                body=body,
            )


@dataclass(frozen=True, slots=True)
class PageLocation:
    """Where one captured article page is: its file, the record's offset, its WARC-Date."""

    path: Path
    offset: int
    fetched_at: str


def article_locations(path: Path) -> Iterator[tuple[str, PageLocation]]:
    """``(article URL, location)`` of every article page in one WARC file, bodies unread."""
    with path.open("rb") as stream:
        for record in _article_responses(stream):
            url = record.headers.get("WARC-Target-URI") or ""
            fetched_at = record.headers.get("WARC-Date") or ""
            yield url, PageLocation(path, record.stream_pos, fetched_at)


def read_page(location: PageLocation) -> CapturedPage:
    """The article page at ``location`` (each record is its own gzip member: seekable)."""
    with location.path.open("rb") as stream:
        stream.seek(location.offset)
        record = next(_article_records(stream))
        return _page(record, f"{location.path}@{location.offset}")


def _is_article_response(url: str, status: int | str) -> bool:
    """A capture's record that holds an article page: a 200 answer to an article URL."""
    return str(status) == "200" and is_article_url(url) and PAYWALL_PATH not in url


def _article_responses(stream: BinaryIO) -> Iterator[WarcRecord]:
    """The article responses of a WARC file, scanned with FastWARC (HTTP headers parsed)."""
    records = FastArchiveIterator(stream, record_types=WarcRecordType.response, parse_http=True)
    for record in records:
        if not record.is_http:
            continue
        if _is_article_response(
            record.headers.get("WARC-Target-URI") or "", record.http_headers.status_code
        ):
            yield record


def _article_records(stream: BinaryIO) -> Iterator[ArcWarcRecord]:
    """The article responses from ``stream`` on, read with warcio (``read_page``)."""
    for record in ArchiveIterator(stream):
        if record.rec_type != "response" or record.http_headers is None:
            continue
        url = record.rec_headers.get_header("WARC-Target-URI") or ""
        if _is_article_response(url, record.http_headers.get_statuscode()):
            yield record


def _coding(headers: list[tuple[str, str]]) -> tuple[str, bool]:
    """The body's Content-Encoding (lower case, "" for none) and whether it is chunked."""
    coding, chunked = "", False
    for name, value in headers:
        lowered = name.lower()
        if lowered == "content-encoding":
            coding = value.strip().lower()
        elif lowered == "transfer-encoding":
            chunked = True
    return coding, chunked


def _plain_body(raw: bytes, headers: list[tuple[str, str]]) -> bytes | None:
    """The body as ``_page`` (warcio) gives it, for the encodings whose decoding is certain to
    agree (none, one gzip member, brotli); None: ask warcio."""
    coding, chunked = _coding(headers)
    if chunked:
        return None  # chunked framing: warcio's reader
    if coding in ("", "identity"):
        return raw
    if coding == "br":
        return _unbrotli(raw)
    if coding == "gzip":
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            body = inflate.decompress(raw)
        except zlib.error:
            return None  # warcio passes an undecodable body on as it is
        return body if inflate.eof and not inflate.unused_data else None
    return None


def _unbrotli(raw: bytes) -> bytes:
    """A brotli body decoded; one that does not decode passed on as it is (as warcio does
    with gzip). Not warcio's: its brotli reader fails on brotli >= 1.2, whose decompressor
    takes no attribute (AttributeError on every br record)."""
    try:
        return brotli.decompress(raw)
    except brotli.error:
        return raw


def _page(record: ArcWarcRecord, fallback_id: str) -> CapturedPage:
    headers = record.rec_headers
    http_headers = list(record.http_headers.headers)
    coding, chunked = _coding(http_headers)
    if coding == "br":  # warcio's brotli reader is broken (``_unbrotli``)
        raw = ChunkedDataReader(record.raw_stream) if chunked else record.raw_stream
        body = _unbrotli(raw.read())
    else:  # content_stream: de-chunked and decoded (gzip, deflate) as a browser would
        body = record.content_stream().read()
    return CapturedPage(
        record_id=headers.get_header("WARC-Record-ID") or fallback_id,
        url=headers.get_header("WARC-Target-URI") or "",
        fetched_at=headers.get_header("WARC-Date") or "",
        headers=http_headers,
        body=body,
    )
