"""Package a run's WARC files as one WACZ with py-wacz (``wacz create``), after the crawl.

Why a subprocess: py-wacz indexes every record and sorts the CDXJ index in memory, which is
blocking work that grows with the run; in its own process it neither holds the GIL nor adds
to the crawl's memory. Its progress lines go to the crawl's log. The package is written as
``<run_id>.wacz.part`` and renamed once complete, so a ``.wacz`` is never half a file.

What goes in: the WARC files (archive/), the CDXJ index py-wacz builds from them (indexes/),
the run's page list (pages/pages.jsonl: every listing and article page, copied as written
during the crawl) and datapackage.json with the sha256 of each file, plus its own digest.
"""

from __future__ import annotations

import gzip
import logging
import os
import subprocess
import sys
import zipfile
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from newsarchive.capture import PAGES_NAME

logger = logging.getLogger(__name__)

#: The CDXJ index py-wacz writes (gzip members, with indexes/index.idx over them).
INDEX = "indexes/index.cdx.gz"
_QUIET = "ignore:pkg_resources is deprecated:UserWarning"
#: Lines of py-wacz output kept to explain a failure.
_TAIL = 5


@dataclass(frozen=True)
class PackageResult:
    path: Path
    bytes: int = 0
    error: str | None = None


def wacz_command(*arguments: str) -> list[str]:
    """py-wacz's command line, run by this interpreter (the project's virtualenv); the
    deprecation notice one of its dependencies prints on import is not news for the log."""
    return [sys.executable, "-W", _QUIET, "-m", "wacz", *arguments]


def package_run(
    warcs: list[Path], folder: Path, target: Path, title: str, responses: int
) -> PackageResult:
    """Build ``target`` from ``warcs`` and the page list in ``folder`` (blocking: a thread);
    its index must list all ``responses`` the WARC files hold (py-wacz skips what it cannot
    read without failing)."""
    partial = target.with_name(target.name + ".part")
    command = wacz_command(
        "create", "-o", str(partial), "--title", title,
        "--desc", "Every HTTP exchange one newsarchive crawl run read.",
        *(("--copy-pages", "-p", str(folder / PAGES_NAME)) if (folder / PAGES_NAME).is_file()
          else ()),
        *(str(path) for path in warcs),
    )  # fmt: skip
    tail: deque[str] = deque(maxlen=_TAIL)
    try:
        with subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            stdin=subprocess.DEVNULL,
        ) as process:  # fmt: skip
            assert process.stdout is not None
            for line in process.stdout:
                if line := line.strip():
                    tail.append(line)
                    logger.info("WACZ %s: %s", target.name, line)
        if process.returncode != 0:
            raise RuntimeError(f"wacz create exited {process.returncode}: {' / '.join(tail)}")
        indexed = indexed_records(partial)
        if indexed != responses:
            raise RuntimeError(f"its index lists {indexed} of the {responses} responses recorded")
        os.replace(partial, target)
        return PackageResult(target, target.stat().st_size)
    except (OSError, RuntimeError, zipfile.BadZipFile, KeyError) as exc:
        partial.unlink(missing_ok=True)
        return PackageResult(target, error=str(exc).splitlines()[0] if str(exc) else repr(exc))


def indexed_records(wacz: Path) -> int:
    """HTTP responses in the WACZ's CDXJ index (lines with a status): one per response
    record py-wacz could read."""
    with zipfile.ZipFile(wacz) as archive, archive.open(INDEX) as member:
        return sum(1 for line in gzip.open(member) if b'"status": ' in line)
