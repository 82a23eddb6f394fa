"""The run's WACZ, indexed while the crawl runs and packaged with py-wacz's own parts.

``wacz create`` reads every WARC file again once they are complete, which is most of the
packaging's time and grows with the run. Instead the recorder process (which writes the WARC
files) runs py-wacz's indexer, ``WACZIndexer``, in a thread over each file *as it grows*: a
read at the end of what is written waits for the next record (``GrowingFile``). When the crawl
ends only the tail is left to index; then the package is assembled as ``wacz create`` lays it
out: ``pages/pages.jsonl`` (the run's page list, copied), ``indexes/index.cdx.gz`` and
``indexes/index.idx``, ``archive/`` (the WARC files, byte for byte), and ``datapackage.json``
with ``datapackage-digest.json`` from py-wacz's own generator (sha256 of every file). The
package is written as ``<run_id>.wacz.part`` and renamed once complete, so a ``.wacz`` is
never half a file, and its index must list every response recorded (py-wacz skips what it
cannot read without failing).
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import sys
import tempfile
import threading
import warnings
import zipfile
from argparse import Namespace
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The CDXJ index py-wacz writes (gzip members, with indexes/index.idx over them).
INDEX = "indexes/index.cdx.gz"
INDEX_SUMMARY = "indexes/index.idx"
DESCRIPTION = "Every HTTP exchange one newsarchive crawl run read."
#: What one of py-wacz's dependencies warns on import: not news for the crawl's log.
_IMPORT_NOISE = "pkg_resources is deprecated"
#: As ``wacz create`` has them (wacz.main, not imported: it loads frictionless, which only
#: ``wacz validate`` needs); tests/test_capture.py compares our package with its.
PAGE_INDEX = "pages/pages.jsonl"
INDEX_LINES_PER_BLOCK = 1024
#: Index lines held in memory before py-wacz's sorter spills them to a temporary file, and
#: compressed index kept in memory before it goes to one: the recorder's memory stays flat
#: however long the run.
_SORT_BUFFER_BYTES = 1024 * 1024
_SPOOL_BYTES = 1024 * 1024
#: How far a WARC file must have grown before the indexer reads on (a dozen records).
_FOLLOW_STEP = 256 * 1024


@dataclass(frozen=True)
class PackageResult:
    path: Path
    bytes: int = 0
    error: str | None = None


def wacz_command(*arguments: str) -> list[str]:
    """py-wacz's command line, run by this interpreter (the project's virtualenv), without
    its dependency's import warning."""
    return [sys.executable, "-W", f"ignore:{_IMPORT_NOISE}:UserWarning", "-m", "wacz", *arguments]


def quiet_py_wacz() -> None:
    """Silence that warning in this process (the recorder, before py-wacz is imported)."""
    warnings.filterwarnings("ignore", _IMPORT_NOISE, UserWarning)


class GrowingFile(io.RawIOBase):
    """A WARC file the recorder is still writing, as the indexer reads it: a read at the end
    of what is written waits for more, and the end is the end once the file is closed."""

    def __init__(self, path: Path, index: LiveIndex) -> None:
        super().__init__()
        self.path = path
        self._raw = path.open("rb", buffering=0)
        self._index = index

    def __fspath__(self) -> str:  # py-wacz names the file in the index by its base name
        return str(self.path)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def readinto(self, buffer: Any) -> int:
        while True:
            count = self._raw.readinto(buffer)
            if count or not self._index.wait_for_more(self.path, self._raw.tell()):
                return count or 0

    def close(self) -> None:
        self._raw.close()
        super().close()


