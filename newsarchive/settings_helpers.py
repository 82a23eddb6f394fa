"""Settings that depend on other settings, resolved when a crawler is built."""

from __future__ import annotations

from pathlib import Path

from scrapy.settings import BaseSettings
from scrapy.utils.conf import closest_scrapy_cfg

from newsarchive.items import ARTICLE_FIELDS


def data_dir(settings: BaseSettings) -> Path:
    """NEWSARCHIVE_DATA_DIR, else data/ next to scrapy.cfg, else data/ in the working folder."""
    configured = settings.get("NEWSARCHIVE_DATA_DIR")
    if configured:
        return Path(configured).expanduser()
    cfg = closest_scrapy_cfg()
    return (Path(cfg).parent if cfg else Path.cwd()) / "data"


def default_feeds(folder: Path) -> dict[str, dict]:
    """One UTF-8 JSON Lines feed per run: data/feeds/<spider>/<run_id>.jsonl."""
    return {
        str(folder / "feeds" / "%(name)s" / "%(run_id)s.jsonl"): {
            "format": "jsonlines",
            "encoding": "utf8",
            "fields": list(ARTICLE_FIELDS),
            "item_classes": ["newsarchive.items.ArticleItem"],
        }
    }
