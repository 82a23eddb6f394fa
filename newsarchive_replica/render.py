"""HTML of the replica's pages, in the specimen's markup (tags, classes, structure).

Why f-strings and no template engine: the pages are few and small, and rendering 20,000
article pages for the static export must take seconds. Rendering never changes the text a
reader sees: the layout noise (NBSP, newlines, entities, promo blocks) is what the spider
must see through, and ``expected.py`` works from the model, not from this HTML.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from html import escape
from urllib.parse import quote

from newsarchive_replica.model import MONTHS, Article, StreamSpec

ROBOTS_TXT = "User-agent: *\nDisallow: /wp-admin/\nAllow: /wp-admin/admin-ajax.php\n"
ASSETS: dict[str, tuple[str, str]] = {
    "/wp-content/themes/kcnawatch/style.css": (
        "text/css",
        "body{font-family:sans-serif;margin:0 auto;max-width:60em}.d-md-none{display:none}\n",
    ),
    "/wp-content/themes/kcnawatch/js/main.js": ("application/javascript", "/* theme */\n"),
    "/wp-content/themes/kcnawatch/img/logo.svg": (
        "image/svg+xml",
        '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="24">'
        '<text x="0" y="18">KCNA Watch</text></svg>\n',
    ),
}
_PROMO_HIRING = (
    '      <div class="promo"><p>NK News is hiring: join our team covering North Korea. '
    '<a href="https://www.nknews.org/jobs/">See open positions</a></p></div>\n'
)
_PROMO_NKPRO = (
    '      <div class="nk-box nkpro-upsell"><p>Subscribe to NK Pro to read our analysis of '
    "this report and access the KCNA Watch archive.</p></div>\n"
)
_AJAX = "/wp-admin/admin-ajax.php?action=more_results&source=${a.dataset.source}&paged=${page}"
_SCRIPT = (
    """<script>
document.getElementById("more_results").addEventListener("click", async (ev) => {
  ev.preventDefault();
  const a = ev.currentTarget, page = a.dataset.page;
  const r = await fetch(`"""
    + _AJAX
    + """`);
  const frag = await r.text();               // HTML of the next cards; empty when there are no more
  if (!frag.trim()) { a.remove(); return; }
  document.getElementById("archive_wrapper").insertAdjacentHTML("beforeend", frag);
  a.dataset.page = String(Number(page) + 1);
});
</script>"""
)
_THEME_SCRIPT = '<script src="/wp-content/themes/kcnawatch/js/main.js"></script>'
#: Whitespace a reader never sees as more than one space, swapped in for single spaces.
_NOISE = ("&nbsp;", "\u00a0", "\n        ", "   ", " \t ", " &nbsp; ", "\n")


def long_date(day: date) -> str:
    return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"


def short_date(day: date) -> str:
    return f"{MONTHS[day.month - 1][:3]} {day.day}, {day.year}"


def day_first(day: date) -> str:
    return f"{day.day:02d}/{day.month:02d}/{day.year}"


@dataclass(frozen=True)
class Links:
    """Absolute URLs, like the live site: query-string listings, or path ones when static."""

    base_url: str
    static: bool = False

    def listing(self, spec: StreamSpec, page: int = 1, scripted: bool = False) -> str:
        if self.static:
            return f"{self.base_url}/listing/{page}/"
        url = f"{self.base_url}/?s=&source={spec.source_id}&sort=recent"
        url += f"&paged={page}" if page > 1 else ""
        return url + ("&scripted=1" if scripted else "")

    def article(self, art: Article, slash: bool = True) -> str:
        return self.base_url + art.path(slash)

    def card(self, art: Article) -> str:
        """The href cards give: some without the trailing slash."""
        return self.article(art, slash=not art.has("link_noslash"))

    def paywall(self, art: Article) -> str:
        return f"{self.base_url}/free-member-form/?redirect={quote(self.article(art), safe='')}"


_NAV = (
    '  <nav class="navbar"><a class="navbar-brand" href="/">'
    '<img src="/wp-content/themes/kcnawatch/img/logo.svg" alt="KCNA Watch"></a>\n'
    '    <ul class="nav"><li><a href="/newstream/">Newstream</a></li>'
    '<li><a href="/kctv-archive/">KCTV Archive</a></li>'
    '<li><a href="/about-the-kcna-databases/">About</a></li></ul>\n'
    "  </nav>\n"
)


def _page(title: str, body_class: str, main: str, head: str = "", script: str = "") -> str:
    return f"""<!DOCTYPE html>
