"""UTC instants and run ids: the one home for "now", so every record of a run agrees."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4


def utc_now() -> datetime:
    """The current instant, timezone-aware in UTC."""
    return datetime.now(UTC)


def utc_now_iso() -> str:
    """The current instant as ISO 8601 to the second, e.g. ``2025-12-27T06:00:00+00:00``."""
    return utc_now().isoformat(timespec="seconds")


def as_utc(instant: datetime) -> datetime:
    """``instant``, a naive one read as UTC: the archive's contract says UTC instants, so a
    naive one is taken at its word rather than dropped."""
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def utc_today() -> date:
    """Today's date in UTC (the site's own dates are shown in KST; windows are counted in UTC)."""
    return utc_now().date()


def new_run_id(started_at: datetime | None = None) -> str:
    """A run's id: ``<start, UTC, to the second>-<8 hex>``, sortable and unique across hosts."""
    started_at = started_at or utc_now()
    return f"{started_at.astimezone(UTC):%Y%m%dT%H%M%SZ}-{uuid4().hex[:8]}"
