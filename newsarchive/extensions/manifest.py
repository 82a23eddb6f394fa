"""A run's feed manifest: data/feeds/<spider>/<run_id>/manifest.json, written at the very end.

Ordering: FeedExporter closes its files on ``spider_closed`` (each batch file also closes
mid-run), telling ``feed_slot_closed`` for each. This extension collects those and writes the
manifest on ``engine_stopped``, which Scrapy sends only after every ``spider_closed`` handler
(the feed exporter's, the WARC writer's and WACZ packager's, the run summary's) has finished,
so every file is complete when it is hashed. Hashing runs in a thread: a run's files can be large.
"""

from __future__ import annotations

import json
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlparse

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.extensions.feedexport import FeedSlot
from scrapy.utils.asyncio import run_in_thread
from scrapy.utils.misc import load_object
from w3lib.url import file_uri_to_path

from newsarchive.capture import wacz_path, warc_files
from newsarchive.extensions.progress import summary_path
from newsarchive.files import write_json_atomically
from newsarchive.items import ARTICLE_FIELDS, ARTICLE_FIELDS_VERSION
from newsarchive.manifest import (
    MANIFEST_NAME,
    build_manifest,
    file_entry,
)
from newsarchive.settings_helpers import data_dir, require_run_records, run_feed_folder

logger = logging.getLogger(__name__)

_COMPRESSIONS = {"GzipPlugin": "gzip", "Bz2Plugin": "bz2", "LZMAPlugin": "xz"}


@dataclass(frozen=True)
class ClosedFeed:
    """One feed file (one batch of one feed) as the feed exporter closed it."""

    uri: str
    path: Path | None  # None: not a local file (s3://, stdout:, …)
    file_format: str
    rows: int
    compression: str | None


def _compression(feed_options: dict[str, Any]) -> str | None:
    for plugin in feed_options.get("postprocessing") or ():
        name = getattr(load_object(plugin), "__name__", "")
        if name in _COMPRESSIONS:
            return _COMPRESSIONS[name]
    return None


def _local_path(uri: str) -> Path | None:
    scheme = urlparse(uri).scheme
    if scheme == "file":
        return Path(file_uri_to_path(uri))
    if not scheme or len(scheme) == 1:  # a plain path (or a Windows drive letter)
        return Path(uri)
    return None


def manifest_path(folder: Path, spider: str, run_id: str) -> Path:
    return run_feed_folder(folder, spider, run_id) / MANIFEST_NAME


