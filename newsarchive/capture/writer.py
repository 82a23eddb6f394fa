"""WARC records of a run, written by the recorder process, rotating files by size.

This runs in the recorder process (newsarchive.capture.recorder), never in the crawl: warcio
builds digests and gzips each record, CPU work that would otherwise hold the crawl's GIL.

Each exchange is built into a staging buffer and written to its file with one unbuffered
write, so what a file holds is always whole records: a run killed at any instant leaves WARC
files every reader can read to their last record.

Each record is its own gzip member (as the WARC spec asks; any gzip reader inflates it),
deflated by ISA-L (``isal``) at its level 1 instead of warcio's zlib at level 9: on the
specimen article that is 19 µs instead of 190 µs, for a member 5% larger (zlib's level 1 took
100 µs and made it larger still). bench/bench_recorder.py measures the recorder both ways.
"""

from __future__ import annotations

import json
import logging
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from io import BytesIO
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import urlsplit

from isal import isal_zlib
from warcio.statusandheaders import StatusAndHeaders
from warcio.timeutils import datetime_to_iso_date
from warcio.warcwriter import WARCWriter

from newsarchive.capture import PAGES_NAME
from newsarchive.capture.index import WrittenPair
from newsarchive.processors import is_article_url

logger = logging.getLogger(__name__)

WARC_VERSION = "WARC/1.1"
#: ISA-L's levels are 0-3; 1 made the smallest members of the fast ones on HTML pages.
GZIP_LEVEL = 1
_GZIP_WBITS = 31  # a gzip header and trailer, as warcio writes
#: Framing a reader would mis-parse once the body is stored de-chunked (Scrapy) or decoded
#: (Chromium): dropped from the stored headers, and Content-Length is made to match.
_FRAMING_HEADERS = frozenset({"transfer-encoding"})
_DECODED_HEADERS = frozenset({"transfer-encoding", "content-encoding"})
#: The first page-list line (WACZ pages.jsonl, "json-pages-1.0").
PAGES_HEADER = {"format": "json-pages-1.0", "id": "pages", "title": "Pages"}
_HTML_TYPES = (b"text/html", b"application/xhtml")
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
#: Headers as Scrapy holds them (bytes name → list of bytes values), or as (name, value) text.
Headers = Mapping[bytes, list[bytes]] | list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request and the answer to it."""

    url: str
    method: str
    request_headers: Headers
    request_body: bytes
    status: int
    protocol: str
    response_headers: Headers
    response_body: bytes
    fetched_at: datetime
    ip_address: str | None = None
    #: "article" or "listing" for a page the spider reads (goes into pages.jsonl), else None.
    page_kind: str | None = None
    #: The body was decoded by the fetcher (Chromium): Content-Encoding no longer applies.
    decoded: bool = False

    @classmethod
    def from_frame(cls, frame: tuple) -> Exchange:
        """The exchange a crawl sent as a frame: Exchange's fields in order, except that
        ``fetched_at`` is ISO 8601 text and, in ``page_kind``'s place, the URL whose kind the
        page is (None: not a page). The crawl sends what it has at hand; what costs, on the
        crawl's main thread, is done here (pickling an aware datetime alone took 11 µs)."""
        (url, method, request_headers, request_body, status, protocol, response_headers,
         response_body, fetched_at, ip_address, page_url, decoded) = frame  # fmt: skip
        kind = page_kind(page_url, _content_type(response_headers)) if page_url else None
        return cls(url, method, request_headers, request_body, status, protocol,
                   response_headers, response_body, datetime.fromisoformat(fetched_at),
                   ip_address, kind, decoded)  # fmt: skip


def _content_type(headers: Headers) -> bytes | str | None:
    """As Scrapy's ``headers.get`` gives it (the last value), or a list's first pair."""
    if isinstance(headers, Mapping):
        values = headers.get(b"Content-Type")
        return values[-1] if values else None
    return next((value for name, value in headers if name.lower() == "content-type"), None)