<html lang="en-US">
<head>
<meta charset="UTF-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
{head}<link rel="stylesheet" href="/wp-content/themes/kcnawatch/style.css">
</head>
<body class="{body_class}">
<header class="site-header">
{_NAV}</header>
<main id="main" class="container">
{main}</main>
<footer class="site-footer"><p>&copy; Korea Risk Group</p></footer>
{script or _THEME_SCRIPT}
</body>
</html>
"""


def excerpt(art: Article) -> str:
    """The card excerpt: the first paragraph cut at 125 characters, mid-word if need be."""
    text = art.body[0] if art.body else ""
    return text[:125].rstrip()


def card(art: Article, links: Links, date_text: str) -> str:
    href, title, ex = escape(links.card(art)), escape(art.title), escape(excerpt(art))
    thumb = f'<a href="{href}"><span class="thumb-title">{title}</span></a>'
    return f"""      <article class="clearfix">
        <div class="article-thumb">{thumb}</div>
        <div class="article-desc">
          <h4><a href="{href}">{title}</a></h4>
          <p class="excerpt d-none d-md-block">{ex}</p>
          <p class="date"><span>{date_text}</span></p>
          <p class="excerpt d-md-none">{ex}</p>
        </div>
      </article>
"""


def cards_fragment(cards: list[Article], links: Links) -> str:
    """Listing cards (short dates); also the admin-ajax "more_results" answer."""
    return "".join(card(art, links, short_date(art.kst_date)) for art in cards)


def more_from(spec: StreamSpec, cards: list[Article], links: Links, has_more: bool) -> str:
    """The "More From <label>" section under every article: the stream's newest cards."""
    items = "".join(card(art, links, long_date(art.kst_date)) for art in cards)
    more = (
        f'    <a class="more-articles" href="{escape(links.listing(spec, 2))}">More Articles</a>\n'
        if has_more
        else ""
    )
    return f"""  <section class="more-from">
    <h3>More From {escape(spec.label)}</h3>
    <div class="archive-list">
{items}    </div>
{more}  </section>
"""


def paragraph_html(text: str, art: Article, rng: random.Random) -> str:
    """A paragraph's inner HTML with the article's layout noise (entities, odd whitespace)."""
    html = escape(text, quote=False)
    if art.has("entity_apostrophe"):
        html = html.replace("’", "&#8217;").replace("“", "&#8220;").replace("”", "&#8221;")
    if art.has("messy_whitespace"):
        words = html.split(" ")
        for gap in rng.sample(range(1, len(words)), min(3, len(words) - 1)):
            words[gap] = rng.choice(_NOISE) + words[gap]
        html = " ".join(words).replace(" \n", "\n").replace(" \u00a0", "\u00a0")
        html = html.replace(" &nbsp;", "&nbsp;") if rng.random() < 0.5 else html
        if rng.random() < 0.5:
            html = f"\n        {html}\n      "
    return html


def _paragraph(text: str, art: Article, rng: random.Random) -> str:
    return f"      <p>{paragraph_html(text, art, rng)}</p>\n"


def _content(art: Article) -> str:
    rng = random.Random(art.num)  # layout only: the same page on every request
    blocks = [_paragraph(text, art, rng) for text in art.paragraphs]
    if art.has("promo_hiring"):
        blocks.insert(1, _PROMO_HIRING)
    if art.has("promo_nkpro"):
        blocks.insert(max(1, len(art.body) - 1), _PROMO_NKPRO)
    return "".join(blocks)


def _header_date(spec: StreamSpec, art: Article) -> str:
    if art.has("header_single"):
        return f"<span>{long_date(spec.today)}</span>"
    return (
        f'<span class="d-none d-md-inline">{long_date(spec.today)}</span>'
        f'<span class="d-md-none">{short_date(spec.today)}</span>'
    )


def _meta_line(spec: StreamSpec, art: Article) -> str:
    parts = [f"Date: {day_first(art.date_line)}"] if art.date_line else []
    parts.append(f"Source: {escape(spec.label)}")
    if art.original_url:
        parts.append(
            f'<a href="{escape(art.original_url)}" target="_blank" rel="noopener">'
            "Read original version at source</a>"
        )
    return " | ".join(parts)


