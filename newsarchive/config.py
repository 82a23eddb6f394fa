"""Every ``NEWSARCHIVE_*`` setting, declared once: name, type, default, meaning, limits.

Scrapy's own ``default_settings.py`` is the model, with the types and limits it leaves
implicit written down, because a value here comes from the environment or ``-s`` as text.
``newsarchive/settings.py`` takes its module values from ``module_values`` (the environment
variable of the same name, else the default); components read a setting with no fallback of
their own; ``validate`` checks every value once, before a crawl starts, so a bad one is one
line naming the setting instead of a traceback mid-run or a silent acceptance. The README's
settings table is written by ``python -m newsarchive.config --update README.md`` (a test
keeps the two equal).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scrapy.settings import SETTINGS_PRIORITIES, BaseSettings

#: Log levels Scrapy (the logging module) accepts by name.
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")

_KIND_WORDS = {
    int: "a whole number",
    float: "a number",
    bool: "a boolean (true/false, 1/0)",
    list: "a comma-separated list of whole numbers",
}


@dataclass(frozen=True)
class Setting:
    """One setting: its type, default and limits; ``doc`` is its line in the README."""

    name: str
    kind: type
    default: Any
    doc: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    #: The README's wording of the default when the value itself says little ("" = unset).
    shown_default: str | None = None
    #: Never echo the value (it may hold a password).
    secret: bool = False

    def describe_default(self) -> str:
        if self.shown_default is not None:
            return self.shown_default
        if self.kind is bool:
            return "on" if self.default else "off"
        if self.kind is float:
            return f"`{self.default:g}`"
        return f"`{self.default}`"

    def check(self, settings: BaseSettings) -> str | None:
        """What is wrong with this setting's value, in words, or None."""
        try:
            value = _typed(settings, self.name, self.kind)
        except (TypeError, ValueError):
            return f"is not {_KIND_WORDS[self.kind]}"
        if self.choices and str(value).upper() not in self.choices:
            return f"is not one of {', '.join(self.choices)}"
        numbers = value if isinstance(value, list) else [value]
        for number in numbers if self.kind in (int, float, list) else []:
            if self.minimum is not None and number < self.minimum:
                return f"is below {self.minimum:g}"
            if self.maximum is not None and number > self.maximum:
                return f"is above {self.maximum:g}"
        return None


def _typed(settings: BaseSettings, name: str, kind: type) -> Any:
    if kind is bool:
        return settings.getbool(name)
    if kind is int:
        return settings.getint(name)
    if kind is float:
        return settings.getfloat(name)
    if kind is list:
        return [int(code) for code in settings.getlist(name)]
    return settings.get(name)


def _rate(name: str, default: float, doc: str) -> Setting:
    return Setting(name, float, default, doc, minimum=0, maximum=1)


