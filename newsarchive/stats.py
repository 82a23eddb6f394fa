"""Stat names under the project prefix, so dashboards and the monitor read one vocabulary."""

from __future__ import annotations

PREFIX = "newsarchive"

LISTING_PAGES = f"{PREFIX}/pages/listing"
ARTICLE_PAGES = f"{PREFIX}/pages/article"
ITEMS = f"{PREFIX}/items"
GONE = f"{PREFIX}/gone"
DROPS = f"{PREFIX}/drops"  # + "/<reason>"
UNPARSED = f"{PREFIX}/unparsed"  # + "/<what>": text present but unreadable
NULL_FIELDS = f"{PREFIX}/null_field"  # + "/<field>"
MISSING_ANCHOR = f"{PREFIX}/anchor_missing"  # + "/<anchor>"
LISTINGS_WITHOUT_LINKS = f"{PREFIX}/listing/no_article_links"
LISTINGS_NEEDING_BROWSER = f"{PREFIX}/listing/needs_browser"
OFFSITE_LINKS = f"{PREFIX}/links/offsite_ignored"
DUPLICATE_LINKS = f"{PREFIX}/links/duplicate"
PROMO_REMOVED = f"{PREFIX}/body/promo_blocks_removed"
SOURCE_MISMATCH = f"{PREFIX}/source/label_mismatch"


def drop(reason: str) -> str:
    return f"{DROPS}/{reason}"


def unparsed(what: str) -> str:
    return f"{UNPARSED}/{what}"


def null_field(field: str) -> str:
    return f"{NULL_FIELDS}/{field}"


def missing_anchor(anchor: str) -> str:
    return f"{MISSING_ANCHOR}/{anchor}"


def with_prefix(stats: dict, prefix: str) -> dict[str, int]:
    """``{"<reason>": count}`` for every stat under ``prefix + "/"``."""
    start = prefix + "/"
    return {key[len(start) :]: value for key, value in stats.items() if key.startswith(start)}


# --- faults and the run monitor (issue 6) ---------------------------------------------------
ARTICLE_LINKS = f"{PREFIX}/links/article"  # article links seen on listings (incl. duplicates)
LISTINGS_READ = f"{PREFIX}/listing/read"  # listings and "More From" blocks read for links
LISTING_FAILED = f"{PREFIX}/listing/failed"  # + "/<reason>": a listing page that never came
LISTING_LOOPS = f"{PREFIX}/listing/loop_detected"
LISTING_CAP_REACHED = f"{PREFIX}/listing/page_cap_reached"
BLOCKED = f"{PREFIX}/blocked"  # + "/<status>": requests given up on 403/429
BACKOFF_SECONDS = f"{PREFIX}/backoff/seconds"  # total time requests waited before a retry
BACKOFF_HOST_PAUSES = f"{PREFIX}/backoff/host_pauses"  # 403/429/Retry-After: whole host waits
INCOMPLETE = f"{PREFIX}/responses/incomplete"  # + "/<kind>": truncated or empty HTML seen
OVERSIZED = f"{PREFIX}/responses/oversized"
OFFSITE_REDIRECTS = f"{PREFIX}/redirects/offsite_blocked"
RUN_FAILED = f"{PREFIX}/run_failed"  # set to 1 by the monitor; `scrapy crawl` then exits 1
MONITOR_FAILED = f"{PREFIX}/monitor/failed"  # + "/<check>"
JOB_CRASH_RECOVERED = f"{PREFIX}/job/crash_recovered"


def listing_failed(reason: str) -> str:
    return f"{LISTING_FAILED}/{reason}"


STARTUP_ERROR = f"{PREFIX}/startup_error"  # a one-line reason the run could not start


# --- raw capture (issue 12: newsarchive.capture) ----------------------------------------------
CAPTURE_RECORDS = f"{PREFIX}/capture/exchanges"  # request/response pairs handed to the writer
CAPTURE_BYTES = f"{PREFIX}/capture/response_bytes"  # response body bytes recorded
CAPTURE_BROWSER_RECORDS = f"{PREFIX}/capture/browser_exchanges"  # of those, seen by Chromium
CAPTURE_BROWSER_MISSED = f"{PREFIX}/capture/browser_missed"  # page closed before the body came
CAPTURE_FILES = f"{PREFIX}/capture/warc_files"
CAPTURE_PAGES = f"{PREFIX}/capture/pages"  # listing and article pages in pages.jsonl
CAPTURE_FAILED = f"{PREFIX}/capture/failed"  # 1: writing a WARC file failed (disk full, …)
CAPTURE_WACZ_FAILED = f"{PREFIX}/capture/wacz_failed"  # 1: packaging failed; the WARCs stay
