"""The Datasette plugin of ``scrapy browse``: an article page (timeline and word diffs), the
pictures page, and links from every ``article_id`` cell to its article page.

Article text is untrusted (the outlet's, and anyone who controls a page between it and us):
every value reaches the page through Jinja's autoescaping or ``markupsafe.escape``; nothing
from the snapshot is ever marked safe.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any
from urllib.parse import quote

from datasette import hookimpl
from datasette.utils.asgi import NotFound, Response
from markupsafe import Markup, escape

from newsarchive.browse.diff import PARAGRAPH_BREAK, changed_words, word_diff
from newsarchive.browse.metadata import ARTICLE_PATH, PICTURES_PATH, PLUGIN_NAME
from newsarchive.browse.pictures import Picture, draw

#: Pictures per served snapshot (it is immutable while served: drawn once).
_PICTURES: dict[str, list[Picture]] = {}


def snapshot_database(datasette: Any) -> Any:
    name = (datasette.plugin_config(PLUGIN_NAME) or {}).get("database")
    return datasette.get_database(name)


def article_url(datasette: Any, article_id: str) -> str:
    return datasette.urls.path(ARTICLE_PATH + quote(article_id, safe=""))


def paragraphs(text: str | None) -> list[str]:
    return [part for part in (text or "").split(PARAGRAPH_BREAK) if part.strip()]


async def _rows(database: Any, query: str, params: tuple) -> list[dict[str, Any]]:
    return [dict(row) for row in (await database.execute(query, params)).rows]


def timeline(revisions: list[dict], events: list[dict]) -> list[dict[str, Any]]:
    """Revisions (first seen) and events (gone, returned) of one article, oldest first."""
    entries = [
        {
            "at": r["first_seen_at"],
            "what": {"first": "first archived", "edit": "edited by the outlet"}.get(
                r["kind"], "re-extracted by us"
            ),
            "kind": r["kind"],
            "detail": f"revision {r['revision_number']}, seen until {r['last_seen_at']} "
            f"(runs {r['first_run_id']} … {r['last_run_id']}); extractor "
            f"{r['extractor_version'] or 'unknown'}",
        }
        for r in revisions
    ]
    entries += [
        {
            "at": e["at"],
            "what": "deleted (HTTP {})".format(e["http_status"] or "?")
            if e["event"] == "gone"
            else "answered again",
            "kind": e["event"],
            "detail": f"run {e['run_id']}",
        }
        for e in events
    ]
    return sorted(entries, key=lambda entry: entry["at"])


async def article_page(datasette: Any, request: Any) -> Response:
    article_id = request.url_vars["article_id"]
    database = snapshot_database(datasette)
    found = await _rows(database, "SELECT * FROM articles WHERE article_id = ?", (article_id,))
    if not found:
        raise NotFound(f"No article {article_id!r} in this snapshot")
    revisions = await _rows(
        database,
        "SELECT * FROM revisions WHERE article_id = ? ORDER BY revision_number",
        (article_id,),
    )
    events = await _rows(
        database, "SELECT * FROM events WHERE article_id = ? ORDER BY at", (article_id,)
    )
    changes = []
    for older, newer in pairwise(revisions):
        body = word_diff(older["body"], newer["body"])
        inserted, deleted = changed_words(body)
        changes.append(
            {
                "older": older,
                "newer": newer,
                "title": word_diff(older["title"], newer["title"]),
                "body": body,
                "inserted": inserted,
                "deleted": deleted,
            }
        )
    context = {
        "article": found[0],
        "paragraphs": paragraphs(found[0]["body"]),
        "timeline": timeline(revisions, events),
        "changes": changes,
        "database": database.name,
    }
    return Response.html(
        await datasette.render_template("newsarchive_article.html", context, request=request)
    )


async def pictures_page(datasette: Any, request: Any) -> Response:
    database = snapshot_database(datasette)
    key = f"{database.name}:{database.path}"
    if key not in _PICTURES:
        _PICTURES[key] = await draw(database)
    return Response.html(
        await datasette.render_template(
            "newsarchive_pictures.html", {"pictures": _PICTURES[key]}, request=request
        )
    )


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [
        (rf"^{ARTICLE_PATH}(?P<article_id>[^/]+)$", article_page),
        (rf"^{PICTURES_PATH}$", pictures_page),
    ]


@hookimpl
def render_cell(value: Any, column: str, database: str, datasette: Any) -> Markup | None:
    """An ``article_id`` anywhere in the snapshot links to its article page."""
    if column != "article_id" or not isinstance(value, str) or not value:
        return None
    if database != snapshot_database(datasette).name:
        return None
    return Markup('<a href="{}">{}</a>').format(article_url(datasette, value), escape(value))


@hookimpl
def menu_links(datasette: Any) -> list[dict[str, str]]:
    name = snapshot_database(datasette).name
    return [
        {"href": datasette.urls.path(f"/{name}/articles"), "label": "Search the articles"},
        {"href": datasette.urls.path(PICTURES_PATH), "label": "Pictures of the archive"},
        {"href": datasette.urls.path(f"/{name}/changes_feed.atom"), "label": "Atom feed"},
    ]