#: The project's settings, in the order of the README's table.
SETTINGS: tuple[Setting, ...] = (
    # --- where a run writes, and whom the site sees
    Setting(
        "NEWSARCHIVE_DATA_DIR", str, "", "where feeds, summaries, state, spills and WARCs go",
        shown_default="`data/`",
    ),
    Setting(
        "NEWSARCHIVE_NAENARA_START_URL", str,
        "https://kcnawatch.org/newstream/1713006283-531298405/"
        "talks-held-between-choe-ryong-hae-and-zhao-leji/",
        "the default start page of `naenara`: its \"More From\" cards and \"More Articles\" "
        "lead into the stream",
        shown_default="the specimen article",
    ),
    Setting(
        "NEWSARCHIVE_CONTACT_URL", str,
        "https://example.org/newsarchive (set NEWSARCHIVE_CONTACT_URL)",
        "contact URL in the user agent",
        shown_default="placeholder",
    ),
    Setting(
        "NEWSARCHIVE_USER_AGENT", str, "",
        "the whole user agent; unset: `newsarchive/0.1 (research archive; +<contact URL>)`",
        shown_default="unset",
    ),
    Setting(
        "NEWSARCHIVE_LOG_LEVEL", str, "INFO", "Scrapy's LOG_LEVEL, from the environment",
        choices=LOG_LEVELS,
    ),
    Setting(
        "NEWSARCHIVE_PROGRESS_INTERVAL", float, 30.0,
        "seconds between progress lines (0: none)", minimum=0,
    ),
    Setting(
        "NEWSARCHIVE_FEED_BATCH_SIZE", int, 10000,
        "items per feed file (0: one per run; FEED_EXPORT_BATCH_ITEM_COUNT wins)", minimum=0,
    ),
    Setting(
        "NEWSARCHIVE_CSV_ESCAPE_FORMULAS", bool, True,
        "CSV cells (run feeds, `scrapy export`) starting with `=` `+` `-` `@` tab CR or `'` get "
        "a leading `'`, so spreadsheets never run them (docs/DATA.md); JSONL and Parquet are "
        "never changed",
    ),
    Setting(
        "NEWSARCHIVE_TOOL_RUN", bool, False,
        "set by Scrapy's own tools (`parse`, `fetch`, `shell`, `bench`, `check`, `view`): no "
        "feeds, run summary, manifest, WARC or `crawl_runs` row; not for `scrapy crawl`",
    ),
    Setting(
        "NEWSARCHIVE_WARC_ENABLED", bool, True,
        "record every exchange a run reads as WARC (`data/warc/<spider>/<run_id>/`) and package "
        "the run as `data/warc/<spider>/<run_id>.wacz`; off: no capture",
    ),
    Setting(
        "NEWSARCHIVE_WARC_MAX_FILE_BYTES", int, 100_000_000,
        "a run's WARC file is closed and the next started past this many bytes", minimum=1,
        shown_default="`100000000` (100 MB)",
    ),
    Setting(
        "NEWSARCHIVE_WARC_QUEUE_BYTES", int, 32 * 1024 * 1024,
        "bytes of exchanges waiting for the WARC recorder process; past it the crawl waits",
        minimum=1, shown_default="`33554432` (32 MiB)",
    ),
    Setting(
        "NEWSARCHIVE_WARC_RECORDER_NICENESS", int, 19,
        "how much lower the WARC recorder process's CPU priority is than the crawl's (`nice`): "
        "it takes the CPU the crawl and its extraction workers leave; 0: the same priority",
        minimum=0, maximum=19,
    ),
    Setting(
        "NEWSARCHIVE_REEXTRACT_WORKERS", int, 0,
        "worker processes of `scrapy reextract` (0: one per usable core)", minimum=0,
    ),
    # --- PostgreSQL archive (docs/POSTGRES.md)
    Setting(
        "NEWSARCHIVE_DATABASE_URL", str, "",
        "libpq URL of the PostgreSQL archive; unset: feeds only (prefer the environment: "
        "`-s` shows the password in `ps`)",
        shown_default="unset", secret=True,
    ),
    Setting(
        "NEWSARCHIVE_DB_BATCH_SIZE", int, 1000,
        "items per batch (one transaction; several in one while writes are behind)…",
        minimum=1,
    ),
    Setting(
        "NEWSARCHIVE_DB_BATCH_SECONDS", float, 2.0, "…or of this many seconds", minimum=0.01,
    ),
    Setting(
        "NEWSARCHIVE_DB_MAX_PENDING", int, 0,
        "items held while the database is slow before the crawl waits (0: ten batches)",
        minimum=0,
    ),
    Setting(
        "NEWSARCHIVE_DB_RETRY_TIMES", int, 3,
        "retries of a batch after a connection error (then its items spill)", minimum=0,
    ),
    Setting(
        "NEWSARCHIVE_DB_RETRY_BACKOFF", float, 0.5,
        "seconds before the first batch retry (doubling)", minimum=0,
    ),
    Setting(
        "NEWSARCHIVE_DB_PROBE_SECONDS", float, 5.0,
        "seconds between checks whether a lost database is back", minimum=0.1,
    ),
    Setting(
        "NEWSARCHIVE_DB_TIMEOUT", float, 5.0,
        "seconds to connect to the database or wait for a connection", minimum=0.5,
    ),
    Setting(
        "NEWSARCHIVE_DB_WRITERS", int, 2, "concurrent writer tasks (connections)", minimum=1,
    ),
    Setting(
        "NEWSARCHIVE_DB_SEARCH_FILL", bool, True,
        "index each batch's new revisions for full-text search while the crawl runs (off: "
        "all at the run's end)",
    ),
    # --- listings only a browser can page (newsarchive.browser)
    Setting(
        "NEWSARCHIVE_CHROMIUM_PATH", str, "",
        "the browser for scripted listings; unset: `/usr/bin/chromium`, else Playwright's own",
        shown_default="unset",
    ),
    Setting(
        "NEWSARCHIVE_PG_BINDIR", str, "",
        "PostgreSQL server binaries for the private server of the demo and the tests (from the "
        "environment); unset: the newest `/usr/lib/postgresql/*/bin`, else `PATH`",
        shown_default="unset",
    ),
    Setting(
        "NEWSARCHIVE_MAX_LISTING_PAGES", int, 5000,
        "listing pages (linked ones and those revealed by clicks) a run reads at most",
        minimum=1,
    ),
    Setting(
        "NEWSARCHIVE_CLICK_TIMEOUT", float, 30.0,
        "seconds a \"More Articles\" click may take to change the page", minimum=0.1,
    ),
    # --- the crawl's speed (newsarchive.extraction, newsarchive.extensions.memory)
    Setting(
        "NEWSARCHIVE_EXTRACTION_WORKERS", int, 1,
        "worker processes that parse and extract article pages beside the reactor, on a "
        "second core (0: in the crawl's own thread, for one core or cores already busy)",
        minimum=0,
    ),
    Setting(
        "NEWSARCHIVE_GC_FREEZE", bool, True,
        "move the objects built before the crawl out of garbage collection (`gc.freeze`) "
        "once the engine has started",
    ),
    # --- faults (newsarchive.middlewares.resilience)
    Setting(
        "NEWSARCHIVE_RETRY_BACKOFF_BASE", float, 1.0,
        "seconds before the first retry; each further one waits twice as long…", minimum=0,
    ),
    Setting(
        "NEWSARCHIVE_RETRY_BACKOFF_MAX", float, 60.0, "…up to this many seconds", minimum=0,
    ),
    Setting(
        "NEWSARCHIVE_RETRY_AFTER_MAX", float, 600.0,
        "a longer `Retry-After` is cut to this many seconds", minimum=0,
    ),
    Setting(
        "NEWSARCHIVE_THROTTLE_RETRY_TIMES", int, 5,
        "retries during a 403/429 burst before a page counts as blocked (a lone 403 gets "
        "RETRY_TIMES)",
        minimum=0,
    ),
    Setting(
        "NEWSARCHIVE_RETRY_INCOMPLETE_HTML", bool, True,
        "retry pages the spider parses that arrive empty or without `</html>`, like a 503",
    ),
    # --- the run monitor (newsarchive.monitor)
    Setting(
        "NEWSARCHIVE_MONITOR_ENABLED", bool, True,
        "judge each run: a failed check is an ERROR line, exit status 1 and crawl_runs.failed",
    ),
    Setting(
        "NEWSARCHIVE_MIN_ITEMS", int, 1,
        "fewest articles a (non-incremental) run must archive", minimum=0,
    ),
    _rate(
        "NEWSARCHIVE_MIN_FIELD_COVERAGE", 0.99,
        "share of items that must have title, body, published_date and source",
    ),
    _rate(
        "NEWSARCHIVE_MAX_ERROR_RATE", 0.05,
        "highest share of requests that may end in an ERROR line",
    ),
    _rate(
        "NEWSARCHIVE_MAX_DROP_RATE", 0.10,
        "highest share of article pages that may give no item",
    ),
    _rate(
        "NEWSARCHIVE_MAX_BLOCKED_RATE", 0.05,
        "highest share of article requests that may end blocked (403/429 after retries)",
    ),
    _rate(
        "NEWSARCHIVE_MAX_ANCHOR_MISSING_RATE", 0.5,
        "an anchor missing on more than this share of pages is layout drift",
    ),
    # --- alerts: a failed run, and the run's changes digest (newsarchive.monitors)
    Setting(
        "NEWSARCHIVE_ALERT_SMTP_HOST", str, "",
        "SMTP server for alert email; unset: no email", shown_default="unset",
    ),
    Setting(
        "NEWSARCHIVE_ALERT_SMTP_PORT", int, 587,
        "SMTP port (587: submission with STARTTLS; 465 with `ssl`)", minimum=1, maximum=65535,
    ),
    Setting(
        "NEWSARCHIVE_ALERT_SMTP_TLS", str, "starttls",
        "`starttls`, `ssl` (implicit TLS) or `off` (a relay on loopback only)",
        choices=("STARTTLS", "SSL", "OFF"),
    ),
    Setting(
        "NEWSARCHIVE_ALERT_SMTP_USER", str, "",
        "SMTP login; unset: no AUTH", shown_default="unset",
    ),
    Setting(
        "NEWSARCHIVE_ALERT_SMTP_PASSWORD", str, "",
        "SMTP password (from the environment only)", shown_default="unset", secret=True,
    ),
    Setting(
        "NEWSARCHIVE_ALERT_EMAIL_FROM", str, "newsarchive@localhost", "the alerts' From: address",
    ),
    Setting(
        "NEWSARCHIVE_ALERT_EMAIL_TO", str, "",
        "comma-separated recipients of alert email; unset: no email", shown_default="unset",
    ),
    Setting(
        "NEWSARCHIVE_ALERT_WEBHOOK_URL", str, "",
        "Slack/Discord-compatible webhook (POST `{\"text\", \"content\"}`); unset: none",
        shown_default="unset", secret=True,
    ),
    Setting(
        "NEWSARCHIVE_ALERT_TIMEOUT", float, 10.0,
        "seconds each network step of an alert may take", minimum=0.1,
    ),
)  # fmt: skip

