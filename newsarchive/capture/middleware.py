"""Record every HTTP exchange a crawl run reads as WARC, on by default.

Where: a downloader middleware placed next to the downloader (``DOWNLOADER_MIDDLEWARES``
950, above HttpCache 900, DownloaderStats 850, HttpCompression 590, Redirect 600 and the
retry middleware 550). Its ``process_response`` runs first on each answer, so it sees the
bytes the handler received (still content-encoded), robots.txt (RobotsTxtMiddleware fetches
it through the same chain), each 3xx before RedirectMiddleware follows it, and each 5xx or
403 before the retry middleware asks again. Why a middleware, not the ``response_downloaded``
signal (which fires at the same point): a middleware can ``await`` room in the recorder's
pipe, so a slow disk slows the crawl down instead of filling memory; a signal handler cannot.

What the crawl does per answer is kept to the least: one timestamp, and a tuple of references
(headers as Scrapy holds them, bodies as they are) pickled into the pipe of the recorder
process (newsarchive.capture.recorder), which builds the WARC records, the page list and the
index on another core, and packages the run as WACZ when the spider closes.

Pages Chromium renders (scripted listings, ``meta["playwright"]``) reach Scrapy as the DOM
after scripts ran, not as bytes a server sent: they are not recorded here. Instead the
browser handler (newsarchive.browser) reports every network response Chromium receives on
those pages through the ``BROWSER_RESPONSE`` signal, and they are recorded with their bodies
as Chromium decoded them.
"""

from __future__ import annotations

import logging
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any, Self

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response

from newsarchive import stats as names
from newsarchive.capture import BROWSER_RESPONSE, capture_enabled, capture_folder, wacz_path
from newsarchive.capture.channel import RecorderProcess
from newsarchive.clock import utc_now, utc_now_iso
from newsarchive.manifest import software
from newsarchive.settings_helpers import data_dir, require_run_records
from newsarchive.spiders import FETCHED_AT_META

logger = logging.getLogger(__name__)


