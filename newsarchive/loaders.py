"""The article loader: composes the pure cleaners of ``processors`` field by field."""

from __future__ import annotations

from itemloaders.processors import Compose, Join, MapCompose, TakeFirst
from scrapy.loader import ItemLoader

from newsarchive import processors as p
from newsarchive.clock import utc_now_iso
from newsarchive.extraction_version import EXTRACTOR_VERSION
from newsarchive.items import ARTICLE_FIELDS, ArticleItem
from newsarchive.pages import ArticlePage


def _non_empty(text: str) -> str | None:
    return text or None


class ArticleLoader(ItemLoader):
    """Raw page text in, researchers' fields out; a value that cannot be read is left null."""

    default_item_class = ArticleItem
    default_input_processor = MapCompose(p.collapse_whitespace, _non_empty)
    default_output_processor = TakeFirst()

    body_out = Compose(lambda paragraphs: [t for t in paragraphs if t], Join("\n\n"), _non_empty)
    published_date_in = MapCompose(p.iso_date)
    page_date_in = MapCompose(p.parse_month_name_date, p.iso_date)
    published_at_in = MapCompose(p.timestamp_to_utc_iso)
    source_in = MapCompose(p.collapse_whitespace, _non_empty)
    original_url_in = MapCompose(str.strip, _non_empty)

    def load_item(self) -> ArticleItem:
        """Every contract field present (null when unknown), derived fields filled in."""
        item = super().load_item()
        for field in ARTICLE_FIELDS:
            item.setdefault(field, None)
        item["source_name"], item["source_language"] = p.split_source_label(item["source"])
        item["content_hash"] = p.content_hash(item["title"], item["body"])
        return item


def load_article(
    page: ArticlePage, crawled_at: str | None = None, run_id: str | None = None
) -> ArticleItem:
    """Build the item for one article page (the caller decides whether the page is an article).

    ``run_id`` is the crawl run fetching the page (the spider's ``run_id``): provenance that
    lets a researcher tie each row to its run's manifest and log.
    """
    response = page.response
    url = page.canonical_url or response.url
    url_parts = p.article_url_parts(url) or p.article_url_parts(response.url)
    article_id, timestamp = url_parts if url_parts else (None, None)

    loader = ArticleLoader()
    loader.add_value("url", url)
    loader.add_value("article_id", article_id)
    loader.add_value("title", page.title)
    loader.add_value("body", page.paragraphs)
    loader.add_value("published_date", p.meta_line_date_text(page.meta_line))
    loader.add_value("published_date", p.timestamp_to_kst_date(timestamp))
    loader.add_value("published_at", timestamp)
    loader.add_value("page_date", page.above_title)
    loader.add_value("source", p.meta_line_source(page.meta_line))
    loader.add_value("source", p.strip_brand(page.above_title))
    loader.add_value("original_url", page.original_href)
    loader.add_value("crawled_at", crawled_at or utc_now_iso())
    loader.add_value("run_id", run_id)
    loader.add_value("extractor_version", EXTRACTOR_VERSION)
    return loader.load_item()
