"""Items to typed rows, before any SQL: typing, NUL and Unicode checks, rejections.

Why apart from the store: this is the part of a write that decides what the archive accepts,
and it is pure (no driver, no server), so it is tested on its own and shared by the writer,
the spill loader and the store; ``newsarchive.db.prepared`` lays a write's rows out as a
batch. It imports no database driver.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from newsarchive.clock import as_utc
from newsarchive.db.records import BatchResult
from newsarchive.items import ARTICLE_FIELDS as ITEM_FIELDS
from newsarchive.processors import content_hash as compute_content_hash

try:
    from newsarchive.extraction_version import EXTRACTOR_VERSION
except ImportError:  # until the provenance change declares it
    #: The version of the extraction rules an item without ``extractor_version`` is taken from.
    EXTRACTOR_VERSION = "unversioned"

#: The item fields an ``articles`` row holds. An item's ``run_id`` is not a column: the run a
#: batch is written for (the spider's run, which sets the items' run_id) is recorded as
#: ``articles.last_run_id`` and ``article_revisions.first_run_id`` / ``last_run_id``.
#: ``revision_kind`` is a hint to the writer, stored as ``article_revisions.kind``.
#: ``extractor_version`` is a column whether or not the item declares it yet (schema 0002).
NOT_ARTICLE_COLUMNS = frozenset({"run_id", "revision_kind"})
ARTICLE_FIELDS = (
    *(name for name in ITEM_FIELDS if name not in NOT_ARTICLE_COLUMNS | {"extractor_version"}),
    "extractor_version",
)
#: The fields only a revision holds (schema 0002: the text is stored once, in ``revisions``).
TEXT_FIELDS = ("title", "body")
#: The fields of an ``article_state`` row.
STATE_FIELDS = tuple(name for name in ARTICLE_FIELDS if name not in TEXT_FIELDS)

#: What a revision is: an article's first content, an edit by the outlet, a change our own
#: extraction made (``scrapy reextract``), or a change whose cause cannot be judged because
#: the previous revision's capture is missing (schema 0004). Items may say ``revision_kind``
#: "edit", "reextract" or "unverified"; the store decides "first".
REVISION_KINDS = ("first", "edit", "reextract", "unverified")
REVISION_KIND_HINTS = frozenset({"edit", "reextract", "unverified"})

DATE_FIELDS = frozenset({"published_date", "page_date"})
INSTANT_FIELDS = frozenset({"published_at", "crawled_at"})
#: Fields an article row cannot do without.
REQUIRED_FIELDS = ("article_id", "url", "crawled_at", "content_hash")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
Row = TypeVar("Row")


class Rejected(ValueError):
    """An item the archive will not store; ``reason`` is the stat suffix (``bad_crawled_at``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- turning items into typed rows ------------------------------------------------------------


@dataclass(slots=True)  # not frozen: a frozen dataclass is three times as slow to build
class ArticleRow:
    """One item as typed column values, in ``ARTICLE_FIELDS`` order (never changed once
    built)."""

    values: tuple[Any, ...]
    nul_stripped: bool = False
    #: the item's ``revision_kind`` hint ("reextract", "edit"), None: an edit if text changed
    revision_kind: str | None = None

    def __getitem__(self, name: str) -> Any:
        return self.values[FIELD_INDEX[name]]


FIELD_INDEX = {name: i for i, name in enumerate(ARTICLE_FIELDS)}


def _instant(value: Any, name: str) -> datetime | None:
    if isinstance(value, datetime):
        parsed = value
    elif value is None or value == "":
        return None
    else:  # the usual case: an ISO string
        try:
            parsed = datetime.fromisoformat(value if type(value) is str else str(value))
        except ValueError:
            raise Rejected(f"bad_{name}") from None
    return as_utc(parsed)


def _date(value: Any, name: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):  # a datetime is a date too, but not a calendar day
        if isinstance(value, datetime):
            raise Rejected(f"bad_{name}")
        return value
    try:  # the usual case: an ISO string
        return date.fromisoformat(value if type(value) is str else str(value))
    except ValueError:
        raise Rejected(f"bad_{name}") from None


def _text(value: Any, name: str) -> tuple[str | None, bool]:
    """The text, with NUL characters removed (PostgreSQL text cannot hold them), and whether
    any were; text that is not valid Unicode (lone surrogates) cannot be stored verbatim."""
    if value is None:
        return None, False
    text = value if type(value) is str else str(value)
    stripped = False
    if "\x00" in text:
        text = text.replace("\x00", "")
        stripped = True
    if not text.isascii():  # isascii() is O(1); only non-ASCII text can hold a surrogate
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise Rejected(f"invalid_unicode_{name}") from None
    return text, stripped


_TEXT_INDEXES = tuple(
    i for i, name in enumerate(ARTICLE_FIELDS) if name not in DATE_FIELDS | INSTANT_FIELDS
)
_DATE_INDEXES = tuple(i for i, name in enumerate(ARTICLE_FIELDS) if name in DATE_FIELDS)
_INSTANT_INDEXES = tuple(i for i, name in enumerate(ARTICLE_FIELDS) if name in INSTANT_FIELDS)
_texts_of = operator.itemgetter(*_TEXT_INDEXES)
_day, _moment = date.fromisoformat, datetime.fromisoformat


def _plain_texts(texts: tuple[Any, ...]) -> bool:
    """Whether these text values (None allowed) are all str that PostgreSQL stores verbatim:
    no NUL, valid Unicode. One C-level pass over them joined (the usual case) instead of a
    Python check per field."""
    try:
        joined = "".join(filter(None, texts))
    except TypeError:  # a value that is not a str
        return False
    if "\x00" in joined:
        return False
    if joined.isascii():
        return True
    try:
        joined.encode("utf-8")  # a lone surrogate cannot be encoded
    except UnicodeEncodeError:
        return False
    return True


_fields_of = operator.itemgetter(*ARTICLE_FIELDS)
_REQUIRED_INDEXES = tuple((FIELD_INDEX[name], name) for name in REQUIRED_FIELDS)
_required_of = operator.itemgetter(*(i for i, _ in _REQUIRED_INDEXES))
_HASH_INDEX = FIELD_INDEX["content_hash"]
_VERSION_INDEX = FIELD_INDEX["extractor_version"]
#: One getter per ARTICLE_FIELDS name, in order: ``typed_columns`` reads a batch a column at
#: a time.
_FIELD_GETTERS = tuple(zip(ARTICLE_FIELDS, map(operator.itemgetter, ARTICLE_FIELDS), strict=True))
_article_id_of = operator.itemgetter("article_id")


def prepare_article(item: Mapping[str, Any], check_text: bool = True) -> ArticleRow:
    """The typed row for an article item, or Rejected with the reason.

    NUL characters are stripped from text (counted by the caller as ``nul_stripped``); the
    item's ``content_hash`` is kept as the crawler computed it, so the revision still matches
    the feed line of the same fetch. A missing hash is computed the crawler's way. (Written
    for speed: it runs once per item on the writer's critical path.)

    ``check_text=False`` leaves the text values as they are (no NUL, Unicode or type check):
    for a first attempt that is retried checked when it fails (``ArchiveStore.write_batch``),
    since the COPY encodes every text and the server verifies it anyway.
    """
    get = item.get
    try:  # the writer's dict copies, every field there: one C call
        values = list(_fields_of(item) if type(item) is dict else map(get, ARTICLE_FIELDS))
    except KeyError:  # a field the item does not hold
        values = list(map(get, ARTICLE_FIELDS))
    any_nul = False
    # rare: a NUL, a surrogate, a value not a str
    if check_text and not _plain_texts(_texts_of(values)):
        for i in _TEXT_INDEXES:
            if values[i] is not None:
                values[i], stripped = _text(values[i], ARTICLE_FIELDS[i])
                any_nul |= stripped
    for i in _DATE_INDEXES:
        value = values[i]
        try:  # the usual case inline: an ISO string (no call per field)
            values[i] = _day(value) if type(value) is str and value else _date(value, "")
        except (ValueError, Rejected):
            raise Rejected(f"bad_{ARTICLE_FIELDS[i]}") from None
    for i in _INSTANT_INDEXES:
        value = values[i]
        if type(value) is str and value:
            try:
                value = _moment(value)
            except ValueError:
                raise Rejected(f"bad_{ARTICLE_FIELDS[i]}") from None
            values[i] = value if value.tzinfo else value.replace(tzinfo=UTC)
        else:
            values[i] = _instant(value, ARTICLE_FIELDS[i])
    content_hash = values[_HASH_INDEX]
    if not content_hash:
        values[_HASH_INDEX] = compute_content_hash(get("title"), get("body"))
    # the usual case first (see ``_lower_hex``), else the regex decides (it also takes a
    # final newline)
    elif not (
        type(content_hash) is str and len(content_hash) == 64 and _lower_hex(content_hash, 1)
    ) and not _SHA256_HEX.match(content_hash):
        raise Rejected("bad_content_hash")
    if not all(_required_of(values)):
        for i, name in _REQUIRED_INDEXES:
            if not values[i]:
                raise Rejected(f"missing_{name}")
    if not values[_VERSION_INDEX]:
        values[_VERSION_INDEX] = EXTRACTOR_VERSION
    kind = get("revision_kind") or None
    if kind is not None and kind not in REVISION_KIND_HINTS:
        raise Rejected("bad_revision_kind")
    return ArticleRow(tuple(values), any_nul, kind)


def _lower_hex(digits: str, count: int) -> bool:
    """Whether ``digits`` (``64 * count`` characters) are all lower-case hex digits: three C
    calls (``bytes.fromhex`` skips whitespace, so the byte count proves every character a
    digit). ``str.strip`` with a character set, the obvious test, takes 6 ns a character."""
    try:
        return len(bytes.fromhex(digits)) == 32 * count and digits.lower() == digits
    except ValueError:
        return False


_NO_VALUE = (None, "")


def _days(column: Sequence[Any]) -> list[date | None]:
    return [None if value in _NO_VALUE else _day(value) for value in column]


def _moments(column: Sequence[Any]) -> list[datetime | None]:
    return [None if value in _NO_VALUE else _moment(value) for value in column]


def typed_columns(
    items: Sequence[Mapping[str, Any]],
) -> tuple[list[Sequence[Any]], list[str | None] | None] | None:
    """``prepare_article(item, check_text=False)`` of every item, a column at a time and in
    article id order (ties: in arrival order), with the items' kind hints (None: none has
    one). Each check and conversion is one C-level pass over the batch instead of Python work
    per field, and no object is built per row: a crawl's batches take half the time, and the
    collector has a fraction of the objects to look at. None when any item is not the usual
    case (a value of another type, a bad or missing field, a naive time, a bad kind hint):
    then ``prepare_article`` decides item by item, which is the same for the usual case."""
    if not items or any(type(item) is not dict for item in items):
        return None
    kinds: list[str | None] | None = [item.get("revision_kind") or None for item in items]
    try:
        if not any(kinds):
            kinds = None
            items = sorted(items, key=_article_id_of)
        elif REVISION_KIND_HINTS.issuperset(filter(None, kinds)):
            ids = list(map(_article_id_of, items))
            order = sorted(range(len(items)), key=ids.__getitem__)
            items, kinds = [items[i] for i in order], [kinds[i] for i in order]
        else:
            return None
    except (KeyError, TypeError):  # no article_id, or ids that do not compare (text and not)
        return None
    # A list per field, not a tuple per item: the collector then has a few lists to follow
    # instead of a thousand young tuples (it ran once per 700 of them, mid-batch).
    columns: list[Sequence[Any]] = []
    for name, getter in _FIELD_GETTERS:
        try:
            columns.append(list(map(getter, items)))
        except KeyError:  # an item without this field
            columns.append([item.get(name) for item in items])
    try:
        for i in _DATE_INDEXES:
            columns[i] = _days(columns[i])
        for i in _INSTANT_INDEXES:
            columns[i] = _moments(columns[i])
            if not all(value.tzinfo for value in columns[i] if value is not None):
                return None
        hashes = "".join(columns[_HASH_INDEX])
    except (TypeError, ValueError):
        return None
    count = len(items)
    if set(map(len, columns[_HASH_INDEX])) != {64} or not _lower_hex(hashes, count):
        return None
    if not all(all(columns[i]) for i, _ in _REQUIRED_INDEXES):
        return None
    if not all(columns[_VERSION_INDEX]):
        columns[_VERSION_INDEX] = [v or EXTRACTOR_VERSION for v in columns[_VERSION_INDEX]]
    return columns, kinds


@dataclass(frozen=True, slots=True)
class GoneRow:
    article_id: str
    url: str | None
    status: int | None
    seen_at: datetime


def prepare_gone(item: Mapping[str, Any]) -> GoneRow:
    article_id, _ = _text(item.get("article_id"), "article_id")
    if not article_id:
        raise Rejected("missing_article_id")
    seen_at = _instant(item.get("seen_at"), "seen_at")
    if seen_at is None:
        raise Rejected("missing_seen_at")
    status = item.get("status")
    try:
        status = int(status) if status is not None else None
    except (TypeError, ValueError):
        raise Rejected("bad_status") from None
    url, _ = _text(item.get("url"), "url")
    return GoneRow(article_id, url, status, seen_at)


def accepted(
    items: Iterable[Mapping[str, Any]],
    prepare: Callable[[Mapping[str, Any]], Row],
    result: BatchResult,
) -> Iterator[Row]:
    """``prepare(item)`` for each item; the rejected ones go to ``result.rejected``."""
    for item in items:
        try:
            yield prepare(item)
        except Rejected as exc:
            result.rejected.append((item, exc.reason))