def article_page(spec: StreamSpec, art: Article, links: Links, more_from_html: str) -> str:
    """An article page; ``more_from_html`` is shared by all pages of a stream state."""
    title = escape(art.title)
    url = escape(links.article(art))
    notitle, canonical = art.status == "notitle", not art.has("no_canonical")
    head = f'<link rel="canonical" href="{url}">\n' if canonical else ""
    head += '<meta property="og:type" content="article">\n'
    head += "" if notitle else f'<meta property="og:title" content="{title}">\n'
    head += f'<meta property="og:url" content="{url}">\n' if canonical else ""
    h1 = "" if notitle else f'      <h1 class="article-title">{title}</h1>\n'
    label = f'<span class="brand">KCNA</span> <a href="{escape(links.listing(spec))}">'
    label += f"{escape(spec.label)}</a>"
    main = f"""  <article class="article-main">
    <div class="article-head">
      <div class="article-date">{_header_date(spec, art)}</div>
      <div class="article-source">{label}</div>
{h1}      <div class="article-meta">{_meta_line(spec, art)}</div>
    </div>
    <div class="article-content">
{_content(art)}    </div>
  </article>
{more_from_html}"""
    page_title = "KCNA Watch" if notitle else f"{title} | KCNA Watch"
    return _page(page_title, "newstream-template-default single single-newstream", main, head)


def listing_page(
    spec: StreamSpec, cards: list[Article], links: Links, page: int, has_next: bool, scripted: bool
) -> str:
    """A source listing page; "More Articles" is a link, or scripted (``href="#"``)."""
    more, script = "", ""
    if has_next and scripted:
        more = (
            f'  <a id="more_results" class="more-articles" href="#" data-source="{spec.source_id}"'
            f' data-page="{page + 1}">More Articles</a>\n'
        )
        script = _SCRIPT
    elif has_next:
        href = escape(links.listing(spec, page + 1))
        more = f'  <a id="more_results" class="more-articles" href="{href}">More Articles</a>\n'
    main = f"""  <h2 class="results-head">Results from {escape(spec.label)}</h2>
  <div class="archive-list" id="archive_wrapper">
{cards_fragment(cards, links)}  </div>
{more}"""
    return _page("You searched for | KCNA Watch", "search search-results", main, script=script)


def paywall_page(links: Links, redirect: str) -> str:
    """``/free-member-form/``: a sign-up form, not an article (it has an ``<h1>`` though)."""
    main = f"""  <div class="free-member-form">
    <h1 class="page-title">Become a Free Member</h1>
    <p>Register for free to keep reading KCNA Watch and receive our daily digest.</p>
    <form class="member-form" method="post" action="{escape(links.base_url)}/free-member-form/">
      <input type="hidden" name="redirect" value="{escape(redirect)}">
      <label>Email <input type="email" name="email" required></label>
      <label>Password <input type="password" name="password" required></label>
      <button type="submit">Sign up</button>
    </form>
  </div>
"""
    return _page("Free Member Sign Up | KCNA Watch", "page page-free-member-form", main)


_ERRORS = {
    403: ("Forbidden", "You don’t have permission to access this resource."),
    404: ("Oops! That page can’t be found.", "It looks like nothing was found at this location."),
    410: ("This content has been removed.", "The page you requested is no longer available."),
    503: ("Service Temporarily Unavailable", "Please try again in a moment."),
}


def error_page(status: int) -> str:
    heading, text = _ERRORS.get(status, ("Error", "Something went wrong."))
    main = f'  <section class="error-{status}">\n    <h1 class="page-title">{heading}</h1>\n'
    main += f"    <p>{text}</p>\n  </section>\n"
    return _page(f"{heading} | KCNA Watch", f"error error{status}", main)


def home_page(specs: list[StreamSpec], links: Links) -> str:
    items = "".join(
        f'    <li><a href="{escape(links.listing(spec))}">{escape(spec.label)}</a></li>\n'
        for spec in specs
    )
    main = f'  <h2 class="results-head">Sources</h2>\n  <ul class="sources">\n{items}  </ul>\n'
    return _page("KCNA Watch", "home", main)
