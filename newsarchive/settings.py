"""Scrapy settings for newsarchive: polite defaults, per-deployment values from the environment.

Every ``NEWSARCHIVE_*`` setting is declared once, in ``newsarchive/config.py`` (type, default,
meaning, limits); this module takes their values from there: the environment variable of the
same name, else the default. Any of them can be overridden with ``-s NAME=value``; ``scrapy
crawl`` checks every value once before it starts (``config.validate``).
"""

from __future__ import annotations

import importlib.util
from urllib.request import getproxies

from newsarchive import config
from newsarchive.items import ArticleItem
from newsarchive.settings_helpers import user_agent

_values = config.module_values()
globals().update(_values)

BOT_NAME = "newsarchive"
SPIDER_MODULES = ["newsarchive.spiders"]
NEWSPIDER_MODULE = "newsarchive.spiders"
COMMANDS_MODULE = "newsarchive.commands"

TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"

# --- identity and politeness --------------------------------------------------------------
# From NEWSARCHIVE_USER_AGENT / NEWSARCHIVE_CONTACT_URL (`scrapy crawl` redoes it after -s).
USER_AGENT = user_agent(_values["NEWSARCHIVE_USER_AGENT"], _values["NEWSARCHIVE_CONTACT_URL"])
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
# Scrapy 2.19's remote control opens a token-guarded /execute endpoint (run any Python code in
# the crawl) on loopback for every run: off; -s REMOTE_CONTROL_ENABLED=True turns it back on.
REMOTE_CONTROL_ENABLED = False
LOG_LEVEL = _values["NEWSARCHIVE_LOG_LEVEL"]

# The site answers some clients with 403 for a while: retry it like a 5xx before giving up.
RETRY_ENABLED = True
RETRY_TIMES = 3
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429, 403]

# --- where a run writes (feeds under NEWSARCHIVE_DATA_DIR: newsarchive.settings_helpers) ------
FEED_EXPORT_ENCODING = "utf-8"
# CSV feeds (ours, -o x.csv, Scrapyd's): formula cells made inert (NEWSARCHIVE_CSV_ESCAPE_FORMULAS).
# JSON Lines: Scrapy's exporter with a direct path for articles (same bytes, a quarter the CPU).
_JSON_LINES = "newsarchive.exporters.ArticleJsonLinesItemExporter"
FEED_EXPORTERS = {
    "csv": "newsarchive.exporters.FormulaSafeCsvItemExporter",
    **dict.fromkeys(("jsonlines", "jsonl", "jl"), _JSON_LINES),
}

EXTENSIONS = {
    "newsarchive.extensions.progress.CrawlProgress": 500,
    # A run's manifest (files, rows, sha256) once its feeds are closed; see docs/DATA.md.
    "newsarchive.extensions.manifest.FeedManifest": 510,
    # gc.freeze() once the engine has started, unless NEWSARCHIVE_GC_FREEZE is off.
    "newsarchive.extensions.memory.FreezeStartupObjects": 530,
    # Twisted drops its cancelled download timeouts during the crawl, not at its end.
    "newsarchive.extensions.memory.MemoryUpkeep": 531,
}
# `scrapy check`: the callbacks' contracts run on saved pages (newsarchive.contracts).
SPIDER_CONTRACTS = {"newsarchive.contracts.SavedPageContract": 10}
ITEM_PIPELINES: dict[str, int] = {
    # Off (NotConfigured) unless NEWSARCHIVE_DATABASE_URL is set; see docs/POSTGRES.md.
    "newsarchive.pipelines.postgres.PostgresPipeline": 900,
}

