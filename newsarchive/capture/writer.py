"""WARC records of a run, written by the recorder process, rotating files by size.

This runs in the recorder process (newsarchive.capture.recorder), never in the crawl: building
the records, their digests and gzip members (newsarchive.capture.records) is CPU work that
would otherwise hold the crawl's GIL.

Both records of an exchange (two gzip members) go to its file in one unbuffered write, so
what a file holds is always whole records: a run killed at any instant leaves WARC
files every reader can read to their last record.
"""

from __future__ import annotations

import json
import logging
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Protocol

from newsarchive.capture import PAGES_NAME
from newsarchive.capture.index import WrittenPair
from newsarchive.capture.records import PairMembers, first_value, warc_date, warcinfo_member
from newsarchive.processors import is_article_url

logger = logging.getLogger(__name__)

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
    return first_value(headers, "Content-Type")


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
        self._file: IO[bytes] | None = None
        self._size = 0
        self._pages: IO[str] | None = None

    def write(self, exchange: Exchange) -> None:
        if self._file is None:
            self._open_next()
        assert self._file is not None
        date = warc_date(exchange.fetched_at)
        made = PairMembers(exchange, date)
        offset = self._size
        self._write_whole(made.response_member + made.request_member)
        if self.watcher is not None:
            self.watcher.recorded(WrittenPair(
                self.paths[-1], exchange.url, date, made.payload_digest, made.response,
                made.request, offset, made.response_member, made.request_member,
            ))  # fmt: skip
        self.exchanges += 1
        self.response_bytes += len(exchange.response_body)
        if exchange.page_kind is not None and exchange.status == 200:
            self._add_page(exchange, date, made.response.headers)
        if self._size >= self.max_bytes:
            self._close_file()

    def close(self) -> None:
        self._close_file()
        if self._pages is not None:
            self._pages.close()
            self._pages = None

    def _write_whole(self, data: bytes) -> None:
        """Write ``data`` to the file, whole, in one go (an unbuffered file may take less than
        asked: the rest follows)."""
        assert self._file is not None
        done = 0
        while done < len(data):
            done += self._file.write(data[done:]) or 0
        self._size += done

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
        self._write_whole(warcinfo_member(path.name, self.info))

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            if self.watcher is not None:
                self.watcher.closed(self.paths[-1])

    def _add_page(self, exchange: Exchange, date: str, headers: list[tuple[str, str]]) -> None:
        """``headers``: the response's as stored (Content-Encoding kept unless decoded)."""
        assert self._pages is not None
        self.pages += 1
        page = {
            "id": f"{self.pages:08d}",
            "url": exchange.url,
            "ts": date,
            "title": page_title(exchange, first_value(headers, "Content-Encoding") or "")
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
