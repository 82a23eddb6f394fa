"""One exchange's two WARC records and a file's warcinfo record, built, digested and gzipped.

The WARC header lines are written here, not by a library's record builder: they are a fixed
handful (``WARC/1.1``, WARC-Type, WARC-Record-ID, WARC-Date, WARC-Target-URI, Content-Type,
WARC-IP-Address, WARC-Concurrent-To, the SHA-1 payload and block digests in base32, as warcio
writes them, and Content-Length). Why not a library: building a pair's records (uncompressed)
took 77 µs per exchange with warcio's Python record assembly (``StatusAndHeaders``,
``create_warc_record``, its digesters and writer), 60 µs with FastWARC's ``WarcRecord`` (C++,
but its headers, content copy and writes cross into Python; tried in 7189d9a), and 46 µs
here, most of that the two SHA-1 digests. It is the recorder's CPU, on the second core the
crawl's extraction worker needs (``bench/bench_recorder.py --levers`` measures all three).

The HTTP header blocks follow warcio's rules (``StatusAndHeaders.to_str``: the first line,
then ``name: value`` lines, then a blank line; ASCII, and where a value is not, warcio's own
RFC 8187 %-encoding, done by warcio). tests/test_capture_records.py compares every record and
the warcinfo with what warcio's writer made of the same exchange: the same headers, blocks
and digests.

Each record is its own gzip member (as the WARC spec asks; any gzip reader inflates it),
deflated by ISA-L (``isal``) at its level 1 instead of warcio's zlib at level 9: on the
specimen article that is 19 µs instead of 190 µs, for a member 5% larger (zlib's level 1 took
100 µs and made it larger still).
"""

from __future__ import annotations

import hashlib
import uuid
from base64 import b32encode
from collections.abc import Mapping
from datetime import datetime
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from isal import isal_zlib
from warcio.timeutils import datetime_to_iso_date

from newsarchive.capture.index import HttpHead
from newsarchive.clock import utc_now

if TYPE_CHECKING:
    from newsarchive.capture.writer import Exchange, Headers

#: What the warcinfo record says the files conform to.
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
    if first_value(headers, "Host") is None:
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


def warc_date(instant: datetime) -> str:
    """A WARC-Date as warcio writes it, to the microsecond; ``instant`` in UTC (warcio wants
    it naive and appends the Z itself)."""
    return datetime_to_iso_date(instant.replace(tzinfo=None), use_micros=True)


def _sha1(data: bytes) -> str:
    """A WARC digest as warcio writes it: ``sha1:`` and the base32 SHA-1."""
    if not data:  # most requests' payload
        return _EMPTY_SHA1
    return "sha1:" + b32encode(hashlib.sha1(data).digest()).decode("ascii")


_EMPTY_SHA1 = "sha1:" + b32encode(hashlib.sha1(b"").digest()).decode("ascii")


def _member(kind: str, headers: list[tuple[str, str]], block: bytes) -> bytes:
    """One WARC record as one gzip member: the version line, WARC-Type, ``headers``, the block
    digest, Content-Length, the block and the two line ends that close a record."""
    headers.append(("WARC-Block-Digest", _sha1(block)))
    head = [f"{WARC_VERSION}\r\nWARC-Type: {kind}\r\n"]
    head += [f"{name}: {value}\r\n" for name, value in headers]
    head.append(f"Content-Length: {len(block)}\r\n\r\n")
    record = b"".join(("".join(head).encode("utf-8"), block, b"\r\n\r\n"))
    return isal_zlib.compress(record, GZIP_LEVEL, _GZIP_WBITS)


def _record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


class PairMembers:
    """An exchange's response and request records, each as a gzip member (the response first,
    as warcio writes a pair), with what the index reads off them."""

    __slots__ = ("payload_digest", "request", "request_member", "response", "response_member")

    def __init__(self, exchange: Exchange, warc_date: str) -> None:
        self.response = response_head(exchange)
        self.request = request_head(exchange)
        response_id, body = _record_id(), exchange.response_body
        headers = [("WARC-Record-ID", response_id), ("WARC-Date", warc_date),
                   ("WARC-Target-URI", exchange.url), ("Content-Type", _RESPONSE_TYPE)]  # fmt: skip
        if exchange.ip_address:  # the server's address: on the response, as warcio had it
            headers.append(("WARC-IP-Address", exchange.ip_address))
        self.payload_digest = _sha1(body)
        headers.append(("WARC-Payload-Digest", self.payload_digest))
        self.response_member = _member("response", headers, self.response.block + body)
        headers = [("WARC-Record-ID", _record_id()), ("WARC-Date", warc_date),
                   ("WARC-Target-URI", exchange.url), ("WARC-Concurrent-To", response_id),
                   ("Content-Type", _REQUEST_TYPE),
                   ("WARC-Payload-Digest", _sha1(exchange.request_body))]  # fmt: skip
        self.request_member = _member("request", headers,
                                      self.request.block + exchange.request_body)  # fmt: skip


def warcinfo_member(filename: str, info: dict[str, str]) -> bytes:
    """A file's warcinfo record, dated now, its fields as warcio's ``create_warcinfo_record``
    writes them (``name: value`` lines, empty values left out)."""
    fields = "".join(f"{name}: {value}\r\n" for name, value in info.items() if value)
    headers = [("WARC-Record-ID", _record_id()), ("WARC-Filename", filename),
               ("WARC-Date", warc_date(utc_now())), ("Content-Type", _INFO_TYPE)]  # fmt: skip
    return _member("warcinfo", headers, fields.encode("utf-8"))
