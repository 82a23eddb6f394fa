"""One exchange's two WARC records and a file's warcinfo record, built, digested and gzipped.

The records are made by FastWARC (resiliparse's ``fastwarc``, which ``scrapy reextract``
reads the captures with): its ``WarcRecord`` sets the mandatory WARC headers (WARC/1.1,
WARC-Record-ID, WARC-Date, Content-Length) and writes the record with its block and payload
digests (SHA-1, base32, as warcio writes them), in C++. warcio's Python record assembly
(``StatusAndHeaders``, ``create_warc_record``, its digesters and header writing) took about
160 µs per exchange of the recorder's 320; this takes about 30. bench/bench_recorder.py
measures both.

FastWARC writes a record around an HTTP message it is given as bytes: the HTTP header block
is made here, by warcio's rules (``StatusAndHeaders.to_str``: the first line, then
``name: value`` lines, then a blank line; ASCII, and where a value is not, warcio's own
RFC 8187 %-encoding, done by warcio). tests/test_capture_records.py compares every record
with what warcio's writer made of the same exchange.

Each record is its own gzip member (as the WARC spec asks; any gzip reader inflates it),
deflated by ISA-L (``isal``) at its level 1 instead of warcio's zlib at level 9: on the
specimen article that is 19 µs instead of 190 µs, for a member 5% larger (zlib's level 1 took
100 µs and made it larger still).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from fastwarc.warc import WarcRecord, WarcRecordType
from isal import isal_zlib

from newsarchive.capture.index import HttpHead

if TYPE_CHECKING:
    from newsarchive.capture.writer import Exchange, Headers

#: What FastWARC writes (and what the warcinfo record says the files conform to).
WARC_VERSION = "WARC/1.1"
#: ISA-L's levels are 0-3; 1 made the smallest members of the fast ones on HTML pages.
GZIP_LEVEL = 1
_GZIP_WBITS = 31  # a gzip header and trailer, as warcio writes
#: Framing a reader would mis-parse once the body is stored de-chunked (Scrapy) or decoded
#: (Chromium): dropped from the stored headers, and Content-Length is made to match.
_FRAMING_HEADERS = frozenset({"transfer-encoding"})
_DECODED_HEADERS = frozenset({"transfer-encoding", "content-encoding"})
_RESPONSE_TYPE = "application/http; msgtype=response"
_REQUEST_TYPE = "application/http; msgtype=request"
_INFO_TYPE = "application/warc-fields"


def header_pairs(headers: Headers) -> list[tuple[str, str]]:
    """(name, value) text pairs, one per value, in order."""
    if isinstance(headers, Mapping):
        return [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, values in headers.items()
            for value in values
        ]
    return list(headers)


def first_value(headers: list[tuple[str, str]], name: str) -> str | None:
    """The first value of header ``name`` (any case), as warcio's ``get_header`` reads it."""
    name = name.lower()
    return next((value for key, value in headers if key.lower() == name), None)


def http_head(protocol: str, statusline: str, headers: list[tuple[str, str]]) -> HttpHead:
    """The header block warcio writes for this first line and these headers
    (``StatusAndHeaders.compute_headers_buffer``)."""
    first = f"{protocol} {statusline}" if protocol and statusline else protocol or statusline
    lines = [f"{first}\r\n"] if first else []
    lines += [f"{name}: {value}\r\n" for name, value in headers]
    lines.append("\r\n")
    try:
        return HttpHead(protocol, statusline, headers, "".join(lines).encode("ascii"))
    except UnicodeEncodeError:
        # Not ASCII: warcio %-encodes those values (RFC 8187); let warcio do it.
        from warcio.statusandheaders import StatusAndHeaders

        encoded = StatusAndHeaders(statusline, list(headers), protocol)
        encoded.compute_headers_buffer()
        return HttpHead(protocol, statusline, encoded.headers, encoded.headers_buff)


def request_head(exchange: Exchange) -> HttpHead:
    parts = urlsplit(exchange.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = header_pairs(exchange.request_headers)
    if not any(name.lower() == "host" for name, _ in headers):
        headers = [("Host", parts.netloc), *headers]
    # As warcio splits a request line: the method, then the rest.
    method, _, rest = f"{exchange.method} {target} {exchange.protocol}".partition(" ")
    return http_head(method, rest, headers)


def response_head(exchange: Exchange) -> HttpHead:
    try:
        phrase = HTTPStatus(exchange.status).phrase
    except ValueError:
        phrase = ""
    skip = _DECODED_HEADERS if exchange.decoded else _FRAMING_HEADERS
    headers = [(k, v) for k, v in header_pairs(exchange.response_headers) if k.lower() not in skip]
    length = str(len(exchange.response_body))
    for at in range(len(headers) - 1, -1, -1):  # as warcio's replace_header: the last one
        if headers[at][0].lower() == "content-length":
            headers[at] = (headers[at][0], length)
            break
    else:
        headers.append(("Content-Length", length))
    return http_head(exchange.protocol, f"{exchange.status} {phrase}".strip(), headers)


def _member(record: WarcRecord, payload_digest: bytes | None) -> bytes:
    """The record written with its digests, as one gzip member."""
    out = io.BytesIO()
    record.write(out, checksum_data=True, payload_digest=payload_digest)
    return isal_zlib.compress(out.getbuffer(), GZIP_LEVEL, _GZIP_WBITS)


def _record(kind: WarcRecordType, warc_date: str | None, headers: list[tuple[str, str]],
            content: bytes) -> WarcRecord:  # fmt: skip
    """FastWARC's record with its mandatory headers (its WARC-Date is now, unless given)."""
    record = WarcRecord()
    record.init_headers(record_type=kind)
    if warc_date is not None:
        record.headers.set("WARC-Date", warc_date)
    for name, value in headers:
        record.headers.append(name, value)
    record.set_bytes_content(content)
    return record


class PairMembers:
    """An exchange's response and request records, each as a gzip member (the response first,
    as warcio writes a pair), with what the index reads off them."""

    __slots__ = ("payload_digest", "request", "request_member", "response", "response_member")

    def __init__(self, exchange: Exchange, warc_date: str) -> None:
        self.response = response_head(exchange)
        self.request = request_head(exchange)
        target = ("WARC-Target-URI", exchange.url)
        headers = [target, ("Content-Type", _RESPONSE_TYPE)]
        if exchange.ip_address:  # the server's address: on the response, as warcio had it
            headers.append(("WARC-IP-Address", exchange.ip_address))
        body = exchange.response_body
        response = _record(WarcRecordType.response, warc_date, headers, self.response.block + body)
        self.response_member = _member(response, hashlib.sha1(body).digest())
        self.payload_digest: str = response.headers.get("WARC-Payload-Digest")
        request = _record(WarcRecordType.request, warc_date,
                          [target, ("WARC-Concurrent-To", response.record_id),
                           ("Content-Type", _REQUEST_TYPE)],
                          self.request.block + exchange.request_body)  # fmt: skip
        self.request_member = _member(request, hashlib.sha1(exchange.request_body).digest())


def warcinfo_member(filename: str, info: dict[str, str]) -> bytes:
    """A file's warcinfo record, dated now, its fields as warcio's ``create_warcinfo_record``
    writes them (``name: value`` lines, empty values left out)."""
    fields = "".join(f"{name}: {value}\r\n" for name, value in info.items() if value)
    record = _record(WarcRecordType.warcinfo, None,
                     [("WARC-Filename", filename), ("Content-Type", _INFO_TYPE)],
                     fields.encode("utf-8"))  # fmt: skip
    return _member(record, None)
