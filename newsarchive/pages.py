"""Page readers: raw, uncleaned text pulled out of a response with the anchors in ``site``.

They answer "where on the page is it?" and nothing else; cleaning belongs to the processors.
Each reader tries the theme's class hints first and falls back to what a reader sees.
The XPaths of ``site`` are compiled once and run on lxml directly: wrapping every node in a
parsel Selector cost more than the rest of the extraction together.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from itertools import chain, islice
from urllib.parse import urlsplit

from lxml import etree
from lxml.html import HtmlElement
from scrapy.http import TextResponse

from newsarchive import site
from newsarchive.processors import (
    article_url_parts,
    collapse_whitespace,
    is_promotional,
    meta_line_date_text,
)

#: A meta line longer than this is a whole block of text, not the Date:/Source: line.
_META_LINE_MAX_CHARS = 400


def _compile(expression: str) -> etree.XPath:
    return etree.XPath(expression, smart_strings=False)


_CANONICAL = _compile(site.CANONICAL_XPATH)
_TITLES = tuple(_compile(xpath) for xpath in site.TITLE_XPATHS[:-1])
_ABOVE_TITLE = _compile(site.ABOVE_TITLE_TEXT_XPATH)
_META_LINE_STARTS = _compile(site.META_LINE_START_XPATH)
_META_LINE_HINT = _compile(site.META_LINE_HINT_XPATH)
#: How many enclosing elements a meta line may be split across ("<p><span>Date:…</span>").
_META_LINE_MAX_DEPTH = 3
_READ_ORIGINAL = _compile(site.READ_ORIGINAL_XPATH)
_BODY_CONTAINER_HINT = _compile(site.BODY_CONTAINER_HINT_XPATH)
_BLOCK_TEXT = _compile(site.BLOCK_TEXT_XPATH)
_MORE_FROM_HEADING = _compile(site.MORE_FROM_HEADING_XPATH)
_CARD_LINKS = _compile(site.CARD_LINKS_AFTER_HEADING_XPATH)
_LINK_HREFS = _compile(site.LINK_HREFS_XPATH)
_MORE_ARTICLES_CONTROL = _compile(site.MORE_ARTICLES_CONTROL_XPATH)


def _text(node: HtmlElement) -> str:
    return "".join(_BLOCK_TEXT(node))


def _is_meta_line(text: str) -> bool:
    return len(text) <= _META_LINE_MAX_CHARS and text.startswith(
        (site.DATE_LABEL, site.SOURCE_LABEL)
    )


def _first(nodes: list) -> HtmlElement | None:
    return nodes[0] if nodes else None


def _root(response: TextResponse) -> HtmlElement:
    return response.selector.root


def _is_more_from_heading(element: HtmlElement) -> bool:
    own = element.text
    return (
        bool(own)
        and own.lstrip().startswith(site.MORE_FROM_PREFIX)
        and (len(collapse_whitespace(_text(element))) <= site.MORE_FROM_HEADING_MAX_CHARS)
    )


def _is_hidden(element: HtmlElement) -> bool:
    """``hidden`` or an inline ``display: none``: text a reader never sees."""
    if element.get("hidden") is not None:
        return True
    style = element.get("style")
    return style is not None and "display:none" in style.replace(" ", "").lower()


class _ParagraphReader:
    """One pass over the body region in document order, cutting paragraphs where a reader
    sees them end (block edges, ``<br>``) and stopping at the "More From" heading.

    Why a walk and not XPath: ``<p>``s, ``<br>``-separated text, ``<div>``s, list items and
    blockquotes may be mixed in any way, and text between blocks (an element's tail) is a
    paragraph too; one pass over the few body nodes is cheaper than any query that sees that.
    """

    def __init__(self) -> None:
        self.paragraphs: list[str] = []
        self._parts: list[str] = []
        self.ended = False  # the "More From" heading was met

    def cut(self) -> None:
        if self._parts:
            text = "".join(self._parts)
            self._parts = []
            if not text.isspace():
                self.paragraphs.append(text)

    def add(self, text: str | None) -> None:
        if text:
            self._parts.append(text)

    def read(self, element: HtmlElement) -> bool:
        """Read ``element``'s subtree (not its tail); False once the region has ended."""
        tag = element.tag
        if not isinstance(tag, str) or tag in site.BODY_SKIPPED_TAGS or _is_hidden(element):
            return True  # a comment, or text no reader sees
        if tag == "br":
            self.cut()
            return True
        if _is_more_from_heading(element):
            self.ended = True
            return False
        block = tag in site.BODY_BLOCK_TAGS
        if block:
            self.cut()
        self.add(element.text)
        for child in element:
            if not self.read(child):
                return False
            self.add(child.tail)
        if block:
            self.cut()
        return True

    def read_after(self, anchor: HtmlElement) -> list[str]:
        """Everything after ``anchor`` (its subtree left out) up to the "More From" heading."""
        node: HtmlElement | None = anchor
        while node is not None:
            self.add(node.tail)
            for sibling in node.itersiblings():
                if not self.read(sibling):
                    return self.finish()
                self.add(sibling.tail)
            node = node.getparent()
            if node is not None and node.tag in site.BODY_BLOCK_TAGS:
                self.cut()
        return self.finish()

    def finish(self) -> list[str]:
        self.cut()
        return self.paragraphs


@dataclass
class ArticlePage:
    """The parts of an article page the item is made from, as raw text."""

    response: TextResponse

    def _absolute(self, href: str | None) -> str | None:
        return self.response.urljoin(href.strip()) if href and href.strip() else None

    @cached_property
    def canonical_url(self) -> str | None:
        return self._absolute(_first(_CANONICAL(_root(self.response))))

    @cached_property
    def title_node(self) -> HtmlElement | None:
        root = _root(self.response)
        for xpath in _TITLES:
            node = _first(xpath(root))
            if node is not None:
                return node
        return None

    @cached_property
    def title(self) -> str | None:
        """The ``<h1>`` text; without one a page is not an article (og:title is not enough)."""
        return _text(self.title_node) if self.title_node is not None else None

    @cached_property
    def above_title(self) -> str:
        """Header date(s) and label line, as the text nodes before the title."""
        return " ".join(_ABOVE_TITLE(self.title_node)) if self.title_node is not None else ""

    @cached_property
    def meta_line_node(self) -> HtmlElement | None:
        """The element of the ``Date: … | Source: …`` line, however the theme splits it."""
        hint = _first(_META_LINE_HINT(_root(self.response)))
        if hint is not None and _is_meta_line(collapse_whitespace(_text(hint))):
            return hint
        for start in _META_LINE_STARTS(_root(self.response)):
            line = None
            for candidate in islice(
                chain((start,), start.iterancestors()), _META_LINE_MAX_DEPTH + 1
            ):
                text = collapse_whitespace(_text(candidate))
                if len(text) > _META_LINE_MAX_CHARS:
                    break
                if _is_meta_line(text):
                    line = candidate
            if line is not None:
                return line
        return None

    @cached_property
    def meta_line(self) -> str | None:
        """The line's text; parts a theme puts in blocks of their own (``<li>Date: …</li>``)
        are joined with the ``|`` a reader sees between them on the live theme."""
        if self.meta_line_node is None:
            return None
        reader = _ParagraphReader()
        reader.read(self.meta_line_node)
        return site.META_LINE_SEPARATOR.join(reader.finish())

    @cached_property
    def original_href(self) -> str | None:
        return self._absolute(_first(_READ_ORIGINAL(_root(self.response))))

    @cached_property
    def _block_texts(self) -> list[tuple[str, bool]]:
        """(raw text, is an injected promotion) for every paragraph a reader sees."""
        return [(text, is_promotional(text)) for text in self._raw_paragraphs()]

    def _raw_paragraphs(self) -> list[str]:
        hint = _first(_BODY_CONTAINER_HINT(_root(self.response)))
        if hint is not None:
            reader = _ParagraphReader()
            reader.read(hint)
            if reader.finish():
                return reader.paragraphs
        anchor = self.meta_line_node if self.meta_line_node is not None else self.title_node
        return _ParagraphReader().read_after(anchor) if anchor is not None else []

    @cached_property
    def paragraphs(self) -> list[str]:
        """Body paragraphs as raw text, injected promotions left out."""
        return [text for text, promo in self._block_texts if not promo]

    @cached_property
    def promo_blocks_removed(self) -> int:
        return sum(1 for _, promo in self._block_texts if promo)

    def stream_links(self) -> Iterator[str]:
        """Absolute URLs of the "More From" cards and the "More Articles" link below the article."""
        headings = _MORE_FROM_HEADING(_root(self.response))
        heading = next(filter(_is_more_from_heading, headings), None)
        if heading is None:
            return
        for href in _CARD_LINKS(heading):
            yield self.response.urljoin(href.strip())

    def missing_anchors(self) -> list[str]:
        """The anchors this page lacks, by the monitor's names: ``title``, ``meta_line`` (or,
        when the line is there without its ``Date:``, ``date_line``), ``body``,
        ``original_link``. A theme change shows up here first."""
        missing = []
        if not (self.title or "").strip():
            missing.append("title")
        if self.meta_line is None:
            missing.append("meta_line")
        elif meta_line_date_text(self.meta_line) is None:
            missing.append("date_line")
        if not self.paragraphs:
            missing.append("body")
        if self.original_href is None:
            missing.append("original_link")
        return missing


@dataclass
class ListingPage:
    """A source-stream listing (or the "More From" block of an article page)."""

    response: TextResponse
    links: list[str] | None = None

    @cached_property
    def article_urls(self) -> list[str]:
        """Article links in page order, each article once per host however often it is linked
        (an off-site copy of a link must not hide the on-site one)."""
        hrefs = self.links if self.links is not None else self._all_links()
        seen: set[tuple[str | None, str]] = set()
        urls = []
        for url in hrefs:
            parts = article_url_parts(url)
            if parts and (key := (urlsplit(url).hostname, parts[0])) not in seen:
                seen.add(key)
                urls.append(url)
        return urls

    def _all_links(self) -> list[str]:
        return [self.response.urljoin(h.strip()) for h in _LINK_HREFS(_root(self.response))]

    @cached_property
    def more_articles_control(self) -> HtmlElement | None:
        return _first(_MORE_ARTICLES_CONTROL(_root(self.response)))

    @cached_property
    def next_page_url(self) -> str | None:
        """Where "More Articles" leads, when it is a plain link that leads somewhere."""
        control = self.more_articles_control
        if control is None:
            return None
        href = control.get("href")
        if href is None or site.DEAD_HREF_RE.match(href):
            return None
        return self.response.urljoin(href.strip())

    @property
    def needs_browser(self) -> bool:
        """A "More Articles" control exists but only a script can follow it."""
        return self.more_articles_control is not None and self.next_page_url is None