def packaged_warc_hashes(wacz: Path) -> dict[str, tuple[int, str]]:
    """WARC file name: (size, sha256), from the datapackage of the run's WACZ, which holds
    the WARC files byte for byte and was hashed as it was packaged: reading every WARC file
    again for the manifest cost about 0.25 s at 20,000 articles. Empty without a WACZ."""
    try:
        with zipfile.ZipFile(wacz) as archive:
            package = json.loads(archive.read("datapackage.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return {}
    found: dict[str, tuple[int, str]] = {}
    for resource in package.get("resources", []):
        path, digest, size = resource.get("path"), resource.get("hash"), resource.get("bytes")
        if (
            isinstance(path, str) and path.startswith("archive/")
            and isinstance(digest, str) and digest.startswith("sha256:")
            and isinstance(size, int)
        ):  # fmt: skip
            found[path.removeprefix("archive/")] = (size, digest.removeprefix("sha256:"))
    return found


class FeedManifest:
    """Write the run's manifest (files, rows, sha256, schema, run id) and name it in the
    run summary, once every feed file is closed."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.feeds: list[ClosedFeed] = []
        self.spider_name: str | None = None
        self.run_id: str | None = None
        self.start_url: str | None = None
        self.reason: str | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        require_run_records(crawler.settings)
        extension = cls(crawler)
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.feed_slot_closed, signal=signals.feed_slot_closed)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(extension.engine_stopped, signal=signals.engine_stopped)
        return extension

    def spider_opened(self, spider: Spider) -> None:
        self.spider_name = spider.name
        self.run_id = getattr(spider, "run_id", None)
        self.start_url = getattr(spider, "start_url", None)

    def feed_slot_closed(self, slot: FeedSlot) -> None:
        self.feeds.append(
            ClosedFeed(
                uri=slot.uri,
                path=_local_path(slot.uri),
                file_format=slot.format,
                rows=slot.itemcount,
                compression=_compression(slot.feed_options),
            )
        )

    def spider_closed(self, spider: Spider, reason: str) -> None:
        self.reason = reason

    async def engine_stopped(self) -> None:
        if self.spider_name is None or not self.run_id or not self.feeds:
            return
        try:
            path = await run_in_thread(self.write)
        except OSError as exc:
            logger.error("Could not write the run's manifest: %s", exc)
            return
        logger.info("Run %s manifest: %s", self.run_id, path)

    # --- blocking part, in a thread ---------------------------------------------------------

    def write(self) -> Path:
        assert self.spider_name and self.run_id
        settings = self.crawler.settings
        folder = data_dir(settings)
        path = manifest_path(folder, self.spider_name, self.run_id)
        files = [
            file_entry(
                feed.path,
                path.parent,
                rows=feed.rows,
                file_format=feed.file_format,
                compression=feed.compression,
            )
            if feed.path is not None
            else {"name": feed.uri, "format": feed.file_format, "rows": feed.rows}
            for feed in self.feeds
        ]
        # The raw capture (newsarchive.capture): the WARC files, and the WACZ holding them.
        wacz = wacz_path(folder, self.spider_name, self.run_id)
        packaged = packaged_warc_hashes(wacz)
        for warc in warc_files(folder, self.spider_name, self.run_id):
            known = packaged.get(warc.name)
            files.append(
                file_entry(
                    warc,
                    path.parent,
                    rows=None,
                    file_format="warc",
                    compression="gzip",
                    known=known,
                )
            )
        if wacz.is_file():
            files.append(file_entry(wacz, path.parent, rows=None, file_format="wacz"))
        manifest = build_manifest(
            kind="crawl_feed",
            files=files,
            schema={
                "name": "article",
                "version": ARTICLE_FIELDS_VERSION,
                "fields": list(ARTICLE_FIELDS),
            },
            run_ids=[self.run_id],
            filters={"start_url": self.start_url},
            spider=self.spider_name,
            finish_reason=self.reason,
        )
        write_json_atomically(path, manifest, indent=2)
        self._add_to_summary(folder, path, [feed.path for feed in self.feeds], files)
        return path

    def _add_to_summary(
        self, folder: Path, manifest: Path, feed_files: list[Path | None], files: list[dict]
    ) -> None:
        """Name the manifest, the feed files, the WARC files and the WACZ (with its sha256) in
        the run summary (written by CrawlProgress on spider_closed, so before this)."""
        spider = self.crawler.spider
        summary_file = (
            summary_path(self.crawler, spider)
            if spider is not None
            else folder / "runs" / str(self.spider_name) / f"{self.run_id}.json"
        )
        if not summary_file.is_file():
            return
        summary = json.loads(summary_file.read_text(encoding="utf-8"))
        summary["manifest"] = str(manifest)
        summary["feed_files"] = [str(p) for p in feed_files if p is not None]
        capture = [entry for entry in files if entry["format"] in ("warc", "wacz")]
        summary["warc_files"] = [
            str((manifest.parent / e["name"]).resolve()) for e in capture if e["format"] == "warc"
        ]
        for entry in capture:
            if entry["format"] == "wacz":
                summary["wacz"] = str((manifest.parent / entry["name"]).resolve())
                summary["wacz_sha256"] = entry["sha256"]
        write_json_atomically(summary_file, summary, indent=2)
