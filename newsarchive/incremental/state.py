"""The state file: crawl bookkeeping kept between runs, merged and replaced atomically.

``<data>/state/<spider>-<host>[_<port>].json`` holds:

``articles``      archived articles per source label (url, published_date, gone_at): the
                  archive's index when there is no database (never written in database mode);
                  only items that passed every pipeline are recorded, never the feeds' lines
``not_articles``  listed ids whose answer was final but not an article (``full=1`` retries)
``retry``         ids that failed transiently (5xx after retries, network errors): fetched
                  directly by the next runs, ``RETRY_RUNS`` times at most
``walks``         per start URL, whether the last walk of the stream ended cleanly; after an
                  interrupted walk the next run does not stop early (an older gap may remain)

A run's changes are applied to the file as it is when the run ends, not as it was when it
started, so two runs of different streams on one site do not undo each other.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from newsarchive.files import write_json_atomically

logger = logging.getLogger(__name__)

STATE_FORMAT = 1


class StateError(RuntimeError):
    """The state file cannot be read or written; ``str()`` is one line."""


def state_path(folder: Path, spider: str, start_url: str) -> Path:
    """``<data>/state/<spider>-<host>[_<port>].json``: one file per spider and site."""
    parts = urlsplit(start_url)
    site = (parts.hostname or "unknown").replace(":", "_")
    if parts.port:
        site += f"_{parts.port}"
    return folder / "state" / f"{spider}-{site}.json"


@dataclass
class CrawlState:
    """The state file's content; see the module docstring."""

    articles: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    not_articles: dict[str, dict[str, Any]] = field(default_factory=dict)
    retry: dict[str, dict[str, Any]] = field(default_factory=dict)
    walks: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> CrawlState:
        """The state at ``path``; an empty one if there is no file. Blocking: run in a thread."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls()
        except OSError as exc:
            raise StateError(f"cannot read the state file {path}: {exc.strerror or exc}") from None
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
                raise ValueError(f"not a format {STATE_FORMAT} state file")
            state = cls(
                articles=dict(data.get("articles") or {}),
                not_articles=dict(data.get("not_articles") or {}),
                retry=dict(data.get("retry") or {}),
                walks=dict(data.get("walks") or {}),
            )
        except (ValueError, TypeError, AttributeError) as exc:
            raise StateError(
                f"the state file {path} is unreadable ({exc}); move it away to start afresh"
            ) from None
        return state

    def to_json(self, **extra: Any) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            **extra,
            "articles": self.articles,
            "not_articles": self.not_articles,
            "retry": self.retry,
            "walks": self.walks,
        }

    def archived_ids(self) -> set[str]:
        return {article_id for stream in self.articles.values() for article_id in stream}

    def find_article(self, article_id: str) -> dict[str, Any] | None:
        for stream in self.articles.values():
            if article_id in stream:
                return stream[article_id]
        return None


def update_state_file(path: Path, change: Callable[[CrawlState], None], **extra: Any) -> None:
    """Apply ``change`` to the file's latest content and replace it atomically. Blocking."""
    try:
        state = CrawlState.load(path)
    except StateError as exc:
        logger.warning("%s: writing a new one", exc)
        state = CrawlState()
    change(state)
    try:
        write_json_atomically(path, state.to_json(**extra))
    except OSError as exc:
        logger.error("Cannot write the state file %s: %s", path, exc.strerror or exc)


#: What the state file keeps of an article archived in this run: (source, url, published_date).
ArchivedRecord = tuple[str, str | None, str | None]


@dataclass
class RunChanges:
    """What this run learned, applied to the file's latest content at the end.

    A long first run holds one entry per archived article until it ends, so each entry keeps
    only what the file will be given: nothing but the id when a database is the archive
    (``keep_articles`` false), else the source label (interned: one string per stream, not
    per article), URL and date.
    """

    keep_articles: bool = True
    archived: dict[str, ArchivedRecord | None] = field(default_factory=dict)
    gone: dict[str, str] = field(default_factory=dict)
    not_articles: dict[str, dict[str, Any]] = field(default_factory=dict)
    retry: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # None: resolved

    def archive(
        self, article_id: str, source: str | None, url: str | None, published_date: str | None
    ) -> None:
        """An article that passed every pipeline in this run."""
        self.archived[article_id] = (
            (sys.intern(source or ""), url, published_date) if self.keep_articles else None
        )
        self.not_articles.pop(article_id, None)

    def apply(self, state: CrawlState) -> None:
        for article_id, record in self.archived.items():
            if record is not None:
                source, url, published_date = record
                for stream in state.articles.values():
                    stream.pop(article_id, None)
                entry = {"url": url, "published_date": published_date}
                state.articles.setdefault(source, {})[article_id] = entry
            state.not_articles.pop(article_id, None)
            state.retry.pop(article_id, None)
        for article_id, at in self.gone.items():
            entry = state.find_article(article_id)
            if entry is not None:
                entry["gone_at"] = at
        for article_id, entry in self.not_articles.items():
            if state.find_article(article_id) is None and article_id not in self.archived:
                state.not_articles[article_id] = entry
            state.retry.pop(article_id, None)
        for article_id, retry in self.retry.items():
            if retry is None:
                state.retry.pop(article_id, None)
            elif article_id not in self.archived and article_id not in self.not_articles:
                state.retry[article_id] = retry
