"""The offline replica of kcnawatch.org: pages, quirks, faults, mutators, oracle, CLI, export.

The reference parser below reads pages the way the item contract describes a reader; it lives
here, not in the replica, so the oracle (built from the model) is checked against the HTML.
"""

from __future__ import annotations

import ast
import hashlib
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest
from parsel import Selector

from newsarchive.items import ARTICLE_FIELDS, PER_RUN_FIELDS
from newsarchive_replica import cli
from newsarchive_replica.expected import expected_item, expected_items
from newsarchive_replica.export import export_static
from newsarchive_replica.model import KST, build_streams, generate, juche_dateline
from newsarchive_replica.server import ReplicaServer

REPLICA_DIR = Path(__file__).resolve().parents[1] / "newsarchive_replica"
MONTHS = {m: i for i, m in enumerate(date(2000, n, 1).strftime("%B") for n in range(1, 13))}


# --- helpers ------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


_PLAIN = urllib.request.build_opener(_NoRedirect)
_FOLLOW = urllib.request.build_opener()


def fetch(url: str, follow: bool = False, method: str = "GET") -> tuple[int, dict, str, str]:
    """(status, headers, text, final URL) without raising on HTTP errors."""
    request = urllib.request.Request(url, method=method, headers={"User-Agent": "replica-test"})
    try:
        with (_FOLLOW if follow else _PLAIN).open(request, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read().decode(), resp.url
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode(), url


def collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def meta_line(html: str) -> str:
    return collapse(" ".join(Selector(text=html).css(".article-meta ::text").getall()))


def more_articles_href(html: str) -> str | None:
    return Selector(text=html).xpath("//a[normalize-space(.)='More Articles']/@href").get()


def card_hrefs(html: str) -> list[str]:
    return Selector(text=html).css("article.clearfix h4 a::attr(href)").getall()


def walk_listing(start: str) -> list[list[str]]:
    """Card hrefs page by page, following "More Articles" to the end."""
    pages, url = [], start
    while url:
        status, _, html, _ = fetch(url)
        assert status == 200, url
        pages.append(card_hrefs(html))
        url = more_articles_href(html)
        assert len(pages) < 2000
    return pages


def parse_article(html: str, response_url: str) -> dict:
    """A reference reading of an article page, per the item contract."""
    sel = Selector(text=html)
    url = sel.xpath("//link[@rel='canonical']/@href").get() or response_url
    path = unquote(url.split("/newstream/", 1)[1])
    article_id = path.split("/", 1)[0]
    meta = collapse(" ".join(sel.css("div.article-meta ::text").getall()))
    ts = int(article_id.split("-")[0])
    match = re.search(r"Date:\s*(\d{1,2})/(\d{1,2})/(\d{4})", meta)
    if match:
        published = date(int(match[3]), int(match[2]), int(match[1]))
    else:
        published = datetime.fromtimestamp(ts, KST).date()
    paragraphs = []
    for p in sel.css("div.article-content p"):
        if p.xpath("ancestor::div[contains(@class,'promo') or contains(@class,'nkpro')]"):
            continue
        text = collapse(" ".join(p.xpath(".//text()").getall()))
        if text:
            paragraphs.append(text)
    header = sel.css("div.article-date span::text").get()
    month, day, year = header.replace(",", "").split()
    label = sel.css("div.article-source a::text").get()
    title = collapse(" ".join(sel.css("h1 ::text").getall()))
    body = "\n\n".join(paragraphs)
    return {
        "url": url,
        "article_id": article_id,
        "title": title,
        "body": body,
        "published_date": published.isoformat(),
        "published_at": datetime.fromtimestamp(ts, UTC).isoformat(),
        "page_date": date(int(year), MONTHS[month] + 1, int(day)).isoformat(),
        "source": label,
        "source_name": label.rsplit(" (", 1)[0],
        "source_language": label.rsplit("(", 1)[1].rstrip(")").lower(),
        "original_url": sel.xpath(
            "//a[normalize-space(.)='Read original version at source']/@href"
        ).get(),
        "content_hash": hashlib.sha256(f"{title}\n\n{body}".encode()).hexdigest(),
    }


def by_quirk(site: ReplicaServer, quirk: str, stream: str = "naenara") -> list:
    return [art for art in site.streams[stream] if art.has(quirk)]


def by_status(site: ReplicaServer, status: str):  # type: ignore[no-untyped-def]
    return next(art for art in site.streams["naenara"] if art.status == status)


def page_of(site: ReplicaServer, art) -> str:  # type: ignore[no-untyped-def]
    site.reset_faults()
    status, _, html, _ = fetch(site.links.article(art))
    assert status == 200
    return html


@pytest.fixture(scope="module")
def site():
    with ReplicaServer() as server:
        yield server


@pytest.fixture
def fresh():
    with ReplicaServer(naenara_articles=60, kcna_articles=10) as server:
        yield server


# --- pages --------------------------------------------------------------------------------


def test_robots_and_assets(site):
    status, headers, text, _ = fetch(site.base_url + "/robots.txt")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert text.splitlines() == [
        "User-agent: *",
        "Disallow: /wp-admin/",
        "Allow: /wp-admin/admin-ajax.php",
    ]
    assert fetch(site.base_url + "/wp-content/themes/kcnawatch/style.css")[0] == 200
    assert fetch(site.base_url + "/no/such/page/")[0] == 404
    status, headers, text, _ = fetch(site.start_url(kind="article"), method="HEAD")
    assert status == 200 and text == "" and int(headers["Content-Length"]) > 10_000


def test_a_client_hanging_up_is_quiet_and_a_bug_is_not(site, capsys):
    """A crawl killed mid-answer broke the server's pipe: socketserver printed a traceback."""
    server = site._httpd
    for error in (BrokenPipeError(32, "Broken pipe"), ConnectionResetError(104, "reset")):
        try:
            raise error
        except ConnectionError:
            server.handle_error(None, ("127.0.0.1", 1))
    assert capsys.readouterr().err == ""
    try:
        raise ValueError("a bug in the replica")
    except ValueError:
        server.handle_error(None, ("127.0.0.1", 1))
    assert "ValueError: a bug in the replica" in capsys.readouterr().err


def test_listing_chains_to_the_end_with_overlap(site):
    pages = walk_listing(site.start_url())
    assert len(pages) == 9  # 160 cards, 20 a page, each page after the first repeats 2
    assert all(len(cards) == 20 for cards in pages[:-1]) and len(pages[-1]) == 16
    for before, after in itertools.pairwise(pages):
        assert before[-2:] == after[:2]
    hrefs = [href for cards in pages for href in cards]
    assert len(set(hrefs)) == 160
    ids = [href.split("/")[4] for href in dict.fromkeys(hrefs)]
    stamps = [int(i.split("-")[0]) for i in ids]
    assert stamps == sorted(stamps, reverse=True)
    gaps = {a - b for a, b in itertools.pairwise(stamps)}
    assert len(gaps) > 100  # irregular spacing
    first = fetch(site.start_url())[2]
    assert fetch(site.start_url() + "&paged=1")[2] == first
    assert fetch(site.start_url() + "&paged=10")[0] == 404
    assert all(href.startswith(site.base_url + "/newstream/") for href in hrefs)


def test_kcna_stream_listing(site):
    pages = walk_listing(site.start_url("kcna"))
    assert [len(cards) for cards in pages] == [20, 20, 4]
    status, _, html, _ = fetch(site.start_url("kcna", "article"))
    assert status == 200 and "More From KCNA.kp (En)" in html
    assert "<a href=" in html and ">KCNA.kp (En)</a>" in html


def test_scripted_listing_and_ajax(site):
    status, _, html, _ = fetch(site.start_url(scripted=True))
    assert status == 200
    link = Selector(text=html).css("#more_results")
    assert link.attrib["href"] == "#" and link.attrib["data-page"] == "2"
    assert "admin-ajax.php?action=more_results" in html and 'id="archive_wrapper"' in html
    ajax = site.base_url + "/wp-admin/admin-ajax.php?action=more_results&source=190052&paged="
    fragment = fetch(ajax + "2")[2]
    assert card_hrefs(fragment) == card_hrefs(fetch(site.start_url() + "&paged=2")[2])
    assert fetch(ajax + "10") == (200, fetch(ajax + "10")[1], "", ajax + "10")
    last = fetch(site.start_url() + "&paged=9&scripted=1")[2]
    assert "More Articles" not in last
    with ReplicaServer(naenara_articles=30, kcna_articles=0, scripted=True) as scripted:
        html = fetch(scripted.start_url())[2]
        assert Selector(text=html).css("#more_results").attrib["href"] == "#"


def test_article_page_follows_specimen_markup(site):
    html = fetch(site.start_url(kind="article"))[2]
    sel = Selector(text=html)
    assert sel.css("main article.article-main div.article-head h1.article-title")
    assert sel.css("div.article-source span.brand::text").get() == "KCNA"
    assert sel.css("section.more-from h3::text").get() == "More From Naenara (En)"
    assert len(sel.css("section.more-from article.clearfix")) == 20
    assert sel.css("section.more-from a.more-articles::attr(href)").get().endswith("&paged=2")
    card = sel.css("section.more-from article.clearfix")[0]
    assert card.css("p.date span::text").re_first(r"^[A-Z][a-z]+ \d{1,2}, \d{4}$")
    assert len(card.css("p.excerpt")) == 2


# --- quirks -------------------------------------------------------------------------------


def test_header_date_twice_or_once(site):
    double = page_of(site, site.streams["naenara"].article(0))
    assert (
        '<span class="d-none d-md-inline">December 27, 2025</span>'
        '<span class="d-md-none">Dec 27, 2025</span>'
    ) in double
    single = page_of(site, by_quirk(site, "header_single")[0])
    assert '<div class="article-date"><span>December 27, 2025</span></div>' in single


def test_promotions_are_in_the_body_markup(site):
    html = page_of(site, by_quirk(site, "promo_hiring")[0])
    content = Selector(text=html).css("div.article-content")
    promo = content.css("div.promo p::text").get()
    assert promo.startswith("NK News is hiring")
    assert content.xpath("./p[following-sibling::div[@class='promo']]")
    assert content.xpath("./p[preceding-sibling::div[@class='promo']]")
    html = page_of(site, by_quirk(site, "promo_nkpro")[0])
    nkpro = Selector(text=html).xpath("//div[contains(@class,'nkpro')]/p/text()").get()
    assert nkpro.startswith("Subscribe to NK Pro")


def test_meta_line_variants(site):
    no_date = by_quirk(site, "no_date_line")[0]
    meta = meta_line(page_of(site, no_date))
    assert meta == "Source: Naenara (En) | Read original version at source"
    utc_day = datetime.fromtimestamp(no_date.ts, UTC).date()
    assert no_date.kst_date == utc_day + timedelta(days=1)  # UTC date would be wrong
    no_link = by_quirk(site, "no_original")[0]
    meta = meta_line(page_of(site, no_link))
    assert re.fullmatch(r"Date: \d\d/\d\d/\d{4} \| Source: Naenara \(En\)", meta)
    mismatch = by_quirk(site, "date_mismatch")[0]
    assert f"Date: {mismatch.date_line:%d/%m/%Y} |" in page_of(site, mismatch)
    assert mismatch.date_line != mismatch.kst_date
    assert mismatch.date_line != datetime.fromtimestamp(mismatch.ts, UTC).date()
    ambiguous = by_quirk(site, "date_ambiguous")[0]
    assert "Date: 05/04/2024 |" in page_of(site, ambiguous)


def test_slugs_and_trailing_slashes(site):
    listed = {href for cards in walk_listing(site.start_url()) for href in cards}
    apostrophe = by_quirk(site, "slug_apostrophe")[0]
    assert "%e2%80%99" in apostrophe.slug and "’" in apostrophe.title
    korean = by_quirk(site, "slug_korean")[0]
    assert re.fullmatch(r"(%[0-9a-f]{2}|-)+", korean.slug)
    assert any(apostrophe.slug in href for href in listed)
    assert any(korean.slug in href for href in listed)
    noslash = [href for href in listed if not href.endswith("/")]
    assert noslash and any(href.endswith("/") for href in listed)
    plain = next(a for a in by_quirk(site, "link_noslash") if not a.has("redirect_noslash"))
    status, _, html, _ = fetch(site.links.article(plain, slash=False))
    assert status == 200 and f'rel="canonical" href="{site.links.article(plain)}"' in html
    redirect = by_quirk(site, "redirect_noslash")[0]
    assert site.links.card(redirect) in listed
    status, headers, _, _ = fetch(site.links.card(redirect))
    assert status == 301 and headers["Location"] == site.links.article(redirect)
    # uppercase escapes and raw UTF-8 are the same slug
    upper = site.links.article(korean).replace(korean.slug, korean.slug.upper())
    assert fetch(upper)[0] == 200
    wrong = site.links.article(apostrophe).replace(apostrophe.slug, "wrong-slug")
    assert fetch(wrong)[0] == 301


def test_missing_canonical(site):
    art = by_quirk(site, "no_canonical")[0]
    html = page_of(site, art)
    assert 'rel="canonical"' not in html and "og:url" not in html
    assert not art.has("link_noslash")


def test_body_text_noise(site):
    messy = page_of(site, by_quirk(site, "messy_whitespace")[0])
    content = messy.split('<div class="article-content">')[1].split("</div>")[0]
    assert "&nbsp;" in content or "\u00a0" in content
    assert re.search(r"<p>[^<]*\S\n\s*\S", content) and re.search(r"\S {2,}\S", content)
    curly = next(a for a in by_quirk(site, "entity_apostrophe") if "’" in " ".join(a.body))
    assert "&#8217;" in page_of(site, curly)
    assert "&amp;" in page_of(site, by_quirk(site, "amp_text")[0])
    lt = page_of(site, by_quirk(site, "escaped_lt")[0])
    assert "&lt;not&gt;" in lt and "<not>" not in lt
    assert "자력갱생" in page_of(site, by_quirk(site, "korean_text")[0])
    signed = page_of(site, by_quirk(site, "signoff_kcna")[0])
    assert re.search(r"<p>\s*KCNA\s*</p>", signed)
    kcna = site.streams["kcna"].article(1)  # k=1: no whitespace noise
    html = page_of(site, kcna)
    assert "<p>-0-</p>" in html and juche_dateline(kcna.published_date) in html


def test_faults(site):
    base = site.links
    assert fetch(base.article(by_status(site, "deleted404")))[0] == 404
    assert fetch(base.article(by_status(site, "deleted410")))[0] == 410
    assert fetch(base.article(by_status(site, "forbidden403")))[0] == 403
    paywalled = by_status(site, "paywall")
    status, headers, _, _ = fetch(base.article(paywalled))
    assert status == 302
    assert headers["Location"] == base.paywall(paywalled)
    assert "/free-member-form/?redirect=http%3A%2F%2F127.0.0.1" in headers["Location"]
    status, _, html, _final = fetch(base.article(paywalled), follow=True)
    assert status == 200 and "<form" in html and "article-content" not in html
    site.reset_faults()
    flaky = base.article(by_status(site, "flaky503"))
    assert fetch(flaky)[0] == 503
    assert fetch(flaky)[0] == 200
    status, _, html, _ = fetch(base.article(by_status(site, "notitle")))
    assert status == 200 and "<h1" not in html and "article-content" in html
    listed = {href for cards in walk_listing(site.start_url()) for href in cards}
    for name in ("deleted404", "deleted410", "paywall", "flaky503", "notitle", "forbidden403"):
        assert base.card(by_status(site, name)) in listed


# --- oracle -------------------------------------------------------------------------------


def test_expected_counts_and_exclusions(site):
    naenara, kcna = site.expected("naenara"), site.expected("kcna")
    assert len(naenara) == 155 and len(kcna) == 40
    ids = {item["article_id"] for item in naenara}
    for name in ("deleted404", "deleted410", "paywall", "notitle", "forbidden403"):
        assert by_status(site, name).article_id not in ids
    assert by_status(site, "flaky503").article_id in ids
    assert [item["article_id"] for item in naenara] == sorted(ids)
    assert set(naenara[0]) == set(ARTICLE_FIELDS) - PER_RUN_FIELDS - {"extractor_version"}
    assert {(i["source"], i["source_name"], i["source_language"]) for i in kcna} == {
        ("KCNA.kp (En)", "KCNA.kp", "en")
    }
    assert all(
        re.search(r"\n\n-0-\n\nwww\.kcna\.kp \(Juche\d+\.\d+\.\d+\.\)$", i["body"]) for i in kcna
    )
    by_id = {i["article_id"]: i for i in naenara}
    mismatch = by_quirk(site, "date_mismatch")[0]
    assert by_id[mismatch.article_id]["published_date"] == mismatch.date_line.isoformat()
    ambiguous = by_quirk(site, "date_ambiguous")[0]
    assert by_id[ambiguous.article_id]["published_date"] == "2024-04-05"
    no_date = by_quirk(site, "no_date_line")[0]
    assert by_id[no_date.article_id]["published_date"] == no_date.kst_date.isoformat()
    assert "NK News" not in by_id[by_quirk(site, "promo_hiring")[0].article_id]["body"]
    assert "NK Pro" not in by_id[by_quirk(site, "promo_nkpro")[0].article_id]["body"]
    spaced = by_id[by_quirk(site, "messy_whitespace")[0].article_id]["body"]
    assert "\xa0" not in spaced and "  " not in spaced and "\n\n\n" not in spaced
    assert len({i["content_hash"] for i in naenara + kcna}) == 195


def test_every_page_reads_as_its_expected_item(site):
    """The reference parser over every listed page agrees with the oracle, field by field."""
    site.reset_faults()
    for stream in ("naenara", "kcna"):
        expected = {item["article_id"]: item for item in site.expected(stream)}
        got = {}
        hrefs = dict.fromkeys(h for cards in walk_listing(site.start_url(stream)) for h in cards)
        for href in hrefs:
            status, _, html, final = fetch(href, follow=True)
            if status == 503:
                status, _, html, final = fetch(href, follow=True)
            if status != 200 or "/free-member-form/" in final or "<h1" not in html:
                continue
            item = parse_article(html, final)
            got[item["article_id"]] = item
        assert got.keys() == expected.keys()
        for article_id, item in got.items():
            assert item == expected[article_id]


def imports_of_newsarchive(module: Path) -> list[str]:
    """The modules of the ``newsarchive`` package (the spider's) that ``module`` imports."""
    names = []
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            names.append(node.module or "")
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return [name for name in names if name == "newsarchive" or name.startswith("newsarchive.")]


def test_replica_imports_nothing_from_the_spider():
    """The oracle, the model and the server stand apart: the spider's code cannot leak into its
    own test, and the replica package installs and runs without it."""
    modules = sorted(REPLICA_DIR.glob("*.py"))
    assert {"expected.py", "model.py", "server.py"} <= {module.name for module in modules}
    assert {module.name: imports_of_newsarchive(module) for module in modules} == {
        module.name: [] for module in modules
    }


def test_the_import_check_sees_an_import_of_the_spider(tmp_path):
    module = tmp_path / "leaky.py"
    module.write_text("import newsarchive.items\nfrom newsarchive import pages\n")
    assert imports_of_newsarchive(module) == ["newsarchive.items", "newsarchive"]


def test_generation_is_deterministic_fast_and_unique():
    start = time.perf_counter()
    streams = build_streams(20_000, 100)
    items = expected_items(streams["naenara"], "http://x")
    assert time.perf_counter() - start < 15
    assert len(items) == 20_000 - 6 + 1
    assert len({i["content_hash"] for i in items}) == len(items)
    generate.cache_clear()
    again = build_streams(20_000, 100)["naenara"]
    for item in items[:20] + items[-20:]:
        assert expected_item(again.spec, again.find(item["article_id"]), "http://x") == item
    seeded = expected_items(build_streams(160, 40, seed=7)["naenara"], "http://x")
    default = expected_items(build_streams(160, 40)["naenara"], "http://x")
    assert [i["body"] for i in seeded] != [i["body"] for i in default]


# --- mutators and request log -------------------------------------------------------------


def test_publish_pushes_articles_down(fresh):
    before = card_hrefs(fetch(fresh.start_url())[2])
    ids = fresh.publish("naenara", 3)
    after = card_hrefs(fetch(fresh.start_url())[2])
    assert [h.split("/")[4] for h in after[:3]] == ids and after[3:] == before[:17]
    stamps = [int(i.split("-")[0]) for i in ids]
    assert stamps == sorted(stamps, reverse=True)
    assert stamps[-1] > int(before[0].split("/")[4].split("-")[0])
    assert len(fresh.expected()) == 60 - 5 + 3
    assert fetch(fresh.links.card(fresh.streams["naenara"].find(ids[0])))[0] == 200
    url = fresh.base_url + "/_replica/publish?stream=kcna&count=2"
    reply = json.loads(fetch(url, method="POST")[2])
    assert len(reply["published"]) == 2 and len(fresh.expected("kcna")) == 12


def test_edit_changes_page_and_expected(fresh):
    art = fresh.streams["naenara"].article(0)
    old = next(i for i in fresh.expected() if i["article_id"] == art.article_id)
    new = fresh.edit(art.article_id)
    assert new["body"] != old["body"] and new["content_hash"] != old["content_hash"]
    assert new["body"].count("\n\n") == old["body"].count("\n\n") + 1
    assert next(i for i in fresh.expected() if i["article_id"] == art.article_id) == new
    html = fetch(fresh.links.article(art))[2]
    assert parse_article(html, fresh.links.article(art)) == new
    url = f"{fresh.base_url}/_replica/edit?article_id={art.article_id}"
    reply = json.loads(fetch(url, method="POST")[2])
    assert reply["body"] != new["body"] and "(Revision 2.)" in reply["body"]
    custom = fresh.edit(art.article_id, body=["One.", "Two  words."], title="New Title")
    assert custom["body"] == "One.\n\nTwo words." and custom["title"] == "New Title"


def test_delete_keeps_or_drops_listing(fresh):
    state = fresh.streams["naenara"]
    first, second = state.article(0), state.article(1)
    fresh.delete(first.article_id)
    assert fetch(fresh.links.article(first))[0] == 410
    assert fresh.links.card(first) in card_hrefs(fetch(fresh.start_url())[2])
    url = f"{fresh.base_url}/_replica/delete?article_id={second.article_id}&status=404&unlist=1"
    assert fetch(url, method="POST")[0] == 200
    assert fetch(fresh.links.article(second))[0] == 404
    assert fresh.links.card(second) not in card_hrefs(fetch(fresh.start_url())[2])
    ids = {i["article_id"] for i in fresh.expected()}
    assert first.article_id not in ids and second.article_id not in ids
    assert len(ids) == 60 - 5 - 2
    listed = {h for cards in walk_listing(fresh.start_url()) for h in cards}
    assert len(listed) == 59
    bad = fetch(f"{fresh.base_url}/_replica/delete?article_id=1-2", method="POST")
    assert bad[0] == 400 and "error" in json.loads(bad[2])


def test_request_log(fresh):
    fresh.reset_log()
    fetch(fresh.start_url())
    fetch(fresh.base_url + "/robots.txt")
    fetch(fresh.base_url + "/_replica/state")
    expected = fetch(fresh.base_url + "/_replica/expected?stream=naenara")
    assert expected[0] == 200 and len(expected[2].splitlines()) == 55
    log = json.loads(fetch(fresh.base_url + "/_replica/requests")[2])
    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("GET", "/", 200),
        ("GET", "/robots.txt", 200),
    ]
    assert log[0]["query"] == "s=&source=190052&sort=recent"
    assert log[0]["user_agent"] == "replica-test" and abs(log[0]["time"] - time.time()) < 60
    assert fresh.requests == log
    fetch(fresh.base_url + "/_replica/reset_log", method="POST")
    assert fresh.requests == []


