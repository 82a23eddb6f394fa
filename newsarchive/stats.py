"""Stat names under the project prefix, so dashboards and the monitor read one vocabulary."""

from __future__ import annotations

PREFIX = "newsarchive"

LISTING_PAGES = f"{PREFIX}/pages/listing"
ARTICLE_PAGES = f"{PREFIX}/pages/article"
ITEMS = f"{PREFIX}/items"
GONE = f"{PREFIX}/gone"
DROPS = f"{PREFIX}/drops"  # + "/<reason>"
UNPARSED = f"{PREFIX}/unparsed"  # + "/<what>": text present but unreadable
NULL_FIELDS = f"{PREFIX}/null_field"  # + "/<field>"
MISSING_ANCHOR = f"{PREFIX}/anchor_missing"  # + "/<anchor>"
LISTINGS_WITHOUT_LINKS = f"{PREFIX}/listing/no_article_links"
LISTINGS_NEEDING_BROWSER = f"{PREFIX}/listing/needs_browser"
OFFSITE_LINKS = f"{PREFIX}/links/offsite_ignored"
DUPLICATE_LINKS = f"{PREFIX}/links/duplicate"
PROMO_REMOVED = f"{PREFIX}/body/promo_blocks_removed"
SOURCE_MISMATCH = f"{PREFIX}/source/label_mismatch"


def drop(reason: str) -> str:
    return f"{DROPS}/{reason}"


def unparsed(what: str) -> str:
    return f"{UNPARSED}/{what}"


def null_field(field: str) -> str:
    return f"{NULL_FIELDS}/{field}"


def missing_anchor(anchor: str) -> str:
    return f"{MISSING_ANCHOR}/{anchor}"


def with_prefix(stats: dict, prefix: str) -> dict[str, int]:
    """``{"<reason>": count}`` for every stat under ``prefix + "/"``."""
    start = prefix + "/"
    return {key[len(start) :]: value for key, value in stats.items() if key.startswith(start)}
