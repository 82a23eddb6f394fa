"""The stream spiders' feeds: the data folder's dated files, or the user's own kept to articles.

A settings function the spider's ``update_settings`` calls, rather than a Scrapy add-on: the
defaults belong to the stream spiders (their item class, their field order), not to every
spider or command of the project, and an add-on would also need an ``ADDONS`` entry that
``scrapy fetch`` or ``scrapy bench`` would load for nothing.
"""

from __future__ import annotations

from scrapy.settings import BaseSettings

from newsarchive.items import ARTICLE_FIELDS, ArticleItem
from newsarchive.settings_helpers import data_dir, default_feeds, feed_batch_size


def apply_feed_defaults(settings: BaseSettings) -> None:
    """No FEEDS given: the data folder's feeds (none for `scrapy parse` and the other tools).
    Given (``-O``/``-o``, Scrapyd): articles only, in the documented field order unless
    FEED_EXPORT_FIELDS says otherwise."""
    if not settings.getdict("FEEDS"):
        if settings.getbool("NEWSARCHIVE_TOOL_RUN"):
            return
        settings.set(
            "FEEDS", default_feeds(data_dir(settings), feed_batch_size(settings)), priority="spider"
        )
        return
    # Deletion records (ArticleGoneItem) are for the archive's history, not a feed of articles.
    feeds = settings.getdict("FEEDS")
    for options in feeds.values():
        options.setdefault("item_classes", [ArticleItem])
        options.setdefault("fields", settings.getlist("FEED_EXPORT_FIELDS") or list(ARTICLE_FIELDS))
    # One above the feeds' own priority: the runner re-applies its cmdline settings to the
    # crawler after this, and would otherwise undo the filter.
    settings.set("FEEDS", feeds, priority=(settings.getpriority("FEEDS") or 0) + 1)