class LiveIndex:
    """py-wacz's indexer over the run's WARC files while they are written (a thread).

    The writer tells it of each file (``opened``, ``grew``, ``closed``; see
    ``writer.FileWatcher``) and ``finish`` once the last file is closed.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._paths: list[Path] = []
        self._sizes: dict[Path, int] = {}
        self._closed: set[Path] = set()
        self._finished = False
        self._wanted = 0  # the size the indexer waits for (0: it is not waiting)
        self._thread = threading.Thread(target=self._run, name="newsarchive-wacz-index",
                                        daemon=True)  # fmt: skip
        self.indexer: Any = None
        self.summary = io.BytesIO()  # indexes/index.idx
        self._summary_text = io.TextIOWrapper(self.summary, "utf-8", write_through=True)
        # indexes/index.cdx.gz, closed once packaged (package_run)
        self.data = tempfile.SpooledTemporaryFile(_SPOOL_BYTES)  # noqa: SIM115
        self.error: BaseException | None = None

    def start(self) -> LiveIndex:
        self._thread.start()
        return self

    # --- told by the writer ---------------------------------------------------------------

    def opened(self, path: Path) -> None:
        with self._changed:
            self._paths.append(path)
            self._sizes[path] = 0
            self._changed.notify_all()

    def grew(self, path: Path, size: int) -> None:
        with self._changed:
            self._sizes[path] = size
            if self._wanted and size >= self._wanted:
                self._changed.notify_all()

    def closed(self, path: Path) -> None:
        with self._changed:
            self._closed.add(path)
            self._changed.notify_all()

    def finish(self) -> None:
        """No more files: index what is left, then return (errors are in ``error``)."""
        with self._changed:
            self._finished = True
            self._closed.update(self._paths)
            self._changed.notify_all()
        self._thread.join()

    # --- the indexer's side ---------------------------------------------------------------

    def wait_for_more(self, path: Path, position: int) -> bool:
        """Wait until ``path`` holds a step more than ``position`` bytes (True) or is closed
        (False). Woken once per step, not per record: fewer switches between the threads."""
        with self._changed:
            self._wanted = position + _FOLLOW_STEP
            while self._sizes[path] < self._wanted and path not in self._closed:
                self._changed.wait()
            self._wanted = 0
            return self._sizes[path] > position

    def _files(self) -> Iterator[GrowingFile]:
        done = 0
        while True:
            with self._changed:
                while done == len(self._paths) and not self._finished:
                    self._changed.wait()
                if done == len(self._paths):
                    return
                path = self._paths[done]
            done += 1
            with GrowingFile(path, self) as growing:
                yield growing

    def _run(self) -> None:
        try:
            # Imported here: py-wacz takes a while to load, and the crawl is already running.
            from wacz.waczindexer import WACZIndexer

            # The arguments `wacz create` gives its indexer, so the index is the one it makes.
            self.indexer = WACZIndexer(
                self._summary_text,
                self._files(),
                sort=True, post_append=True, compress=self.data, lines=INDEX_LINES_PER_BLOCK,
                digest_records=True, fields="referrer,req.http:cookie",
                data_out_name="index.cdx.gz", hash_type="sha256", main_url=None, main_ts=None,
                detect_pages=False, passed_pages_dict={}, extract_text=False, signing_url=None,
                signing_token=None, split_seeds=False, max_sort_buff_size=_SORT_BUFFER_BYTES,
            )  # fmt: skip
            self.indexer.process_all()
        except BaseException as exc:  # reported by package_run, never lost with the thread
            self.error = exc


def package_run(
    index: LiveIndex, warcs: list[Path], pages: Path, target: Path, title: str, responses: int
) -> PackageResult:
    """Finish ``index`` and write ``target`` from it, ``warcs`` and the page list ``pages``;
    its index must list all ``responses`` the WARC files hold."""
    partial = target.with_name(target.name + ".part")
    try:
        index.finish()
        if index.error is not None:
            raise RuntimeError(f"indexing the WARC files failed: {index.error}")
        _write_package(partial, index, warcs, pages, title)
        indexed = indexed_records(partial)
        if indexed != responses:
            raise RuntimeError(f"its index lists {indexed} of the {responses} responses recorded")
        os.replace(partial, target)
        return PackageResult(target, target.stat().st_size)
    except (OSError, RuntimeError, ValueError, zipfile.BadZipFile, KeyError) as exc:
        partial.unlink(missing_ok=True)
        return PackageResult(target, error=str(exc).splitlines()[0] if str(exc) else repr(exc))
    finally:
        index.data.close()


def _write_package(partial: Path, index: LiveIndex, warcs: list[Path], pages: Path,
                   title: str) -> None:  # fmt: skip
    """The members in the order and form ``wacz create --copy-pages`` writes them."""
    from wacz.util import now

    # Unlike `wacz create`, no second reading of the page list to check it: the recorder
    # wrote every line with json.dumps, with the fields it requires (tests read it back).
    with zipfile.ZipFile(partial, "w") as wacz:
        if pages.is_file():
            member = zipfile.ZipInfo(PAGE_INDEX, now())
            with pages.open("rb") as source, wacz.open(member, "w") as out:
                shutil.copyfileobj(source, out)
        index.data.seek(0)
        with wacz.open(zipfile.ZipInfo(INDEX, now()), "w") as out:
            shutil.copyfileobj(index.data, out, 1024 * 1024)
        summary = zipfile.ZipInfo(INDEX_SUMMARY, now())
        summary.compress_type = zipfile.ZIP_DEFLATED
        wacz.writestr(summary, index.summary.getvalue())
        for path in warcs:
            member = zipfile.ZipInfo.from_file(path, f"archive/{path.name}")
            with path.open("rb") as source, wacz.open(member, "w") as out:
                shutil.copyfileobj(source, out, 1024 * 1024)
        package = index.indexer.generate_datapackage(
            Namespace(title=title, desc=DESCRIPTION, date=None), wacz
        ).encode("utf-8")
        for name, data in (
            ("datapackage.json", package),
            ("datapackage-digest.json", index.indexer.generate_datapackage_digest(package)),
        ):
            member = zipfile.ZipInfo(name, now())
            member.compress_type = zipfile.ZIP_DEFLATED
            wacz.writestr(member, data)


def indexed_records(wacz: Path) -> int:
    """HTTP responses in the WACZ's CDXJ index (lines with a status): one per response
    record py-wacz could read. Counted over the inflated index in blocks, not line by line."""
    marker = b'"status": '
    found, tail = 0, b""
    with zipfile.ZipFile(wacz) as archive, archive.open(INDEX) as member:
        lines = gzip.GzipFile(fileobj=member)
        while block := lines.read(1024 * 1024):
            # a marker cut by the previous block's end is whole in tail + block; the tail is
            # too short to hold a whole one, so none is counted twice
            block = tail + block
            found += block.count(marker)
            tail = block[-(len(marker) - 1) :]
    return found
