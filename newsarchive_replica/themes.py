"""The replica's themes: the same pages a reader reads, in different markup.

Why themes: the live site may change its theme at any time (specimen README), and a spider
that reads what a reader sees must give the same items from any of them. ``specimen`` is the
specimen's markup (render.py). ``plain`` has the structure a reader never notices changing:
no class attribute at all, no ``<p>``, no ``<nav>``/``<footer>``, body paragraphs as text
separated by ``<br><br>`` or ``<br>`` mixed with ``<div>``, ``<blockquote>`` and list items,
promotions in an ``<aside>`` or inline text, the meta line split over spans and links, and
cards as ``<div>``s ("More From") and ``<li>``s (listings). ``semantic`` uses HTML5 elements
and class names of its own (none the spider hints at): the meta line as a list, the body as
``<div>``s and ``<p>``s split by ``<br>``, ``<article>`` cards, a "More From" heading split
over a ``<span>``, and the header date in ``<time>``. The text a reader sees, and so the
expected items (expected.py), is the same on every theme.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from newsarchive_replica import render
from newsarchive_replica.model import Article, StreamSpec
from newsarchive_replica.render import Links, excerpt, long_date, short_date


@dataclass(frozen=True)
class Theme:
    """The page renderers a theme replaces (error, paywall and home pages are shared)."""

    name: str
    article_page: Callable[[StreamSpec, Article, Links, str], str]
    listing_page: Callable[[StreamSpec, list[Article], Links, int, bool, bool], str]
    cards_fragment: Callable[[list[Article], Links], str]
    more_from: Callable[[StreamSpec, list[Article], Links, bool], str]


# --- plain: no class names, <br> bodies, split meta line, <div>/<li> cards --------------------

_MENU = (
    '<div><a href="/"><img src="/wp-content/themes/kcnawatch/img/logo.svg" alt="KCNA Watch"></a>'
    ' <a href="/newstream/">Newstream</a> <a href="/kctv-archive/">KCTV Archive</a>'
    ' <a href="/about-the-kcna-databases/">About</a></div>\n'
)
_HIRING = (
    'NK News is hiring: join our team covering North Korea. <a href="https://www.nknews.org/'
    'jobs/">See open positions</a>'
)
_NKPRO = (
    "<aside><b>Subscribe to NK Pro</b> to read our analysis of this report and access the"
    " KCNA Watch archive.</aside>"
)
_SCRIPT = """<script>
const more = document.querySelector("a[data-page]");
more.addEventListener("click", async (ev) => {
  ev.preventDefault();
  const page = more.dataset.page;
  const query = `action=more_results&source=${more.dataset.source}&paged=${page}`;
  const r = await fetch(`/wp-admin/admin-ajax.php?${query}`);
  const frag = await r.text();
  if (!frag.trim()) { more.remove(); return; }
  document.querySelector("ul[data-cards]").insertAdjacentHTML("beforeend", frag);
  more.dataset.page = String(Number(page) + 1);
});
</script>"""


def _document(title: str, head: str, body: str, script: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<title>{title}</title>
{head}</head>
{body}
{script}
</body>
</html>
"""


def _plain_page(title: str, main: str, head: str = "", script: str = "") -> str:
    body = f"<body>\n{_MENU}<div>\n{main}</div>\n<div>&copy; Korea Risk Group</div>"
    return _document(title, head, body, script)


def _more_articles(
    spec: StreamSpec, links: Links, page: int, has_next: bool, scripted: bool
) -> tuple[str, str]:
    """The "More Articles" link (or scripted control) of a listing page, and its script."""
    if has_next and scripted:
        control = f'<a href="#" data-source="{spec.source_id}" data-page="{page + 1}">'
        return control + "More Articles</a>", _SCRIPT
    if has_next:
        return f'<a href="{escape(links.listing(spec, page + 1))}">More Articles</a>', ""
    return "", ""


def _plain_meta_line(spec: StreamSpec, art: Article, links: Links) -> str:
    parts = []
    if art.date_line:
        parts.append(f"<span>Date:</span> <span>{render.day_first(art.date_line)}</span>")
    source = f'<a href="{escape(links.listing(spec))}">{escape(spec.label)}</a>'
    parts.append(f"<span>Source:</span>&nbsp;{source}")
    if art.original_url:
        parts.append(f'<a href="{escape(art.original_url)}">Read original version at source</a>')
    return "<div>" + "<span> | </span>".join(parts) + "</div>"