# --- command line -------------------------------------------------------------------------


def test_cli_expected(capsys):
    assert cli.main(["expected", "--base-url", "http://h:1", "--naenara-articles", "40"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 40 - 6 + 1
    assert json.loads(lines[0])["url"].startswith("http://h:1/newstream/")
    assert cli.main(["expected", "--base-url", "http://h:1", "--stream", "all"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 195 + 30  # naenara + kcna, rodong


@pytest.mark.parametrize(
    "argv",
    [
        ["expected"],
        ["expected", "--base-url", "ftp://x"],
        ["expected", "--base-url", "http://x/path"],
        ["serve", "--port", "99999"],
        ["serve", "--naenara-articles", "-3"],
        ["export"],
        ["frobnicate"],
        [],
    ],
)
def test_cli_bad_arguments(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("newsarchive-replica: error:")


def test_cli_serve_runs_until_sigterm():
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsarchive_replica.cli", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        base = re.search(r"serving (\S+)", line)[1]
        assert "naenara=" in line and "kcna=" in line
        assert fetch(base + "/robots.txt")[0] == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()


# --- static export ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_static_export_served_by_nginx(tmp_path):
    nginx = shutil.which("nginx") or shutil.which("/usr/sbin/nginx")
    if nginx is None:
        if os.environ.get("CI") == "true":
            pytest.fail("nginx is required under CI")
        pytest.skip("nginx not installed")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    out = tmp_path / "site-export"
    summary = export_static(out, base, naenara_articles=60)
    assert summary.articles == 55 and (out / "nginx.conf").exists()
    # re-export over a previous export is allowed; over a foreign directory it is not
    export_static(out, base, naenara_articles=60)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("x")
    assert cli.main(["export", str(foreign), "--base-url", base]) == 2
    proc = subprocess.Popen(
        [nginx, "-c", str(out / "nginx.conf"), "-p", str(out), "-e", str(out / "logs/error.log")],
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(100):
            try:
                if fetch(base + "/robots.txt")[0] == 200:
                    break
            except OSError:
                time.sleep(0.05)
        pages = walk_listing(summary.start_url)
        hrefs = dict.fromkeys(h for cards in pages for h in cards)
        expected = {
            json.loads(line)["article_id"]: json.loads(line)
            for line in (out / "expected.jsonl").read_text().splitlines()
        }
        assert len(hrefs) == len(expected) == 55
        for href in hrefs:
            status, headers, html, final = fetch(href)
            assert status == 200, href
            assert headers["Content-Type"] == "text/html; charset=utf-8"
            item = parse_article(html, final)
            assert item == expected[item["article_id"]]
            assert fetch(href.rstrip("/"))[0] == 200 and fetch(href.rstrip("/") + "/")[0] == 200
        assert fetch(base + "/listing/99/")[0] == 404
    finally:
        proc.send_signal(signal.SIGQUIT)
        proc.wait(timeout=10)
