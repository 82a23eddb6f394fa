"""The article loader: still an ItemLoader, one plain processor per field, no context."""

from __future__ import annotations

from datetime import date

import pytest
from scrapy.loader import ItemLoader

from newsarchive import loaders
from newsarchive.items import ARTICLE_FIELDS, ArticleItem
from newsarchive.loaders import ArticleLoader


def test_is_an_item_loader_filling_its_item():
    loader = ArticleLoader()
    assert isinstance(loader, ItemLoader)
    loader.add_value("title", ["  Talks\xa0Held ", "", None])
    loader.add_value("title", "second")
    assert loader.get_collected_values("title") == ["Talks Held", "second"]
    item = loader.load_item()
    assert item is loader.item and isinstance(item, ArticleItem)
    assert list(item) == list(ARTICLE_FIELDS)
    assert item["title"] == "Talks Held"
    assert item["body"] is None and item["source_name"] is None


def test_fields_and_derived_fields():
    loader = ArticleLoader()
    loader.add_value("body", ["  one ", "\u200b", "two\n lines"])
    loader.add_value("published_date", [None, "", "13/04/2024", date(2024, 4, 14)])
    loader.add_value("page_date", "December 27, 2025Dec 27, 2025")
    loader.add_value("published_at", 1713006283)
    loader.add_value("source", [None, " Naenara  (En) "])
    loader.add_value("original_url", ["  ", " http://x.example/a b "])
    loader.add_value("run_id", None)
    item = loader.load_item()
    assert item["body"] == "one\n\ntwo lines"
    assert item["published_date"] == "2024-04-13"
    assert item["page_date"] == "2025-12-27"
    assert item["published_at"] == "2024-04-13T11:04:43+00:00"
    assert (item["source"], item["source_name"], item["source_language"]) == (
        "Naenara (En)",
        "Naenara",
        "en",
    )
    assert item["original_url"] == "http://x.example/a b"
    assert item["run_id"] is None
    assert len(item["content_hash"]) == 64


def test_keeps_a_value_given_with_the_item():
    item = ArticleItem(run_id="given")
    assert ArticleLoader(item=item).load_item()["run_id"] == "given"


@pytest.mark.parametrize(
    ("function", "values", "result"),
    [
        (loaders.clean_texts, [" a  b ", "", "\xa0"], ["a b"]),
        (loaders.stripped_texts, [" u ", " "], ["u"]),
        (loaders.iso_dates, ["31/02/2024", None, date(2024, 1, 2)], ["2024-01-02"]),
        (loaders.header_dates, ["", "Jan 2, 2024"], ["2024-01-02"]),
        (loaders.utc_instants, [0, "x"], ["1970-01-01T00:00:00+00:00"]),
        (loaders.first, [], None),
        (loaders.paragraphs, [], None),
        (loaders.first_shared, [], None),
        (loaders.first_shared, ["Naenara (En)", "x"], "Naenara (En)"),
    ],
)
def test_field_processors(function, values, result):
    assert function(values) == result


def test_a_processor_wanting_a_context_is_refused():
    class ContextLoader(ArticleLoader):
        title_in = staticmethod(lambda values, loader_context: values)

    with pytest.raises(TypeError, match="title_in takes a context"):
        ContextLoader().add_value("title", "x")


def test_repeating_values_are_one_string():
    items = []
    for _ in range(2):
        loader = ArticleLoader()
        loader.add_value("source", "".join(["Naenara", " (En)"]))  # a new string each time
        loader.add_value("published_date", "".join(["13/04/", "2024"]))
        items.append(loader.load_item())
    assert items[0]["source"] is items[1]["source"]
    assert items[0]["published_date"] is items[1]["published_date"]