def _plain_body(art: Article) -> str:
    """The paragraphs as a reader sees them, in a mix of markups chosen per article."""
    rng = random.Random(art.num)  # the same page on every request
    layout = random.Random(art.num ^ 0x5EED)
    blocks = [render.paragraph_html(text, art, rng) for text in art.paragraphs]
    kinds = [layout.choice(("br", "br", "br", "div", "quote", "li")) for _ in blocks]
    kinds[-1] = "br" if art.signoff else kinds[-1]  # sign-offs close the text, after a <br>
    if art.has("promo_hiring"):
        blocks.insert(1, _HIRING)
        kinds.insert(1, "br")
    if art.has("promo_nkpro"):
        at = max(1, len(art.body) - 1)
        blocks.insert(at, _NKPRO)
        kinds.insert(at, "raw")
    html = []
    for i, (block, kind) in enumerate(zip(blocks, kinds, strict=True)):
        if kind == "br":
            html.append(block)
            following = kinds[i + 1] if i + 1 < len(kinds) else None
            if following == "br":
                html.append("<br>" if layout.random() < 0.3 else "<br><br>\n")
        elif kind == "div":
            html.append(f"<div>{block}</div>")
        elif kind == "quote":
            html.append(f"<blockquote>{block}</blockquote>")
        elif kind == "li":
            html.append(f"<ul><li>{block}</li></ul>")
        else:
            html.append(block)
    return "".join(html)


def plain_article_page(spec: StreamSpec, art: Article, links: Links, more_from_html: str) -> str:
    title, url = escape(art.title), escape(links.article(art))
    head = "" if art.has("no_canonical") else f'<link rel="canonical" href="{url}">\n'
    h1 = "" if art.status == "notitle" else f"<h1>{title}</h1>\n"
    if art.has("header_single"):
        header = f"<div>{long_date(spec.today)}</div>"
    else:
        header = (
            f"<div><span>{long_date(spec.today)}</span><span>{short_date(spec.today)}</span></div>"
        )
    label = f'<div>KCNA <a href="{escape(links.listing(spec))}">{escape(spec.label)}</a></div>'
    main = (
        f"<div>\n{header}\n{label}\n{h1}{_plain_meta_line(spec, art, links)}\n"
        f"<div>{_plain_body(art)}</div>\n</div>\n{more_from_html}"
    )
    return _plain_page(f"{title} | KCNA Watch", main, head)


def _plain_card(art: Article, links: Links, date_text: str, tag: str) -> str:
    href, title = escape(links.card(art)), escape(art.title)
    return (
        f'<{tag}><a href="{href}"><img src="/wp-content/themes/kcnawatch/img/logo.svg" alt="">'
        f'</a><div><a href="{href}">{title}</a></div><div>{escape(excerpt(art))}</div>'
        f"<div>{date_text}</div></{tag}>\n"
    )


def plain_cards_fragment(cards: list[Article], links: Links) -> str:
    return "".join(_plain_card(art, links, short_date(art.kst_date), "li") for art in cards)


def plain_more_from(spec: StreamSpec, cards: list[Article], links: Links, has_more: bool) -> str:
    items = "".join(_plain_card(art, links, long_date(art.kst_date), "div") for art in cards)
    more = f'<a href="{escape(links.listing(spec, 2))}">More Articles</a>\n' if has_more else ""
    return f"<div>\n<div>More From {escape(spec.label)}</div>\n<div>\n{items}</div>\n{more}</div>\n"


def plain_listing_page(
    spec: StreamSpec, cards: list[Article], links: Links, page: int, has_next: bool, scripted: bool
) -> str:
    more, script = _more_articles(spec, links, page, has_next, scripted)
    main = (
        f"<div>Results from {escape(spec.label)}</div>\n"
        f"<ul data-cards>\n{plain_cards_fragment(cards, links)}</ul>\n{more}\n"
    )
    return _plain_page("You searched for | KCNA Watch", main, script=script)


# --- semantic: HTML5 elements, other classes, <article> cards, the meta line as a list -------


def _semantic_page(title: str, main: str, head: str = "", script: str = "") -> str:
    body = (
        f'<body class="kw2">\n<header class="top"><nav class="menu">{_MENU}</nav></header>\n'
        f'<main class="page">\n{main}</main>\n'
        '<footer class="bottom"><small>&copy; Korea Risk Group</small></footer>'
    )
    return _document(title, head, body, script)


def _semantic_meta_line(spec: StreamSpec, art: Article) -> str:
    parts = []
    if art.date_line:
        parts.append(f"<li><b>Date:</b> <time>{render.day_first(art.date_line)}</time></li>")
    parts.append(f"<li><b>Source:</b> <em>{escape(spec.label)}</em></li>")
    if art.original_url:
        href = escape(art.original_url)
        parts.append(f'<li><a href="{href}">Read original version at source</a></li>')
    return f'<ul class="facts">{"".join(parts)}</ul>'


