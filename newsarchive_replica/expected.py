"""The oracle: the items a correct spider produces from the replica, built from the model.

Why from the model: an oracle that parsed the replica's HTML would share the spider's
mistakes. Nothing here imports newsarchive code outside ``newsarchive_replica`` either, so the
spider's code cannot leak into its own test.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime

from newsarchive_replica.model import NON_ARTICLE, Article, StreamSpec, StreamState


def expected_item(spec: StreamSpec, art: Article, base_url: str) -> dict:
    """The item for one article page (``crawled_at`` left out: it is a time)."""
    body = "\n\n".join(art.paragraphs)
    return {
        # the canonical href, or (no canonical) the URL the cards link to, which never redirects
        "url": base_url + art.path(slash=True),
        "article_id": art.article_id,
        "title": art.title,
        "body": body,
        "published_date": art.published_date.isoformat(),
        "published_at": datetime.fromtimestamp(art.ts, UTC).isoformat(),
        "page_date": spec.today.isoformat(),
        "source": spec.label,
        "source_name": spec.source_name,
        "source_language": spec.source_language,
        "original_url": art.original_url,
        "content_hash": hashlib.sha256(f"{art.title}\n\n{body}".encode()).hexdigest(),
    }


def is_article(art: Article) -> bool:
    """Whether the article's URL yields an item (a 503 does, on retry)."""
    return art.status not in NON_ARTICLE


def expected_items(stream_state: StreamState, base_url: str) -> list[dict]:
    """Items for every article page of the stream in its current state, sorted by article_id."""
    base_url = base_url.rstrip("/")
    with stream_state.lock:
        items = [
            expected_item(stream_state.spec, art, base_url)
            for art in stream_state
            if is_article(art)
        ]
    return sorted(items, key=lambda item: item["article_id"])


def to_jsonl(items: Iterable[dict]) -> str:
    return "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items)
