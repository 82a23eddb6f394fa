"""The crawl's items on the replica stay byte-identical to a saved copy of an earlier output.

The replica's own oracle (tests/test_crawl_replica.py) checks every field's value; this test
checks the bytes the feed exporter writes (field order, escaping, number and null spelling),
so a faster loader or a worker-process extraction cannot change a dataset unnoticed. Only
what differs per run is normalised: the replica's port, ``crawled_at`` and ``run_id``.

The saved copies were made from main before the loader was rewritten; regenerate them (only
for a deliberate change of the items, with a note in the commit) with

    .venv/bin/python -m tests.test_items_golden
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from newsarchive_replica.server import ReplicaServer
from tests.crawling import crawl

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ORIGIN = "http://replica.test"
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00")

#: (stream, start page kind): a listing walk and a walk from an article's "More From" cards.
CASES = (("naenara", "listing"), ("kcna", "article"))


def golden_path(stream: str, kind: str) -> Path:
    return FIXTURES / f"replica_{stream}_{kind}.golden.jsonl"


def normalised_lines(feed: Path, origin: str) -> list[bytes]:
    """The feed's raw lines in article-id order, with what changes per run replaced."""
    lines = []
    for raw in feed.read_bytes().splitlines():
        item = json.loads(raw)
        assert ISO_UTC.fullmatch(item["crawled_at"]), item["crawled_at"]
        assert item["run_id"], "every item names its run"
        raw = raw.replace(json.dumps(item["crawled_at"]).encode(), b'"<crawled_at>"', 1)
        raw = raw.replace(json.dumps(item["run_id"]).encode(), b'"<run_id>"', 1)
        lines.append((item["article_id"], raw.replace(origin.encode(), ORIGIN.encode())))
    return [raw for _, raw in sorted(lines)]


def crawl_normalised(stream: str, kind: str, work: Path, workers: int = 0) -> list[bytes]:
    with ReplicaServer() as replica:
        start = f"start_url={replica.start_url(stream, kind)}"
        result = crawl(work, start, settings={"NEWSARCHIVE_EXTRACTION_WORKERS": str(workers)})
        assert result.returncode == 0, result.log[-3000:]
        return normalised_lines(work / "out.jsonl", replica.base_url)


#: Extracting in the reactor's thread, and in a worker process (newsarchive.extraction).
@pytest.mark.parametrize("workers", [0, 1])
@pytest.mark.parametrize(("stream", "kind"), CASES)
def test_items_byte_identical_to_saved_output(stream, kind, workers, tmp_path):
    expected = golden_path(stream, kind).read_bytes().splitlines()
    got = crawl_normalised(stream, kind, tmp_path, workers)
    assert len(got) == len(expected)
    for line, want in zip(got, expected, strict=True):
        assert line == want


def regenerate() -> None:
    import tempfile

    for stream, kind in CASES:
        with tempfile.TemporaryDirectory() as work:
            lines = crawl_normalised(stream, kind, Path(work))
        golden_path(stream, kind).write_bytes(b"".join(line + b"\n" for line in lines))
        print(f"{golden_path(stream, kind)}: {len(lines)} items", file=sys.stderr)


if __name__ == "__main__":
    regenerate()
