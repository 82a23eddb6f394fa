"""The ``.atom`` output format: any query returning ``atom_id``, ``atom_title`` and
``atom_updated`` (and optionally ``atom_link``, ``atom_content``) renders as an Atom feed.

Why our own and not datasette-atom (the field's plugin, whose column convention this follows):
datasette-atom 0.9 answers HTTP 500 when the query returns no rows (``max()`` of an empty
sequence), and "no edits or deletions yet" is the normal state of a young archive, which a
subscriber's reader must see as an empty feed, not as a broken one. Content is always
``type="text"``: article text is untrusted and a feed reader must not render it as HTML.
"""

from __future__ import annotations

from typing import Any

from datasette import hookimpl
from datasette.utils.asgi import Response

REQUIRED = frozenset({"atom_id", "atom_title", "atom_updated"})
CONTENT_TYPE = "application/atom+xml; charset=utf-8"


def can_render(columns: list[str]) -> bool:
    return REQUIRED.issubset(columns)


async def render(
    datasette: Any, request: Any, columns: list[str], rows: list, database: str, query_name: str
) -> Response:
    from feedgen.feed import FeedGenerator  # imported late: Scrapy loads the command module

    if not can_render(columns):
        return Response.text(f"the query must return {', '.join(sorted(REQUIRED))}", status=400)
    feed = FeedGenerator()
    feed.id(request.url)
    feed.link(href=request.url, rel="self")
    queries = (datasette.metadata(database=database) or {}).get("queries") or {}
    feed.title((queries.get(query_name) or {}).get("title") or query_name or "newsarchive")
    updated = [row["atom_updated"] for row in rows if row["atom_updated"]]
    if not updated:  # an empty feed still says when its snapshot was taken
        found = await datasette.get_database(database).execute(
            "SELECT value FROM snapshot_info WHERE key = 'created_at'"
        )
        updated = [row[0] for row in found.rows]
    if updated:
        feed.updated(max(updated))
    for row in reversed(rows):  # feedgen prepends: oldest first gives newest on top
        entry = feed.add_entry()
        entry.id(str(row["atom_id"]))
        entry.title(str(row["atom_title"]))
        entry.updated(row["atom_updated"])
        if "atom_link" in columns and row["atom_link"]:
            entry.link(href=row["atom_link"])
        if "atom_content" in columns and row["atom_content"] is not None:
            entry.content(str(row["atom_content"]), type="text")
    return Response(feed.atom_str(pretty=True), content_type=CONTENT_TYPE)


@hookimpl
def register_output_renderer() -> dict[str, Any]:
    return {"extension": "atom", "render": render, "can_render": can_render}
