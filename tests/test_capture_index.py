"""The CDXJ index built from the records as written (newsarchive.capture.index) says what
py-wacz says reading the files back, for every kind of exchange a crawl records.

Each line is compared with the library's own reading of the same two gzip members, and a
whole package with ``wacz create``'s on the same files. The exchanges are the odd ones too:
POST and PUT (the library appends ``__wb_method=…`` and the body to the url key), Chromium's
records (header lists, decoded bodies, a header value holding a newline as Playwright joins
repeated headers), headers that read back otherwise than written, no Content-Type at all.
"""

from __future__ import annotations

import gzip
import subprocess
import zipfile
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from newsarchive.capture import PAGES_NAME
from newsarchive.capture.index import LiveIndex, WrittenPair
from newsarchive.capture.package import package_run, wacz_command
from newsarchive.capture.writer import Exchange, WarcFiles
from tests.test_capture import packaged_and_made_by_wacz_create

PAGE = b"<html><head><title>A page</title></head><body>" + b"text " * 400 + b"</body></html>"
AT = datetime(2026, 12, 1, 10, 0, 0, 123456, tzinfo=UTC)


def exchange(url: str = "http://site/newstream/1/", **fields) -> Exchange:
    base = dict(
        url=url, method="GET", request_headers={b"User-Agent": [b"test"]}, request_body=b"",
        status=200, protocol="HTTP/1.1",
        response_headers={b"Content-Type": [b"text/html; charset=utf-8"]}, response_body=PAGE,
        fetched_at=AT, ip_address="127.0.0.1", page_kind="article", decoded=False,
    )  # fmt: skip
    return Exchange(**{**base, **fields})


#: name → (exchange, whether the line is built from the records rather than read back)
CASES: dict[str, tuple[Exchange, bool]] = {
    "plain GET": (exchange(), True),
    "referer and cookie": (exchange(request_headers={
        b"Referer": [b"http://site/listing/1/"], b"Cookie": [b"a=1; b=2"],
        b"Accept-Encoding": [b"gzip, deflate"]}), True),
    "https, query, 404": (exchange("https://site/search?q=x&b=2", status=404), True),
    "redirect, empty body": (exchange(status=301, response_body=b"", response_headers={
        b"Location": [b"/newstream/2/"], b"Content-Type": [b"text/html"]}), True),
    "robots.txt": (exchange("http://site/robots.txt", page_kind=None, response_headers={
        b"Content-Type": [b"text/plain"]}, response_body=b"User-agent: *\n"), True),
    "no content-type": (exchange(response_headers={b"Server": [b"x"]}), True),
    "empty content-type": (exchange(response_headers={b"Content-Type": [b""]}), True),
    "spaced content-type": (exchange(response_headers=[
        ("content-type", "  text/HTML ;x=1  "), ("Content-Type", "second/one")]),
        True),
    "unknown status": (exchange(status=299), True),
    "HEAD": (exchange(method="HEAD", response_body=b""), True),
    "non-ASCII header values": (exchange(response_headers=[
        ("Content-Type", "text/html; name=\"é\""), ("X-Name", "Ünïcode")],
        request_headers=[("Referer", "http://site/é")]), True),
    "header name with a trailing blank": (exchange(request_headers=[("Referer ", "http://r/")]),
                                          True),
    "a value holding a newline (Playwright joins Set-Cookie so)": (exchange(
        response_headers=[("content-type", "text/html"), ("set-cookie", "a=1\nb=2")],
        decoded=True), False),
    "Chromium's record": (exchange(
        request_headers=[("user-agent", "Chromium"), ("referer", "http://site/listing/")],
        response_headers=[("content-type", "application/javascript"),
                          ("content-encoding", "gzip")],
        page_kind=None, decoded=True), True),
    "POST form": (exchange("http://site/wp-admin/admin-ajax.php", method="POST",
        request_headers=[("Content-Type", "application/x-www-form-urlencoded")],
        request_body=b"action=more&page=2", page_kind=None), False),
    "POST JSON, URL with a query": (exchange("http://site/api?x=1", method="POST",
        request_headers=[("Content-Type", "application/json")], request_body=b'{"p": 3}',
        page_kind=None), False),
    "PUT binary": (exchange("http://site/put", method="PUT", request_body=b"\x00\xff",
        request_headers=[("Content-Type", "application/octet-stream")]), False),
    "post in lower case": (exchange(method="post", request_body=b"a=1", request_headers=[
        ("Content-Type", "application/x-www-form-urlencoded")]), False),
}  # fmt: skip


class Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, line: str) -> None:
        self.lines.append(line)


class Pairs(LiveIndex):
    """The index, keeping each pair as the writer handed it over."""

    def __init__(self) -> None:
        super().__init__()
        self.pairs: list[WrittenPair] = []

    def recorded(self, pair: WrittenPair) -> None:
        self.pairs.append(pair)
        super().recorded(pair)


