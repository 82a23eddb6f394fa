"""Listings that only a browser can page: Chromium through scrapy-playwright, started on demand.

Some KCNA Watch listings append their next cards with a script instead of linking to a next
page. The spider renders just those listings in Chromium and clicks "More Articles"; every
article is still fetched over plain HTTP. A browser costs a driver process, a Chromium and
hundreds of MiB, so nothing of it starts until a request actually asks for one:
scrapy-playwright's handler starts its driver when the engine starts, ours only on the first
request with ``meta["playwright"]``.

Why a subclass of scrapy-playwright's handler rather than a wrapper around it: its
memory-usage extension finds the browser processes by looking for that class among the
download handlers, and for plain requests the subclass *is* Scrapy's HTTP/1.1 handler.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page
from playwright.async_api import Request as PlaywrightRequest
from playwright.async_api import Response as PlaywrightResponse
from playwright.async_api import TimeoutError as PlaywrightTimeoutError
from scrapy.crawler import Crawler
from scrapy.http import Request, Response
from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler
from scrapy_playwright.memusage import ScrapyPlaywrightMemoryUsageExtension

from newsarchive import site, stats
from newsarchive.capture import BROWSER_RESPONSE

logger = logging.getLogger(__name__)

# --- render modes (spider argument -a render=…) -------------------------------------------

RENDER_AUTO = "auto"  # a browser only for listings whose "More Articles" needs a script
RENDER_ALWAYS = "always"  # every listing and article page rendered in the browser
RENDER_NEVER = "never"  # never start a browser; scripted listings are counted, not followed
RENDER_MODES = (RENDER_AUTO, RENDER_ALWAYS, RENDER_NEVER)

# --- Chromium -------------------------------------------------------------------------------

#: Where Debian (and most distributions) put Chromium, tried in order when no path is set.
SYSTEM_CHROMIUM = ("/usr/bin/chromium", "chromium", "chromium-browser")
INSTALL_HINT = (
    "install it with `apt-get install chromium`"
    " or set NEWSARCHIVE_CHROMIUM_PATH to a Chromium binary"
)
#: Flags for a headless Chromium on a closed network: no GPU, no QUIC, no calls home.
CHROMIUM_ARGS = (
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
#: Resource types a listing or article page does not need to be read: never downloaded.
ABORTED_RESOURCE_TYPES = frozenset({"image", "font", "media"})


class BrowserUnavailable(RuntimeError):
    """A request needed Chromium and none could be started; the message says how to fix it."""


@dataclass(frozen=True)
class Chromium:
    """Which Chromium to launch: a path, or None for Playwright's own build (if installed)."""

    path: str | None
    problem: str | None = None


def find_chromium(configured: str = "") -> Chromium:
    """NEWSARCHIVE_CHROMIUM_PATH if set (a wrong path is a problem, not a reason to guess),
    else the system's Chromium, else Playwright's own browser."""
    if configured:
        path = shutil.which(configured) or (configured if os.access(configured, os.X_OK) else None)
        if path is None or not os.path.isfile(path):
            return Chromium(None, f"NEWSARCHIVE_CHROMIUM_PATH={configured} is not an executable")
        return Chromium(path)
    for candidate in SYSTEM_CHROMIUM:
        path = shutil.which(candidate)
        if path:
            return Chromium(path)
    return Chromium(None)


def launch_options(chromium: Chromium, overrides: Mapping[str, Any] | None = None) -> dict:
    """Headless Chromium with the closed-network flags; PLAYWRIGHT_LAUNCH_OPTIONS win."""
    args = list(CHROMIUM_ARGS)
    as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if as_root:
        args.insert(0, "--no-sandbox")  # Chromium refuses to run sandboxed as root
    options: dict[str, Any] = {"headless": True, "args": args, "chromium_sandbox": not as_root}
    if chromium.path:
        options["executable_path"] = chromium.path
    options.update(overrides or {})
    return options


