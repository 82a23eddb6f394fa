"""One share of the captures, extracted in a worker process: pages in, item dicts out.

Why a file per share: the worker writes its items as frames (``write_entry``) and the main
process streams them into the pipelines as they are written (``read_entries``), so neither
side holds a run's items in memory (flat memory however large the capture). The worker also
validates each item against the item schema, with Spidermon's validator, as the crawl's
validation pipeline does: the main process, which every item passes through one at a time,
only counts the verdicts.
"""

from __future__ import annotations

import marshal
import struct
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO, Any

from jsonschema.validators import validator_for
from scrapy.http import HtmlResponse
from spidermon.contrib.validation import JSONSchemaValidator
from spidermon.contrib.validation.jsonschema.formats import format_checker

from newsarchive.extraction import extract_response
from newsarchive.monitors.schema import ARTICLE_SCHEMA
from newsarchive.monitors.validation import compile_schema
from newsarchive.reextract.captures import CapturedPage, article_pages, warc_instant


@dataclass(frozen=True)
class Share:
    """Every ``shares``-th article page of one WARC file, from ``share``; ``run_id``: the run
    that captured them (the items' provenance)."""

    path: Path
    run_id: str
    share: int
    shares: int
    output: Path


@dataclass(frozen=True)
class ShareResult:
    share: Share
    items: int
    unreadable: int


def extract_captured(page: CapturedPage, run_id: str | None) -> dict[str, Any] | None:
    """Today's item for a captured page (fetched when the capture says), None if unreadable.
    The response gets the captured headers, so the text is decoded as the crawl decoded it."""
    response = HtmlResponse(page.url, body=page.body, headers=page.headers)
    item = extract_response(response, warc_instant(page.fetched_at).isoformat(), run_id).item
    return item if item is not None and item["body"] else None


#: A frame of a share's file: the entry's length, then the entry (``record_id``, ``item`` and,
#: for an invalid item, ``errors``) as marshal data. marshal, not JSON: a third of the CPU on
#: both sides (4.6 against 10.6 µs an item, dumping and loading), for plain dicts of text and
#: numbers, written and read by the same interpreter; unlike pickle, loading runs no code.
FRAME_LENGTH = struct.Struct("<I")


def write_entry(out: IO[bytes], entry: dict[str, Any]) -> None:
    data = marshal.dumps(entry)
    out.write(FRAME_LENGTH.pack(len(data)))
    out.write(data)


def read_entries(data: bytes) -> tuple[list[dict[str, Any]], bytes]:
    """The whole entries at the start of ``data``, and what follows them (the start of a
    frame still being written)."""
    entries, offset, end = [], 0, len(data)
    view = memoryview(data)
    while offset + FRAME_LENGTH.size <= end:
        (length,) = FRAME_LENGTH.unpack_from(data, offset)
        start = offset + FRAME_LENGTH.size
        if start + length > end:
            break
        entries.append(marshal.loads(view[start : start + length]))
        offset = start + length
    return entries, data[offset:]


#: Items a worker writes before it hands them on (flushes): the main process reads a share's
#: entries while it is extracted, so its own work overlaps the workers' and no share's worth of
#: items is left for it once they are done.
FLUSH_EVERY = 100


@cache
def _validator() -> JSONSchemaValidator:
    return JSONSchemaValidator(ARTICLE_SCHEMA)


@cache
def _fast_check() -> Callable[[Any], bool]:
    """The crawl's own compiled check of the item schema (``monitors.validation``), built once;
    jsonschema with Spidermon's formats when the schema has none (Spidermon's validator builds
    a jsonschema validator per item): a valid item, the usual case, costs little."""
    compiled = compile_schema(ARTICLE_SCHEMA)
    if compiled is not None:
        return compiled
    return validator_for(ARTICLE_SCHEMA)(ARTICLE_SCHEMA, format_checker=format_checker).is_valid


def warm_up() -> None:
    """Build the schema checks now (before the workers are forked: they inherit them)."""
    _fast_check()
    _validator()


def schema_errors(item: dict[str, Any]) -> dict[str, list[str]]:
    """The item's violations of the item schema, in Spidermon's words (none: valid)."""
    if _fast_check()(item):
        return {}
    _, errors = _validator().validate(item)
    return errors


def extract_share(share: Share) -> ShareResult:
    """Extract one share into ``share.output`` (frames: ``write_entry``)."""
    items = unreadable = 0
    with share.output.open("wb") as out:
        for page in article_pages(share.path, share.share, share.shares):
            item = extract_captured(page, share.run_id)
            if item is None:
                unreadable += 1
                continue
            entry = {"record_id": page.record_id, "item": item}
            if errors := schema_errors(item):
                entry["errors"] = errors
            write_entry(out, entry)
            items += 1
            if items % FLUSH_EVERY == 0:
                out.flush()  # the main process streams the entries as they come
    return ShareResult(share, items, unreadable)
