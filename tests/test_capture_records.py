"""The records FastWARC builds (newsarchive.capture.records) are the ones warcio's writer made
of the same exchange: the same WARC headers (record ids aside), the same HTTP header block,
body and digests, for every kind of exchange the index tests know, and the same warcinfo.

warcio's side is built here as the writer built it before FastWARC: ``StatusAndHeaders`` for
the HTTP messages, ``create_warc_record`` and ``write_request_response_pair``.
"""

from __future__ import annotations

import hashlib
from base64 import b32encode
from datetime import UTC, datetime
from http import HTTPStatus
from io import BytesIO
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.timeutils import datetime_to_iso_date
from warcio.warcwriter import WARCWriter

from newsarchive.capture.records import WARC_VERSION, header_pairs
from newsarchive.capture.writer import Exchange, WarcFiles
from tests.test_capture_index import CASES, exchange

INFO = {"run_id": "run1", "software": "newsarchive/1 warcio/1.8", "empty": "", "uni": "é"}
ODD = {
    "several Content-Length headers, chunked": exchange(response_headers=[
        ("Content-Length", "5"), ("X", "1"), ("content-length", "7"),
        ("Transfer-Encoding", "chunked")]),
    "HTTP/1.0, a status with no phrase": exchange(protocol="HTTP/1.0", status=999),
    "no IP address, midnight": exchange(ip_address=None,
                                        fetched_at=datetime(2026, 1, 1, tzinfo=UTC)),
    "a Host header of its own": exchange(request_headers=[("host", "other:81"), ("A", "b")]),
}  # fmt: skip
EXCHANGES = {name: made for name, (made, _) in CASES.items()} | ODD


def warcio_records(made: Exchange) -> bytes:
    """The pair as warcio's writer wrote it (uncompressed: only the records are compared)."""
    out = BytesIO()
    writer = WARCWriter(out, gzip=False, warc_version=WARC_VERSION)
    parts = urlsplit(made.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    request_headers = header_pairs(made.request_headers)
    if not any(name.lower() == "host" for name, _ in request_headers):
        request_headers = [("Host", parts.netloc), *request_headers]
    date = datetime_to_iso_date(made.fetched_at.replace(tzinfo=None), use_micros=True)
    request = writer.create_warc_record(
        made.url, "request", payload=BytesIO(made.request_body), length=len(made.request_body),
        http_headers=StatusAndHeaders(f"{made.method} {target} {made.protocol}",
                                      request_headers, is_http_request=True),
        warc_headers_dict={"WARC-Date": date},
    )  # fmt: skip
    try:
        phrase = HTTPStatus(made.status).phrase
    except ValueError:
        phrase = ""
    skip = {"transfer-encoding", "content-encoding"} if made.decoded else {"transfer-encoding"}
    headers = [(k, v) for k, v in header_pairs(made.response_headers) if k.lower() not in skip]
    http = StatusAndHeaders(f"{made.status} {phrase}".strip(), headers, made.protocol)
    http.replace_header("Content-Length", str(len(made.response_body)))
    warc_headers = {"WARC-Date": date}
    if made.ip_address:
        warc_headers["WARC-IP-Address"] = made.ip_address
    response = writer.create_warc_record(
        made.url, "response", payload=BytesIO(made.response_body),
        length=len(made.response_body), http_headers=http, warc_headers_dict=warc_headers,
    )  # fmt: skip
    writer.write_request_response_pair(request, response)
    return out.getvalue()


def read(stream: BytesIO) -> list[tuple[str, list, bytes]]:
    """Each record: its type, its WARC headers (record ids replaced by the record's place
    among the pairs' records, warcinfo dates left out), and its block (the HTTP header block
    and body as stored)."""
    records, places = [], {}
    for record in ArchiveIterator(stream, no_record_parse=True):
        headers = list(record.rec_headers.headers)
        if record.rec_type != "warcinfo":
            places[record.rec_headers.get_header("WARC-Record-ID")] = len(places)
        kept = [(name, places.get(value, value) if name == "WARC-Concurrent-To" else value)
                for name, value in headers
                if name != "WARC-Record-ID"
                and not (record.rec_type == "warcinfo" and name == "WARC-Date")]  # fmt: skip
        block = record.raw_stream.read()
        assert record.rec_headers.protocol == WARC_VERSION
        records.append((record.rec_type, sorted(kept), block))
    return records


def written(tmp_path: Path, made: Exchange) -> BytesIO:
    files = WarcFiles(tmp_path, "run1", INFO, 10**9)
    files.write(made)
    files.close()
    return BytesIO(files.paths[0].read_bytes())


@pytest.mark.parametrize("case", EXCHANGES)
def test_each_pair_is_the_one_warcio_wrote(tmp_path, case):
    made = EXCHANGES[case]
    ours = read(written(tmp_path, made))[1:]  # after the file's warcinfo
    assert ours == read(BytesIO(warcio_records(made)))
    response = ours[0]
    digests = dict(response[1])
    body = made.response_body
    assert (
        digests["WARC-Payload-Digest"] == "sha1:" + b32encode(hashlib.sha1(body).digest()).decode()
    )
    assert response[2].endswith(b"\r\n\r\n" + body) or response[2].endswith(body)


def test_the_warcinfo_is_the_one_warcio_wrote(tmp_path):
    ours = read(written(tmp_path, exchange()))[0]
    out = BytesIO()
    writer = WARCWriter(out, gzip=False, warc_version=WARC_VERSION)
    writer.write_record(writer.create_warcinfo_record("run1-00001.warc.gz", INFO))
    out.seek(0)
    assert ours == read(out)[0]
    assert b"empty" not in ours[2] and "é".encode() in ours[2]