def abort_heavy_request(request: PlaywrightRequest) -> bool:
    """PLAYWRIGHT_ABORT_REQUEST: images, fonts and media are never needed to read a page."""
    return request.resource_type in ABORTED_RESOURCE_TYPES


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class OnDemandPlaywrightHandler(ScrapyPlaywrightDownloadHandler):
    """Scrapy's HTTP handler, plus Chromium for requests with ``meta["playwright"]``.

    The Playwright driver and Chromium start on the first such request, not at engine start;
    a run that never asks for a browser starts neither. When no Chromium can be started, that
    is said once in one line, the run is marked failed, and each browser request fails with
    BrowserUnavailable while plain requests go on.
    """

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self._crawler = crawler
        settings = crawler.settings
        self.chromium = find_chromium(settings.get("NEWSARCHIVE_CHROMIUM_PATH") or "")
        self.config.launch_options = launch_options(self.chromium, self.config.launch_options)
        if self.config.navigation_timeout_ms is None:
            self.config.navigation_timeout_ms = settings.getfloat("DOWNLOAD_TIMEOUT") * 1000
        self._start_lock = asyncio.Lock()
        self._started = False
        self._unavailable: str | None = None

    # scrapy-playwright starts its driver from the engine_started signal: not here.
    async def _maybe_launch_in_thread(self) -> None:
        return None

    def _engine_started(self) -> None:  # type: ignore[override]  # Scrapy < 2.14 hook
        return None

    async def download_request(self, request: Request) -> Response:  # type: ignore[override]
        if request.meta.get("playwright"):
            await self._start_browser()
        return await super().download_request(request)

    async def _create_page(self, request: Request, spider: Any) -> Page:
        """Every network response Chromium receives on the page goes to raw capture."""
        page = await super()._create_page(request=request, spider=spider)

        async def capture(response: PlaywrightResponse) -> None:
            await self._crawler.signals.send_catch_log_async(
                signal=BROWSER_RESPONSE, response=response, request=request
            )

        page.on("response", capture)
        return page

    async def _start_browser(self) -> None:
        """Start the driver and Chromium once; remember and report a failure once."""
        async with self._start_lock:
            if not self._started and self._unavailable is None:
                try:
                    if self.chromium.problem:
                        raise BrowserUnavailable(self.chromium.problem)
                    await self._launch()
                    await self._maybe_launch_browser()
                except Exception as exc:  # any failure to start means: no browser this run
                    self._report_unavailable(exc)
                else:
                    self._started = True
            if self._unavailable is not None:
                self.stats.inc_value(stats.BROWSER_UNAVAILABLE)
                raise BrowserUnavailable(self._unavailable)

    def _report_unavailable(self, exc: Exception) -> None:
        if isinstance(exc, BrowserUnavailable):
            reason = str(exc)
        elif self.chromium.path:
            reason = f"Chromium at {self.chromium.path} did not start ({_first_line(exc)})"
        else:
            reason = f"no system Chromium and no Playwright browser ({_first_line(exc)})"
        self._unavailable = (
            f"No Chromium for the pages that need a browser: {reason}; {INSTALL_HINT}"
        )
        self.stats.set_value(stats.RUN_FAILED, 1)
        logger.error(
            "%s. Those pages are skipped, the rest of the crawl goes on.", self._unavailable
        )

    async def close(self) -> None:
        if self._started or getattr(self, "browser_provider", None) is not None:
            if left_open := self._get_total_page_count():
                # callbacks and errbacks close the pages they keep: this is a bug to fix
                logger.warning("%d browser page(s) were still open at the end", left_open)
            await super().close()
        else:  # nothing of Playwright ever ran: close the HTTP side quietly
            await super(ScrapyPlaywrightDownloadHandler, self).close()


