"""Record every HTTP exchange a crawl run reads as WARC, on by default.

Where: a downloader middleware placed next to the downloader (``DOWNLOADER_MIDDLEWARES``
950, above HttpCache 900, DownloaderStats 850, HttpCompression 590, Redirect 600 and the
retry middleware 550). Its ``process_response`` runs first on each answer, so it sees the
bytes the handler received (still content-encoded), robots.txt (RobotsTxtMiddleware fetches
it through the same chain), each 3xx before RedirectMiddleware follows it, and each 5xx or
403 before the retry middleware asks again. Why a middleware, not the ``response_downloaded``
signal (which fires at the same point): a middleware can ``await`` room in the writer's
queue, so a slow disk slows the crawl down instead of filling memory; a signal handler cannot.

Pages Chromium renders (scripted listings, ``meta["playwright"]``) reach Scrapy as the DOM
after scripts ran, not as bytes a server sent: they are not recorded here. Instead the
browser handler (newsarchive.browser) reports every network response Chromium receives on
those pages through the ``BROWSER_RESPONSE`` signal, and they are recorded with their bodies
as Chromium decoded them.

Packaging the run as WACZ happens after the crawl (newsarchive.capture.package).
"""

from __future__ import annotations

import logging
from importlib.metadata import version
from pathlib import Path
from typing import Any, Self

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response
from scrapy.utils.asyncio import run_in_thread

from newsarchive import stats as names
from newsarchive.capture import BROWSER_RESPONSE, capture_enabled, capture_folder, wacz_path
from newsarchive.capture.package import PackageResult, package_run
from newsarchive.capture.writer import BoundedHandoff, Exchange, WarcFiles, WriterThread
from newsarchive.clock import utc_now
from newsarchive.manifest import software
from newsarchive.processors import is_article_url
from newsarchive.settings_helpers import data_dir, require_run_records
from newsarchive.spiders import FETCHED_AT_META

logger = logging.getLogger(__name__)

_HTML_TYPES = (b"text/html", b"application/xhtml")


def _header_pairs(headers: Any) -> list[tuple[str, str]]:
    """Scrapy Headers as (name, value) text pairs, one per value, in order."""
    return [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, values in headers.items()
        for value in values
    ]


def page_kind(url: str, content_type: bytes | str | None) -> str | None:
    """ "article" or "listing" for an HTML page the spider reads; None for anything else
    (robots.txt, scripts, JSON)."""
    if isinstance(content_type, str):
        content_type = content_type.encode("latin-1")
    if not content_type or not content_type.lower().startswith(_HTML_TYPES):
        return None
    return "article" if is_article_url(url) else "listing"


