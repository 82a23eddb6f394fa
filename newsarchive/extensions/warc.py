"""Keep the raw HTTP exchanges of article pages as WARC: data/warc/<spider>/<run_id>.warc.gz.

Why: a researcher who doubts a field can go back to the bytes the site sent, with standard
web-archive tools (warcio, pywb, ...). Off unless ``NEWSARCHIVE_WARC_ENABLED``.

What is recorded: every response to a request for an article URL (or a request redirected from
one), as Scrapy's downloader handed it over, before any middleware touched it (still
compressed, redirects and retried 503s included), with the request as sent, plus a warcinfo
record naming the software and the run. Scrapy gives the body already de-chunked, so a
``Transfer-Encoding`` header is dropped and ``Content-Length`` is made to match.

Not blocking the reactor: the ``response_downloaded`` handler only copies references into a
job for a single writer thread (one thread keeps records in order); warcio builds the records
(digests) and writes the gzip file there. ``spider_closed`` waits for the thread in a thread.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from http import HTTPStatus
from importlib.metadata import version
from io import BytesIO
from pathlib import Path
from typing import IO, Any, Self
from urllib.parse import urlsplit

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response
from scrapy.settings import BaseSettings
from scrapy.utils.asyncio import run_in_thread
from warcio.statusandheaders import StatusAndHeaders
from warcio.timeutils import datetime_to_iso_date
from warcio.warcwriter import WARCWriter

from newsarchive import stats as names
from newsarchive.clock import new_run_id, utc_now
from newsarchive.manifest import software
from newsarchive.processors import is_article_url
from newsarchive.settings_helpers import data_dir
from newsarchive.spiders import FETCHED_AT_META

logger = logging.getLogger(__name__)

WARC_VERSION = "WARC/1.1"
#: Hop-by-hop framing Scrapy has already undone: recording it would make readers mis-parse.
_FRAMING_HEADERS = frozenset({b"transfer-encoding"})


def warc_enabled(settings: BaseSettings) -> bool:
    return settings.getbool("NEWSARCHIVE_WARC_ENABLED")


def warc_path(folder: Path, spider: str, run_id: str) -> Path:
    """data/warc/<spider>/<run_id>.warc.gz."""
    return folder / "warc" / spider / f"{run_id}.warc.gz"


def _header_pairs(headers: Any, skip: frozenset[bytes] = frozenset()) -> list[tuple[str, str]]:
    pairs = []
    for name, values in headers.items():
        if name.lower() in skip:
            continue
        for value in values:
            pairs.append((name.decode("latin-1"), value.decode("latin-1")))
    return pairs


def is_article_exchange(request: Request) -> bool:
    """A request for an article URL, or one a redirect of such a request led to."""
    first = (request.meta.get("redirect_urls") or [request.url])[0]
    return is_article_url(first) or is_article_url(request.url)


class WarcArchive:
    """Write article responses to the run's WARC file through one writer thread."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsarchive-warc")
        self.path: Path | None = None
        self.stream: IO[bytes] | None = None
        self.writer: WARCWriter | None = None
        self.failed: BaseException | None = None
        self.last_job: Future[None] | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if not warc_enabled(crawler.settings):
            raise NotConfigured("NEWSARCHIVE_WARC_ENABLED is off")
        extension = cls(crawler)
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.response_downloaded, signal=signals.response_downloaded)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    # --- signal handlers (reactor thread: no I/O here) ----------------------------------------

    def spider_opened(self, spider: Spider) -> None:
        run_id = getattr(spider, "run_id", None) or new_run_id()
        self.path = warc_path(data_dir(self.crawler.settings), spider.name, run_id)
        info = {
            "software": " ".join(
                f"{name}/{v}" for name, v in {**software(), "warcio": version("warcio")}.items()
            ),
            "format": "WARC File Format 1.1",
            "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
            "isPartOf": f"newsarchive run {run_id}",
            "run_id": run_id,
            "spider": spider.name,
            "start_url": str(getattr(spider, "start_url", "") or ""),
            "http-header-user-agent": self.crawler.settings.get("USER_AGENT"),
            "robots": "obey" if self.crawler.settings.getbool("ROBOTSTXT_OBEY") else "ignore",
            "description": "Raw HTTP exchanges of article pages fetched by this crawl run.",
        }
        self._submit(self._open, self.path, info)

    def response_downloaded(self, response: Response, request: Request, spider: Spider) -> None:
        if not is_article_exchange(request):
            return
        self.crawler.stats.inc_value(names.WARC_RECORDS)
        fetched_at = utc_now()
        request.meta[FETCHED_AT_META] = fetched_at.isoformat(timespec="seconds")
        self._submit(
            self._write_exchange,
            url=request.url,
            method=request.method,
            request_headers=_header_pairs(request.headers),
            request_body=request.body,
            status=response.status,
            protocol=getattr(response, "protocol", None) or "HTTP/1.1",
            response_headers=_header_pairs(response.headers, _FRAMING_HEADERS),
            response_body=response.body,
            ip_address=str(response.ip_address) if response.ip_address else None,
            fetched_at=fetched_at,
        )

    async def spider_closed(self, spider: Spider) -> None:
        self._submit(self._close)
        await run_in_thread(self.executor.shutdown, wait=True)
        if self.failed is not None:
            logger.error("The WARC file %s is incomplete: %s", self.path, self.failed)
        else:
            logger.info(
                "WARC: %d article responses in %s",
                self.crawler.stats.get_value(names.WARC_RECORDS, 0),
                self.path,
            )

    def _submit(self, function: Any, *args: Any, **kwargs: Any) -> None:
        if self.failed is None:
            self.last_job = self.executor.submit(self._guarded, function, *args, **kwargs)

    # --- the writer thread ---------------------------------------------------------------------

    def _guarded(self, function: Any, *args: Any, **kwargs: Any) -> None:
        """Run one job; after a failure (disk full, …) skip the rest and report it once."""
        if self.failed is not None:
            return
        try:
            function(*args, **kwargs)
        except Exception as exc:
            self.failed = exc
            logger.error("Writing the WARC file %s failed: %s", self.path, exc)

    def _open(self, path: Path, info: dict[str, str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.stream = path.open("wb")
        self.writer = WARCWriter(self.stream, gzip=True, warc_version=WARC_VERSION)
        self.writer.write_record(self.writer.create_warcinfo_record(path.name, info))

    def _write_exchange(
        self,
        *,
        url: str,
        method: str,
        request_headers: list[tuple[str, str]],
        request_body: bytes,
        status: int,
        protocol: str,
        response_headers: list[tuple[str, str]],
        response_body: bytes,
        ip_address: str | None,
        fetched_at: datetime,
    ) -> None:
        assert self.writer is not None
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if not any(name.lower() == "host" for name, _ in request_headers):
            request_headers = [("Host", parts.netloc), *request_headers]
        # warcio wants a naive UTC datetime (it appends the Z itself).
        warc_date = datetime_to_iso_date(fetched_at.replace(tzinfo=None), use_micros=True)
        request_record = self.writer.create_warc_record(
            url,
            "request",
            payload=BytesIO(request_body),
            length=len(request_body),
            http_headers=StatusAndHeaders(
                f"{method} {target} {protocol}", request_headers, is_http_request=True
            ),
            warc_headers_dict={"WARC-Date": warc_date},
        )
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        http_headers = StatusAndHeaders(f"{status} {phrase}".strip(), response_headers, protocol)
        http_headers.replace_header("Content-Length", str(len(response_body)))
        response_headers_dict = {"WARC-Date": warc_date}
        if ip_address:
            response_headers_dict["WARC-IP-Address"] = ip_address
        response_record = self.writer.create_warc_record(
            url,
            "response",
            payload=BytesIO(response_body),
            length=len(response_body),
            http_headers=http_headers,
            warc_headers_dict=response_headers_dict,
        )
        self.writer.write_request_response_pair(request_record, response_record)

    def _close(self) -> None:
        if self.stream is not None:
            self.stream.close()
