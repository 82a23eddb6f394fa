"""The baseline for bench_crawl.py: fetch the same pages as ``naenara`` and extract nothing.

It follows "More Articles" and every /newstream/ link with the cheapest selectors that find
them, so the ratio against it measures what newsarchive's extraction, loaders, dedup and
feeds cost per article.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import scrapy


class MinimalSpider(scrapy.Spider):
    name = "minimal"

    def __init__(self, start_url: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.start_url = start_url

    async def start(self) -> AsyncIterator[scrapy.Request]:
        yield scrapy.Request(self.start_url, callback=self.parse_listing)

    def parse_listing(self, response):
        for href in response.css("a::attr(href)").getall():
            if "/newstream/" in href:
                yield response.follow(href, callback=self.parse_article, priority=10)
        more = response.xpath("//a[normalize-space(.)='More Articles']/@href").get()
        if more:
            yield response.follow(more, callback=self.parse_listing)

    def parse_article(self, response):
        return None
