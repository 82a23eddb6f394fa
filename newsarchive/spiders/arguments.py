"""Spider arguments (``-a name=value``): checked before a crawl is started, one line if bad.

``scrapy crawl`` and the scheduler call ``check_arguments`` before anything runs; the spider
parses the same values with the same functions, so a value accepted here always works there.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})

#: Spider arguments a user may pass with ``-a``; anything else is a typo worth one line.
STREAM_ARGUMENTS = frozenset({"start_url", "render", "full", "recheck_days"})
#: Scrapyd adds these to every job's spider arguments.
SCRAPYD_ARGUMENTS = frozenset({"_job", "_version"})


class ConfigurationError(ValueError):
    """Bad spider arguments or settings: reported in one line, the crawl never starts."""


def check_start_url(url: str) -> str:
    """The start URL, stripped, if it is an absolute http(s) URL; else ConfigurationError."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise ConfigurationError(f"start_url {url!r} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"start_url {url!r} is not an absolute http(s) URL of a listing or article page"
        )
    return url


def check_render(mode: str) -> str:
    """The ``render`` argument if it is auto, always or never; else ConfigurationError."""
    # imported here: the browser module loads Scrapy's HTTP download stack, which a command
    # that only names this module's error (``scrapy reextract`` finding ``scrapy crawl``)
    # should not pay for at start-up
    from newsarchive import browser

    if mode not in browser.RENDER_MODES:
        raise ConfigurationError(f"render={mode!r} is not one of {', '.join(browser.RENDER_MODES)}")
    return mode


def parse_full(value: str | bool | None) -> bool:
    """``-a full=1``: walk the whole stream; raises ConfigurationError with a one-line reason."""
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigurationError(f"full={value!r} is not a boolean (use full=1 or full=0)")


def parse_recheck_days(value: str | int | None) -> int | None:
    """``-a recheck_days=N``: a whole number of days >= 0, or None when not given."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if not text.isdigit():
        raise ConfigurationError(f"recheck_days={value!r} is not a whole number of days >= 0")
    return int(text)


def check_arguments(arguments: Mapping[str, str], known: frozenset[str]) -> None:
    """Raise ConfigurationError with a one-line reason for arguments that cannot work."""
    unknown = sorted(set(arguments) - known - SCRAPYD_ARGUMENTS)
    if unknown:
        raise ConfigurationError(
            f"unknown spider argument(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    if "start_url" in arguments:
        check_start_url(arguments["start_url"])
    if "render" in arguments:
        check_render(arguments["render"])
    parse_full(arguments.get("full"))
    parse_recheck_days(arguments.get("recheck_days"))
