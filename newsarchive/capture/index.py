"""The run's CDXJ index, built from the records as the recorder writes them.

py-wacz's indexer (``WACZIndexer``, as ``wacz create`` runs it) learns each line's fields by
reading the WARC file back: inflating every record and parsing its WARC and HTTP headers
with warcio. That reading was half the recorder's CPU, to learn what the writer already knew:
where each record's gzip member starts and how long it is, its digests, the status, the
Content-Type and the URL. So each line is built here from the response and request records
as they were built (``LiveIndex.recorded``), with the library's own parts for the rest:
``surt`` for the url key, ``iso_date_to_timestamp``, cdxj-indexer's ``SortingWriter`` and
``CompressedWriter`` (sorting, blocks, ``index.idx``), and a ``WACZIndexer`` that never reads,
kept for the datapackage.

The line is the one the library makes (tests/test_capture.py compares the package with
``wacz create``'s on the same files). Where the headers could read back otherwise, or the
library does more than read (a POST or PUT: it appends ``__wb_method=…`` and the body to the
url key), the pair's two gzip members are handed to the library's reader instead
(``library_lines``): the same lines, at the library's cost, for the few exchanges that need it.
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The arguments ``wacz create`` gives its indexer, so that every line is the one it makes.
INDEX_LINES_PER_BLOCK = 1024
INDEX_FIELDS = "referrer,req.http:cookie"
#: Index lines held in memory before py-wacz's sorter spills them to a temporary file, and
#: compressed index kept in memory before it goes to one: the recorder's memory stays flat
#: however long the run.
_SORT_BUFFER_BYTES = 1024 * 1024
_SPOOL_BYTES = 1024 * 1024
#: What the library treats as more than a read (cdxj_indexer.bufferiter.join_req_resp).
_BODY_METHODS = ("POST", "PUT")
_HTTP_SCHEMES = ("http:", "https:")


@dataclass(frozen=True, slots=True)
class HttpHead:
    """An HTTP message's first line and headers as written into its record. The first line
    split as warcio splits it: a response's ``protocol`` is "HTTP/1.1" and its ``statusline``
    "200 OK"; a request's ``protocol`` is its method, its ``statusline`` the rest."""

    protocol: str
    statusline: str
    headers: list[tuple[str, str]]
    block: bytes  # the header block as written, its blank line included


@dataclass(frozen=True, slots=True)
class WrittenPair:
    """A response record and its request record as written (newsarchive.capture.records):
    what their headers say, and where their gzip members are: file offset and bytes."""

    path: Path
    url: str  # WARC-Target-URI
    warc_date: str
    payload_digest: str  # the response's WARC-Payload-Digest
    response: HttpHead
    request: HttpHead
    response_offset: int
    response_member: bytes | memoryview
    request_member: bytes | memoryview


def _parsed_headers(head: HttpHead) -> list[tuple[str, str]] | None:
    """The (name, value) pairs warcio's parser reads back from this HTTP header block, or
    None when that is not sure from the pairs alone (a CR or LF inside a name or value, a
    name that is empty, holds a colon or starts a continuation line)."""
    block, pairs = head.block, head.headers
    if block.count(b"\n") != len(pairs) + 2 or block.count(b"\r") != len(pairs) + 2:
        return None
    read = []
    for name, value in pairs:
        if not name or ":" in name or name[0] in " \t":
            return None
        read.append((name.rstrip(" \t").lower(), value.strip()))
    return read


def _first(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in headers if key == name), None)