def _semantic_body(art: Article) -> str:
    """Paragraphs as ``<div>``s, pairs of them as one ``<p>`` split by ``<br>``, sign-offs in
    a ``<footer>``-less ``<p>``; promotions in a ``<section>``."""
    rng = random.Random(art.num)
    layout = random.Random(art.num ^ 0xB10C)
    body = [render.paragraph_html(text, art, rng) for text in art.body]
    signoff = [render.paragraph_html(text, art, rng) for text in art.signoff]
    html, i = [], 0
    while i < len(body):
        if i + 1 < len(body) and layout.random() < 0.4:
            html.append(f"<p>{body[i]}<br>\n{body[i + 1]}</p>")
            i += 2
        else:
            html.append(f'<div class="para">{body[i]}</div>')
            i += 1
        if i == 1 and art.has("promo_hiring"):
            html.append(f'<section class="ad"><div>{_HIRING}</div></section>')
        if i == max(1, len(body) - 1) and art.has("promo_nkpro"):
            html.append(f"<section>{_NKPRO}</section>")
    if signoff:
        html.append("<p>" + "<br>".join(signoff) + "</p>")
    return "\n".join(html)


def semantic_article_page(spec: StreamSpec, art: Article, links: Links, more_from_html: str) -> str:
    title, url = escape(art.title), escape(links.article(art))
    head = "" if art.has("no_canonical") else f'<link rel="canonical" href="{url}">\n'
    h1 = "" if art.status == "notitle" else f"<h1><span>{title}</span></h1>\n"
    dates = [long_date(spec.today)] + ([] if art.has("header_single") else [short_date(spec.today)])
    header = "".join(f"<time>{text}</time>" for text in dates)
    label = f'<p><b>KCNA</b> <a href="{escape(links.listing(spec))}">{escape(spec.label)}</a></p>'
    main = (
        f'<article class="story">\n<header class="story-head">{header}\n{label}\n{h1}'
        f"{_semantic_meta_line(spec, art)}</header>\n"
        f'<section class="story-text">\n{_semantic_body(art)}\n</section>\n</article>\n'
        f"{more_from_html}"
    )
    return _semantic_page(f"{title} | KCNA Watch", main, head)


def _semantic_card(art: Article, links: Links, date_text: str) -> str:
    href, title = escape(links.card(art)), escape(art.title)
    return (
        f'<article class="teaser"><h2><a href="{href}">{title}</a></h2>'
        f"<p>{escape(excerpt(art))}</p><time>{date_text}</time></article>\n"
    )


def semantic_cards_fragment(cards: list[Article], links: Links) -> str:
    return "".join(_semantic_card(art, links, short_date(art.kst_date)) for art in cards)


def semantic_more_from(spec: StreamSpec, cards: list[Article], links: Links, has_more: bool) -> str:
    items = "".join(_semantic_card(art, links, long_date(art.kst_date)) for art in cards)
    more = f'<p><a href="{escape(links.listing(spec, 2))}">More Articles</a></p>\n'
    return (
        f'<aside class="related">\n<h2><span>More From</span> {escape(spec.label)}</h2>\n'
        f"{items}{more if has_more else ''}</aside>\n"
    )


def semantic_listing_page(
    spec: StreamSpec, cards: list[Article], links: Links, page: int, has_next: bool, scripted: bool
) -> str:
    more, script = _more_articles(spec, links, page, has_next, scripted)
    more = f"<p>{more}</p>\n" if more else ""
    script = script.replace("ul[data-cards]", "section[data-cards]")
    main = (
        f"<h1>Results from {escape(spec.label)}</h1>\n"
        f"<section data-cards>\n{semantic_cards_fragment(cards, links)}</section>\n{more}"
    )
    return _semantic_page("You searched for | KCNA Watch", main, script=script)


THEMES: dict[str, Theme] = {
    "specimen": Theme(
        "specimen", render.article_page, render.listing_page, render.cards_fragment,
        render.more_from,
    ),
    "plain": Theme(
        "plain", plain_article_page, plain_listing_page, plain_cards_fragment, plain_more_from
    ),
    "semantic": Theme(
        "semantic", semantic_article_page, semantic_listing_page, semantic_cards_fragment,
        semantic_more_from,
    ),
}  # fmt: skip
THEME_NAMES = tuple(THEMES)
DEFAULT_THEME = "specimen"


def theme(name: str) -> Theme:
    if name not in THEMES:
        raise ValueError(f"unknown theme {name!r} (expected one of {', '.join(THEME_NAMES)})")
    return THEMES[name]
