"""What newsarchive knows about KCNA Watch pages: anchors and selectors, nothing else.

The live markup is only partly known (see ../shared/specimen/README.md), so pages are read
by what a reader sees — the ``Date:``/``Source:`` line, link texts, the article URL pattern,
``<h1>`` and ``<link rel="canonical">`` — and class names are used only as first hints with a
text-anchored fallback behind them. A theme change should be a fix in this file alone.
"""

from __future__ import annotations

import re

#: Article URLs: /newstream/<unix-seconds>-<id>/<slug>[/] (verified on stored copies).
ARTICLE_PATH_RE = re.compile(
    r"/newstream/(?P<timestamp>\d{9,11})-(?P<number>\d+)/(?P<slug>[^/?#]+)/?$"
)

#: Visible anchors a reader sees on the page.
BRAND = "KCNA"
DATE_LABEL = "Date:"
SOURCE_LABEL = "Source:"
READ_ORIGINAL_TEXT = "Read original version at source"
MORE_FROM_PREFIX = "More From"
MORE_ARTICLES_TEXT = "More Articles"

#: Logged-out visitors of some pages are sent here: such a page is never an article.
PAYWALL_PATH = "/free-member-form/"

#: "More Articles" hrefs that lead nowhere without running the page's script.
DEAD_HREF_RE = re.compile(r"^\s*(#.*|javascript:.*)?\s*$", re.IGNORECASE)

#: Body paragraphs the site injects that are not article text (NK News promotions).
PROMO_TEXT_RE = re.compile(
    r"^(NK\s+News\s+is\s+hiring|(Subscribe\s+to|Sign\s+up\s+for|Become\s+an)\s+NK\s+Pro)",
    re.IGNORECASE,
)
# --- article page -------------------------------------------------------------------------

CANONICAL_XPATH = "//link[@rel='canonical']/@href"
TITLE_XPATHS = ("//main//h1", "//h1", "//meta[@property='og:title']/@content")

#: The meta line: found from the text that holds "Source:" (pages without a date have no
#: "Date:"), then widened to the largest enclosing line that starts with "Date:"/"Source:".
META_LINE_START_XPATH = "//body//text()[contains(., 'Source:')]/parent::*"
#: The theme's class for that line: tried first, kept only if its text is such a line.
META_LINE_HINT_XPATH = "//*[contains(@class, 'article-meta')]"
READ_ORIGINAL_XPATH = f"//a[normalize-space(.)='{READ_ORIGINAL_TEXT}']/@href"

#: Everything a reader sees above the title: the header date(s) and the "KCNA <label>" line.
ABOVE_TITLE_TEXT_XPATH = (
    "preceding::text()[not(ancestor::script or ancestor::style or ancestor::nav"
    " or ancestor::noscript)]"
)

#: The heading that starts the "More From <label>" cards; everything below is not article text.
MORE_FROM_HEADING_XPATH = (
    f"//*[self::h1 or self::h2 or self::h3 or self::h4 or self::h5 or self::div or self::span]"
    f"[starts-with(normalize-space(text()), '{MORE_FROM_PREFIX}')]"
)

#: Body paragraphs: class hint first, then every <p> between the meta line and "More From".
BODY_CONTAINER_HINTS = (
    "//div[contains(@class, 'article-content')]",
    "//div[contains(@class, 'entry-content')]",
)
BODY_BLOCKS_RELATIVE_XPATH = ".//p | .//blockquote[not(.//p)] | .//li"
BODY_FALLBACK_FROM_META_XPATH = (
    f"following::p[not(preceding::*[starts-with(normalize-space(text()), '{MORE_FROM_PREFIX}')])]"
    "[not(ancestor::footer or ancestor::nav or ancestor::form)]"
)
BLOCK_TEXT_XPATH = ".//text()[not(ancestor::script or ancestor::style)]"

# --- listing pages and "More From" cards --------------------------------------------------

LINK_HREFS_XPATH = "//a/@href"
CARD_LINKS_AFTER_HEADING_XPATH = "following::a/@href"
MORE_ARTICLES_XPATH = f"//a[normalize-space(.)='{MORE_ARTICLES_TEXT}']"
#: A "More Articles" control that is not a link (a button) means: only a browser can page.
MORE_ARTICLES_CONTROL_XPATH = (
    f"//*[self::a or self::button][normalize-space(.)='{MORE_ARTICLES_TEXT}' or @id='more_results']"
)
#: In a page rendered by the browser: every link; the article links among them are picked by
#: ARTICLE_PATH_RE, as on a static listing.
RENDERED_LINKS_CSS = "a[href]"
