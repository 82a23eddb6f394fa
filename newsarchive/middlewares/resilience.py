"""Survive a site that fails, throttles and blocks: retry with backoff, stay on the host.

``BackoffRetryMiddleware`` replaces Scrapy's RetryMiddleware, which retries at once: a site
that answers 503 because it is overloaded, or 429/403 because it wants us to slow down, gets
the same request again within milliseconds. Here every retry waits ``base * 2**(n-1)``
seconds (capped), or what ``Retry-After`` says (capped too); a 403/429 or a ``Retry-After``
pauses the whole host, not just the one request. The waits are ``asyncio.sleep`` in an async
``process_request``, so the reactor keeps running; the retry time travels in the request's
meta as wall-clock time, so it survives a JOBDIR pickle. HTML that arrives truncated or empty
with a 200 is retried the same way, then handed to the spider, which drops it with a reason
if it holds no article.

``OffsiteRedirectMiddleware`` stops redirects to another host before RedirectMiddleware
follows them, so the request's errback hears about it (Scrapy's OffsiteMiddleware would drop
the redirected request silently) and the spider counts a drop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from email.utils import parsedate_to_datetime
from typing import Any, Self
from urllib.parse import urljoin, urlsplit

from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest, NotConfigured
from scrapy.http import Response
from scrapy.http.request import NO_CALLBACK
from scrapy.utils.asyncio import call_later
from scrapy.utils.misc import load_object
from scrapy.utils.response import response_status_message

from newsarchive import stats as names

logger = logging.getLogger(__name__)

#: Statuses that mean "slow down / go away": the whole host backs off, and giving up on one
#: means the crawler is blocked, not that the page is missing.
THROTTLE_STATUSES = frozenset({403, 429})
#: Request meta key: wall-clock time before which the retry must not be sent.
RETRY_AT = "newsarchive_retry_at"
#: Request meta key: its last answer was throttling (the longer retry budget applies).
THROTTLED = "newsarchive_throttled"
#: Request meta key: "truncated"/"empty" when the page still looked incomplete after retries.
INCOMPLETE = "newsarchive_incomplete"
#: Request meta key: body bytes received so far by this download (reset for each attempt).
BYTES_RECEIVED = "newsarchive_bytes_received"


class OffsiteRedirect(IgnoreRequest):
    """A redirect to another host, not followed."""

    drop_reason = "offsite_redirect"


class OversizedResponse(IgnoreRequest):
    """A response larger than DOWNLOAD_MAXSIZE, cancelled by the download handler."""

    drop_reason = "oversized"


def parse_retry_after(value: bytes | str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP-date; else None."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def incomplete_kind(response: Response) -> str | None:
    """Whether a 200 HTML page cannot be whole: "empty", "truncated" (no ``</html>``), or None.

    Only pages the spider parses are judged: robots.txt (and any other request Scrapy makes
    for itself, marked ``NO_CALLBACK``) is not a page, even when a server calls it text/html.
    """
    request = response.request
    if response.status != 200 or (
        request is not None and (request.method == "HEAD" or request.callback is NO_CALLBACK)
    ):
        return None
    content_type = (response.headers.get(b"Content-Type") or b"").lower()
    if b"html" not in content_type:
        return None
    body = response.body
    if not body.strip():
        return "empty"
    if b"</html" not in body[-4096:].lower():
        return "truncated"
    return None


class BackoffRetryMiddleware:
    """Scrapy's retry policy (RETRY_TIMES, RETRY_HTTP_CODES, RETRY_EXCEPTIONS) with waits."""

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        if not settings.getbool("RETRY_ENABLED"):
            raise NotConfigured
        self.crawler = crawler
        self.stats = crawler.stats
        self.retry_times = settings.getint("RETRY_TIMES")
        self.throttle_retry_times = settings.getint("NEWSARCHIVE_THROTTLE_RETRY_TIMES")
        self.retry_http_codes = {int(code) for code in settings.getlist("RETRY_HTTP_CODES")}
        self.exceptions_to_retry = tuple(
            load_object(e) if isinstance(e, str) else e
            for e in settings.getlist("RETRY_EXCEPTIONS")
        )
        self.priority_adjust = settings.getint("RETRY_PRIORITY_ADJUST")
        # Limits are checked once at start (newsarchive.config.validate).
        self.base = settings.getfloat("NEWSARCHIVE_RETRY_BACKOFF_BASE")
        self.max_delay = settings.getfloat("NEWSARCHIVE_RETRY_BACKOFF_MAX")
        self.retry_after_max = settings.getfloat("NEWSARCHIVE_RETRY_AFTER_MAX")
        self.retry_incomplete = settings.getbool("NEWSARCHIVE_RETRY_INCOMPLETE_HTML")
        self.maxsize = settings.getint("DOWNLOAD_MAXSIZE")
        #: host -> wall-clock time until which no request to it is sent
        self.paused_until: dict[str, float] = {}
        #: host -> 403/429 answers in a row (any other answer resets it)
        self.throttle_streak: dict[str, int] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        middleware = cls(crawler)
        crawler.signals.connect(middleware.response_downloaded, signal=signals.response_downloaded)
        if middleware.maxsize:
            crawler.signals.connect(middleware.bytes_received, signal=signals.bytes_received)
        return middleware

    def bytes_received(self, data: bytes, request: Request) -> None:
        """Count a download's bytes: a body streamed without Content-Length past
        DOWNLOAD_MAXSIZE is cancelled with no word of its size (see ``is_oversized``)."""
        request.meta[BYTES_RECEIVED] = request.meta.get(BYTES_RECEIVED, 0) + len(data)

    def is_oversized(self, request: Request, exception: Exception) -> bool:
        """A download cancelled for DOWNLOAD_MAXSIZE: announced (Content-Length), or streamed
        past the limit (the handler cancels it with an empty message)."""
        if not isinstance(exception, DownloadCancelledError):
            return False
        limit = request.meta.get("download_maxsize", self.maxsize)
        received = request.meta.get(BYTES_RECEIVED, 0)
        return "max size" in str(exception) or bool(limit and received > limit)

    # --- waiting ----------------------------------------------------------------------------

    async def process_request(self, request: Request) -> None:
        """Hold the request until its own retry time and its host's pause have passed."""
        request.meta.pop(BYTES_RECEIVED, None)  # a retry copies the meta of its last attempt
        host = urlsplit(request.url).hostname or ""
        ready_at = max(request.meta.get(RETRY_AT, 0.0), self.paused_until.get(host, 0.0))
        # A retry time from a pickled request of an earlier process is bounded too.
        wait = min(ready_at - time.time(), max(self.max_delay, self.retry_after_max))
        if wait > 0:
            await asyncio.sleep(wait)

    def delay_for(self, retry_number: int, retry_after: float | None) -> float:
        """Exponential backoff for retry ``retry_number`` (1-based), or Retry-After, capped."""
        if retry_after is not None:
            return min(retry_after, self.retry_after_max)
        return min(self.max_delay, self.base * 2 ** max(0, retry_number - 1))

    def response_downloaded(self, response: Response, request: Request) -> None:
        """Spot throttling the moment a response arrives, before the download slot sends the
        next queued request: a 429, a Retry-After, or 403s in a row pause the whole host.
        A lone 403 among good pages is one forbidden page and pauses nothing."""
        status = response.status
        host = urlsplit(request.url).hostname or ""
        if status in THROTTLE_STATUSES:
            self.throttle_streak[host] = self.throttle_streak.get(host, 0) + 1
        else:
            self.throttle_streak.pop(host, None)
        if status not in self.retry_http_codes or request.meta.get("dont_retry", False):
            return
        retry_after = parse_retry_after(response.headers.get(b"Retry-After"))
        if not (status == 429 or retry_after is not None or self.throttle_streak.get(host, 0) >= 2):
            return
        request.meta[THROTTLED] = True
        delay = self.delay_for(request.meta.get("retry_times", 0) + 1, retry_after)
        until = time.time() + delay
        if self.paused_until.get(host, 0.0) < until:
            self.paused_until[host] = until
            self.stats.inc_value(names.BACKOFF_HOST_PAUSES)
            self._hold_slot(request, delay)
            logger.info("%s answered %d: pausing all requests to it for %.1fs", host, status, delay)

    def _hold_slot(self, request: Request, delay: float) -> None:
        """Also hold requests already queued in the host's download slot (past
        ``process_request``), the way DOWNLOAD_DELAY holds them: through the slot's timer.
        Scrapy internals, hence the guard: without them only new requests wait."""
        downloader = getattr(self.crawler.engine, "downloader", None)
        slot = getattr(downloader, "slots", {}).get(request.meta.get("download_slot", ""))
        release = getattr(downloader, "_latercall", None)
        if slot is None or release is None or not hasattr(slot, "latercall"):
            return
        if slot.latercall is not None:
            slot.latercall.cancel()
        slot.latercall = call_later(delay, release, slot)

    def _schedule(
        self, request: Request, reason: str | Exception, retry_after: float | None = None
    ) -> Request | None:
        """The retry request, due after its backoff, or None when retries are used up."""
        throttled = request.meta.pop(THROTTLED, False)
        new = get_retry_request(
            request,
            spider=self.crawler.spider,  # type: ignore[arg-type]
            reason=reason,
            max_retry_times=request.meta.get(
                "max_retry_times", self.throttle_retry_times if throttled else self.retry_times
            ),
            priority_adjust=request.meta.get("priority_adjust", self.priority_adjust),
        )
        if new is None:
            return None
        delay = self.delay_for(new.meta["retry_times"], retry_after)
        new.meta[RETRY_AT] = time.time() + delay
        self.stats.inc_value(names.BACKOFF_SECONDS, round(delay, 3))
        return new

    # --- deciding ---------------------------------------------------------------------------

    async def process_response(self, request: Request, response: Response) -> Request | Response:
        if request.meta.get("dont_retry", False):
            return response
        status = response.status
        if status in self.retry_http_codes:
            retry_after = parse_retry_after(response.headers.get(b"Retry-After"))
            new = self._schedule(request, response_status_message(status), retry_after)
            if new is not None:
                return new
            if status in THROTTLE_STATUSES:
                self.stats.inc_value(names.blocked(status))
                logger.warning(
                    "Blocked: %s still answers %d after %d retries", request.url, status,
                    request.meta.get("retry_times", 0),
                )  # fmt: skip
            return response
        if self.retry_incomplete and (kind := incomplete_kind(response)):
            self.stats.inc_value(names.incomplete(kind))
            new = self._schedule(request, f"{kind}_html")
            if new is not None:
                return new
            request.meta[INCOMPLETE] = kind
        return response

    async def process_exception(
        self, request: Request, exception: Exception
    ) -> Request | Response | None:
        if self.is_oversized(request, exception):
            self.stats.inc_value(names.OVERSIZED)
            raise OversizedResponse(str(exception)) from exception
        if isinstance(exception, self.exceptions_to_retry) and not request.meta.get(
            "dont_retry", False
        ):
            return self._schedule(request, exception)
        return None


class OffsiteRedirectMiddleware:
    """Stop 3xx answers that lead to another host (below RedirectMiddleware in the chain)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_response(self, request: Request, response: Response) -> Response:
        if not 300 <= response.status < 400 or request.meta.get("dont_redirect"):
            return response
        location = response.headers.get(b"Location")
        spider: Any = self.crawler.spider
        domains = [d.lower() for d in getattr(spider, "allowed_domains", None) or [] if d]
        if not location or not domains:
            return response
        target = urljoin(request.url, location.decode("latin-1").strip())
        parts = urlsplit(target)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or any(
            host == domain or host.endswith(f".{domain}") for domain in domains
        ):
            return response
        self.crawler.stats.inc_value(names.OFFSITE_REDIRECTS)
        raise OffsiteRedirect(f"redirect to another host not followed: {target}")
