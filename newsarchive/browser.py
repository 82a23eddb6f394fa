"""Listings that only a browser can page: Chromium through scrapy-playwright, started on demand.

Some KCNA Watch listings append their next cards with a script instead of linking to a next
page. The spider renders just those listings in Chromium and clicks "More Articles"; every
article is still fetched over plain HTTP. A browser costs a driver process, a Chromium and
hundreds of MiB, so nothing of it starts until a request actually asks for one:
scrapy-playwright's handler starts its driver when the engine starts, ours only on the first
request with ``meta["playwright"]``. Nor is Playwright or scrapy-playwright imported before
then (about 50 ms and a few MiB on every crawl that never renders a page): the download
handler here is Scrapy's HTTP/1.1 handler, which hands browser requests to scrapy-playwright's
handler (``newsarchive.browser_playwright``), imported and built on the first one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.extensions.memusage import MemoryUsage
from scrapy.http import Request, Response

from newsarchive import site, stats

if TYPE_CHECKING:  # Playwright is imported only once a page is rendered
    from playwright.async_api import Page
    from playwright.async_api import Request as PlaywrightRequest

    from newsarchive.browser_playwright import PlaywrightHandler

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


class OnDemandPlaywrightHandler(HTTP11DownloadHandler):
    """Scrapy's HTTP handler, plus Chromium for requests with ``meta["playwright"]``.

    scrapy-playwright's handler (and Playwright with it) is imported and built on the first
    such request, and starts the driver and Chromium then; a run that never asks for a browser
    loads none of it. When no Chromium can be started, that is said once in one line, the run
    is marked failed, and each browser request fails with BrowserUnavailable while plain
    requests go on.
    """

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self._crawler = crawler
        self.chromium = find_chromium(crawler.settings.get("NEWSARCHIVE_CHROMIUM_PATH") or "")
        self._start_lock = asyncio.Lock()
        #: scrapy-playwright's handler, once a request needed a browser and it started.
        self.browser_handler: PlaywrightHandler | None = None
        self._unavailable: str | None = None

    @property
    def browser_provider(self) -> Any:
        """scrapy-playwright's browser provider, once started (for BrowserMemoryUsage)."""
        return getattr(self.browser_handler, "browser_provider", None)

    async def download_request(self, request: Request) -> Response:  # type: ignore[override]
        if request.meta.get("playwright"):
            handler = await self._start_browser()
            return await handler.download_request(request)
        return await super().download_request(request)

    async def _start_browser(self) -> PlaywrightHandler:
        """Start the driver and Chromium once; remember and report a failure once."""
        async with self._start_lock:
            if self.browser_handler is None and self._unavailable is None:
                handler = None
                try:
                    if self.chromium.problem:
                        raise BrowserUnavailable(self.chromium.problem)
                    from newsarchive.browser_playwright import PlaywrightHandler

                    handler = PlaywrightHandler(self._crawler, self.chromium)
                    await handler.start()
                except Exception as exc:  # any failure to start means: no browser this run
                    if handler is not None:
                        with suppress(Exception):
                            await handler.close()
                    self._report_unavailable(exc)
                else:
                    self.browser_handler = handler
            if self.browser_handler is None:
                self._crawler.stats.inc_value(stats.BROWSER_UNAVAILABLE)
                raise BrowserUnavailable(self._unavailable)
            return self.browser_handler

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
        self._crawler.stats.set_value(stats.RUN_FAILED, 1)
        logger.error(
            "%s. Those pages are skipped, the rest of the crawl goes on.", self._unavailable
        )

    async def close(self) -> None:
        if self.browser_handler is not None:
            await self.browser_handler.close()
        await super().close()


class BrowserMemoryUsage(MemoryUsage):
    """Scrapy's memory check (MEMUSAGE_*), counting the Playwright driver and its Chromium.

    scrapy-playwright's own extension does the same but imports scrapy-playwright (and
    Playwright) at start-up, and looks for the driver where Playwright kept it before 1.65.
    Here the driver is found through the download handlers' ``browser_provider``, once a
    browser started; until then only the crawl's own memory counts.
    """

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        try:
            import psutil
        except ImportError as exc:
            raise NotConfigured("BrowserMemoryUsage needs psutil") from exc
        self.psutil = psutil

    def get_virtual_size(self) -> int:
        return super().get_virtual_size() + self._browser_memory()

    def _browser_memory(self) -> int:
        """Resident bytes of each started driver process and all its descendants."""
        total = 0
        for pid in self._driver_process_ids():
            with suppress(self.psutil.Error):  # gone meanwhile: it holds no memory now
                driver = self.psutil.Process(pid)
                for process in (driver, *driver.children(recursive=True)):
                    with suppress(self.psutil.Error):
                        total += process.memory_info().rss
        return total

    def _driver_process_ids(self) -> list[int]:
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
        from playwright.async_api import Error as PlaywrightError
        from playwright.async_api import TimeoutError as PlaywrightTimeoutError

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
    if page is None:
        return  # no page was kept (and so Playwright may never have been imported)
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import Page

    if isinstance(page, Page) and not page.is_closed():
        with suppress(PlaywrightError):  # the browser went away first: nothing to close
            await page.close()
