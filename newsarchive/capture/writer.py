"""The writer side of raw capture: one thread writes WARC records, rotating files by size.

Why one thread: warcio builds digests and gzips each record, which is blocking CPU and disk
work that must stay off the reactor; a single writer keeps records in arrival order. Why a
handoff bounded in bytes: when the disk is slower than the network, the reactor waits (an
``await``, never a blocking call) instead of queueing response bodies without bound.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import re
import threading
import zlib
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from io import BytesIO
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.timeutils import datetime_to_iso_date
from warcio.warcwriter import WARCWriter

from newsarchive.capture import PAGES_NAME

logger = logging.getLogger(__name__)

WARC_VERSION = "WARC/1.1"
#: Framing a reader would mis-parse once the body is stored de-chunked (Scrapy) or decoded
#: (Chromium): dropped from the stored headers, and Content-Length is made to match.
_FRAMING_HEADERS = frozenset({"transfer-encoding"})
_DECODED_HEADERS = frozenset({"transfer-encoding", "content-encoding"})
#: The first page-list line (WACZ pages.jsonl, "json-pages-1.0").
PAGES_HEADER = {"format": "json-pages-1.0", "id": "pages", "title": "Pages"}
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request and the answer to it, as copied off the reactor (bodies by reference)."""

    url: str
    method: str
    request_headers: list[tuple[str, str]]
    request_body: bytes
    status: int
    protocol: str
    response_headers: list[tuple[str, str]]
    response_body: bytes
    fetched_at: datetime
    ip_address: str | None = None
    #: "article" or "listing" for a page the spider reads (goes into pages.jsonl), else None.
    page_kind: str | None = None
    #: The body was decoded by the fetcher (Chromium): Content-Encoding no longer applies.
    decoded: bool = False

    @property
    def size(self) -> int:
        return len(self.request_body) + len(self.response_body)


class BoundedHandoff:
    """Jobs from the reactor to one writer thread, holding at most ``budget`` bytes of bodies.

    ``put`` returns at once while there is room, else waits on the event loop until the writer
    has caught up; one job always fits, whatever its size, so nothing waits for ever.
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.jobs: queue.SimpleQueue[tuple[Any, int]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._waiting_bytes = 0
        self._room: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def put(self, job: Any, size: int) -> None:
        while True:
            with self._lock:
                if self._waiting_bytes == 0 or self._waiting_bytes + size <= self.budget:
                    self._waiting_bytes += size
                    self.jobs.put((job, size))
                    return
                if self._room is None:
                    self._loop = asyncio.get_running_loop()
                    self._room = self._loop.create_future()
                room = self._room
            await asyncio.shield(room)

    def put_control(self, job: Any) -> None:
        """A job that holds no body (open, stop): never waits."""
        self.jobs.put((job, 0))

    def done(self, size: int) -> None:
        """Called by the writer thread after each job."""
        with self._lock:
            self._waiting_bytes -= size
            room, self._room = self._room, None
        if room is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(_resolve, room)

    @property
    def waiting_bytes(self) -> int:
        return self._waiting_bytes


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


_STOP = object()


class WarcFiles:
    """The run's WARC files, ``<run_id>-00001.warc.gz`` onward, and its page list.

    A file is opened on the first record it gets and closed once it reaches ``max_bytes``, so
    no file is empty and none grows much past the limit (by at most one exchange).
    """

    def __init__(self, folder: Path, run_id: str, info: dict[str, str], max_bytes: int) -> None:
        self.folder = folder
        self.run_id = run_id
        self.info = info
        self.max_bytes = max_bytes
        self.paths: list[Path] = []
        self.pages = 0
        self.exchanges = 0
        self._stream: IO[bytes] | None = None
        self._writer: WARCWriter | None = None
        self._pages: IO[str] | None = None

    def write(self, exchange: Exchange) -> None:
        writer = self._writer or self._open_next()
        request_record, response_record = _records(writer, exchange)
        writer.write_request_response_pair(request_record, response_record)
        self.exchanges += 1
        if exchange.page_kind is not None and exchange.status == 200:
            self._add_page(exchange, response_record.rec_headers.get_header("WARC-Date"))
        assert self._stream is not None
        if self._stream.tell() >= self.max_bytes:
            self._close_file()

    def close(self) -> None:
        self._close_file()
        if self._pages is not None:
            self._pages.close()
            self._pages = None

    def _open_next(self) -> WARCWriter:
        self.folder.mkdir(parents=True, exist_ok=True)
        # "x": a run's evidence is never overwritten (run ids are unique; this makes it sure).
        if self._pages is None:
            self._pages = (self.folder / PAGES_NAME).open("x", encoding="utf-8")
            self._pages.write(json.dumps(PAGES_HEADER) + "\n")
        path = self.folder / f"{self.run_id}-{len(self.paths) + 1:05d}.warc.gz"
        self.paths.append(path)
        self._stream = path.open("xb")
        self._writer = WARCWriter(self._stream, gzip=True, warc_version=WARC_VERSION)
        self._writer.write_record(self._writer.create_warcinfo_record(path.name, self.info))
        return self._writer

    def _close_file(self) -> None:
        if self._stream is not None:
            self._stream.close()
        self._stream = self._writer = None

    def _add_page(self, exchange: Exchange, warc_date: str) -> None:
        assert self._pages is not None
        self.pages += 1
        page = {
            "id": f"{self.pages:08d}",
            "url": exchange.url,
            "ts": warc_date,
            "title": page_title(exchange) or exchange.url,
            "kind": exchange.page_kind,
        }
        self._pages.write(json.dumps(page, ensure_ascii=False) + "\n")


class WriterThread(threading.Thread):
    """Take exchanges off the handoff and write them; after a failure (disk full, …) log it
    once, keep draining (so the reactor never waits on a dead writer) and write nothing more."""

    def __init__(self, files: WarcFiles, handoff: BoundedHandoff) -> None:
        super().__init__(name="newsarchive-warc", daemon=True)
        self.files = files
        self.handoff = handoff
        self.failed: BaseException | None = None

    def run(self) -> None:
        while True:
            job, size = self.handoff.jobs.get()
            try:
                if job is _STOP:
                    self._guarded(self.files.close)
                    return
                if self.failed is None:
                    self._guarded(self.files.write, job)
            finally:
                self.handoff.done(size)

    def stop(self) -> None:
        """Ask the thread to close its files and end once every queued job is written."""
        self.handoff.put_control(_STOP)

    def _guarded(self, function: Any, *args: Any) -> None:
        try:
            function(*args)
        except Exception as exc:
            self.failed = exc
            logger.error("Writing the run's WARC files in %s failed: %s", self.files.folder, exc)


def page_title(exchange: Exchange) -> str | None:
    """The page's <title>, read off the stored body (gzip-encoded bodies are inflated)."""
    body = exchange.response_body[:262144]
    encoding = next(
        (v.lower() for k, v in exchange.response_headers if k.lower() == "content-encoding"), ""
    )
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
    request_headers = exchange.request_headers
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
    headers = [(k, v) for k, v in exchange.response_headers if k.lower() not in skip]
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
