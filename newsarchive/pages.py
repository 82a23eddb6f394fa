"""Page readers: raw, uncleaned text pulled out of a response with the anchors in ``site``.

They answer "where on the page is it?" and nothing else; cleaning belongs to the processors.
Each reader tries the theme's class hints first and falls back to what a reader sees.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

from parsel import Selector, SelectorList
from scrapy.http import TextResponse

from newsarchive import site
from newsarchive.processors import article_url_parts, collapse_whitespace, is_promotional

#: A meta line longer than this is a whole block of text, not the Date:/Source: line.
_META_LINE_MAX_CHARS = 400


def _text(selector: Selector) -> str:
    return "".join(selector.xpath(site.BLOCK_TEXT_XPATH).getall())


@dataclass
class ArticlePage:
    """The parts of an article page the item is made from, as raw text."""

    response: TextResponse

    @cached_property
    def canonical_url(self) -> str | None:
        href = self.response.xpath(site.CANONICAL_XPATH).get()
        return self.response.urljoin(href.strip()) if href and href.strip() else None

    @cached_property
    def title_node(self) -> Selector | None:
        for xpath in site.TITLE_XPATHS[:-1]:
            node = self.response.xpath(xpath)
            if node:
                return node[0]
        return None

    @cached_property
    def title(self) -> str | None:
        """The ``<h1>`` text; without one a page is not an article (og:title is not enough)."""
        return _text(self.title_node) if self.title_node is not None else None

    @cached_property
    def above_title(self) -> str:
        """Header date(s) and label line, as the text nodes before the title."""
        if self.title_node is None:
            return ""
        return " ".join(self.title_node.xpath(site.ABOVE_TITLE_TEXT_XPATH).getall())

    @cached_property
    def meta_line_node(self) -> Selector | None:
        for node in self.response.xpath(site.META_LINE_XPATH):
            text = collapse_whitespace(_text(node))
            if site.DATE_LABEL not in text:
                # "Date:" and "Source:" may sit in sibling elements: take the nearest parent
                # that holds both, if it is still a line and not a block.
                parent = node.xpath(f"ancestor::*[contains(., '{site.DATE_LABEL}')][1]")
                if parent and len(collapse_whitespace(_text(parent[0]))) <= _META_LINE_MAX_CHARS:
                    node, text = parent[0], collapse_whitespace(_text(parent[0]))
            if len(text) <= _META_LINE_MAX_CHARS and (
                text.startswith(site.DATE_LABEL) or text.startswith(site.SOURCE_LABEL)
            ):
                return node
        return None

    @cached_property
    def meta_line(self) -> str | None:
        return _text(self.meta_line_node) if self.meta_line_node is not None else None

    @cached_property
    def original_href(self) -> str | None:
        href = self.response.xpath(site.READ_ORIGINAL_XPATH).get()
        return self.response.urljoin(href.strip()) if href and href.strip() else None

    def _body_blocks(self) -> SelectorList:
        for xpath in site.BODY_CONTAINER_HINTS:
            container = self.response.xpath(xpath)
            if container:
                blocks = container[0].xpath(site.BODY_BLOCKS_RELATIVE_XPATH)
                if blocks:
                    return blocks
        anchor = self.meta_line_node if self.meta_line_node is not None else self.title_node
        if anchor is None:
            return SelectorList([])
        return anchor.xpath(site.BODY_FALLBACK_FROM_META_XPATH)

    @cached_property
    def paragraphs(self) -> list[str]:
        """Body paragraphs as raw text, injected promotions left out."""
        kept = []
        for block in self._body_blocks():
            if block.xpath(site.PROMO_CONTAINER_XPATH) and is_promotional(_text(block)):
                continue
            text = _text(block)
            if is_promotional(text):
                continue
            kept.append(text)
        return kept

    @cached_property
    def promo_blocks_removed(self) -> int:
        return sum(1 for block in self._body_blocks() if is_promotional(_text(block)))

    def stream_links(self) -> Iterator[str]:
        """Absolute URLs of the "More From" cards and the "More Articles" link below the article."""
        heading = self.response.xpath(site.MORE_FROM_HEADING_XPATH)
        if not heading:
            return
        for href in heading[0].xpath(site.CARD_LINKS_AFTER_HEADING_XPATH).getall():
            yield self.response.urljoin(href.strip())


@dataclass
class ListingPage:
    """A source-stream listing (or the "More From" block of an article page)."""

    response: TextResponse
    links: list[str] | None = None

    @cached_property
    def article_urls(self) -> list[str]:
        """Article links in page order, each article once however often it is linked."""
        hrefs = self.links if self.links is not None else self._all_links()
        seen: set[str] = set()
        urls = []
        for url in hrefs:
            parts = article_url_parts(url)
            if parts and parts[0] not in seen:
                seen.add(parts[0])
                urls.append(url)
        return urls

    def _all_links(self) -> list[str]:
        return [
            self.response.urljoin(h.strip())
            for h in self.response.xpath(site.LINK_HREFS_XPATH).getall()
        ]

    @cached_property
    def more_articles_control(self) -> Selector | None:
        controls = self.response.xpath(site.MORE_ARTICLES_CONTROL_XPATH)
        return controls[0] if controls else None

    @cached_property
    def next_page_url(self) -> str | None:
        """Where "More Articles" leads, when it is a plain link that leads somewhere."""
        control = self.more_articles_control
        if control is None:
            return None
        href = control.attrib.get("href")
        if href is None or site.DEAD_HREF_RE.match(href):
            return None
        return self.response.urljoin(href.strip())

    @property
    def needs_browser(self) -> bool:
        """A "More Articles" control exists but only a script can follow it."""
        return self.more_articles_control is not None and self.next_page_url is None
