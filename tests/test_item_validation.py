"""Item validation's fast path: the same verdict as jsonschema on every item, the same stats as
Spidermon's ItemValidationPipeline, and no fast path for a schema it does not understand."""

from __future__ import annotations

import hashlib

import jsonschema
import pytest
from scrapy.utils.test import get_crawler
from spidermon.contrib.scrapy.pipelines import ItemValidationPipeline

from newsarchive import settings as project_settings
from newsarchive.extraction_version import EXTRACTOR_VERSION
from newsarchive.items import ARTICLE_FIELDS, ArticleItem
from newsarchive.monitors.schema import FIELD_RULES, article_schema
from newsarchive.monitors.validation import ArticleValidationPipeline, compile_schema

RUN_ID = "20261201T090000Z-0123abcd"


@pytest.fixture
def good_item(specimen_expected) -> dict:
    item = {field: specimen_expected.get(field) for field in ARTICLE_FIELDS}
    item["run_id"] = RUN_ID
    item["extractor_version"] = EXTRACTOR_VERSION
    item["crawled_at"] = "2025-12-27T09:15:02.123+00:00"
    item["content_hash"] = hashlib.sha256(f"{item['title']}\n\n{item['body']}".encode()).hexdigest()
    return item


def variants(item: dict) -> list[dict]:
    """The item and many broken or borderline copies of it, field by field."""
    found = [item, {**item, "extra": 1}, {**item, "extra": None}, {}]
    for field in ARTICLE_FIELDS:
        found.append({k: v for k, v in item.items() if k != field})
        for value in (None, "", " ", "x", 1, 1.5, True, ["a"], {"a": "b"}, b"abc"):
            found.append({**item, field: value})
        if isinstance(item[field], str):
            found += [
                {**item, field: item[field] + "\n"},
                {**item, field: " " + item[field]},
                {**item, field: item[field][:-1]},
                {**item, field: item[field].upper()},
            ]
    # Values a pattern is picky about.
    found += [
        {**item, "published_date": "2024-4-13"},
        {**item, "published_date": "2024-04-13\n"},
        {**item, "crawled_at": "2025-12-27T09:15:02Z"},
        {**item, "source_language": "EN"},
        {**item, "url": "ftp://x"},
        {**item, "body": "\n\n"},
        {**item, "article_id": "1713006283-531298405x"},
    ]
    return found


def test_the_fast_check_agrees_with_jsonschema_on_every_variant(good_item):
    schema = article_schema()
    fast = compile_schema(schema)
    assert fast is not None
    judge = jsonschema.Draft202012Validator(schema)
    assert judge.is_valid(good_item) and fast(good_item)
    items = variants(good_item)
    assert sum(not judge.is_valid(item) for item in items) > 100  # the broken ones are broken
    for item in items:
        assert fast(item) == judge.is_valid(item), item


def test_a_schema_with_anything_else_gets_no_fast_check():
    base = article_schema()
    first = next(iter(FIELD_RULES))
    unknown_field_rules = ({"minLength": 1}, {"format": "uri"}, {"enum": ["a"]}, {"type": "int"})
    for extra in unknown_field_rules:
        properties = {**base["properties"], first: {**base["properties"][first], **extra}}
        assert compile_schema({**base, "properties": properties}) is None, extra
    assert compile_schema({**base, "additionalProperties": {"type": "string"}}) is None
    assert compile_schema({**base, "allOf": []}) is None
    assert compile_schema({**base, "type": "array"}) is None
    assert compile_schema({**base, "properties": {first: {"type": ["string", "integer"]}}}) is None
    open_schema = {k: v for k, v in base.items() if k not in ("required", "additionalProperties")}
    assert compile_schema(open_schema)({"extra": 1})  # no required field, others allowed


def pipeline(kind: type) -> tuple[object, object]:
    settings = {name: getattr(project_settings, name) for name in dir(project_settings)}
    settings = {k: v for k, v in settings.items() if k.isupper()}
    crawler = get_crawler(settings_dict=settings)
    crawler.stats.open_spider()
    return kind.from_crawler(crawler), crawler.stats


def test_the_pipeline_counts_exactly_what_spidermons_counts(good_item):
    ours, our_stats = pipeline(ArticleValidationPipeline)
    theirs, their_stats = pipeline(ItemValidationPipeline)
    assert ours.fast_checks["ArticleItem"]  # the project's schema has its fast path
    items = [
        ArticleItem(item)
        for item in variants(good_item)
        if set(item) <= set(ARTICLE_FIELDS)  # an ArticleItem refuses unknown fields itself
    ]
    for item in items:
        assert ours.process_item(item) is item
        assert theirs.process_item(item) is item
    ours_now, theirs_now = our_stats.get_stats(), their_stats.get_stats()
    assert ours_now == theirs_now
    assert ours_now["spidermon/validation/items"] == len(items)
    assert 0 < ours_now["spidermon/validation/items/errors"] < len(items)


def test_the_project_validates_articles_with_this_pipeline():
    pipelines = project_settings.ITEM_PIPELINES
    assert "newsarchive.monitors.validation.ArticleValidationPipeline" in pipelines
    assert not any(path.startswith("spidermon.") for path in pipelines)
    assert ArticleItem in project_settings.SPIDERMON_VALIDATION_SCHEMAS
