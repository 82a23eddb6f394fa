"""bench_recorder.py ``--levers``: this checkout's recorder, part by part, per exchange of the
specimen article (one run, CPU seconds): writing the records, building the index lines, what
py-wacz's reader took to learn the same lines from the finished file; building a pair's
records (uncompressed) as the writer does, with FastWARC's ``WarcRecord`` (tried in 7189d9a)
and with warcio's writer (until 086a906); and the two gzip choices on the same records."""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

from bench_recorder import REQUEST_HEADERS, RESPONSE_HEADERS, SPECIMEN


def fastwarc_records(exchange: object, date: str) -> bytes:
    """The pair built with FastWARC's ``WarcRecord`` (its headers and digests), uncompressed."""
    import hashlib
    from io import BytesIO

    from fastwarc.warc import WarcRecord, WarcRecordType

    from newsarchive.capture.records import request_head, response_head

    out = BytesIO()
    records = []
    for kind, head, body in (
        (WarcRecordType.response, response_head(exchange), exchange.response_body),
        (WarcRecordType.request, request_head(exchange), exchange.request_body),
    ):
        record = WarcRecord()
        record.init_headers(record_type=kind)
        record.headers.set("WARC-Date", date)
        record.headers.append("WARC-Target-URI", exchange.url)
        record.headers.append("Content-Type", "application/http")
        if records:
            record.headers.append("WARC-Concurrent-To", records[0].record_id)
        record.set_bytes_content(head.block + body)
        record.write(out, checksum_data=True, payload_digest=hashlib.sha1(body).digest())
        records.append(record)
    return out.getvalue()


def levers(exchanges: int) -> dict:
    """This checkout's recorder, part by part, on frames of the specimen article."""
    import zlib
    from datetime import UTC, datetime

    from isal import isal_zlib

    from newsarchive.capture.index import LiveIndex, WrittenPair
    from newsarchive.capture.package import quiet_py_wacz
    from newsarchive.capture.records import GZIP_LEVEL
    from newsarchive.capture.writer import Exchange, WarcFiles

    quiet_py_wacz()
    body = SPECIMEN.read_bytes()
    request_headers = {k: [v] for k, v in REQUEST_HEADERS.items()}
    response_headers = {k: [v] for k, v in RESPONSE_HEADERS.items()}
    made = [
        Exchange(f"http://127.0.0.1:8000/newstream/{n}/slug/", "GET", request_headers, b"", 200,
                 "HTTP/1.1", response_headers, body, datetime.now(UTC), "127.0.0.1", "article")
        for n in range(exchanges)
    ]  # fmt: skip

    kept: list[WrittenPair] = []
    # the writer's watcher, keeping the pairs for the index to be timed alone
    keep = SimpleNamespace(opened=lambda path: None, closed=lambda path: None,
                           recorded=kept.append)  # fmt: skip

    figures: dict[str, float] = {}

    def timed(name: str, work: Callable[[], object]) -> None:
        started = time.process_time()
        work()
        figures[name] = time.process_time() - started

    with tempfile.TemporaryDirectory() as tmp:
        files = WarcFiles(Path(tmp) / "w", "r", {}, 10**10, keep)
        timed("write", lambda: ([files.write(exchange) for exchange in made], files.close()))
        index = LiveIndex().start()
        timed("index_built", lambda: ([index.recorded(pair) for pair in kept], index.finish()))
        reader = LiveIndex().start()
        out = SimpleNamespace(write=lambda line: None)

        def read_back() -> None:  # what WACZIndexer did over the file
            with files.paths[0].open("rb") as stream:
                reader.indexer.process_one(stream, out, str(files.paths[0]))

        timed("index_read_back", read_back)
        records = []
        for pair in kept:
            records += [zlib.decompress(pair.response_member, 31),
                        zlib.decompress(pair.request_member, 31)]  # fmt: skip
    # The pair's records alone, uncompressed: the writer's, FastWARC's, warcio's writer's.
    from newsarchive.capture.records import PairMembers
    from tests.test_capture_records import warcio_records

    date = "2026-12-01T10:00:00.123456Z"
    builders = {"ours": lambda e: PairMembers(e, date), "warcio": warcio_records,
                "fastwarc": lambda e: fastwarc_records(e, date)}  # fmt: skip
    with patched(isal_zlib, "compress", lambda data, *_: data):
        for name, build in builders.items():  # each record dropped once built: no page faults
            timed(f"records_{name}", lambda b=build: all(b(exchange) for exchange in made))
    choices = {"zlib9": lambda b: zlib.compress(b, 9, 31),  # warcio's
               "isal": lambda b: isal_zlib.compress(b, GZIP_LEVEL, 31)}  # fmt: skip
    for name, compress in choices.items():
        sizes: list[int] = []
        timed(f"gzip_{name}", lambda c=compress, s=sizes: s.extend(len(c(r)) for r in records))
        figures[f"bytes_{name}"] = sum(sizes)
    return figures


@contextlib.contextmanager
def patched(owner: object, name: str, value: object) -> Iterator[None]:
    kept = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, kept)
