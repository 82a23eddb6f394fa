"""The article item: the researchers' contract.

Field names and meanings are documented in docs/DATA.md; renaming or re-meaning a field is a
breaking change for every dataset already exported, so add fields, never repurpose them.
"""

from __future__ import annotations

import scrapy

#: The order fields appear in feeds and exports (FEED_EXPORT_FIELDS follows it).
ARTICLE_FIELDS: tuple[str, ...] = (
    "url",
    "article_id",
    "title",
    "body",
    "published_date",
    "published_at",
    "page_date",
    "source",
    "source_name",
    "source_language",
    "original_url",
    "crawled_at",
    "content_hash",
    "run_id",
    "extractor_version",
)

#: The version of the field list above, recorded in every feed manifest: bump it whenever a
#: field is added (1: the first thirteen fields; 2: ``run_id`` added; 3: ``extractor_version``).
ARTICLE_FIELDS_VERSION = 3

#: The fields that differ from run to run by design (when, and by which run, a page was
#: fetched): left out when two runs, or a run and the replica's oracle, are compared.
PER_RUN_FIELDS: frozenset[str] = frozenset({"crawled_at", "run_id"})


class ArticleItem(scrapy.Item):
    """One article page as it was seen at ``crawled_at``."""

    url = scrapy.Field()  # canonical URL, else the response URL
    article_id = scrapy.Field()  # "<unix-seconds>-<id>" segment of the article URL
    title = scrapy.Field()
    body = scrapy.Field()  # paragraphs joined by "\n\n", whitespace collapsed
    published_date = (
        scrapy.Field()
    )  # ISO date from the "Date:" line (day first), else URL time in KST
    published_at = scrapy.Field()  # URL timestamp as an ISO 8601 UTC instant
    page_date = scrapy.Field()  # ISO date of the page header: when the site rendered the page
    source = scrapy.Field()  # "Naenara (En)"
    source_name = scrapy.Field()  # "Naenara"
    source_language = scrapy.Field()  # ISO 639-1, "en"
    original_url = scrapy.Field()  # "Read original version at source" href, or None
    crawled_at = scrapy.Field()  # ISO 8601 UTC instant the page was fetched
    content_hash = scrapy.Field()  # sha256 hex of title + "\n\n" + body
    run_id = scrapy.Field()  # the crawl run that fetched the page (provenance)
    extractor_version = scrapy.Field()  # newsarchive.extraction_version.EXTRACTOR_VERSION


class ArticleGoneItem(scrapy.Item):
    """An archived article that now answers 404/410: the archive records the deletion, not a row.

    Feeds export only ``ArticleItem``; pipelines that keep history (PostgreSQL) use this one.
    """

    article_id = scrapy.Field()
    url = scrapy.Field()
    status = scrapy.Field()  # the HTTP status that said "gone"
    seen_at = scrapy.Field()  # ISO 8601 UTC instant of that answer
