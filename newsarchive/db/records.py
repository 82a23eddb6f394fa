"""What one write did and what one run was: the store's results and ``crawl_runs`` rows.

Apart from ``newsarchive.db.rows`` (which types items into rows) because the writer, the spill
file and the pipeline pass these around without typing anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from newsarchive.clock import as_utc


@dataclass
class BatchResult:
    """What one write did; the pipeline turns it into stats."""

    articles_added: int = 0  # article ids the archive had not seen
    revisions_added: int = 0  # new distinct contents (including the first of a new article)
    articles_changed: int = 0  # known articles that got a new revision
    articles_seen: int = 0  # article rows written (added, changed or only re-seen)
    articles_returned: int = 0  # gone articles seen answering again
    gone_marked: int = 0
    gone_unknown: int = 0  # 404/410 for an article id the archive does not hold
    nul_stripped: int = 0
    rejected: list[tuple[Mapping[str, Any], str]] = field(default_factory=list)
    changed_ids: list[str] = field(default_factory=list)  # the articles_changed, by id
    #: (article_id, title, url) of each article the batch marked gone
    deleted: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    #: (article_id, content_hash) of each revision the batch inserted: the search fill's work
    new_revisions: list[tuple[str, str]] = field(default_factory=list)

    def add(self, other: BatchResult) -> None:
        for name in (
            "articles_added",
            "revisions_added",
            "articles_changed",
            "articles_seen",
            "articles_returned",
            "gone_marked",
            "gone_unknown",
            "nul_stripped",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.rejected.extend(other.rejected)
        self.changed_ids.extend(other.changed_ids)
        self.deleted.extend(other.deleted)
        self.new_revisions.extend(other.new_revisions)


@dataclass
class RunRecord:
    """A ``crawl_runs`` row: ``start_run`` records the first four fields, ``finish_run`` all."""

    run_id: str
    spider: str
    start_url: str | None
    started_at: datetime
    finished_at: datetime | None = None
    finish_reason: str | None = None
    item_count: int = 0
    gone_count: int = 0
    drop_count: int = 0
    error_count: int = 0
    request_count: int = 0
    db_written_count: int = 0
    db_spilled_count: int = 0
    db_rejected_count: int = 0
    stats: dict[str, Any] = field(default_factory=dict)
    #: The run monitor's verdict, carried in the run's end so a spilled end replays it too
    #: (None: not judged; an existing verdict is then kept).
    failed: bool | None = None
    failure_reason: str | None = None

    @property
    def status(self) -> str:
        if self.finish_reason is None:
            return "running"
        return "finished" if self.finish_reason == "finished" else "incomplete"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("started_at", "finished_at"):
            if data[name] is not None:
                data[name] = data[name].isoformat()
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunRecord:
        values = dict(data)
        for name in ("started_at", "finished_at"):
            if values.get(name):
                values[name] = as_utc(datetime.fromisoformat(values[name]))
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in known})