class BrowserMemoryUsage(ScrapyPlaywrightMemoryUsageExtension):
    """scrapy-playwright's memory check (MEMUSAGE_*), counting the driver and Chromium.

    Why a subclass: scrapy-playwright 0.0.48 looks for the driver process under
    ``._connection``, where older Playwright kept it; Playwright 1.65 keeps it under
    ``._client``, and there the browser's memory silently counted as zero.
    """

    def _get_main_process_ids(self) -> list[int]:
        process_ids = []
        for handler in self.crawler.engine.downloader.handlers._handlers.values():
            provider = getattr(handler, "browser_provider", None)
            manager = getattr(provider, "playwright_context_manager", None)
            for owner in (getattr(manager, "_client", None), getattr(manager, "_connection", None)):
                process = getattr(getattr(owner, "_transport", None), "_proc", None)
                if process is not None:
                    process_ids.append(process.pid)
                    break
        return process_ids


# --- the click loop -------------------------------------------------------------------------

#: Links not returned before, in page order (remembered in the page, not marked in the DOM),
#: with what the next click needs: how many links there are and whether the control shows.
#: One round trip: the crawl's event loop is busy parsing articles meanwhile.
_NEW_LINKS_JS = """([css, xpath]) => {
  const seen = (window.__newsarchiveSeen ??= new WeakSet());
  const links = document.querySelectorAll(css), hrefs = [];
  for (const a of links) {
    if (!seen.has(a)) { seen.add(a); hrefs.push(a.href); }
  }
  const control = document.evaluate(
    xpath, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue;
  return {hrefs, count: links.length, shown: !!control && control.getClientRects().length > 0};
}"""
#: True once the page changed after a click: more links, or the control gone or hidden.
_CHANGED_JS = """([css, xpath, before]) => {
  if (document.querySelectorAll(css).length > before) return true;
  const control = document.evaluate(
    xpath, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue;
  return !control || control.getClientRects().length === 0;
}"""


class ScriptedListing:
    """Drive the "More Articles" control of a rendered listing, one page of cards per click."""

    def __init__(self, page: Page, click_timeout: float, pause: float = 0.0) -> None:
        self.page = page
        self.click_timeout_ms = click_timeout * 1000
        self.pause = pause
        self.clicks = 0
        self._links = 0  # links on the page at the last new_links()
        self._shown = False  # whether the control showed then

    async def new_links(self) -> list[str]:
        """Absolute hrefs of the links that appeared since the last call (all, the first time)."""
        found = await self.page.evaluate(
            _NEW_LINKS_JS, [site.RENDERED_LINKS_CSS, site.MORE_ARTICLES_CONTROL_XPATH]
        )
        self._links, self._shown = found["count"], found["shown"]
        return found["hrefs"]

    async def click(self) -> str | None:
        """Click "More Articles" (as seen by the last ``new_links``) and wait for the page to
        change.

        Returns None when it did (more cards, or the control went away and the next call to
        ``new_links`` tells), else why clicking is over: ``exhausted`` (no control left),
        ``unchanged`` (the page did not change in time), ``click_failed``.
        """
        if not self._shown:
            return "exhausted"
        if self.pause > 0 and self.clicks:
            await asyncio.sleep(self.pause)  # the site's own pace: DOWNLOAD_DELAY between clicks
        xpath = site.MORE_ARTICLES_CONTROL_XPATH
        try:
            await self.page.locator(f"xpath={xpath}").first.click(timeout=self.click_timeout_ms)
            self.clicks += 1
            await self.page.wait_for_function(
                _CHANGED_JS,
                arg=[site.RENDERED_LINKS_CSS, xpath, self._links],
                timeout=self.click_timeout_ms,
            )
        except PlaywrightTimeoutError:
            return "unchanged"
        except PlaywrightError as exc:
            logger.warning("Clicking More Articles on %s failed: %s", self.page.url, exc)
            return "click_failed"
        return None


def rendered_meta(include_page: bool = False) -> dict[str, Any]:
    """Request meta that sends a request through Chromium."""
    meta: dict[str, Any] = {"playwright": True}
    if include_page:
        meta["playwright_include_page"] = True
    return meta


async def close_page(meta: Mapping[str, Any]) -> None:
    """Close the page a rendered request kept open, if any (callbacks and errbacks)."""
    page = meta.get("playwright_page")
    if isinstance(page, Page) and not page.is_closed():
        with suppress(PlaywrightError):  # the browser went away first: nothing to close
            await page.close()
