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

import io
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from newsarchive.files import compact_json, open_atomically

logger = logging.getLogger(__name__)

STATE_FORMAT = 1


#: What the state file keeps of an article archived in this run: (source, url, published_date).
ArchivedRecord = tuple[str, str | None, str | None]


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


def update_state_file(
    path: Path, change: Callable[[CrawlState], None], run: RunChanges | None = None, **extra: Any
) -> None:
    """Apply ``change`` (then ``run``, a run's record) to the file's latest content and
    replace it atomically. Blocking.

    The run's archived articles are streamed into the file from their packed record, never
    made a dict each: a long first run's state file is never whole in memory."""
    try:
        state = CrawlState.load(path)
    except StateError as exc:
        logger.warning("%s: writing a new one", exc)
        state = CrawlState()
    change(state)
    if run is not None:
        run.merge(state)
    try:
        with open_atomically(path) as handle:
            write_state(handle, state, run, extra)
    except OSError as exc:
        logger.error("Cannot write the state file %s: %s", path, exc.strerror or exc)


def write_state(
    handle: BinaryIO, state: CrawlState, run: RunChanges | None, extra: dict[str, Any]
) -> None:
    """``state.to_json(**extra)`` (with ``run``'s archived articles) as one JSON line, the
    same bytes ``write_json_atomically`` would write, in pieces."""
    out = io.TextIOWrapper(handle, encoding="utf-8", newline="\n", write_through=False)
    document = state.to_json(**extra)
    for number, key in enumerate(sorted(document)):
        out.write(("{" if number == 0 else ",") + compact_json(key) + ":")
        if key == "articles":
            _write_articles(out, state, run or RunChanges())
        else:
            out.write(compact_json(document[key]))
    out.write("}\n")
    out.flush()
    out.detach()


def _write_articles(out: io.TextIOWrapper, state: CrawlState, run: RunChanges) -> None:
    """``articles``: the file's entries and the run's, by source label and id, sorted."""
    ours = run.archived_by_source()
    out.write("{")
    for number, source in enumerate(sorted(set(state.articles) | set(ours))):
        out.write(("" if number == 0 else ",") + compact_json(source) + ":{")
        theirs = state.articles.get(source, {})
        # Disjoint: ``RunChanges.merge`` took the run's ids out of the file's streams.
        for count, article_id in enumerate(sorted(chain(theirs, ours.get(source, ())))):
            entry = theirs[article_id] if article_id in theirs else run.entry(article_id)
            separator = "" if count == 0 else ","
            out.write(separator + compact_json(article_id) + ":" + compact_json(entry))
        out.write("}")
    out.write("}")


def _number(names: list[str], name: str) -> int:
    """``name``'s index in ``names``, appended when new (a handful of names at most)."""
    try:
        return names.index(name)
    except ValueError:
        names.append(name)
        return len(names) - 1


@dataclass
class RunChanges:
    """What this run learned, applied to the file's latest content at the end.

    A long first run holds one entry per archived article until it ends, so each entry keeps
    only what the file will be given, packed in one bytes object (no tuple, no string per
    field): nothing but the id when a database is the archive (``keep_articles`` false),
    else the source label's number (one string per stream, not per article), the URL past
    its id and the date.
    """

    keep_articles: bool = True
    #: article id -> JSON ``[source number, URL head number, URL tail, published_date]``,
    #: UTF-8 (None: database mode); a URL without ``/<id>/`` is kept whole as its tail
    archived: dict[str, bytes | None] = field(default_factory=dict)
    #: source labels, and what precedes ``/<id>/`` in the URLs, numbered by first sight
    sources: list[str] = field(default_factory=list)
    url_heads: list[str] = field(default_factory=list)
    gone: dict[str, str] = field(default_factory=dict)
    not_articles: dict[str, dict[str, Any]] = field(default_factory=dict)
    retry: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # None: resolved

    def archive(
        self, article_id: str, source: str | None, url: str | None, published_date: str | None
    ) -> None:
        """An article that passed every pipeline in this run."""
        if not self.keep_articles:
            self.archived[article_id] = None
        else:
            # The URL names the id: keep what precedes it (one string per site) by number.
            marker = f"/{article_id}/"
            at = url.find(marker) if url else -1
            if url is None or at < 0:
                head, tail = None, url
            else:
                head, tail = _number(self.url_heads, url[:at]), url[at + len(marker) :]
            record = [_number(self.sources, source or ""), head, tail, published_date]
            self.archived[article_id] = compact_json(record).encode()
        self.not_articles.pop(article_id, None)

    def record(self, article_id: str) -> ArchivedRecord | None:
        """(source, url, published_date) of an article archived in this run."""
        packed = self.archived.get(article_id)
        if packed is None:
            return None
        source, head, tail, published_date = json.loads(packed)
        url = tail if head is None else f"{self.url_heads[head]}/{article_id}/{tail}"
        return self.sources[source], url, published_date

    def entry(self, article_id: str) -> dict[str, Any]:
        """The state file's entry for an article archived in this run."""
        _, url, published_date = self.record(article_id)  # type: ignore[misc]
        entry: dict[str, Any] = {"url": url, "published_date": published_date}
        if article_id in self.gone:
            entry["gone_at"] = self.gone[article_id]
        return entry

    def archived_by_source(self) -> dict[str, list[str]]:
        """The ids of this run's archived articles per source label (database mode: none)."""
        grouped: dict[str, list[str]] = {source: [] for source in self.sources}
        for article_id, packed in self.archived.items():
            if packed is not None:
                number = int(packed[1 : packed.index(b",")])
                grouped[self.sources[number]].append(article_id)
        return {source: ids for source, ids in grouped.items() if ids}

    def apply(self, state: CrawlState) -> None:
        """All of this run's changes, into ``state``."""
        self.merge(state)
        for source, ids in self.archived_by_source().items():
            stream = state.articles.setdefault(source, {})
            for article_id in ids:
                stream[article_id] = self.entry(article_id)

    def merge(self, state: CrawlState) -> None:
        """This run's changes into ``state``, except the entries of the articles it archived
        (``entry``), which the state file's writer streams from the packed record."""
        for article_id, packed in self.archived.items():
            if packed is not None:
                for stream in state.articles.values():
                    stream.pop(article_id, None)
            state.not_articles.pop(article_id, None)
            state.retry.pop(article_id, None)
        for article_id, at in self.gone.items():
            if article_id in self.archived and self.archived[article_id] is not None:
                continue  # archived in this run: ``entry`` gives its gone_at
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
