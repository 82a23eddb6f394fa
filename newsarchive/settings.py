"""Scrapy settings for newsarchive: polite defaults, per-deployment values from the environment.

Anything secret or specific to one deployment (database URL, contact address, data folder) is
read from an environment variable here and can be overridden with ``-s NAME=value``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any


def _env_number(kind: type[int] | type[float], name: str, default: str) -> Any:
    """A number from the environment; a malformed one is a one-line error, not a traceback."""
    raw = os.environ.get(name, default)
    try:
        return kind(raw)
    except ValueError:
        wanted = "a whole number" if kind is int else "a number"
        sys.exit(f"newsarchive: error: environment variable {name}={raw!r} is not {wanted}")


BOT_NAME = "newsarchive"
SPIDER_MODULES = ["newsarchive.spiders"]
NEWSPIDER_MODULE = "newsarchive.spiders"
COMMANDS_MODULE = "newsarchive.commands"

TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"

# --- identity and politeness --------------------------------------------------------------
NEWSARCHIVE_CONTACT_URL = os.environ.get(
    "NEWSARCHIVE_CONTACT_URL", "https://example.org/newsarchive (set NEWSARCHIVE_CONTACT_URL)"
)
USER_AGENT = os.environ.get(
    "NEWSARCHIVE_USER_AGENT", f"newsarchive/0.1 (research archive; +{NEWSARCHIVE_CONTACT_URL})"
)
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 8
CONCURRENT_REQUESTS_PER_DOMAIN = 1
# A page yields one item or a page of links: Scrapy's default of 100 parallel output
# workers per response only costs 100 asyncio tasks a page (measured: a third of CPU time).
CONCURRENT_ITEMS = 8
DOWNLOAD_DELAY = 1.0
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 2.0
AUTOTHROTTLE_MAX_DELAY = 60.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
DOWNLOAD_TIMEOUT = 60
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False

# The site answers some clients with 403 for a while: retry it like a 5xx before giving up.
RETRY_ENABLED = True
RETRY_TIMES = 3
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429, 403]

# --- where a run writes -------------------------------------------------------------------
#: Feeds, state and run summaries go here; default: data/ in the project root.
NEWSARCHIVE_DATA_DIR = os.environ.get("NEWSARCHIVE_DATA_DIR", "")
#: The start page of the "naenara" spider when no -a start_url is given: the specimen article,
#: whose "More From" cards and "More Articles" link lead into the stream (its listing URL is
#: not verified).
NEWSARCHIVE_NAENARA_START_URL = os.environ.get(
    "NEWSARCHIVE_NAENARA_START_URL",
    "https://kcnawatch.org/newstream/1713006283-531298405/"
    "talks-held-between-choe-ryong-hae-and-zhao-leji/",
)
#: Seconds between progress lines in the log.
NEWSARCHIVE_PROGRESS_INTERVAL = _env_number(float, "NEWSARCHIVE_PROGRESS_INTERVAL", "30")
#: Items per file of a run's default feeds (articles-00001.jsonl.gz, -00002, …); 0: one file
#: per run. FEED_EXPORT_BATCH_ITEM_COUNT, when set, wins (it is Scrapy's own).
NEWSARCHIVE_FEED_BATCH_SIZE = _env_number(int, "NEWSARCHIVE_FEED_BATCH_SIZE", "10000")
#: Keep the raw HTTP exchanges of article pages as WARC: data/warc/<spider>/<run_id>.warc.gz.
NEWSARCHIVE_WARC_ENABLED = os.environ.get("NEWSARCHIVE_WARC_ENABLED", "False")

FEED_EXPORT_ENCODING = "utf-8"

EXTENSIONS = {
    "newsarchive.extensions.progress.CrawlProgress": 500,
    # A run's manifest (files, rows, sha256) once its feeds are closed; see docs/DATA.md.
    "newsarchive.extensions.manifest.FeedManifest": 510,
    # Off unless NEWSARCHIVE_WARC_ENABLED.
    "newsarchive.extensions.warc.WarcArchive": 520,
    # gc.freeze() once the engine has started, unless NEWSARCHIVE_GC_FREEZE is off.
    "newsarchive.extensions.memory.FreezeStartupObjects": 530,
}
ITEM_PIPELINES: dict[str, int] = {
    # Off (NotConfigured) unless NEWSARCHIVE_DATABASE_URL is set; see docs/POSTGRES.md.
    "newsarchive.pipelines.postgres.PostgresPipeline": 900,
}

# --- PostgreSQL archive (docs/POSTGRES.md) ------------------------------------------------
#: libpq URL of the archive, e.g. postgresql://user:password@host:5432/newsarchive; empty: the
#: crawl writes feeds only. Prefer the environment variable: ``-s`` shows the password in `ps`.
NEWSARCHIVE_DATABASE_URL = os.environ.get("NEWSARCHIVE_DATABASE_URL", "")
#: One transaction per this many items, or per this many seconds, whichever comes first.
NEWSARCHIVE_DB_BATCH_SIZE = _env_number(int, "NEWSARCHIVE_DB_BATCH_SIZE", "1000")
NEWSARCHIVE_DB_BATCH_SECONDS = _env_number(float, "NEWSARCHIVE_DB_BATCH_SECONDS", "2")

LOG_LEVEL = os.environ.get("NEWSARCHIVE_LOG_LEVEL", "INFO")

# --- listings only a browser can page (newsarchive.browser) -------------------------------
# Plain requests go through Scrapy's HTTP/1.1 handler as usual; the Playwright driver and
# Chromium start only on the first request that needs them (-a render=auto|always|never).
DOWNLOAD_HANDLERS = {
    "http": "newsarchive.browser.OnDemandPlaywrightHandler",
    "https": "newsarchive.browser.OnDemandPlaywrightHandler",
}
#: Chromium to use; default /usr/bin/chromium, else Playwright's own browser if installed.
NEWSARCHIVE_CHROMIUM_PATH = os.environ.get("NEWSARCHIVE_CHROMIUM_PATH", "")
#: At most this many listing pages in a run, linked ones and those revealed by clicks.
NEWSARCHIVE_MAX_LISTING_PAGES = _env_number(int, "NEWSARCHIVE_MAX_LISTING_PAGES", "5000")
#: Worker processes that parse and extract article pages beside the reactor (0: extract in
#: the reactor's thread). newsarchive.extraction; 1 uses a second core.
NEWSARCHIVE_EXTRACTION_WORKERS = _env_number(int, "NEWSARCHIVE_EXTRACTION_WORKERS", "0")
#: Move the objects built before the crawl out of garbage collection (gc.freeze) once the
#: engine has started: full collections stop re-traversing them (newsarchive.extensions.memory).
NEWSARCHIVE_GC_FREEZE = os.environ.get("NEWSARCHIVE_GC_FREEZE", "True")
#: Seconds a "More Articles" click may take to change the page before clicking stops.
NEWSARCHIVE_CLICK_TIMEOUT = _env_number(float, "NEWSARCHIVE_CLICK_TIMEOUT", "30")
PLAYWRIGHT_BROWSER_TYPE = "chromium"
PLAYWRIGHT_MAX_CONTEXTS = 1
PLAYWRIGHT_MAX_PAGES_PER_CONTEXT = 4
PLAYWRIGHT_ABORT_REQUEST = "newsarchive.browser.abort_heavy_request"
# scrapy-playwright's memory check counts the driver's and Chromium's memory too (needs psutil).
if importlib.util.find_spec("psutil") is not None:
    EXTENSIONS["scrapy.extensions.memusage.MemoryUsage"] = None  # type: ignore[assignment]
    EXTENSIONS["newsarchive.browser.BrowserMemoryUsage"] = 0

# --- faults and the run monitor (docs: README "Reading a run's summary") ------------------
# Retries wait (exponential backoff, Retry-After honoured) instead of firing at once; a 403/429
# pauses the whole host. Redirects to another host are stopped and counted.
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "newsarchive.middlewares.resilience.BackoffRetryMiddleware": 550,
    "newsarchive.middlewares.resilience.OffsiteRedirectMiddleware": 650,
}
#: Seconds before the first retry; each further retry waits twice as long, up to the max.
NEWSARCHIVE_RETRY_BACKOFF_BASE = _env_number(float, "NEWSARCHIVE_RETRY_BACKOFF_BASE", "1")
NEWSARCHIVE_RETRY_BACKOFF_MAX = _env_number(float, "NEWSARCHIVE_RETRY_BACKOFF_MAX", "60")
#: A Retry-After longer than this many seconds is cut to it.
NEWSARCHIVE_RETRY_AFTER_MAX = _env_number(float, "NEWSARCHIVE_RETRY_AFTER_MAX", "600")
#: Retries during a 403/429 burst (429, Retry-After, or 403s in a row) before a page counts
#: as blocked; a lone 403 among good pages gets RETRY_TIMES like a 5xx.
NEWSARCHIVE_THROTTLE_RETRY_TIMES = _env_number(int, "NEWSARCHIVE_THROTTLE_RETRY_TIMES", "5")
#: Retry 200 HTML pages that arrive empty or without </html> (truncated) like a 503.
NEWSARCHIVE_RETRY_INCOMPLETE_HTML = True
#: Pages are ~50 KB: anything past 8 MiB is not a page of this site (counted, not followed).
DOWNLOAD_MAXSIZE = 8 * 1024 * 1024
DOWNLOAD_WARNSIZE = 2 * 1024 * 1024

#: The run monitor (newsarchive.monitor): a failed check logs an ERROR line, sets
#: newsarchive/run_failed (exit status 1), crawl_runs.failed, and the summary's "monitor".
NEWSARCHIVE_MONITOR_ENABLED = True
#: Fewest articles a run must archive; 0 for incremental runs that may find nothing new.
NEWSARCHIVE_MIN_ITEMS = _env_number(int, "NEWSARCHIVE_MIN_ITEMS", "1")
#: Share of items that must have title, body, published_date and source.
NEWSARCHIVE_MIN_FIELD_COVERAGE = _env_number(float, "NEWSARCHIVE_MIN_FIELD_COVERAGE", "0.99")
#: Highest share of requests that may end in an ERROR line (give-ups, exceptions).
NEWSARCHIVE_MAX_ERROR_RATE = _env_number(float, "NEWSARCHIVE_MAX_ERROR_RATE", "0.05")
#: Highest share of article pages that may give no item (deleted, paywall, 403, no title…).
NEWSARCHIVE_MAX_DROP_RATE = _env_number(float, "NEWSARCHIVE_MAX_DROP_RATE", "0.10")
#: Highest share of article requests that may end blocked (403/429 after retries).
NEWSARCHIVE_MAX_BLOCKED_RATE = _env_number(float, "NEWSARCHIVE_MAX_BLOCKED_RATE", "0.05")
#: An anchor (Date: line, body, More Articles…) missing on this share of pages = layout drift.
NEWSARCHIVE_MAX_ANCHOR_MISSING_RATE = _env_number(
    float, "NEWSARCHIVE_MAX_ANCHOR_MISSING_RATE", "0.5"
)
EXTENSIONS["newsarchive.extensions.monitor.RunMonitor"] = 490
EXTENSIONS["newsarchive.extensions.jobstate.CrashSafeJob"] = 480