class WarcCaptureMiddleware:
    """Hand each exchange to the run's recorder process; collect its result at the end."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        settings = crawler.settings
        self.max_file_bytes = settings.getint("NEWSARCHIVE_WARC_MAX_FILE_BYTES")
        self.budget = settings.getint("NEWSARCHIVE_WARC_QUEUE_BYTES")
        self.niceness = settings.getint("NEWSARCHIVE_WARC_RECORDER_NICENESS")
        self.recorder: RecorderProcess | None = None
        self.spider_name: str | None = None
        self.run_id: str | None = None
        self.result: dict[str, Any] | None = None

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

    async def spider_opened(self, spider: Spider) -> None:
        # `scrapy fetch`, `shell`, `bench` run spiders without a run: they record nothing.
        run_id = getattr(spider, "run_id", None)
        if not run_id:
            return
        self.spider_name, self.run_id = spider.name, run_id
        config = {
            "folder": str(self.folder),
            "run_id": run_id,
            "info": self._warcinfo(spider),
            "max_bytes": self.max_file_bytes,
            "wacz": str(wacz_path(data_dir(self.crawler.settings), spider.name, run_id)),
            "title": f"newsarchive {spider.name} run {run_id}",
        }
        try:
            self.recorder = await RecorderProcess.start(
                config, self.budget, self._lost, niceness=self.niceness
            )
        except OSError as exc:
            self._lost(f"the recorder process did not start: {exc}")

    def _lost(self, why: str) -> None:
        self.crawler.stats.set_value(names.CAPTURE_FAILED, 1)
        logger.error("Raw capture stopped, the run's WARC files in %s are incomplete: %s",
                     self.folder, why)  # fmt: skip

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

    # --- the reactor side: a timestamp and references, pickled into the pipe -------------

    async def process_response(self, request: Request, response: Response) -> Response:
        if self.recorder is None or request.meta.get("playwright"):
            return response
        # One instant for the record and the item: an item's crawled_at is when its capture
        # was fetched, so re-extracting the capture later gives the same sighting time.
        fetched_at = request.meta[FETCHED_AT_META] = utc_now_iso()
        redirected = request.meta.get("redirect_urls")
        body = response.body
        # A frame: see Exchange.from_frame (newsarchive.capture.writer).
        await self.recorder.send((
            request.url, request.method, dict(request.headers), request.body,
            response.status, response.protocol or "HTTP/1.1", dict(response.headers), body,
            fetched_at, str(response.ip_address) if response.ip_address else None,
            # A paywall or moved page is what the article URL answered: still an article.
            redirected[0] if redirected else request.url,
            False,
        ))  # fmt: skip
        self._count(body)
        return response

    async def browser_response(self, response: Any, request: Request) -> None:
        """One network response Chromium received while rendering ``request``'s page."""
        if self.recorder is None:
            return
        try:
            # Chromium keeps no body of a redirect: its status line and Location are the record.
            body = b"" if 300 <= response.status < 400 else await response.body()
            sent = response.request
            request_headers = list((await sent.all_headers()).items())
            response_headers = [(h["name"], h["value"]) for h in await response.headers_array()]
            navigated = sent.is_navigation_request() and sent.frame == sent.frame.page.main_frame
        except Exception as exc:  # the page closed or navigated before the body was read
            self.crawler.stats.inc_value(names.CAPTURE_BROWSER_MISSED)
            logger.debug("Not recorded (browser): %s: %s", response.url, exc)
            return
        await self.recorder.send((
            response.url, sent.method,
            [(k, v) for k, v in request_headers if not k.startswith(":")],
            sent.post_data_buffer or b"", response.status, "HTTP/1.1", response_headers, body,
            utc_now().isoformat(), None,
            # The page Chromium navigated to for ``request`` (after any redirect): its kind is
            # that of the URL Scrapy asked for, as for plain requests.
            request.url if navigated else None,
            True,  # decoded by Chromium
        ))  # fmt: skip
        self.crawler.stats.inc_value(names.CAPTURE_BROWSER_RECORDS)
        self._count(body)

    def _count(self, body: bytes) -> None:
        stats = self.crawler.stats
        stats.inc_value(names.CAPTURE_RECORDS)
        stats.inc_value(names.CAPTURE_BYTES, len(body))

    # --- the end of the run --------------------------------------------------------------

    async def spider_closed(self, spider: Spider) -> None:
        if self.recorder is None:
            return
        stats = self.crawler.stats
        closing = time.monotonic()
        self.result = result = await self.recorder.close()
        waited = time.monotonic() - closing
        stats.set_value(names.CAPTURE_END_WAIT, round(waited, 3))
        stats.set_value(names.CAPTURE_PEAK_WAITING, self.recorder.peak_waiting)
        stats.set_value(names.CAPTURE_WAITED, round(self.recorder.waited, 3))
        if result is None:
            return
        stats.set_value(names.CAPTURE_FILES, len(result["paths"]))
        stats.set_value(names.CAPTURE_PAGES, result["pages"])
        if result["failed"] is not None:
            stats.set_value(names.CAPTURE_FAILED, 1)
            logger.error("The run's WARC files in %s are incomplete: %s", self.folder,
                         result["failed"])  # fmt: skip
        if result.get("wacz_error") is not None:
            stats.set_value(names.CAPTURE_WACZ_FAILED, 1)
            logger.warning("Packaging the run as WACZ failed (%s); the WARC files stay in %s",
                           result["wacz_error"], self.folder)  # fmt: skip
        elif result.get("wacz"):
            logger.info("WACZ: %s (%d bytes)", result["wacz"], result["wacz_bytes"])
        logger.info("Recorder process: %.2f s of CPU, peak RSS %.1f MiB; the crawl waited "
                    "%.2f s for it at the end", result["cpu_seconds"],
                    result["peak_rss_kib"] / 1024, waited)  # fmt: skip
