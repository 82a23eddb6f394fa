"""The extraction output the golden test hashes: every page of the specimen and of the replica
(every theme, every stream), read by today's extraction rules, as canonical JSON lines.

Why offline and in-process: the replica answers ``respond()`` without a socket, so the walk
is fast and deterministic (same seed, same pages), and nothing but our rules can change it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from scrapy.http import HtmlResponse

from newsarchive.extraction import extract_response
from newsarchive.items import PER_RUN_FIELDS
from newsarchive.pages import ListingPage
from newsarchive_replica.model import STREAM_KEYS
from newsarchive_replica.server import ReplicaServer
from newsarchive_replica.themes import THEME_NAMES

FIXTURES = Path(__file__).parent / "fixtures"
BASE_URL = "http://replica.test"
SPECIMEN_ARTICLE_URL = (
    "https://kcnawatch.org/newstream/1713006283-531298405/"
    "talks-held-between-choe-ryong-hae-and-zhao-leji/"
)
SPECIMEN_LISTING_URL = "https://kcnawatch.org/?source=naenara"
#: Fields our rules do not decide: per run, and the version itself (the hash guards it).
UNHASHED = PER_RUN_FIELDS | {"extractor_version"}


def _article_line(label: str, response: HtmlResponse) -> str:
    extraction = extract_response(response, "2026-01-01T00:00:00+00:00", "golden", True)
    item = extraction.item
    record = {
        "page": label,
        "item": None if item is None else {k: v for k, v in item.items() if k not in UNHASHED},
        "drop": extraction.drop,
        # missing anchors, promotions removed, unreadable dates, label mismatches, null fields
        "counters": extraction.counters,
        "links": extraction.stream_links,
    }
    return json.dumps(record, ensure_ascii=False, sort_keys=True)


def _listing_line(label: str, response: HtmlResponse) -> str:
    page = ListingPage(response)
    record = {"page": label, "articles": page.article_urls, "next": page.next_page_url}
    return json.dumps(record, ensure_ascii=False, sort_keys=True)


def _fetch(server: ReplicaServer, url: str) -> HtmlResponse | None:
    """GET through the replica without a socket, following its redirects; None unless 200."""
    for _ in range(5):
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        status, headers, body = server.respond("GET", target, "golden", b"")
        if status in (301, 302) and "Location" in headers:
            url = urljoin(url, headers["Location"])
            continue
        if status != 200:
            return None
        return HtmlResponse(url, body=body, headers=headers)
    return None


def _replica_lines(theme: str) -> Iterator[str]:
    server = ReplicaServer(
        theme=theme, base_url=BASE_URL, naenara_articles=24, kcna_articles=12, rodong_articles=12
    )
    for stream in STREAM_KEYS:
        url: str | None = server.start_url(stream)
        seen: set[str] = set()
        while url and url not in seen:
            seen.add(url)
            listing = _fetch(server, url)
            if listing is None:
                break
            yield _listing_line(f"{theme}:{url}", listing)
            for link in ListingPage(listing).article_urls:
                if (article := _fetch(server, link)) is not None:
                    yield _article_line(f"{theme}:{link}", article)
            url = ListingPage(listing).next_page_url


def extraction_lines() -> Iterator[str]:
    """The output, page by page, in a fixed order."""
    article = (FIXTURES / "specimen_article.html").read_bytes()
    yield _article_line("specimen", HtmlResponse(SPECIMEN_ARTICLE_URL, body=article))
    listing = (FIXTURES / "specimen_listing.html").read_bytes()
    yield _listing_line("specimen", HtmlResponse(SPECIMEN_LISTING_URL, body=listing))
    for theme in THEME_NAMES:
        yield from _replica_lines(theme)


def extraction_hash() -> tuple[str, int]:
    """sha256 over the output lines, and how many pages they cover."""
    digest = hashlib.sha256()
    pages = 0
    for line in extraction_lines():
        digest.update(line.encode() + b"\n")
        pages += 1
    return digest.hexdigest(), pages