class WarcCaptureMiddleware:
    """Copy each exchange off the reactor to the writer thread; package the run at the end."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        settings = crawler.settings
        self.max_file_bytes = settings.getint("NEWSARCHIVE_WARC_MAX_FILE_BYTES")
        self.handoff = BoundedHandoff(settings.getint("NEWSARCHIVE_WARC_QUEUE_BYTES"))
        self.thread: WriterThread | None = None
        self.spider_name: str | None = None
        self.run_id: str | None = None
        self.package: PackageResult | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        require_run_records(crawler.settings)  # `scrapy parse` & co. record nothing
        if not capture_enabled(crawler.settings):
            raise NotConfigured("NEWSARCHIVE_WARC_ENABLED is off")
        middleware = cls(crawler)
        crawler.signals.connect(middleware.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(middleware.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(middleware.browser_response, signal=BROWSER_RESPONSE)
        return middleware

    @property
    def folder(self) -> Path:
        assert self.spider_name and self.run_id
        return capture_folder(data_dir(self.crawler.settings), self.spider_name, self.run_id)

    def spider_opened(self, spider: Spider) -> None:
        # `scrapy fetch`, `shell`, `bench` run spiders without a run: they record nothing.
        run_id = getattr(spider, "run_id", None)
        if not run_id:
            return
        self.spider_name, self.run_id = spider.name, run_id
        files = WarcFiles(self.folder, run_id, self._warcinfo(spider), self.max_file_bytes)
        self.thread = WriterThread(files, self.handoff)
        self.thread.start()

    def _warcinfo(self, spider: Spider) -> dict[str, str]:
        settings = self.crawler.settings
        return {
            "software": " ".join(
                f"{name}/{v}" for name, v in {**software(), "warcio": version("warcio")}.items()
            ),
            "format": "WARC File Format 1.1",
            "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
            "isPartOf": f"newsarchive run {self.run_id}",
            "run_id": str(self.run_id),
            "spider": spider.name,
            "start_url": str(getattr(spider, "start_url", "") or ""),
            "http-header-user-agent": settings.get("USER_AGENT") or "",
            "robots": "obey" if settings.getbool("ROBOTSTXT_OBEY") else "ignore",
            "description": "Every HTTP exchange this crawl run read, as received.",
        }

    # --- the reactor side: copy references, never touch the disk ---------------------------

    async def process_response(self, request: Request, response: Response) -> Response:
        if self.thread is None or request.meta.get("playwright"):
            return response
        # One instant for the record and the item: an item's crawled_at is when its capture
        # was fetched, so re-extracting the capture later gives the same sighting time.
        fetched_at = utc_now().replace(microsecond=0)
        request.meta[FETCHED_AT_META] = fetched_at.isoformat()
        exchange = Exchange(
            url=request.url,
            method=request.method,
            request_headers=_header_pairs(request.headers),
            request_body=request.body,
            status=response.status,
            protocol=response.protocol or "HTTP/1.1",
            response_headers=_header_pairs(response.headers),
            response_body=response.body,
            fetched_at=fetched_at,
            ip_address=str(response.ip_address) if response.ip_address else None,
            # A paywall or moved page is what the article URL answered: still an article.
            page_kind=page_kind(
                (request.meta.get("redirect_urls") or [request.url])[0],
                response.headers.get(b"Content-Type"),
            ),
        )
        await self._record(exchange)
        return response

    async def browser_response(self, response: Any, request: Request) -> None:
        """One network response Chromium received while rendering ``request``'s page."""
        if self.thread is None:
            return
        try:
            # Chromium keeps no body of a redirect: its status line and Location are the record.
            body = b"" if 300 <= response.status < 400 else await response.body()
            sent = response.request
            request_headers = list((await sent.all_headers()).items())
            response_headers = [(h["name"], h["value"]) for h in await response.headers_array()]
            content_type = await response.header_value("content-type")
            navigated = sent.is_navigation_request() and sent.frame == sent.frame.page.main_frame
        except Exception as exc:  # the page closed or navigated before the body was read
            self.crawler.stats.inc_value(names.CAPTURE_BROWSER_MISSED)
            logger.debug("Not recorded (browser): %s: %s", response.url, exc)
            return
        exchange = Exchange(
            url=response.url,
            method=sent.method,
            request_headers=[(k, v) for k, v in request_headers if not k.startswith(":")],
            request_body=sent.post_data_buffer or b"",
            status=response.status,
            protocol="HTTP/1.1",
            response_headers=response_headers,
            response_body=body,
            fetched_at=utc_now(),
            # The page Chromium navigated to for ``request`` (after any redirect): its kind is
            # that of the URL Scrapy asked for, as for plain requests.
            page_kind=page_kind(request.url, content_type) if navigated else None,
            decoded=True,
        )
        self.crawler.stats.inc_value(names.CAPTURE_BROWSER_RECORDS)
        await self._record(exchange)

    async def _record(self, exchange: Exchange) -> None:
        await self.handoff.put(exchange, exchange.size)
        stats = self.crawler.stats
        stats.inc_value(names.CAPTURE_RECORDS)
        stats.inc_value(names.CAPTURE_BYTES, len(exchange.response_body))

    # --- the end of the run --------------------------------------------------------------

    async def spider_closed(self, spider: Spider) -> None:
        if self.thread is None:
            return
        self.thread.stop()
        await run_in_thread(self.thread.join)
        files = self.thread.files
        stats = self.crawler.stats
        stats.set_value(names.CAPTURE_FILES, len(files.paths))
        stats.set_value(names.CAPTURE_PAGES, files.pages)
        if self.thread.failed is not None:
            stats.set_value(names.CAPTURE_FAILED, 1)
            logger.error("The run's WARC files in %s are incomplete: %s", self.folder,
                         self.thread.failed)  # fmt: skip
        if not files.paths:
            return
        logger.info("WARC: %d records in %d file(s) in %s; packaging the run as WACZ",
                    stats.get_value(names.CAPTURE_RECORDS, 0), len(files.paths),
                    self.folder)  # fmt: skip
        assert self.spider_name and self.run_id
        target = wacz_path(data_dir(self.crawler.settings), self.spider_name, self.run_id)
        title = f"newsarchive {self.spider_name} run {self.run_id}"
        self.package = await run_in_thread(
            package_run, files.paths, self.folder, target, title, files.exchanges
        )
        if self.package.error is not None:
            stats.set_value(names.CAPTURE_WACZ_FAILED, 1)
            logger.warning("Packaging the run as WACZ failed (%s); the WARC files stay in %s",
                           self.package.error, self.folder)  # fmt: skip
        else:
            logger.info("WACZ: %s (%d bytes)", target, self.package.bytes)
