"""Known articles: what earlier runs archived, from the archive that holds it.

One interface, two sources: PostgreSQL when ``NEWSARCHIVE_DATABASE_URL`` is set, else the
state file's ``articles``. Either is read once, when the run starts, without blocking the
reactor; a source that cannot be read raises ``KnownUnavailable`` with one line saying why.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Protocol

from newsarchive.clock import utc_today
from newsarchive.incremental.state import CrawlState

if TYPE_CHECKING:
    from newsarchive.db.store import ArchiveStore


@dataclass(frozen=True)
class RecheckTarget:
    """An archived article to fetch again: first published in the last ``recheck_days``."""

    article_id: str
    url: str
    source: str | None


@dataclass(frozen=True)
class KnownArticles:
    """The archived article ids, and those due a recheck (when ``recheck_days`` is given)."""

    archived: frozenset[str] = frozenset()
    rechecks: list[RecheckTarget] = field(default_factory=list)


class KnownUnavailable(RuntimeError):
    """The archive could not be read; ``str()`` is one line, ``reason`` the close reason."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class KnownSource(Protocol):
    """Where a run learns what is archived."""

    #: For the log line: "PostgreSQL", "state file <path>".
    description: str

    async def load(self, state: CrawlState, recheck_days: int | None) -> KnownArticles: ...


@dataclass
class StateFileSource:
    """The state file is the archive's index when there is no database."""

    description: str

    async def load(self, state: CrawlState, recheck_days: int | None) -> KnownArticles:
        targets = [] if recheck_days is None else recheck_targets(state, recheck_days)
        return KnownArticles(frozenset(state.archived_ids()), targets)


def recheck_targets(state: CrawlState, recheck_days: int) -> list[RecheckTarget]:
    """Archived, not gone, first published in the last ``recheck_days`` days."""
    since = utc_today() - timedelta(days=recheck_days)
    targets = []
    for source, stream in state.articles.items():
        for article_id, record in stream.items():
            published = record.get("published_date")
            if record.get("gone_at") or not published or not record.get("url"):
                continue
            with contextlib.suppress(ValueError):
                if date.fromisoformat(published) >= since:
                    targets.append(RecheckTarget(article_id, record["url"], source))
    return sorted(targets, key=lambda t: t.article_id)


@dataclass
class DatabaseSource:
    """PostgreSQL: ``open_store`` gives the run's one store (``RunDatabase.store``: opened on
    first use by the run's database owner, which also closes it when the engine stops)."""

    open_store: Callable[[], Awaitable[ArchiveStore]]
    database_url: str
    description: str = "PostgreSQL"

    async def load(self, state: CrawlState, recheck_days: int | None) -> KnownArticles:
        # Imported here: a feeds-only crawl never needs the driver.
        from newsarchive.db.errors import ArchiveUnavailable, error_line
        from newsarchive.db.store import CONNECTION_ERRORS

        try:
            store = await self.open_store()
        except ArchiveUnavailable as exc:
            raise KnownUnavailable(str(exc), "database_unavailable") from None
        try:
            archived = await store.known_article_ids()
            targets: list[RecheckTarget] = []
            if recheck_days is not None:
                rows = await store.articles_to_recheck(recheck_days)
                targets = [RecheckTarget(r["article_id"], r["url"], r["source"]) for r in rows]
        except CONNECTION_ERRORS as exc:
            raise KnownUnavailable(
                error_line("cannot read the archive", self.database_url, exc),
                "database_unavailable",
            ) from None
        return KnownArticles(frozenset(archived), targets)