#: Scrapy's settings the project relies on: their defaults are Scrapy's or settings.py's,
#: only their type and limits are declared here, so ``-s RETRY_TIMES=x`` is refused too.
SCRAPY_SETTINGS: tuple[Setting, ...] = (
    Setting("LOG_LEVEL", str, None, "", choices=LOG_LEVELS),
    Setting("ROBOTSTXT_OBEY", bool, None, ""),
    Setting("CONCURRENT_REQUESTS", int, None, "", minimum=1),
    Setting("CONCURRENT_REQUESTS_PER_DOMAIN", int, None, "", minimum=1),
    Setting("CONCURRENT_ITEMS", int, None, "", minimum=1),
    Setting("DOWNLOAD_DELAY", float, None, "", minimum=0),
    Setting("DOWNLOAD_TIMEOUT", float, None, "", minimum=0.001),
    Setting("DOWNLOAD_MAXSIZE", int, None, "", minimum=0),
    Setting("DOWNLOAD_WARNSIZE", int, None, "", minimum=0),
    Setting("AUTOTHROTTLE_ENABLED", bool, None, ""),
    Setting("AUTOTHROTTLE_START_DELAY", float, None, "", minimum=0),
    Setting("AUTOTHROTTLE_MAX_DELAY", float, None, "", minimum=0),
    Setting("AUTOTHROTTLE_TARGET_CONCURRENCY", float, None, "", minimum=0.001),
    Setting("RETRY_ENABLED", bool, None, ""),
    Setting("RETRY_TIMES", int, None, "", minimum=0),
    Setting("RETRY_HTTP_CODES", list, None, "", minimum=100, maximum=599),
    Setting("RETRY_PRIORITY_ADJUST", int, None, ""),
    Setting("FEED_EXPORT_BATCH_ITEM_COUNT", int, None, "", minimum=0),
    Setting("CLOSESPIDER_TIMEOUT", float, None, "", minimum=0),
    Setting("CLOSESPIDER_ITEMCOUNT", int, None, "", minimum=0),
    Setting("CLOSESPIDER_PAGECOUNT", int, None, "", minimum=0),
    Setting("CLOSESPIDER_ERRORCOUNT", int, None, "", minimum=0),
    Setting("COOKIES_ENABLED", bool, None, ""),
    Setting("TELNETCONSOLE_ENABLED", bool, None, ""),
    Setting("REMOTE_CONTROL_ENABLED", bool, None, ""),
)

