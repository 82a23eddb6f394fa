"""scrapy-playwright's download handler as newsarchive runs it: built on the first request that
needs a browser (by ``newsarchive.browser.OnDemandPlaywrightHandler``), never at start-up.

Importing this module imports Playwright and scrapy-playwright; nothing else in the crawl
does until a page is rendered.
"""

from __future__ import annotations

import logging
from typing import Any

from playwright.async_api import Page
from playwright.async_api import Response as PlaywrightResponse
from scrapy.crawler import Crawler
from scrapy.http import Request
from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler

from newsarchive.browser import Chromium, launch_options
from newsarchive.capture import BROWSER_RESPONSE

logger = logging.getLogger(__name__)


class PlaywrightHandler(ScrapyPlaywrightDownloadHandler):
    """scrapy-playwright's handler with the closed-network Chromium, the crawl's timeout, and
    every response Chromium receives sent to raw capture. It starts the driver and Chromium in
    ``start()``, not from the engine_started signal (long past when this is built)."""

    def __init__(self, crawler: Crawler, chromium: Chromium) -> None:
        super().__init__(crawler)
        self._crawler = crawler
        self.config.launch_options = launch_options(chromium, self.config.launch_options)
        if self.config.navigation_timeout_ms is None:
            timeout = crawler.settings.getfloat("DOWNLOAD_TIMEOUT")
            self.config.navigation_timeout_ms = timeout * 1000

    # scrapy-playwright starts its driver from the engine_started signal: start() does here.
    async def _maybe_launch_in_thread(self) -> None:
        return None

    def _engine_started(self) -> None:  # type: ignore[override]  # Scrapy < 2.14 hook
        return None

    async def start(self) -> None:
        """Start the Playwright driver and Chromium (raises when either cannot start)."""
        await self._launch()
        await self._maybe_launch_browser()

    async def _create_page(self, request: Request, spider: Any) -> Page:
        """Every network response Chromium receives on the page goes to raw capture."""
        page = await super()._create_page(request=request, spider=spider)

        async def capture(response: PlaywrightResponse) -> None:
            await self._crawler.signals.send_catch_log_async(
                signal=BROWSER_RESPONSE, response=response, request=request
            )

        page.on("response", capture)
        return page

    async def close(self) -> None:
        if left_open := self._get_total_page_count():
            # callbacks and errbacks close the pages they keep: this is a bug to fix
            logger.warning("%d browser page(s) were still open at the end", left_open)
        await super().close()