def header_pairs(headers: Headers) -> list[tuple[str, str]]:
    """(name, value) text pairs, one per value, in order."""
    if isinstance(headers, Mapping):
        return [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, values in headers.items()
            for value in values
        ]
    return list(headers)


def page_kind(url: str, content_type: bytes | str | None) -> str | None:
    """ "article" or "listing" for an HTML page the spider reads; None for anything else
    (robots.txt, scripts, JSON)."""
    if isinstance(content_type, str):
        content_type = content_type.encode("latin-1")
    if not content_type or not content_type.lower().startswith(_HTML_TYPES):
        return None
    return "article" if is_article_url(url) else "listing"


class FileWatcher(Protocol):
    """Told of each WARC file and each exchange as it is written (the index)."""

    def opened(self, path: Path) -> None: ...
    def recorded(self, pair: WrittenPair) -> None: ...
    def closed(self, path: Path) -> None: ...


class GzipMembers:
    """What warcio writes, uncompressed (``gzip=False``), made one gzip member per record:
    warcio flushes its output once at the end of each record, and the record is deflated
    there, whole, into ``staged``. ``members`` are the (start, length) of each in ``staged``."""

    def __init__(self) -> None:
        self.staged = BytesIO()
        self.members: list[tuple[int, int]] = []
        self._record: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._record.append(data)
        return len(data)

    def flush(self) -> None:
        if self._record:
            member = isal_zlib.compress(b"".join(self._record), GZIP_LEVEL, _GZIP_WBITS)
            self._record.clear()
            self.members.append((self.staged.tell(), len(member)))
            self.staged.write(member)

    def clear(self) -> None:
        self.staged.seek(0)
        self.staged.truncate()
        self.members.clear()