BY_NAME: dict[str, Setting] = {setting.name: setting for setting in SETTINGS}


class SettingError(ValueError):
    """A setting's value that cannot be used; the message is one line naming it."""


def default(name: str) -> Any:
    """The declared default of a ``NEWSARCHIVE_*`` setting (a KeyError for unknown names)."""
    return BY_NAME[name].default


def defaults() -> dict[str, Any]:
    """Every ``NEWSARCHIVE_*`` setting at its default: for settings built outside the project
    (``scrapy.utils.test.get_crawler`` in tests and benches)."""
    return {s.name: s.default for s in SETTINGS}


def module_values(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every setting's module value: its environment variable as given (checked later by
    ``validate``, so a bad one is reported like a bad ``-s``), else its default."""
    environ = os.environ if environ is None else environ
    return {s.name: environ.get(s.name, s.default) for s in SETTINGS}


def validate(settings: BaseSettings, environ: Mapping[str, str] | None = None) -> None:
    """Raise SettingError for the first value that cannot be used, or an unknown
    ``-s NEWSARCHIVE_*`` name (a typo would otherwise be ignored)."""
    environ = os.environ if environ is None else environ
    cmdline = SETTINGS_PRIORITIES["cmdline"]
    for name in sorted(settings.attributes):
        if (
            name.startswith("NEWSARCHIVE_")
            and name not in BY_NAME
            and settings.getpriority(name) == cmdline
        ):
            raise SettingError(f"-s {name}: no such setting (`python -m newsarchive.config`)")
    for setting in (*SETTINGS, *SCRAPY_SETTINGS):
        if setting.name not in settings.attributes:
            continue
        problem = setting.check(settings)
        if problem:
            raise SettingError(f"{_origin(settings, setting, environ)} {problem}")


def _origin(settings: BaseSettings, setting: Setting, environ: Mapping[str, str]) -> str:
    """How the user gave the value: ``-s NAME='x'``, ``environment variable NAME='x'``…"""
    value = "…" if setting.secret else repr(settings.get(setting.name))
    if settings.getpriority(setting.name) == SETTINGS_PRIORITIES["cmdline"]:
        return f"-s {setting.name}={value}"
    if setting.name in environ and setting.name in BY_NAME:
        return f"environment variable {setting.name}={value}"
    return f"setting {setting.name}={value}"


#: The README's table lies between these lines (tests/test_config.py keeps it current).
README_BEGIN = "<!-- settings table: python -m newsarchive.config --update README.md -->"
README_END = "<!-- end of settings table -->"


def readme_table() -> str:
    """The README's settings table, from the registry."""
    lines = ["| setting | default | what |", "| --- | --- | --- |"]
    for setting in SETTINGS:
        lines.append(f"| `{setting.name}` | {setting.describe_default()} | {setting.doc} |")
    return "\n".join(lines) + "\n"


def _table_bounds(text: str) -> tuple[int, int]:
    """Where the table between README_BEGIN and README_END starts and ends in ``text``."""
    return text.index(README_BEGIN) + len(README_BEGIN) + 1, text.index(README_END)


def table_in(text: str) -> str:
    """The settings table as the README has it now."""
    start, end = _table_bounds(text)
    return text[start:end]


def update_readme(path: Path) -> None:
    """Rewrite the table between README_BEGIN and README_END in ``path``."""
    text = path.read_text(encoding="utf-8")
    start, end = _table_bounds(text)
    path.write_text(text[:start] + readme_table() + text[end:], encoding="utf-8")


if __name__ == "__main__":
    # python -m newsarchive.config: print the table; … --update README.md: rewrite it there.
    if sys.argv[1:2] == ["--update"] and len(sys.argv) == 3:
        update_readme(Path(sys.argv[2]))
    else:
        sys.stdout.write(readme_table())
