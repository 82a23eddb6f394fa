"""Datasette metadata for a snapshot: titles, facets, full-text search and the canned queries.

The queries read the snapshot's tables and its ``changes`` view (``newsarchive.snapshot``):
"edited" means the outlet's edits (``kind = 'edit'``), never our own re-extractions.
"""

from __future__ import annotations

from typing import Any

#: Where the plugin's pages live (``newsarchive.browse.plugin``).
ARTICLE_PATH = "/-/article/"
PICTURES_PATH = "/-/pictures"
PLUGIN_NAME = "newsarchive"

DELETED_ARTICLES = """
SELECT a.article_id, a.title, a.source, a.gone_at AS deleted_at,
       (SELECT e.http_status FROM events e WHERE e.article_id = a.article_id AND e.event = 'gone'
        ORDER BY e.at DESC LIMIT 1) AS http_status,
       a.last_seen_at AS last_seen_at, a.body AS last_text_seen, a.url
FROM articles a
WHERE a.gone_at IS NOT NULL
ORDER BY a.gone_at DESC
"""

EDITED_ARTICLES = """
SELECT a.article_id, a.title, a.source, count(*) AS edits,
       max(r.first_seen_at) AS last_edited_at, a.revision_count, a.url
FROM revisions r JOIN articles a USING (article_id)
WHERE r.kind = 'edit'
GROUP BY a.article_id
ORDER BY last_edited_at DESC
"""

CHANGES_SINCE = """
SELECT change, at, article_id, title, source, detail
FROM changes
WHERE at >= :since
ORDER BY at DESC
"""

#: The Atom renderer's columns (``newsarchive.browse.atom``); ids are the article's URL with
#: the change as fragment (IRIs).
CHANGES_FEED = """
SELECT url || '#' || change || '-' || at AS atom_id,
       (CASE change WHEN 'edit' THEN 'Edited: ' ELSE 'Deleted: ' END)
           || coalesce(title, article_id) AS atom_title,
       at AS atom_updated,
       url AS atom_link,
       coalesce(source, '') || ' · ' || detail || char(10) || char(10) || coalesce(text, '')
           AS atom_content
FROM changes
ORDER BY at DESC
LIMIT 500
"""


def build_metadata(database: str) -> dict[str, Any]:
    """Metadata for the snapshot served under the name ``database``."""
    base = f"/{database}"
    return {
        "title": "newsarchive: North Korean state media, as published, edited and erased",
        "description_html": (
            f'<p><a href="{base}/articles">Search the articles</a> · '
            f'<a href="{base}/deleted_articles">Deleted articles</a> · '
            f'<a href="{base}/edited_articles">Articles the outlet edited</a> · '
            f'<a href="{base}/changes_since">Changes since a date</a> · '
            f'<a href="{base}/changes_feed.atom">Atom feed of changes</a> · '
            f'<a href="{PICTURES_PATH}">Pictures of the archive</a></p>'
        ),
        "license": "See docs/DATA.md (cite the snapshot by its manifest sha256)",
        "plugins": {PLUGIN_NAME: {"database": database}},
        "databases": {
            database: {
                "tables": {
                    "articles": {
                        "fts_table": "articles_fts",
                        "fts_pk": "rowid",
                        "facets": ["source", "source_language", "published_year"],
                        "sort_desc": "published_date",
                        "label_column": "title",
                    },
                    "articles_fts": {"hidden": True},
                    "snapshot_info": {"hidden": True},
                },
                "queries": {
                    "deleted_articles": {
                        "title": "Deleted articles",
                        "description": "Articles the outlet took down: when, and the last text "
                        "seen.",
                        "sql": DELETED_ARTICLES.strip(),
                    },
                    "edited_articles": {
                        "title": "Articles the outlet edited",
                        "description": "Articles with at least one edit by the outlet "
                        "(our re-extractions are not edits).",
                        "sql": EDITED_ARTICLES.strip(),
                    },
                    "changes_since": {
                        "title": "Changes since a date",
                        "description": "Edits and deletions seen on or after a date (YYYY-MM-DD).",
                        "sql": CHANGES_SINCE.strip(),
                        "params": ["since"],
                    },
                    "changes_feed": {
                        "title": "newsarchive: edits and deletions",
                        "description": "The changes as an Atom feed: add .atom to this URL.",
                        "sql": CHANGES_FEED.strip(),
                    },
                },
            }
        },
    }
