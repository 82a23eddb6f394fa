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
#: A one-line reason the run could not start (e.g. the database refused it); `scrapy crawl`
#: prints it and exits 1.
STARTUP_ERROR = f"{PREFIX}/startup_error"


def listing_failed(reason: str) -> str:
    return f"{LISTING_FAILED}/{reason}"


def blocked(status: int | str) -> str:
    return f"{BLOCKED}/{status}"


def incomplete(kind: str) -> str:
    return f"{INCOMPLETE}/{kind}"


def monitor_failed(check: str) -> str:
    return f"{MONITOR_FAILED}/{check}"


# --- listings only a browser can page (newsarchive.browser, the spider) ---------------------
#: Listings rendered to be paged by clicking "More Articles".
LISTINGS_RENDERED = f"{PREFIX}/listing/rendered"
#: Clicks on "More Articles" that revealed a next page.
LISTING_CLICKS = f"{PREFIX}/listing/clicks"
#: + "/<why>": why clicking stopped: exhausted, known, limit, unchanged, click_failed.
LISTING_STOPPED = f"{PREFIX}/listing/click_stopped"
#: + "/<why>": scripted listings whose later pages were not followed: render_never,
#: no_browser, error.
LISTING_NOT_FOLLOWED = f"{PREFIX}/listing/not_followed"
#: Requests that needed a browser when none could be started.
BROWSER_UNAVAILABLE = f"{PREFIX}/browser/unavailable"


def listing_stopped(reason: str) -> str:
    return f"{LISTING_STOPPED}/{reason}"


def listing_not_followed(reason: str) -> str:
    return f"{LISTING_NOT_FOLLOWED}/{reason}"


# --- incremental runs and the walk (newsarchive.incremental, the spider; read by the monitor)
INCREMENTAL = f"{PREFIX}/incremental"
#: "incremental" runs stop where nothing is new; "full" and "resume" walk further.
INCREMENTAL_MODE = f"{INCREMENTAL}/mode"
KNOWN_AT_START = f"{INCREMENTAL}/known_at_start"
#: Listed articles skipped because the archive already holds them.
KNOWN_SKIPPED = f"{INCREMENTAL}/known_skipped"
NEW_LISTED = f"{INCREMENTAL}/new_listed"  # listed ids unknown at run start (what a run may find)
CAUGHT_UP = f"{INCREMENTAL}/caught_up"  # 1 when the walk stopped on a page with nothing new
RECHECKS = f"{INCREMENTAL}/rechecks"
RETRIES = f"{INCREMENTAL}/retries"


# --- re-extraction (newsarchive.reextract) ---------------------------------------------------
REEXTRACT = f"{PREFIX}/reextract"
REEXTRACT_RUN = f"{REEXTRACT}/run"  # 1: the run re-reads captures; it does not walk the site
REEXTRACT_SHARES = f"{REEXTRACT}/shares_done"  # shares of the captures extracted
REEXTRACT_ITEMS = f"{REEXTRACT}/items"  # items re-extracted from captures
REEXTRACT_UNREADABLE = f"{REEXTRACT}/unreadable"  # captured pages that gave no item today
REEXTRACT_RESUMED = f"{REEXTRACT}/already_done"  # skipped: done before the run was killed
REEXTRACT_NO_CAPTURES = f"{REEXTRACT}/no_captures"  # the selection named no capture at all
REEXTRACT_COMPLETE = f"{REEXTRACT}/complete"  # 1: every share of the job was read to its end
#: Scrapy's CoreStats name, which ``scrapy reextract`` adds itself (reextract.spider._Tally)
SCRAPY_ITEMS_SCRAPED = "item_scraped_count"

# --- the crawl-time judgement (newsarchive.reextract.judgement) ----------------------------
JUDGEMENT = f"{PREFIX}/judgement"
#: archived articles whose current text another extractor version read (loaded at start)
JUDGEMENT_CANDIDATES = f"{JUDGEMENT}/candidates"
JUDGED = f"{JUDGEMENT}/judged"  # + "/<kind>": reextract, edit, unverified (no capture)
#: old captures whose re-reading differed from the stored text: a reextract revision first
JUDGEMENT_OLD_CAPTURES = f"{JUDGEMENT}/old_captures_reextracted"


def judged(kind: str) -> str:
    return f"{JUDGED}/{kind}"


