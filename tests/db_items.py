"""Article items for the database tests, shaped as the crawler yields them."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def article(n: int, body: str = "Body.", minutes: int = 0, title: str | None = None) -> dict:
    title = title if title is not None else f"Title {n}"
    return {
        "url": f"https://kcnawatch.org/newstream/1700000000-{n}/title-{n}/",
        "article_id": f"1700000000-{n}",
        "title": title,
        "body": body,
        "published_date": "2026-01-01",
        "published_at": "2025-12-31T18:00:00+00:00",
        "page_date": "2026-01-02",
        "source": "Naenara (En)",
        "source_name": "Naenara",
        "source_language": "en",
        "original_url": None,
        "crawled_at": at(minutes),
        "content_hash": hashlib.sha256(f"{title}\n\n{body}".encode()).hexdigest(),
    }


def archive_settings(**overrides: object) -> dict[str, object]:
    """The project's ``NEWSARCHIVE_*`` defaults (components read settings without fallbacks),
    with ``overrides``: for a crawler built by ``scrapy.utils.test.get_crawler``."""
    import newsarchive.settings as project

    defaults = {
        name: getattr(project, name) for name in dir(project) if name.startswith("NEWSARCHIVE_")
    }
    return {**defaults, **overrides}
