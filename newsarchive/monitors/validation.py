"""Spidermon's item validation at the same strictness for a fraction of its cost per item.

Spidermon's ``ItemValidationPipeline`` builds a new jsonschema validator for every item and
turns every item into a dict through ``ItemAdapter`` (about 0.35 ms an item, a tenth of the
crawl's main thread). ``ArticleValidationPipeline`` is that pipeline, with its settings,
validators, stats names and verdicts, plus a fast path: each schema made of the keywords the
item contract uses (``type`` string or null, ``pattern``, ``properties``, ``required``,
``additionalProperties: false``) is compiled once into a plain check that accepts exactly the
items jsonschema accepts. Every item is checked; an item the fast check does not accept goes
through Spidermon's own validation, so its errors are jsonschema's messages, counted by
Spidermon as before. A schema with any other keyword has no fast check: Spidermon judges
every item.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from spidermon.contrib.scrapy.pipelines import ItemValidationPipeline
from spidermon.contrib.scrapy.stats import NAMES

#: A compiled schema: True when jsonschema would find no error in the values.
FastCheck = Callable[[Any], bool]

_ANNOTATIONS = frozenset({"$schema", "$id", "title", "description", "$comment"})
_OBJECT_KEYWORDS = _ANNOTATIONS | {"type", "properties", "required", "additionalProperties"}
_FIELD_KEYWORDS = _ANNOTATIONS | {"type", "pattern"}


def compile_schema(schema: Mapping[str, Any]) -> FastCheck | None:
    """A fast check equal to jsonschema's verdict on ``schema``, or None when the schema uses
    anything this compiler does not know (then only jsonschema may judge)."""
    if set(schema) - _OBJECT_KEYWORDS or schema.get("type") != "object":
        return None
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    required = schema.get("required", [])
    if not isinstance(properties, dict) or extra not in (True, False):
        return None
    if not isinstance(required, list) or not all(isinstance(name, str) for name in required):
        return None
    fields = [(name, _compile_field(rule)) for name, rule in properties.items()]
    if any(check is None for _, check in fields):
        return None
    allowed, needed = frozenset(properties), frozenset(required)
    closed = extra is False

    def check(values: Any) -> bool:
        if not isinstance(values, dict):
            return False
        keys = values.keys()
        if not needed <= keys or (closed and not keys <= allowed):
            return False
        for name, field_check in fields:
            if name in values and not field_check(values[name]):  # type: ignore[misc]
                return False
        return True

    return check


def _compile_field(rule: Any) -> Callable[[Any], bool] | None:
    """One property: a string (or a string or null) that may have to match a pattern."""
    if not isinstance(rule, dict) or set(rule) - _FIELD_KEYWORDS:
        return None
    kind = rule.get("type")
    kinds = {kind} if isinstance(kind, str) else set(kind) if isinstance(kind, list) else None
    if kinds not in ({"string"}, {"string", "null"}):
        return None
    nullable = "null" in kinds
    pattern = rule.get("pattern")
    search = re.compile(pattern).search if isinstance(pattern, str) else None
    if "pattern" in rule and search is None:
        return None

    def check(value: Any) -> bool:
        if value is None:
            return nullable
        # jsonschema's "string" is any str; its "pattern" is re.search on it.
        return isinstance(value, str) and (search is None or search(value) is not None)

    return check


class ArticleValidationPipeline(ItemValidationPipeline):
    """Spidermon's ``ItemValidationPipeline`` (enable it the same way, with
    ``SPIDERMON_VALIDATION_SCHEMAS``) with each schema compiled once into a fast check."""

    def __init__(self, validators: dict[str, list[Any]], *args: Any, **kwargs: Any) -> None:
        super().__init__(validators, *args, **kwargs)
        compiled = {
            kind: [compile_schema(validator._schema) for validator in found]
            for kind, found in validators.items()
        }
        #: Item type name: the fast checks of all its schemas, or None if any has none.
        self.fast_checks: dict[str, list[FastCheck] | None] = {
            kind: None if None in checks else checks  # type: ignore[misc]
            for kind, checks in compiled.items()
        }
        # Spidermon's own stat names, made once: it slugifies each part on every item (13 µs
        # an item for the two counts of an accepted item).
        self._count = self.stats.stats.inc_value
        self._items_stat = self.stats._get_stats_name(NAMES.ITEMS)
        self._fields_stat = self.stats._get_stats_name(NAMES.FIELDS)

    def process_item(self, item: Any) -> Any:
        checks = self.fast_checks.get(type(item).__name__)
        if checks and isinstance(item, Mapping):
            values = dict(item)  # flat: a value that is not str/None fails the checks below
            if all(check(values) for check in checks):
                self._count(self._items_stat)  # ValidationStatsManager.add_item
                self._count(self._fields_stat, len(values))  # ….add_fields
                return item
        # No fast check, or it did not accept the item: Spidermon validates and counts it.
        return super().process_item(item)
