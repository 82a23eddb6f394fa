"""The version of newsarchive's extraction rules: what turns a page into an item.

Why: ``content_hash`` is taken over our cleaned text, so a change to our own cleaning (a promo
rule, whitespace, a selector fixed after a theme change) changes hashes just as an outlet's
edit does. Every item, feed row and revision carries this version, so a change of text that
comes with a change of version can be checked against the old capture (``scrapy reextract``)
and told apart from the outlet's edits.

Bump it (``YYYY.MM.N``) whenever ``site.py``, ``pages.py``, ``processors.py`` or ``loaders.py``
change what any page gives; ``tests/test_extraction_golden.py`` fails until you do, and
``NEWSARCHIVE_UPDATE_GOLDEN=1 pytest tests/test_extraction_golden.py`` re-records
its hash.
"""

from __future__ import annotations

EXTRACTOR_VERSION = "2026.12.1"
