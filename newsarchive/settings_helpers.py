"""Settings that depend on other settings, resolved when a crawler is built."""

from __future__ import annotations

from pathlib import Path

from scrapy.exceptions import NotConfigured
from scrapy.settings import BaseSettings
from scrapy.utils.conf import closest_scrapy_cfg

from newsarchive.items import ARTICLE_FIELDS


def user_agent(configured: str, contact_url: str) -> str:
    """NEWSARCHIVE_USER_AGENT, else the project's agent naming NEWSARCHIVE_CONTACT_URL."""
    return configured or f"newsarchive/0.1 (research archive; +{contact_url})"


def require_run_records(settings: BaseSettings) -> None:
    """NotConfigured in a crawl of Scrapy's own tools (NEWSARCHIVE_TOOL_RUN: ``scrapy parse``,
    ``fetch``…), which looks at pages and leaves no run's records."""
    if settings.getbool("NEWSARCHIVE_TOOL_RUN"):
        raise NotConfigured("NEWSARCHIVE_TOOL_RUN: a Scrapy tool's crawl, not an archive run")


def data_dir(settings: BaseSettings) -> Path:
    """NEWSARCHIVE_DATA_DIR, else data/ next to scrapy.cfg, else data/ in the working folder."""
    configured = settings.get("NEWSARCHIVE_DATA_DIR")
    if configured:
        return Path(configured).expanduser()
    cfg = closest_scrapy_cfg()
    return (Path(cfg).parent if cfg else Path.cwd()) / "data"


#: Scrapy's feed postprocessing plugin that gzips a feed file as it is written.
GZIP_PLUGIN = "scrapy.extensions.postprocessing.GzipPlugin"


def run_feed_folder(folder: Path, spider: str, run_id: str) -> Path:
    """data/feeds/<spider>/<run_id>/: a run's feed files and its manifest.json."""
    return folder / "feeds" / spider / run_id


def feed_batch_size(settings: BaseSettings) -> int:
    """Items per feed file: Scrapy's FEED_EXPORT_BATCH_ITEM_COUNT when set, else
    NEWSARCHIVE_FEED_BATCH_SIZE (0: one file per run)."""
    return max(
        0,
        settings.getint("FEED_EXPORT_BATCH_ITEM_COUNT")
        or settings.getint("NEWSARCHIVE_FEED_BATCH_SIZE"),
    )


def default_feeds(folder: Path, batch_size: int = 0) -> dict[str, dict]:
    """A run's feeds, partitioned by run and batch, both with every field in documented order:

    data/feeds/<spider>/<run_id>/articles-00001.jsonl.gz  gzip JSON Lines, UTF-8, unescaped
    data/feeds/<spider>/<run_id>/articles-00001.csv       the same rows as CSV (with header)

    A new pair of files starts every ``batch_size`` items (0: one pair per run), so a long
    run's files stay small enough to share, and a crash loses at most the open batch.
    """
    run_folder = run_feed_folder(folder, "%(name)s", "%(run_id)s")
    common = {
        "encoding": "utf8",
        "fields": list(ARTICLE_FIELDS),
        "item_classes": ["newsarchive.items.ArticleItem"],
        "batch_item_count": batch_size,
    }
    return {
        str(run_folder / "articles-%(batch_id)05d.jsonl.gz"): {
            **common,
            "format": "jsonlines",
            "postprocessing": [GZIP_PLUGIN],
            # zlib's default: level 9 (the plugin's) costs the reactor thread far more CPU.
            "gzip_compresslevel": 6,
        },
        str(run_folder / "articles-%(batch_id)05d.csv"): {**common, "format": "csv"},
    }
