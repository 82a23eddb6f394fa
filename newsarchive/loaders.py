"""The article loader: composes the pure cleaners of ``processors`` field by field.

It is an ordinary ``ItemLoader`` (``add_value``, ``*_in``/``*_out`` processors, ``load_item``),
made cheap because it runs once per article on the reactor's thread:
- one plain function per field and direction, each mapping the list of collected values in
  one pass (no ``MapCompose``/``Compose`` layers, each re-wrapped for every value);
- processors are looked up once per loader class and field, and called without a loader
  context (none of them takes one; a processor that asks for ``loader_context`` is refused
  when it is first looked up, rather than silently called without it);
- values arrive already extracted by the page readers, once per field;
- values that repeat across articles (source labels, dates) are shared strings.
Measured offline on 1,500 replica articles, interleaved with the MapCompose/Compose loader
it replaces: 2.4x less time per article (0.27 against 0.64 ms on a loaded machine).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from itemloaders.utils import get_func_args
from scrapy.loader import ItemLoader

from newsarchive import processors as p
from newsarchive.clock import utc_now_iso
from newsarchive.extraction_version import EXTRACTOR_VERSION
from newsarchive.items import ARTICLE_FIELDS, ArticleItem
from newsarchive.pages import ArticlePage

Processor = Callable[[Iterable[Any]], Any]


def clean_texts(values: Iterable[str]) -> list[str]:
    """Whitespace collapsed, empty texts left out."""
    return [text for text in map(p.collapse_whitespace, values) if text]


def stripped_texts(values: Iterable[str]) -> list[str]:
    """Ends stripped (a URL keeps its inner characters as written), empty texts left out."""
    return [text for text in map(str.strip, values) if text]


def iso_dates(values: Iterable[Any]) -> list[str]:
    """Dates and day-first date strings as ``YYYY-MM-DD``; unreadable ones left out."""
    return [iso for iso in map(p.iso_date, values) if iso]


def header_dates(values: Iterable[str]) -> list[str]:
    """The page header's ``December 27, 2025`` dates as ``YYYY-MM-DD``."""
    return [day.isoformat() for day in map(p.parse_month_name_date, values) if day]


def utc_instants(values: Iterable[int]) -> list[str]:
    """URL timestamps as ISO 8601 UTC instants."""
    return [instant for instant in map(p.timestamp_to_utc_iso, values) if instant]


def first(values: list[Any]) -> Any:
    """The first collected value (inputs leave out empty ones), else None."""
    return values[0] if values else None


def first_shared(values: list[str]) -> str | None:
    """``first``, as one shared string per distinct value: labels and dates repeat across a
    stream, and the run's record of archived articles keeps them for every article (measured:
    about 1 MiB each at 20,000 articles, as separate copies)."""
    return sys.intern(values[0]) if values else None


def paragraphs(values: list[str]) -> str | None:
    """Body paragraphs joined by a blank line; None for a body with no text."""
    return "\n\n".join(values) or None


class ArticleLoader(ItemLoader):
    """Raw page text in, researchers' fields out; a value that cannot be read is left null."""

    default_item_class = ArticleItem
    default_input_processor = staticmethod(clean_texts)
    default_output_processor = staticmethod(first)

    body_out = staticmethod(paragraphs)
    source_out = published_date_out = page_date_out = staticmethod(first_shared)
    published_date_in = staticmethod(iso_dates)
    page_date_in = staticmethod(header_dates)
    published_at_in = staticmethod(utc_instants)
    original_url_in = staticmethod(stripped_texts)

    #: (loader class, field, "in"/"out") -> its processor, resolved on first use.
    _resolved: ClassVar[dict[tuple[type, str, str], Processor]] = {}

    def _processor(self, field_name: str, direction: str) -> Processor:
        key = (type(self), field_name, direction)
        processor = self._resolved.get(key)
        if processor is None:
            if direction == "in":
                processor = self.get_input_processor(field_name)
            else:
                processor = self.get_output_processor(field_name)
            if "loader_context" in get_func_args(processor):
                raise TypeError(f"{type(self).__name__}: {field_name}_{direction} takes a context")
            self._resolved[key] = processor
        return processor

    def _process_input_value(self, field_name: str, value: Any) -> Any:
        return self._processor(field_name, "in")(value)

    def get_output_value(self, field_name: str) -> Any:
        return self._processor(field_name, "out")(self._values.get(field_name, []))

    def load_item(self) -> ArticleItem:
        """Every contract field present in the documented order (null when unknown), derived
        fields filled in."""
        item = self.item
        for field in ARTICLE_FIELDS:
            value = self.get_output_value(field)
            if value is not None:
                item[field] = value
            else:
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
    loader.add_value(
        "published_date",
        [p.meta_line_date_text(page.meta_line), p.timestamp_to_kst_date(timestamp)],
    )
    loader.add_value("published_at", timestamp)
    loader.add_value("page_date", page.above_title)
    loader.add_value(
        "source", [p.meta_line_source(page.meta_line), p.strip_brand(page.above_title)]
    )
    loader.add_value("original_url", page.original_href)
    loader.add_value("crawled_at", crawled_at or utc_now_iso())
    loader.add_value("run_id", run_id)
    loader.add_value("extractor_version", EXTRACTOR_VERSION)
    return loader.load_item()