class WarcFiles:
    """The run's WARC files, ``<run_id>-00001.warc.gz`` onward, and its page list.

    A file is opened on the first record it gets and closed once it reaches ``max_bytes``, so
    no file is empty and none grows much past the limit (by at most one exchange).
    """

    def __init__(
        self,
        folder: Path,
        run_id: str,
        info: dict[str, str],
        max_bytes: int,
        watcher: FileWatcher | None = None,
    ) -> None:
        self.folder = folder
        self.run_id = run_id
        self.info = info
        self.max_bytes = max_bytes
        self.watcher = watcher
        self.paths: list[Path] = []
        self.pages = 0
        self.exchanges = 0
        self.response_bytes = 0
        self._staging = GzipMembers()
        self._writer = WARCWriter(self._staging, gzip=False, warc_version=WARC_VERSION)
        self._file: IO[bytes] | None = None
        self._size = 0
        self._pages: IO[str] | None = None

    def write(self, exchange: Exchange) -> None:
        if self._file is None:
            self._open_next()
        request_record, response_record = _records(self._writer, exchange)
        self._writer.write_request_response_pair(request_record, response_record)
        offset = self._size
        staged = self._flush_staging()
        if self.watcher is not None:
            # warcio writes the response, then the request (WARCWriter._do_write_req_resp)
            (response_at, response_length), (request_at, request_length) = self._staging.members
            self.watcher.recorded(WrittenPair(
                self.paths[-1], response_record, request_record, offset + response_at,
                staged[response_at : response_at + response_length],
                staged[request_at : request_at + request_length],
            ))  # fmt: skip
        self._staging.clear()
        self.exchanges += 1
        self.response_bytes += len(exchange.response_body)
        if exchange.page_kind is not None and exchange.status == 200:
            self._add_page(exchange, response_record)
        if self._size >= self.max_bytes:
            self._close_file()

    def close(self) -> None:
        self._close_file()
        if self._pages is not None:
            self._pages.close()
            self._pages = None

    def _flush_staging(self) -> bytes:
        """Write what is staged to the file, whole; return it."""
        assert self._file is not None
        data = self._staging.staged.getvalue()
        done = 0
        while done < len(data):  # an unbuffered file may take less than asked
            done += self._file.write(data[done:]) or 0
        self._size += done
        return data

    def _open_next(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        # "x": a run's evidence is never overwritten (run ids are unique; this makes it sure).
        if self._pages is None:
            # Line-buffered: each page is in the file once its line is complete.
            self._pages = (self.folder / PAGES_NAME).open("x", encoding="utf-8", buffering=1)
            self._pages.write(json.dumps(PAGES_HEADER) + "\n")
        path = self.folder / f"{self.run_id}-{len(self.paths) + 1:05d}.warc.gz"
        self._file = path.open("xb", buffering=0)
        self._size = 0
        self.paths.append(path)
        if self.watcher is not None:
            self.watcher.opened(path)
        self._writer.write_record(self._writer.create_warcinfo_record(path.name, self.info))
        self._flush_staging()
        self._staging.clear()

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            if self.watcher is not None:
                self.watcher.closed(self.paths[-1])

    def _add_page(self, exchange: Exchange, response_record: Any) -> None:
        assert self._pages is not None
        self.pages += 1
        headers = response_record.http_headers  # as stored: Content-Encoding kept unless decoded
        page = {
            "id": f"{self.pages:08d}",
            "url": exchange.url,
            "ts": response_record.rec_headers.get_header("WARC-Date"),
            "title": page_title(exchange, headers.get_header("Content-Encoding", ""))
            or exchange.url,
            "kind": exchange.page_kind,
        }
        self._pages.write(json.dumps(page, ensure_ascii=False) + "\n")


def page_title(exchange: Exchange, content_encoding: str) -> str | None:
    """The page's <title>, read off the stored body (gzip-encoded bodies are inflated)."""
    body = exchange.response_body[:262144]
    encoding = content_encoding.lower()
    if encoding in ("gzip", "x-gzip", "deflate") and not exchange.decoded:
        try:
            body = zlib.decompressobj(47).decompress(body, 262144)  # 47: gzip or zlib header
        except zlib.error:
            return None
    elif encoding and encoding != "identity" and not exchange.decoded:
        return None
    found = _TITLE.search(body)
    if not found:
        return None
    title = " ".join(found[1].decode("utf-8", "replace").split())
    return title or None


def _records(writer: WARCWriter, exchange: Exchange) -> tuple[Any, Any]:
    """The request record and the response record of one exchange (warcio links them)."""
    parts = urlsplit(exchange.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    request_headers = header_pairs(exchange.request_headers)
    if not any(name.lower() == "host" for name, _ in request_headers):
        request_headers = [("Host", parts.netloc), *request_headers]
    # warcio wants a naive UTC datetime (it appends the Z itself).
    warc_date = datetime_to_iso_date(exchange.fetched_at.replace(tzinfo=None), use_micros=True)
    request_record = writer.create_warc_record(
        exchange.url,
        "request",
        payload=BytesIO(exchange.request_body),
        length=len(exchange.request_body),
        http_headers=StatusAndHeaders(
            f"{exchange.method} {target} {exchange.protocol}",
            request_headers,
            is_http_request=True,
        ),
        warc_headers_dict={"WARC-Date": warc_date},
    )
    try:
        phrase = HTTPStatus(exchange.status).phrase
    except ValueError:
        phrase = ""
    skip = _DECODED_HEADERS if exchange.decoded else _FRAMING_HEADERS
    headers = [(k, v) for k, v in header_pairs(exchange.response_headers) if k.lower() not in skip]
    http_headers = StatusAndHeaders(f"{exchange.status} {phrase}".strip(), headers,
                                    exchange.protocol)  # fmt: skip
    http_headers.replace_header("Content-Length", str(len(exchange.response_body)))
    warc_headers = {"WARC-Date": warc_date}
    if exchange.ip_address:
        warc_headers["WARC-IP-Address"] = exchange.ip_address
    response_record = writer.create_warc_record(
        exchange.url,
        "response",
        payload=BytesIO(exchange.response_body),
        length=len(exchange.response_body),
        http_headers=http_headers,
        warc_headers_dict=warc_headers,
    )
    return request_record, response_record
