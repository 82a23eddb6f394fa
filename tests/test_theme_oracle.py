"""A theme-independent oracle: what a reader sees in real Chromium is the item's body.

For every replica theme, article pages are rendered in Chromium and the text a reader sees
between the meta line and "More From" (``innerText``, whitespace collapsed, promotions left
out) is compared, paragraph by paragraph, with the body the spider's extraction gives and with
the replica's expected item. Nothing here knows a theme's markup, and nothing here uses the
spider's anchors (``newsarchive.site``): the anchors are what a reader would name.
"""

from __future__ import annotations

import asyncio
import re
import urllib.request

import pytest
from playwright.async_api import async_playwright
from scrapy.http import HtmlResponse

from newsarchive import browser
from newsarchive.loaders import load_article
from newsarchive.pages import ArticlePage
from newsarchive_replica.server import ReplicaServer
from newsarchive_replica.themes import THEME_NAMES
from tests.chromium import chromium_fixture  # noqa: F401  (the fixture: a real Chromium or skip)

#: What a reader recognises as an advertisement, not the article.
PROMOTIONS = re.compile(r"^(NK News is hiring|Subscribe to NK Pro)")
#: Pages per stream: enough to meet every body quirk (promotions, sign-offs, noise, Korean).
PAGES = {"naenara": 20, "kcna": 6, "rodong": 6}

READER_LINES_JS = """() => document.body.innerText.split("\\n")
    .map((line) => line.replace(/\\s+/g, " ").trim()).filter((line) => line.length > 0)"""


def reader_paragraphs(lines: list[str]) -> list[str]:
    """The lines between the meta line (``Date: … | Source: … | Read original version at
    source``, on one line or on several) and "More From …", promotions left out."""
    start = next(i for i, line in enumerate(lines) if line.startswith(("Date:", "Source:")))
    while lines[start + 1].startswith(("Source:", "Read original version at source")):
        start += 1
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("More From "))
    return [line for line in lines[start + 1 : end] if not PROMOTIONS.match(line)]


def article_urls(site: ReplicaServer) -> list[str]:
    """The newest pages of each stream that answer 200 at once (the quirks sit at small k)."""
    urls = []
    for stream, count in PAGES.items():
        urls += [site.links.article(a) for a in site.stream(stream) if a.status == "ok"][:count]
    return urls


async def render_all(executable: str, urls: list[str]) -> dict[str, list[str]]:
    async with async_playwright() as playwright:
        chrome = await playwright.chromium.launch(
            **browser.launch_options(browser.Chromium(executable))
        )
        try:
            page = await chrome.new_page()
            seen = {}
            for url in urls:
                await page.goto(url, wait_until="load")
                seen[url] = await page.evaluate(READER_LINES_JS)
            return seen
        finally:
            await chrome.close()


def extracted_item(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as answer:
        html, final = answer.read(), answer.geturl()
    return dict(load_article(ArticlePage(HtmlResponse(url=final, body=html, encoding="utf-8"))))


@pytest.mark.browser
@pytest.mark.parametrize("theme", THEME_NAMES)
def test_body_is_what_a_reader_sees(chromium, theme):
    with ReplicaServer(theme=theme) as site:
        expected = {item["url"]: item for stream in PAGES for item in site.expected(stream)}
        urls = article_urls(site)
        seen = asyncio.run(render_all(chromium, urls))
        items = {url: extracted_item(url) for url in urls}
    mismatches = {}
    for url in urls:
        reader = reader_paragraphs(seen[url])
        body = items[url]["body"].split("\n\n")
        if not (reader == body == expected[url]["body"].split("\n\n")):
            mismatches[url] = (reader, body)
    assert not mismatches
    # the pages met promotions, both sign-offs and Korean bodies
    bodies = [item["body"] for item in items.values()]
    assert any(body.endswith("\n\nKCNA") for body in bodies)
    assert any("\n\n-0-\n\nwww.kcna.kp (Juche" in body for body in bodies)
    assert any(re.search("[가-힣]", body) for body in bodies)
    assert any(PROMOTIONS.match(line) for lines in seen.values() for line in lines)
