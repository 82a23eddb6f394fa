"""Pictures of the archive: Vega-Lite charts rendered to SVG on the server (vl-convert).

Why on the server: the page must work offline and load nothing from another host (no
vega.js from a CDN, no web font). vl-convert runs Vega-Lite in-process and returns SVG, which
the page embeds as ``data:`` images: self-contained, and an image cannot run a script whatever
its labels hold. Data is inlined in each spec and ``allowed_base_urls=[]`` forbids fetching.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from typing import Any

from newsarchive.items import ARTICLE_FIELDS, PER_RUN_FIELDS
from newsarchive.stats import null_field

SCHEMA_URL = "https://vega.github.io/schema/vega-lite/v5.json"  # an identifier, never fetched
WIDTH = 680

ARTICLES_PER_MONTH = """
SELECT substr(published_date, 1, 7) AS month, coalesce(source, '?') AS source, count(*) AS articles
FROM articles WHERE published_date IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2
"""
CHANGES_PER_MONTH = """
SELECT substr(at, 1, 7) AS month, change, count(*) AS changes FROM changes GROUP BY 1, 2 ORDER BY 1
"""
RUNS = """
SELECT run_id, spider, started_at, item_count, gone_count, drop_count, error_count, stats
FROM runs ORDER BY started_at
"""


@dataclass(frozen=True)
class Picture:
    title: str
    caption: str
    svg: str
    rows: int

    @property
    def data_uri(self) -> str:
        return "data:image/svg+xml;base64," + base64.b64encode(self.svg.encode()).decode()


def _bar(values: list[dict], x: str, y: str, color: str, x_title: str, y_title: str) -> dict:
    return {
        "$schema": SCHEMA_URL,
        "width": WIDTH,
        "height": 220,
        "data": {"values": values},
        "mark": "bar",
        "encoding": {
            "x": {"field": x, "type": "ordinal", "title": x_title},
            "y": {"field": y, "type": "quantitative", "title": y_title},
            "color": {"field": color, "type": "nominal", "title": color},
            "xOffset": {"field": color},
        },
    }


def run_label(run: dict[str, Any]) -> str:
    """A run's axis label: its id (unique, and it begins with its start time)."""
    return f"{run['run_id']} ({run['spider']})"


def coverage(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per run and item field: the share of the run's items that had the field (from the
    run's null-field counts), in percent."""
    fields = [name for name in ARTICLE_FIELDS if name not in PER_RUN_FIELDS]
    cells = []
    for run in runs:
        items = run["item_count"] or 0
        if items <= 0:
            continue
        stats = json.loads(run["stats"] or "{}")
        for name in fields:
            missing = int(stats.get(null_field(name), 0) or 0)
            cells.append(
                {"run": run_label(run), "field": name, "present": 100 * (items - missing) / items}
            )
    return cells


def specs(
    per_month: list[dict], changes: list[dict], runs: list[dict]
) -> list[tuple[str, str, dict, int]]:
    counts = [
        {"run": run_label(run), "count": run[key] or 0, "what": label}
        for run in runs
        for key, label in (
            ("item_count", "items"),
            ("drop_count", "dropped"),
            ("gone_count", "deletions seen"),
            ("error_count", "errors"),
        )
    ]
    cells = coverage(runs)
    heatmap = {
        "$schema": SCHEMA_URL,
        "width": WIDTH,
        "data": {"values": cells},
        "mark": "rect",
        "encoding": {
            "x": {"field": "run", "type": "ordinal", "title": "run (id, spider)"},
            "y": {"field": "field", "type": "nominal", "title": "item field"},
            "color": {
                "field": "present",
                "type": "quantitative",
                "title": "% of items",
                "scale": {"domain": [0, 100], "scheme": "blues"},
            },
        },
    }
    return [
        (
            "Articles per month, per source",
            "Articles in the archive by month of publication.",
            _bar(per_month, "month", "articles", "source", "month published", "articles"),
            len(per_month),
        ),
        (
            "Edits and deletions per month",
            "The outlet's edits (first seen) and deletions (answered 404/410) by month.",
            _bar(changes, "month", "changes", "change", "month seen", "changes"),
            len(changes),
        ),
        (
            "Coverage per run: what each crawl read",
            "Items archived, items dropped, deletions and errors seen by each run.",
            _bar(counts, "run", "count", "what", "run (id, spider)", "count"),
            len(runs),
        ),
        (
            "Coverage per run: fields present",
            "Share of each run's items that had each field (100% is a full record).",
            heatmap,
            len(cells),
        ),
    ]


def render_svg(spec: dict) -> str:
    import vl_convert  # ~100 MB of V8: loaded only when a picture is drawn

    return vl_convert.vegalite_to_svg(spec, allowed_base_urls=[])


async def draw(database: Any) -> list[Picture]:
    """The pictures of the snapshot served as ``database`` (a Datasette Database)."""

    async def rows(query: str) -> list[dict]:
        return [dict(row) for row in (await database.execute(query)).rows]

    per_month, changes, runs = (
        await rows(ARTICLES_PER_MONTH),
        await rows(CHANGES_PER_MONTH),
        await rows(RUNS),
    )
    drawn = []
    for title, caption, spec, count in specs(per_month, changes, runs):
        svg = await asyncio.to_thread(render_svg, spec)
        drawn.append(Picture(title, caption, svg, count))
    return drawn