class LiveIndex:
    """The run's index, one line per response record, fed by the writer as it writes
    (``writer.FileWatcher``); ``finish`` once the last file is closed."""

    def __init__(self) -> None:
        self.summary = io.BytesIO()  # indexes/index.idx
        self._summary_text = io.TextIOWrapper(self.summary, "utf-8", write_through=True)
        # indexes/index.cdx.gz, closed once packaged (package_run)
        self.data = tempfile.SpooledTemporaryFile(_SPOOL_BYTES)  # noqa: SIM115
        self.indexer: Any = None  # py-wacz's WACZIndexer: the datapackage, library_lines
        self.error: BaseException | None = None
        self._sorted: Any = None
        self._surt: Any = None
        self._timestamp: Any = None
        self._mime_word: Any = None

    def start(self) -> LiveIndex:
        """Load py-wacz (it takes a while, so not at import) and open the sorted output."""
        from cdxj_indexer.main import CompressedWriter, SortingWriter
        from surt import surt
        from wacz.waczindexer import WACZIndexer
        from warcio.timeutils import iso_date_to_timestamp

        self.indexer = WACZIndexer(
            self._summary_text, [],
            sort=True, post_append=True, compress=self.data, lines=INDEX_LINES_PER_BLOCK,
            digest_records=True, fields=INDEX_FIELDS, data_out_name="index.cdx.gz",
            hash_type="sha256", main_url=None, main_ts=None, detect_pages=False,
            passed_pages_dict={}, extract_text=False, signing_url=None, signing_token=None,
            split_seeds=False, max_sort_buff_size=_SORT_BUFFER_BYTES,
        )  # fmt: skip
        # What the indexer's process_all sets up around its reading (cdxj_indexer.main).
        compressed = CompressedWriter(
            self._summary_text, data_out=self.data, data_out_name="index.cdx.gz",
            num_lines=INDEX_LINES_PER_BLOCK, digest_records=True,
        )  # fmt: skip
        self._sorted = SortingWriter(compressed, _SORT_BUFFER_BYTES)
        self._surt, self._timestamp = surt, iso_date_to_timestamp
        self._mime_word = WACZIndexer.RE_SPACE
        return self

    # --- told by the writer ---------------------------------------------------------------

    def opened(self, path: Path) -> None:
        pass

    def closed(self, path: Path) -> None:
        pass

    def recorded(self, pair: WrittenPair) -> None:
        """Index one exchange; a failure stops the index (reported when packaging), never
        the writing of the WARC files."""
        if self.error is not None:
            return
        try:
            line = self.line(pair)
            if line is None:
                self.library_lines(pair, self._sorted)
            else:
                self._sorted.write(line)
        except Exception as exc:
            self.error = exc

    def finish(self) -> None:
        """No more records: sort, compress and summarise what was indexed."""
        if self.error is None and self._sorted is not None:
            try:
                self._sorted.flush()
            except Exception as exc:
                self.error = exc

    # --- the lines ------------------------------------------------------------------------

    def line(self, pair: WrittenPair) -> str | None:
        """The index line of ``pair``'s response, as py-wacz would read it from the file; None
        when only the library's reader can say (see the module's docstring)."""
        response, request, url = pair.response, pair.request, pair.url
        method, protocol, statusline = request.protocol, response.protocol, response.statusline
        if (
            method.upper() in _BODY_METHODS
            or not url.startswith(_HTTP_SCHEMES)
            or url != url.strip()
            or any(c in url for c in "\r\n")
            or not protocol
            or any(c.isspace() for c in protocol + method)
            or statusline != statusline.strip()
        ):
            return None
        response_headers = _parsed_headers(response)
        request_headers = _parsed_headers(request)
        if response_headers is None or request_headers is None:
            return None
        # The fields in the order the library writes them (CDXJIndexer.DEFAULT_FIELDS, then
        # record-digest and the extra fields), each left out where the library finds None.
        index: dict[str, str] = {"url": url}
        mime = _first(response_headers, "content-type")
        if mime is not None:
            index["mime"] = self._mime_word.split(mime, 1)[0].strip() if mime else mime
        index["status"] = statusline.split(" ", 1)[0]  # as warcio's get_statuscode
        index["digest"] = pair.payload_digest
        index["length"] = str(len(pair.response_member))
        index["offset"] = str(pair.response_offset)
        index["filename"] = pair.path.name
        index["recordDigest"] = "sha256:" + hashlib.sha256(pair.response_member).hexdigest()
        if referrer := _first(request_headers, "referer"):
            index["referrer"] = referrer
        if cookie := _first(request_headers, "cookie"):
            index["req.http:cookie"] = cookie
        if index["digest"] is None:
            return None
        timestamp = self._timestamp(pair.warc_date)
        return f"{self._url_key(url)} {timestamp} {json.dumps(index)}\n"

    def _url_key(self, url: str) -> str:
        try:  # as CDXJIndexer.get_url_key
            return self._surt(url)
        except Exception:
            return url

    def library_lines(self, pair: WrittenPair, out: Any) -> None:
        """Index ``pair`` into ``out`` (``write(line)``) with py-wacz's own reader: its two
        gzip members read back as ``CDXJIndexer.process_one`` reads a file, offsets moved to
        where they are in it."""
        from cdxj_indexer.bufferiter import buffering_record_iter

        indexer = self.indexer
        indexer.curr_filename = pair.path.name
        stream = io.BytesIO(bytes(pair.response_member) + bytes(pair.request_member))
        records = indexer._create_record_iter(stream)
        for record in buffering_record_iter(records, post_append=True, digest_reader=stream,
                                            url_key_func=indexer.get_url_key):  # fmt: skip
            record.file_offset += pair.response_offset
            if indexer.filter_record(record):
                indexer.process_index_entry(records, record, pair.path.name, out)
