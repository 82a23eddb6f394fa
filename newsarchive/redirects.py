"""Scrapy's RedirectMiddleware for a crawl that sends no Referer header (REFERER_ENABLED off).

Scrapy's middleware looks for the Referer spider middleware to set the header on a redirect,
and warns on every run when there is none; its documentation names a subclass overriding
``handle_referer`` as the way to handle Referer headers otherwise. Here: none at all.
"""

from __future__ import annotations

from scrapy.downloadermiddlewares.redirect import RedirectMiddleware
from scrapy.http import Request, Response


class NoRefererRedirectMiddleware(RedirectMiddleware):
    """RedirectMiddleware; a redirected request carries no Referer, as no request does."""

    def handle_referer(self, request: Request, response: Response) -> None:
        request.headers.pop("Referer", None)

    def _engine_started(self) -> None:
        """No Referer spider middleware to look for (Scrapy's would warn that there is none)."""
