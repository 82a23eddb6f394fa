"""Scrapy settings for newsarchive: polite defaults, per-deployment values from the environment.

Anything secret or specific to one deployment (database URL, contact address, data folder) is
read from an environment variable here and can be overridden with ``-s NAME=value``.
"""

from __future__ import annotations

import os

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
NEWSARCHIVE_PROGRESS_INTERVAL = float(os.environ.get("NEWSARCHIVE_PROGRESS_INTERVAL", "30"))

FEED_EXPORT_ENCODING = "utf-8"

EXTENSIONS = {
    "newsarchive.extensions.progress.CrawlProgress": 500,
}
ITEM_PIPELINES: dict[str, int] = {}

LOG_LEVEL = os.environ.get("NEWSARCHIVE_LOG_LEVEL", "INFO")