# --- database (newsarchive.db, the PostgreSQL pipeline) ----------------------------------------
DB = f"{PREFIX}/db"
DB_ARTICLES_WRITTEN = f"{DB}/articles_written"  # article items stored (new, changed or re-seen)
DB_ARTICLES_ADDED = f"{DB}/articles_added"
DB_REVISIONS_ADDED = f"{DB}/revisions_added"
DB_ARTICLES_CHANGED = f"{DB}/articles_changed"
DB_ARTICLES_RETURNED = f"{DB}/articles_returned"
DB_GONE_MARKED = f"{DB}/gone_marked"
DB_GONE_UNKNOWN = f"{DB}/gone_unknown"
DB_NUL_STRIPPED = f"{DB}/nul_stripped"
DB_BATCHES = f"{DB}/batches"
DB_RETRIES = f"{DB}/retries"
DB_SPILLED = f"{DB}/spilled"
DB_REJECTED = f"{DB}/rejected"  # + "/<reason>"
#: The full-text index (schema 0004), filled outside the write path: revisions indexed, and
#: revisions a fill could not index (the next catch-up, at the latest the next run's, does).
DB_SEARCH_INDEXED = f"{DB}/search_indexed"
DB_SEARCH_FAILED = f"{DB}/search_failed"


def db_rejected(reason: str) -> str:
    return f"{DB_REJECTED}/{reason}"


# --- Spidermon: item validation (newsarchive.monitors) ------------------------------------
SPIDERMON_VALIDATION = "spidermon/validation"  # Spidermon's own prefix (ItemValidationPipeline)
SCHEMA_ITEMS = f"{SPIDERMON_VALIDATION}/items"  # items validated
SCHEMA_FIELDS = f"{SPIDERMON_VALIDATION}/fields"  # fields of the items validated
SCHEMA_ITEMS_WITH_ERRORS = f"{SPIDERMON_VALIDATION}/items/errors"  # items with a violation
SCHEMA_FIELD_ERRORS = f"{SPIDERMON_VALIDATION}/fields/errors"  # + "/<error>/<field>"


# --- raw capture (issue 12: newsarchive.capture) ----------------------------------------------
CAPTURE_RECORDS = f"{PREFIX}/capture/exchanges"  # request/response pairs handed to the recorder
CAPTURE_BYTES = f"{PREFIX}/capture/response_bytes"  # response body bytes recorded
CAPTURE_BROWSER_RECORDS = f"{PREFIX}/capture/browser_exchanges"  # of those, seen by Chromium
CAPTURE_BROWSER_MISSED = f"{PREFIX}/capture/browser_missed"  # page closed before the body came
CAPTURE_FILES = f"{PREFIX}/capture/warc_files"
CAPTURE_PAGES = f"{PREFIX}/capture/pages"  # listing and article pages in pages.jsonl
CAPTURE_FAILED = f"{PREFIX}/capture/failed"  # 1: writing a WARC file failed (disk full, …)
CAPTURE_WACZ_FAILED = f"{PREFIX}/capture/wacz_failed"  # 1: packaging failed; the WARCs stay
#: Back-pressure: the most bytes ever waiting in the crawl for the recorder's pipe, and the
#: seconds the crawl spent waiting for room (NEWSARCHIVE_WARC_QUEUE_BYTES).
CAPTURE_PEAK_WAITING = f"{PREFIX}/capture/peak_waiting_bytes"
CAPTURE_WAITED = f"{PREFIX}/capture/waited_seconds"
CAPTURE_END_WAIT = f"{PREFIX}/capture/end_wait_seconds"  # packaging after the crawl was done


# --- honest verdicts (issue 11: newsarchive.monitor, the spider, the job, the writer) --------
#: 1 when a JOBDIR run found its job finished by an earlier run: nothing was left to crawl.
JOB_FINISHED_BEFORE = f"{PREFIX}/job/finished_before"
#: The spill file of this run (a path), set by the PostgreSQL pipeline once it has flushed.
DB_SPILL_FILE = f"{DB}/spill_file"
#: Listings whose article links all lead to another host (a start URL on an alias of the
#: site: ``localhost`` while the pages link to ``127.0.0.1``).
ALIAS_HOST_LISTINGS = f"{PREFIX}/links/alias_host"
