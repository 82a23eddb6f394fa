"""Raw capture: every HTTP exchange a crawl run reads, as WARC, packaged per run as WACZ.

Where a run's capture lives (fixed for every component that reads it):

    data/warc/<spider>/<run_id>/<run_id>-00001.warc.gz   rotated by size (…-00002, …)
    data/warc/<spider>/<run_id>/pages.jsonl              the listing and article pages
    data/warc/<spider>/<run_id>.wacz                     the package replay tools open

``newsarchive.capture.middleware`` hands each exchange to the recorder process
(``newsarchive.capture.channel`` is the crawl's end of its pipe, ``newsarchive.capture.recorder``
the other), which writes the WARC files (``newsarchive.capture.writer``), indexes each exchange
as it writes it (``newsarchive.capture.index``) and packages the WACZ when the run ends
(``newsarchive.capture.package``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the recorder process imports this package and must not load Scrapy
    from scrapy.settings import BaseSettings

#: Sent by the browser handler (newsarchive.browser) for each response Chromium receives while
#: rendering a page: ``response`` (a Playwright Response), ``request`` (the Scrapy request).
BROWSER_RESPONSE = object()
#: The page list written beside the WARC files and copied into the WACZ as pages/pages.jsonl.
PAGES_NAME = "pages.jsonl"


def capture_enabled(settings: BaseSettings) -> bool:
    return settings.getbool("NEWSARCHIVE_WARC_ENABLED")


def capture_folder(folder: Path, spider: str, run_id: str) -> Path:
    """data/warc/<spider>/<run_id>/: the run's WARC files and page list."""
    return folder / "warc" / spider / run_id


def wacz_path(folder: Path, spider: str, run_id: str) -> Path:
    """data/warc/<spider>/<run_id>.wacz."""
    return folder / "warc" / spider / f"{run_id}.wacz"


def warc_files(folder: Path, spider: str, run_id: str) -> list[Path]:
    """The run's WARC files in the order they were written."""
    return sorted(capture_folder(folder, spider, run_id).glob(f"{run_id}-*.warc.gz"))
