"""The item contract as a JSON Schema, and the monitor check on Spidermon's validation stats.

``docs/article.schema.json`` is this schema published for researchers (a test keeps the file
equal to ``article_schema()`` and both equal to ``ARTICLE_FIELDS``). Spidermon's
``ItemValidationPipeline`` (with a fast path: ``newsarchive.monitors.validation``) validates
every ``ArticleItem`` against it and counts violations in ``spidermon/validation/...`` stats;
``schema_check`` turns those counts into a check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from newsarchive import stats as names
from newsarchive.items import ARTICLE_FIELDS, ARTICLE_FIELDS_VERSION
from newsarchive.monitor import Check

SCHEMA_ID = "https://github.com/newsarchive/newsarchive/docs/article.schema.json"

_DATE = r"^\d{4}-\d{2}-\d{2}$"
_INSTANT = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?\+00:00$"

#: field: (may it be null, pattern or None, one line of meaning as in docs/DATA.md).
FIELD_RULES: dict[str, tuple[bool, str | None, str]] = {
    "url": (False, r"^https?://", "the article's canonical URL, else the URL fetched"),
    "article_id": (True, r"^\d+-\d+$", "the <unix-seconds>-<id> segment of the article URL"),
    "title": (True, None, "the headline, whitespace collapsed"),
    "body": (False, r"\S", "paragraphs joined by a blank line; never empty"),
    "published_date": (True, _DATE, "the article's date (Pyongyang calendar day)"),
    "published_at": (True, _INSTANT, "the URL timestamp as a UTC instant"),
    "page_date": (True, _DATE, "the date printed in the page header when fetched"),
    "source": (True, None, "the source stream's label, e.g. 'Naenara (En)'"),
    "source_name": (True, None, "the label without its language"),
    "source_language": (True, r"^[a-z]{2}$", "ISO 639-1 code of the label's language"),
    "original_url": (True, None, "the 'Read original version at source' link"),
    "crawled_at": (False, _INSTANT, "when this page was fetched (UTC)"),
    "content_hash": (False, r"^[0-9a-f]{64}$", "sha256 hex of title + '\\n\\n' + body"),
    "run_id": (False, r"^\d{8}T\d{6}Z-[0-9a-f]{8}$", "the crawl run that fetched the page"),
    "extractor_version": (False, r"^\d{4}\.\d{1,2}\.\d+$", "the extraction rules' version"),
}


def article_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one ``ArticleItem``, fields in feed order."""
    properties: dict[str, Any] = {}
    for field in ARTICLE_FIELDS:
        nullable, pattern, meaning = FIELD_RULES[field]
        rule: dict[str, Any] = {"description": meaning, "type": ["string", "null"]}
        if not nullable:
            rule["type"] = "string"
        if pattern:
            rule["pattern"] = pattern
        properties[field] = rule
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": f"newsarchive article (field list version {ARTICLE_FIELDS_VERSION})",
        "description": "One article page as seen at crawled_at; see docs/DATA.md.",
        "type": "object",
        "properties": properties,
        "required": list(ARTICLE_FIELDS),
        "additionalProperties": False,
    }


#: For SPIDERMON_VALIDATION_SCHEMAS (Spidermon loads a dict from an object path).
ARTICLE_SCHEMA = article_schema()


def _n(values: Mapping[str, Any], key: str) -> int:
    value = values.get(key, 0)
    return int(value) if isinstance(value, int | float) else 0


def schema_check(values: Mapping[str, Any]) -> Check:
    """Fails when any item broke the item contract (Spidermon's validation counts)."""
    checked, bad = _n(values, names.SCHEMA_ITEMS), _n(values, names.SCHEMA_ITEMS_WITH_ERRORS)
    if bad:
        errors = {
            key: value
            for key, value in names.with_prefix(values, names.SCHEMA_FIELD_ERRORS).items()
            if isinstance(value, int)
        }
        detail = ", ".join(f"{key} {count}" for key, count in sorted(errors.items())[:5])
        return Check(
            "item_schema",
            False,
            f"{bad} of {checked} items violate docs/article.schema.json ({detail})",
        )
    return Check("item_schema", True, f"{checked} items match docs/article.schema.json")
