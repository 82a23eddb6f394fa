"""What newsarchive knows about KCNA Watch pages: anchors and selectors, nothing else.

The live markup is only partly known (see ../shared/specimen/README.md), so pages are read
by what a reader sees — the ``Date:``/``Source:`` line, link texts, the article URL pattern,
``<h1>`` and ``<link rel="canonical">`` — and class names are used only as first hints with a
text-anchored fallback behind them. A theme change should be a fix in this file alone.
"""

from __future__ import annotations

import re

#: WordPress endpoints that may hang below an article's path and are not the article.
NON_ARTICLE_TAILS = ("feed", "rss", "atom", "amp", "embed", "trackback", "attachment")

#: Article URLs: /newstream/<unix-seconds>-<id>/<slug>[/] (verified on stored copies), also
#: with extra segments after the id (/newstream/<ts>-<id>/laws/<slug>/, seen in a dataset):
#: the id alone names the article. A WordPress endpoint below it (…/feed/) is not an article.
ARTICLE_PATH_RE = re.compile(
    r"/newstream/(?P<timestamp>\d{9,11})-(?P<number>\d+)"
    rf"/(?P<slug>(?:[^/?#]+/)*?(?!(?:{'|'.join(NON_ARTICLE_TAILS)})/?$)[^/?#]+)/?$"
)

#: Visible anchors a reader sees on the page.
BRAND = "KCNA"
DATE_LABEL = "Date:"
SOURCE_LABEL = "Source:"
READ_ORIGINAL_TEXT = "Read original version at source"
#: What separates the meta line's parts (``Date: … | Source: …``).
META_LINE_SEPARATOR = " | "
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

#: The meta line: found from the text that holds "Source" (pages without a date have no
#: "Date:"; a theme may set the label apart from its colon, ``<b>Source</b>:``), then widened
#: to the largest enclosing line that starts with "Date:"/"Source:".
META_LINE_START_XPATH = (
    f"//body//text()[contains(., '{SOURCE_LABEL.rstrip(':')}')][not(ancestor::script)]/parent::*"
)
#: The theme's class for that line: tried first, kept only if its text is such a line.
META_LINE_HINT_XPATH = "//*[contains(@class, 'article-meta')]"
READ_ORIGINAL_XPATH = f"//a[normalize-space(.)='{READ_ORIGINAL_TEXT}']/@href"

#: Everything a reader sees above the title: the header date(s) and the "KCNA <label>" line.
ABOVE_TITLE_TEXT_XPATH = (
    "preceding::text()[not(ancestor::script or ancestor::style or ancestor::nav"
    " or ancestor::noscript)]"
)

#: The heading that starts the "More From <label>" cards; everything below is not article text.
#: Any element whose own text starts so, and is short (a heading, not a body paragraph).
MORE_FROM_HEADING_XPATH = f"//body//*[starts-with(normalize-space(text()), '{MORE_FROM_PREFIX}')]"
MORE_FROM_HEADING_MAX_CHARS = 160

#: The body is the text a reader sees between the meta line (or the title) and the
#: "More From" heading, cut into paragraphs where a reader sees one end: at a block element's
#: edges and at every <br>. The theme's class for the body container is tried first (one
#: query); it is kept only if it holds text.
BODY_CONTAINER_HINT_XPATH = (
    "//div[contains(@class, 'article-content') or contains(@class, 'entry-content')]"
)
#: Elements that start and end a paragraph a reader sees.
BODY_BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "center",
        "dd",
        "details",
        "dialog",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
    ]
)
#: Elements whose text is never article text (not shown, or the page's furniture).
BODY_SKIPPED_TAGS = frozenset(
    [
        "script",
        "style",
        "noscript",
        "template",
        "nav",
        "footer",
        "form",
        "button",
        "select",
        "textarea",
        "iframe",
        "svg",
        "object",
        "video",
        "audio",
        "canvas",
        "head",
        "title",
    ]
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
