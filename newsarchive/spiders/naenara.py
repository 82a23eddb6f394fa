"""``scrapy crawl naenara``: the "Naenara (En)" stream of KCNA Watch."""

from __future__ import annotations

from newsarchive.spiders.base import StreamSpider


class NaenaraSpider(StreamSpider):
    """Archive "Naenara (En)"; ``-a start_url=URL`` archives any other stream the same way."""

    name = "naenara"
    start_url_setting = "NEWSARCHIVE_NAENARA_START_URL"