@pytest.mark.parametrize("case", CASES)
def test_a_line_built_from_the_records_is_the_librarys_reading(tmp_path, case):
    """Built from the records, or (where only the library can say) left to its reader."""
    made, built = CASES[case]
    index = Pairs().start()
    files = WarcFiles(tmp_path, "run1", {"run_id": "run1"}, 10**9, index)
    files.write(exchange("http://site/before/"))  # so the pair is not at the file's start
    files.write(made)
    files.close()
    pair = index.pairs[-1]
    read = Lines()
    index.library_lines(pair, read)
    assert len(read.lines) == 1
    line = index.line(pair)
    assert (line is not None) == built, line
    if built:
        assert line == read.lines[0]
    # and both are what the library reads in the whole file, offsets included
    assert read.lines[0] in library_index(files.paths[0])


def library_index(path: Path) -> list[str]:
    """The lines py-wacz's indexer writes for a WARC file, unsorted, read from the file."""
    index = LiveIndex().start()
    out = Lines()
    index.indexer.output = out
    with path.open("rb") as stream:
        index.indexer.process_one(stream, out, str(path))
    return out.lines


def test_a_package_of_every_kind_of_exchange_equals_wacz_creates(tmp_path):
    """Every case in one run, rotated over several files: the index, its summary and the
    page list are byte for byte those of `wacz create` on the same files, and the package
    passes `wacz validate`."""
    index = LiveIndex().start()
    files = WarcFiles(tmp_path / "c", "run1", {"run_id": "run1"}, 12_000, index)
    for n, (made, _) in enumerate(CASES.values()):
        files.write(made)
        files.write(exchange(f"http://site/newstream/{n}/?x={n}", fetched_at=datetime.now(UTC)))
    files.close()
    assert len(files.paths) > 2
    live, made_wacz = packaged_and_made_by_wacz_create(index, files, tmp_path)
    with zipfile.ZipFile(live) as ours, zipfile.ZipFile(made_wacz) as theirs:
        assert ours.namelist() == theirs.namelist()
        assert gzip.decompress(ours.read("indexes/index.cdx.gz")) == gzip.decompress(
            theirs.read("indexes/index.cdx.gz")
        )
        assert ours.read("indexes/index.idx") == theirs.read("indexes/index.idx")
        assert ours.read("pages/pages.jsonl") == theirs.read("pages/pages.jsonl")
        methods = gzip.decompress(ours.read("indexes/index.cdx.gz")).count(b"__wb_method=")
    assert methods == 4  # the POSTs and the PUT, keyed as the library keys them
    checked = subprocess.run(wacz_command("validate", "-f", str(live)),
                             capture_output=True, text=True)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_each_record_is_its_own_gzip_member(tmp_path):
    """As the WARC spec asks: a reader can start at any record's offset in the index."""
    files = WarcFiles(tmp_path, "run1", {"run_id": "run1"}, 10**9)
    for n in range(5):
        files.write(exchange(f"http://site/newstream/{n}/"))
    files.close()
    data = files.paths[0].read_bytes()
    members = []
    while data:
        inflate = zlib.decompressobj(31)
        members.append(inflate.decompress(data))
        assert inflate.eof
        data = inflate.unused_data
    with files.paths[0].open("rb") as stream:
        records = [r.rec_type for r in ArchiveIterator(stream)]
    assert records == ["warcinfo"] + ["response", "request"] * 5
    assert len(members) == len(records)
    assert all(member.startswith(b"WARC/1.1\r\n") for member in members)


def test_page_titles_of_encoded_and_decoded_bodies(tmp_path):
    """A gzip-encoded body is inflated for its title; a body Chromium decoded is read as it
    is, whatever its Content-Encoding header said."""
    files = WarcFiles(tmp_path, "run1", {}, 10**9)
    files.write(exchange("http://site/newstream/1/", response_body=gzip.compress(PAGE),
                         response_headers={b"Content-Type": [b"text/html"],
                                           b"Content-Encoding": [b"gzip"]}))  # fmt: skip
    files.write(exchange("http://site/newstream/2/", decoded=True,
                         response_headers=[("content-type", "text/html"),
                                           ("content-encoding", "gzip")]))  # fmt: skip
    files.write(exchange("http://site/newstream/3/", response_body=b"\x00\x01",
                         response_headers={b"Content-Type": [b"text/html"],
                                           b"Content-Encoding": [b"br"]}))  # fmt: skip
    files.close()
    titles = [line.split('"title": ')[1].split(",")[0]
              for line in (tmp_path / PAGES_NAME).read_text().splitlines()[1:]]  # fmt: skip
    assert titles == ['"A page"', '"A page"', '"http://site/newstream/3/"']


def test_an_index_that_fails_never_stops_the_writing(tmp_path):
    """The WARC files are the evidence: they are written whole; the package is not made."""

    class Broken(LiveIndex):
        def line(self, pair: WrittenPair) -> str | None:
            raise RuntimeError("boom")

    index = Broken().start()
    files = WarcFiles(tmp_path / "c", "run1", {}, 10**9, index)
    for n in range(3):
        files.write(exchange(f"http://site/newstream/{n}/"))
    files.close()
    with files.paths[0].open("rb") as stream:
        assert sum(r.rec_type == "response" for r in ArchiveIterator(stream)) == 3
    result = package_run(index, files.paths, tmp_path / "c" / PAGES_NAME, tmp_path / "r.wacz",
                         "t", files.exchanges)  # fmt: skip
    assert result.error == "indexing the WARC records failed: boom"
    assert not (tmp_path / "r.wacz").exists() and files.paths[0].is_file()
