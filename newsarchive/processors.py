"""Pure cleaning functions: text in, clean value (or None) out.

Every function here is total: malformed input gives ``None`` (or an empty string), never an
exception, so one odd page can never stop a crawl. Item loaders compose these; the spider
never cleans text itself.
"""

from __future__ import annotations

import hashlib
import re
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from urllib.parse import urlsplit

from newsarchive.site import ARTICLE_PATH_RE, BRAND, PROMO_TEXT_RE

#: Pyongyang time; the site dates articles by the outlet's own calendar day.
KST = timezone(timedelta(hours=9), "KST")

#: The bracket after a source label names its language; KCNA Watch uses these abbreviations.
LANGUAGE_CODES: dict[str, str] = {
    "en": "en",
    "kr": "ko",
    "ko": "ko",
    "jp": "ja",
    "ja": "ja",
    "ru": "ru",
    "ch": "zh",
    "cn": "zh",
    "zh": "zh",
    "sp": "es",
    "es": "es",
    "fr": "fr",
    "ge": "de",
    "de": "de",
    "ar": "ar",
}

#: Juche year 1 is 1912.
JUCHE_EPOCH_OFFSET = 1911

_WHITESPACE_RE = re.compile(r"[\s\u200b\ufeff]+")
_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
_MONTH_NAME_DATE_RE = re.compile(r"([A-Za-z]{3,9})\.?\s+(\d{1,2}),?\s*(\d{4})")
_DAY_FIRST_DATE_RE = re.compile(r"(?<!\d)(\d{1,2})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*(\d{4})(?!\d)")
_META_DATE_RE = re.compile(r"Date:\s*([^|]*?)\s*(?:\||$)")
_META_SOURCE_RE = re.compile(r"Source:\s*([^|]*?)\s*(?:\||$)")
_LABEL_RE = re.compile(r"^(?P<name>.*?)\s*\(\s*(?P<lang>[A-Za-z]{2,3})\s*\)$")
_BRANDED_LABEL_RE = re.compile(
    rf"\b{BRAND}\s+(?P<label>(?:(?!\b{BRAND}\s)[^()|])+?\s*\(\s*[A-Za-z]{{2,3}}\s*\))"
)
_JUCHE_RE = re.compile(r"Juche\s*(\d{1,3})\s*\.\s*(\d{1,2})\s*\.\s*(\d{1,2})\.?", re.IGNORECASE)


def collapse_whitespace(text: str | None) -> str:
    """All whitespace runs (NBSP, newlines, zero-width spaces) become one space; ends stripped."""
    if not text:
        return ""
    return _WHITESPACE_RE.sub(" ", text).strip()


def is_promotional(text: str) -> bool:
    """True for text the site injects into bodies ("NK News is hiring…"): not article text."""
    return bool(PROMO_TEXT_RE.match(text.lstrip()))


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse_day_first_date(text: str | None) -> date | None:
    """``13/04/2024`` → 2024-04-13. The site's ``Date:`` line is always day first."""
    match = _DAY_FIRST_DATE_RE.search(text or "")
    if not match:
        return None
    day, month, year = (int(part) for part in match.groups())
    return _safe_date(year, month, day)


def parse_month_name_date(text: str | None) -> date | None:
    """The first ``December 27, 2025`` / ``Dec 27, 2025`` date in ``text``.

    The header prints the date twice with nothing between (``December 27, 2025Dec 27, 2025``);
    both forms agree, so the first is taken.
    """
    for match in _MONTH_NAME_DATE_RE.finditer(text or ""):
        month = _MONTHS.get(match.group(1).lower())
        if month:
            parsed = _safe_date(int(match.group(3)), month, int(match.group(2)))
            if parsed:
                return parsed
    return None


def parse_juche_dateline(text: str | None) -> date | None:
    """``www.kcna.kp (Juche113.5.27.)`` → 2024-05-27 (Juche year = Gregorian − 1911)."""
    match = _JUCHE_RE.search(text or "")
    if not match:
        return None
    juche_year, month, day = (int(part) for part in match.groups())
    if juche_year < 1:
        return None
    return _safe_date(juche_year + JUCHE_EPOCH_OFFSET, month, day)


def meta_line_date_text(meta_line: str | None) -> str | None:
    """The raw value after ``Date:`` in the meta line, or None when the line has no date."""
    match = _META_DATE_RE.search(collapse_whitespace(meta_line))
    return match.group(1) or None if match else None


def meta_line_source(meta_line: str | None) -> str | None:
    """The label after ``Source:`` in the meta line (``Naenara (En)``)."""
    match = _META_SOURCE_RE.search(collapse_whitespace(meta_line))
    return match.group(1) or None if match else None


def strip_brand(label_line: str | None) -> str | None:
    """``KCNA Naenara (En)`` → ``Naenara (En)``; ``KCNA KCNA.kp (En)`` → ``KCNA.kp (En)``.

    ``KCNA`` before the label is the site's brand, not part of the label. When several branded
    labels appear (a menu above the header, say), the one nearest the title — the last — wins.
    """
    matches = list(_BRANDED_LABEL_RE.finditer(collapse_whitespace(label_line)))
    return collapse_whitespace(matches[-1].group("label")) if matches else None


def split_source_label(label: str | None) -> tuple[str | None, str | None]:
    """``Naenara (En)`` → (``Naenara``, ``en``); an unknown language code gives None."""
    label = collapse_whitespace(label)
    if not label:
        return None, None
    match = _LABEL_RE.match(label)
    if not match:
        return label, None
    return match.group("name") or None, LANGUAGE_CODES.get(match.group("lang").lower())


def article_url_parts(url: str | None) -> tuple[str, int] | None:
    """(``<unix-seconds>-<id>``, unix seconds) of an article URL, or None for any other URL."""
    try:
        path = urlsplit(url or "").path
    except ValueError:
        return None
    match = ARTICLE_PATH_RE.search(path)
    if not match:
        return None
    timestamp = int(match.group("timestamp"))
    # Interned: a long crawl keeps each id in several sets (seen, listed, archived); one
    # string object per article instead of one per place keeps that memory small.
    return sys.intern(f"{match.group('timestamp')}-{match.group('number')}"), timestamp


def is_article_url(url: str | None) -> bool:
    return article_url_parts(url) is not None


def timestamp_to_utc_iso(timestamp: int | None) -> str | None:
    """1713006283 → ``2024-04-13T11:04:43+00:00``."""
    try:
        return datetime.fromtimestamp(int(timestamp), UTC).isoformat()  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def timestamp_to_kst_date(timestamp: int | None) -> date | None:
    """The calendar day in Pyongyang at that instant: the fallback for a page with no ``Date:``."""
    try:
        return datetime.fromtimestamp(int(timestamp), KST).date()  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def iso_date(value: date | str | None) -> str | None:
    """A ``date`` or a day-first date string as ``YYYY-MM-DD``; None when it cannot be read."""
    if isinstance(value, date):
        return value.isoformat()
    parsed = parse_day_first_date(value)
    return parsed.isoformat() if parsed else None


def content_hash(title: str | None, body: str | None) -> str:
    """sha256 hex of ``title + "\\n\\n" + body``: equal hashes mean an unchanged article."""
    return hashlib.sha256(f"{title or ''}\n\n{body or ''}".encode()).hexdigest()
