"""The project's own Scrapy signals (sent with ``crawler.signals.send_catch_log``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

#: An archived article changed this run: sent with ``change=ArticleChange(...)`` by the
#: PostgreSQL pipeline once a batch has committed that gave a known article a new revision
#: (edited) or recorded its 404/410 (deleted).
article_changed = object()
#: A batch committed to PostgreSQL: sent with ``articles=`` (the batch's article items, as
#: dicts) by the PostgreSQL pipeline; ``scrapy reextract`` journals what is safely stored.
batch_committed = object()


@dataclass(frozen=True)
class ArticleChange:
    """One line of the changes digest: which article, what happened to it, where it was."""

    article_id: str
    change: Literal["edited", "deleted"]
    url: str | None
    title: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def announce_changes(crawler: Any, result: Any, articles: list[dict[str, Any]]) -> None:
    """``article_changed`` for each edit and deletion a committed batch recorded
    (``BatchResult.changed_ids`` / ``.deleted``); an edit's title and link are the batch's
    last sighting of the article, a deletion's the archive's."""
    changes = [ArticleChange(article_id, "deleted", url, title)
               for article_id, title, url in result.deleted]  # fmt: skip
    if result.changed_ids:
        latest = {item.get("article_id"): item for item in articles}
        for article_id in dict.fromkeys(result.changed_ids):
            item = latest.get(article_id, {})
            if item.get("revision_kind") not in (None, "edit"):
                continue  # judged our extraction's change, or unverifiable: not the outlet's
            changes.append(ArticleChange(article_id, "edited", item.get("url"), item.get("title")))
    for change in changes:
        crawler.signals.send_catch_log(article_changed, change=change)
