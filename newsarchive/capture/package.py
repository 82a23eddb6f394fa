"""The run's WACZ, indexed while the crawl runs and packaged with py-wacz's own parts.

``wacz create`` reads every WARC file again once they are complete, which is most of the
packaging's time and grows with the run. Instead the recorder process (which writes the WARC
files) indexes each exchange as it writes it (``newsarchive.capture.index``). When the crawl
ends the index is only sorted and compressed; then the package is assembled as ``wacz create``
lays it out: ``pages/pages.jsonl`` (the run's page list, copied), ``indexes/index.cdx.gz`` and
``indexes/index.idx``, ``archive/`` (the WARC files, byte for byte), and ``datapackage.json``
with ``datapackage-digest.json`` from py-wacz's own generator (sha256 of every file). The
package is written as ``<run_id>.wacz.part`` and renamed once complete, so a ``.wacz`` is
never half a file, and its index must list every response recorded (py-wacz skips what it
cannot read without failing).
"""

from __future__ import annotations

import gzip
import os
import shutil
import sys
import warnings
import zipfile
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path

from newsarchive.capture.index import LiveIndex

#: The CDXJ index py-wacz writes (gzip members, with indexes/index.idx over them).
INDEX = "indexes/index.cdx.gz"
INDEX_SUMMARY = "indexes/index.idx"
DESCRIPTION = "Every HTTP exchange one newsarchive crawl run read."
#: What one of py-wacz's dependencies warns on import: not news for the crawl's log.
_IMPORT_NOISE = "pkg_resources is deprecated"
#: As ``wacz create`` has them (wacz.main, not imported: it loads frictionless, which only
#: ``wacz validate`` needs); tests/test_capture.py compares our package with its.
PAGE_INDEX = "pages/pages.jsonl"


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


def package_run(
    index: LiveIndex, warcs: list[Path], pages: Path, target: Path, title: str, responses: int
) -> PackageResult:
    """Finish ``index`` and write ``target`` from it, ``warcs`` and the page list ``pages``;
    its index must list all ``responses`` the WARC files hold."""
    partial = target.with_name(target.name + ".part")
    try:
        index.finish()
        if index.error is not None:
            raise RuntimeError(f"indexing the WARC records failed: {index.error}")
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