# --- listings only a browser can page (newsarchive.browser) -------------------------------
# Plain requests go through Scrapy's HTTP/1.1 handler as usual; the Playwright driver and
# Chromium start only on the first request that needs them (-a render=auto|always|never).
DOWNLOAD_HANDLERS = {
    "http": "newsarchive.browser.OnDemandPlaywrightHandler",
    "https": "newsarchive.browser.OnDemandPlaywrightHandler",
}
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
    # Next to the downloader: records every raw answer (3xx, 5xx, robots.txt) as WARC.
    "newsarchive.capture.middleware.WarcCaptureMiddleware": 950,
    # HTTP authentication from spider attributes (http_user): no spider has any (see below).
    "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware": None,
    # Redirects as Scrapy follows them, without a Referer (REFERER_ENABLED below).
    "scrapy.downloadermiddlewares.redirect.RedirectMiddleware": None,
    "newsarchive.redirects.NoRefererRedirectMiddleware": 600,
}
# --- Scrapy's defaults the archive does not use (each costs CPU on every page; issue 13) ---
# Measured per page on the crawl's main thread (bench/profile_crawl.py, a 2,000-article crawl).
# <meta http-equiv=refresh>: the site redirects over HTTP (the paywall is a 302); a page that
# only refreshed would be dropped as no_title, counted and logged. The check decoded every
# page's text in the main thread (48 µs a page), which the extraction workers otherwise spare.
METAREFRESH_ENABLED = False
# Referer: no page of the site needs one; building it cost 9 µs a request. (Redirects then
# go through newsarchive.redirects, which expects no Referer middleware.)
REFERER_ENABLED = False
# Proxies come from the environment (http_proxy, https_proxy, no_proxy), read here as Scrapy's
# middleware reads them: on when a deployment names one (or with -s HTTPPROXY_ENABLED=True for
# a request's meta["proxy"]), off otherwise. No code of the project sets meta["proxy"].
HTTPPROXY_ENABLED = bool(getproxies())
# URLs past 2,083 characters: the spiders follow only article URLs (a fixed pattern) and the
# "More Articles" link, both short. Off, it no longer wraps every page's output in two more
# async generators (with the two below gone, no spider middleware touches the output).
URLLENGTH_LIMIT = 0
SPIDER_MIDDLEWARES = {
    # request_depth_max and DEPTH_LIMIT: the listing walk has its own cap
    # (NEWSARCHIVE_MAX_LISTING_PAGES); nothing reads the depth (4 µs a request).
    "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
    # A developer's warning for requests that copy response.meta; the spiders never do.
    "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware": None,
}
# Switched-off components (cookies, remote control, telnet…) are not even imported: see
# newsarchive.spiders.components.

# Pages are ~50 KB: anything past 8 MiB is not a page of this site (counted, not followed).
DOWNLOAD_MAXSIZE = 8 * 1024 * 1024
DOWNLOAD_WARNSIZE = 2 * 1024 * 1024

# The run monitor (newsarchive.monitor) judges the run; the job-state guard keeps JOBDIRs sane.
EXTENSIONS["newsarchive.extensions.monitor.RunMonitor"] = 490
# Spidermon runs the run monitor's suite at spider close (before RunMonitor and the summary
# read its verdict); newsarchive.monitors.suite.Spidermon is Spidermon's extension with
# one-line results and awaited alerts. The digest collects the run's edits and deletions.
SPIDERMON_ENABLED = True
SPIDERMON_SPIDER_CLOSE_MONITORS = ["newsarchive.monitors.suite.RunChecks"]
EXTENSIONS["newsarchive.monitors.suite.Spidermon"] = 485
EXTENSIONS["newsarchive.monitors.digest.ChangeDigest"] = 486
# Every ArticleItem is validated against docs/article.schema.json (newsarchive.monitors.schema);
# violations are counted (spidermon/validation/...) and fail the item_schema check. Spidermon's
# ItemValidationPipeline with the schema compiled once (newsarchive.monitors.validation).
ITEM_PIPELINES["newsarchive.monitors.validation.ArticleValidationPipeline"] = 800
SPIDERMON_VALIDATION_SCHEMAS = {ArticleItem: "newsarchive.monitors.schema.ARTICLE_SCHEMA"}

# Alerts (a failed run's checks, the run's changes digest): NEWSARCHIVE_ALERT_* in config.py.
EXTENSIONS["newsarchive.extensions.jobstate.CrashSafeJob"] = 480
