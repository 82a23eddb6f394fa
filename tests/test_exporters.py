"""The JSON Lines exporter's direct path for articles writes exactly Scrapy's bytes."""

from __future__ import annotations

import io
from typing import Any

import pytest
from scrapy.exporters import JsonLinesItemExporter

from newsarchive.exporters import ArticleJsonLinesItemExporter
from newsarchive.items import ARTICLE_FIELDS, ArticleGoneItem, ArticleItem

FULL = {
    "url": "https://kcnawatch.org/newstream/1713006283-531298405/talks/",
    "article_id": "1713006283-531298405",
    "title": 'Talks "held" \u2014 Choe Ryong Hae & Zhao Leji',
    "body": "First paragraph.\n\nSecond \u2028 line \\ with </script> and \u00e9\u4e2d\U0001f600",
    "published_date": "2024-04-13",
    "published_at": "2024-04-13T11:04:43+00:00",
    "page_date": None,
    "source": "Naenara (En)",
    "source_name": "Naenara",
    "source_language": "en",
    "original_url": None,
    "crawled_at": "2026-12-01T10:00:00.123456+00:00",
    "content_hash": "0" * 64,
    "run_id": "20261201T100000Z-0e3b526f",
    "extractor_version": "2026.12.1",
}
PARTIAL = {name: FULL[name] for name in ("url", "title", "body", "original_url")}
GONE = {"article_id": "1-2", "url": "https://x/1-2/", "status": 404, "seen_at": "2026"}


def exported(exporter_class: type, items: list[Any], **options: Any) -> bytes:
    output = io.BytesIO()
    exporter = exporter_class(output, **options)
    exporter.start_exporting()
    for item in items:
        exporter.export_item(item)
    exporter.finish_exporting()
    return output.getvalue()


@pytest.mark.parametrize("encoding", ["utf8", "utf-8", None, "latin-1"])
@pytest.mark.parametrize("empty", [False, True])
@pytest.mark.parametrize(
    "fields",
    [list(ARTICLE_FIELDS), ["body", "url", "article_id"], None, {"url": "link", "title": "t"}],
)
def test_same_bytes_as_scrapys_exporter(encoding, empty, fields) -> None:
    items = [ArticleItem(FULL), ArticleItem(PARTIAL), ArticleItem(), ArticleGoneItem(GONE)]
    items.append(dict(FULL))
    options = {"fields_to_export": fields, "export_empty_fields": empty}
    if encoding is not None:
        options["encoding"] = encoding
    if encoding == "latin-1":  # not every character is in latin-1: both must fail alike
        with pytest.raises(UnicodeEncodeError):
            exported(JsonLinesItemExporter, items, **options)
        with pytest.raises(UnicodeEncodeError):
            exported(ArticleJsonLinesItemExporter, items, **options)
        return
    ours = exported(ArticleJsonLinesItemExporter, items, **options)
    assert ours == exported(JsonLinesItemExporter, items, **options)


def test_articles_take_the_direct_path() -> None:
    exporter = ArticleJsonLinesItemExporter(io.BytesIO(), fields_to_export=list(ARTICLE_FIELDS))
    assert exporter._article_fields == ARTICLE_FIELDS
    assert ArticleJsonLinesItemExporter(io.BytesIO())._article_fields is None
