"""The page readers on markup no theme of the replica uses: what a reader sees, however made."""

from __future__ import annotations

import pytest

from newsarchive.loaders import load_article
from newsarchive.pages import ArticlePage, ListingPage
from newsarchive.processors import article_url_parts
from tests.conftest import html_response

URL = "https://kcnawatch.org/newstream/1712275200-42/a-title/"
HEAD = "<html><body><div>Dec 27, 2025</div><div>KCNA Naenara (En)</div><h1>A Title</h1>"
META = '<div>Date: 05/04/2024 | Source: Naenara (En) | <a href="http://o.kp/1">Read original version at source</a></div>'  # noqa: E501
TAIL = '<div>More From Naenara (En)</div><a href="/newstream/1712270000-41/b/">B</a></body></html>'


def read(body: str, meta: str = META, head: str = HEAD, tail: str = TAIL) -> dict:
    return dict(load_article(ArticlePage(html_response(head + meta + body + tail, URL))))


def paragraphs(body: str, **parts: str) -> list[str]:
    return read(body, **parts)["body"].split("\n\n")


FOUR = ["One.", "Two.", "Three.", "Four."]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<div>One.<br><br>Two.<br>Three.</div>", FOUR[:3]),
        ("<div>One.<div>Two.</div>Three.<blockquote>Four.</blockquote></div>", FOUR),
        ("<section><p>One.</p>Two.<ul><li>Three.</li><li>Four.</li></ul></section>", FOUR),
        ("<div><p>One.<br>\n Two.</p><p>  </p><p>Three.</p><div>Four.</div></div>", FOUR),
        ("One.<br><br><b>Two</b>, still two.<br><br>Three.<hr>Four.", [
            "One.", "Two, still two.", "Three.", "Four.",
        ]),
    ],
)  # fmt: skip
def test_body_paragraphs_in_any_markup(body, expected):
    assert paragraphs(body) == expected


def test_promotions_removed_whatever_holds_them_and_sign_offs_kept():
    body = (
        "<div>One.<br><br>NK News is hiring: <a href='/jobs'>apply</a><br><br>Two."
        "<aside><strong>Subscribe to NK Pro</strong> for more.</aside><span>-0-</span><br>"
        "www.kcna.kp (Juche113.4.5.)<br>KCNA</div>"
    )
    page = ArticlePage(html_response(HEAD + META + body + TAIL, URL))
    assert [p.strip() for p in page.paragraphs] == [
        "One.", "Two.", "-0-", "www.kcna.kp (Juche113.4.5.)", "KCNA",
    ]  # fmt: skip
    assert page.promo_blocks_removed == 2


def test_text_no_reader_sees_is_not_body():
    body = (
        "<div>One.<script>var x = 'no';</script><span hidden>hidden</span>"
        "<span style='display: none'>gone</span><noscript>no</noscript><br>Two.</div>"
        "<form><button>Share</button></form><nav><a href='/'>Home</a></nav>"
    )
    assert paragraphs(body) == ["One.", "Two."]


def test_body_stops_at_more_from_however_deep():
    tail = "<section><h3><span>More From</span> Naenara (En)</h3><p>Card text</p></section>"
    assert paragraphs("<div>One.</div>Two.", tail=tail) == ["One.", "Two."]


def test_a_body_paragraph_starting_like_the_heading_is_still_body():
    long = "More From the fields of the country come reports of a rich harvest " * 4
    assert paragraphs(f"<p>{long}</p><p>Two.</p>") == [long.strip(), "Two."]


@pytest.mark.parametrize(
    "meta",
    [
        "<p><span>Date:</span> <span>05/04/2024</span> <span>|</span> <span>Source:</span>"
        ' <a href="/s">Naenara (En)</a> | <a href="http://o.kp/1">Read original version at'
        " source</a></p>",
        "<ul><li><b>Date:</b> 05/04/2024</li><li><b>Source:</b> <em>Naenara (En)</em></li>"
        '<li><a href="http://o.kp/1">Read original version at source</a></li></ul>',
        "<div><div><span>Date: </span><time>05/04/2024</time></div><div><span>Source: </span>"
        'Naenara (En)</div><div><a href="http://o.kp/1">Read original version at source</a>'
        "</div></div>",
        "<p><b>Date</b>: 05/04/2024 | <b>Source</b>: Naenara (En) |"
        ' <a href="http://o.kp/1">Read original version at source</a></p>',
    ],
    ids=["spans", "list", "divs", "labels-apart-from-colons"],
)
def test_meta_line_split_over_elements(meta):
    item = read("<div>One.<br>Two.</div>", meta=meta)
    assert item["published_date"] == "2024-04-05"
    assert item["source"] == "Naenara (En)"
    assert item["original_url"] == "http://o.kp/1"
    assert item["body"] == "One.\n\nTwo."


def test_no_class_no_p_no_nav_every_field():
    item = read("<div>One.<br><br>Two.</div>")
    assert (item["title"], item["page_date"], item["source_language"]) == (
        "A Title",
        "2025-12-27",
        "en",
    )
    assert item["body"] == "One.\n\nTwo."


SITE = "https://kcnawatch.org/newstream/"


@pytest.mark.parametrize(
    ("path", "article_id"),
    [
        ("1396423980-1027/laws/space-development-law/", "1396423980-1027"),
        ("1396423980-1027/laws/space-development-law", "1396423980-1027"),
        ("1713006283-531298405/talks/", "1713006283-531298405"),
        ("1713006283-531298405/%ed%8f%89%ec%96%91/", "1713006283-531298405"),
        ("feed/", None),
        ("1713006283-531298405/talks/feed/", None),
        ("1713006283-531298405/talks/amp", None),
        ("1713006283-531298405/", None),
        ("", None),
    ],
)
def test_article_urls_with_extra_segments(path, article_id):
    parts = article_url_parts(SITE + path)
    assert (parts[0] if parts else None) == article_id


def test_cards_as_divs_lis_or_articles_with_the_title_in_any_link():
    html = (
        "<html><body><div><div><a href='/newstream/1712270000-41/b/'><img alt=''></a>"
        "<div>Mar 1, 2024</div></div>"
        "<ul><li><span><a href='/newstream/1712260000-40/c'>C</a></span></li></ul>"
        "<article><h2><a href='/newstream/1712250000-39/laws/d/'>D</a></h2><time>x</time>"
        "</article><a href='/newstream/feed/'>Feed</a><a href='/?paged=2'>More Articles</a>"
        "</div></body></html>"
    )
    listing = ListingPage(html_response(html, "https://kcnawatch.org/?s=&source=1"))
    assert [article_url_parts(u)[0] for u in listing.article_urls] == [
        "1712270000-41", "1712260000-40", "1712250000-39",
    ]  # fmt: skip
    assert listing.next_page_url == "https://kcnawatch.org/?paged=2"
