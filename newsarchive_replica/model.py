"""Deterministic data model of the replica's two KCNA Watch source streams.

Why a model: the replica's HTML and its oracle (the expected items) are both derived from the
same plain data, so they agree by construction and the oracle never parses HTML. Article ``k``
of a stream is a pure function of ``(seed, stream, k)``, generated on demand and kept in a
bounded cache, so 20,000-article streams cost little time and memory.

Index ``k``: 0 is the newest base article, larger ``k`` is older. ``publish`` adds articles
with k = -1, -2, ... (newer timestamps), which pushes the others down the listings. Article
timestamps descend with ``k``: ``ts = t0 - 6h*k - jitter`` (jitter < 4.8 h), so the UTC hour
falls in a band fixed by ``k % 4``; this is what lets fixed indexes carry date quirks.

Quirks (naenara = "Naenara (En)", source 190052; base index k; page 1 holds k 0-19,
page 2 k 18-37, since each page after the first repeats the last 2 cards of the previous one):

========================  ===========  ======================================================
quirk                     naenara k    what
========================  ===========  ======================================================
header_single             3, k%11==7   header date printed once (``December 27, 2025``)
(header double)           all others   ``<span>December 27, 2025</span><span>Dec 27, 2025</span>``
promo_hiring              2            ``<div class="promo"><p>NK News is hiring …`` in body
promo_nkpro               5            ``<div class="nk-box nkpro-upsell"><p>Subscribe to NK Pro …``
no_date_line              4            meta line without ``Date:``; URL time is late evening
                                       UTC, so the KST date is the UTC date + 1
date_mismatch             6            ``Date:`` line = KST date of URL time minus one day
date_ambiguous            9            ``Date: 05/04/<year-1>`` (day first), URL time is recent
no_original               8            meta line without "Read original version at source"
slug_apostrophe           10           title with ’, slug has ``%e2%80%99``
slug_korean               11           Korean title, fully percent-encoded slug
link_noslash              k%4==1       card links without trailing slash (served 200 as is)
redirect_noslash          13           ... and the no-slash form answers 301 to the slash form
no_canonical              14           no ``<link rel="canonical">`` / ``og:url``
amp_text                  15           ``&`` in title and body (``&amp;`` in HTML)
escaped_lt                16           literal ``<not>`` in body (``&lt;not&gt;`` in HTML)
korean_text               17           Korean words inside an English paragraph
messy_whitespace          k%3==0       NBSP (entity and raw), newlines, space runs in ``<p>``
entity_apostrophe         k%2==0       ’ “ ” written as ``&#8217;`` ``&#8220;`` ``&#8221;``
signoff_kcna              ~60 %        last paragraph ``KCNA`` (article text)
status deleted404         20           listed, answers 404
status deleted410         22           listed, answers 410
status paywall            24           listed, answers 302 to /free-member-form/?redirect=…
status flaky503           26           503 on its first request, 200 afterwards (an article)
status notitle            28           200 with body but no ``<h1>`` (not an article)
status forbidden403       30           always 403
========================  ===========  ======================================================

kcna = "KCNA.kp (En)", source 190053: every body ends with ``-0-`` and
``www.kcna.kp (Juche{Y}.{M}.{D}.)``; promo_hiring at k=2, header_single at k=4 and k%11==7,
slug_apostrophe at k=6, and the k-modulo rules above; no faults.

rodong = "Rodong Sinmun (Kr)", source 190054 (invented): Korean titles and bodies (korean.py),
fully percent-encoded slugs, no sign-off; promo_nkpro at k=2, path_section at k=3 (URL with
a section after the id, ``/newstream/<id>/laws/<slug>/``), header_single at k=4 and k%11==7;
the k-modulo rules above; no faults.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import cached_property, lru_cache
from urllib.parse import quote, unquote

from newsarchive_replica.korean import korean_article

KST = timezone(timedelta(hours=9))
TODAY = date(2025, 12, 27)
DEFAULT_SEED = 2025
HOUR = 3600
ID_STEP = 7919  # the gap between ids in the specimen's cards

STATUSES = ("ok", "deleted404", "deleted410", "paywall", "flaky503", "forbidden403", "notitle")
#: Statuses whose URL yields no article item (the 503 one does, on retry).
NON_ARTICLE = frozenset({"deleted404", "deleted410", "paywall", "forbidden403", "notitle"})

_NAENARA_FIXED: dict[int, frozenset[str]] = {
    k: frozenset(q.split())
    for k, q in {
        2: "promo_hiring",
        3: "header_single",
        4: "no_date_line",
        5: "promo_nkpro",
        6: "date_mismatch",
        8: "no_original",
        9: "date_ambiguous",
        10: "slug_apostrophe",
        11: "slug_korean",
        13: "redirect_noslash",
        14: "no_canonical",
        15: "amp_text",
        16: "escaped_lt",
        17: "korean_text",
    }.items()
}
_NAENARA_STATUS = {
    20: "deleted404",
    22: "deleted410",
    24: "paywall",
    26: "flaky503",
    28: "notitle",
    30: "forbidden403",
}
_KCNA_FIXED = {
    2: frozenset({"promo_hiring"}),
    4: frozenset({"header_single"}),
    6: frozenset({"slug_apostrophe"}),
}

_RODONG_FIXED = {
    2: frozenset({"promo_nkpro"}),
    3: frozenset({"path_section"}),  # /newstream/<id>/laws/<slug>/: a section after the id
    4: frozenset({"header_single"}),
}


@dataclass(frozen=True)
class StreamSpec:
    """One source stream: everything that, with ``k``, determines its articles."""

    key: str
    label: str
    source_id: int
    count: int
    seed: int = DEFAULT_SEED
    today: date = TODAY
    page_size: int = 20
    overlap: int = 2
    id_base: int = 830_000_000
    utc_hour0: int = 20  # UTC hour of article 0 (before jitter), on the day before ``today``
    gap: int = 6 * HOUR
    number: int = 0  # mixes into the seed so streams differ

    @property
    def source_name(self) -> str:
        return self.label.rsplit(" (", 1)[0]

    @property
    def source_language(self) -> str:
        """The ISO 639-1 code of the label's bracket: ``(En)`` is en, the site's ``(Kr)`` ko."""
        code = self.label.rsplit("(", 1)[1].rstrip(")").lower()
        return {"kr": "ko"}.get(code, code)

    @cached_property
    def t0(self) -> int:
        day = datetime.combine(self.today - timedelta(days=1), time(self.utc_hour0), UTC)
        return int(day.timestamp())


STREAM_KEYS = ("naenara", "kcna", "rodong")


def make_spec(key: str, count: int, seed: int = DEFAULT_SEED, today: date = TODAY) -> StreamSpec:
    """The spec of stream ``key`` ("naenara", "kcna" or "rodong") with ``count`` base articles."""
    if key == "naenara":
        return StreamSpec("naenara", "Naenara (En)", 190052, count, seed, today)
    if key == "kcna":
        return StreamSpec(
            "kcna", "KCNA.kp (En)", 190053, count, seed, today, id_base=531_000_000, utc_hour0=19,
            number=1,
        )  # fmt: skip
    if key == "rodong":  # its source id is invented (the live one is unknown)
        return StreamSpec(
            "rodong", "Rodong Sinmun (Kr)", 190054, count, seed, today, id_base=612_000_000,
            utc_hour0=21, number=2,
        )  # fmt: skip
    raise ValueError(f"unknown stream {key!r} (expected one of {', '.join(STREAM_KEYS)})")


@dataclass(frozen=True)
class Article:
    """One article as the site holds it; ``body`` and ``signoff`` are clean reader text."""

    stream: str
    index: int
    ts: int
    num: int
    slug: str  # exactly as in URLs (non-ASCII percent-encoded, lowercase hex)
    title: str
    body: tuple[str, ...]
    signoff: tuple[str, ...]  # "KCNA" / "-0-", "www.kcna.kp (Juche…)": article text too
    date_line: date | None  # the "Date:" line's date, None when the page has no such line
    original_url: str | None
    status: str = "ok"
    quirks: frozenset[str] = field(default_factory=frozenset)

    @property
    def article_id(self) -> str:
        return f"{self.ts}-{self.num}"

    @property
    def paragraphs(self) -> tuple[str, ...]:
        return self.body + self.signoff

    @property
    def kst_date(self) -> date:
        return datetime.fromtimestamp(self.ts, KST).date()

    @property
    def published_date(self) -> date:
        return self.date_line or self.kst_date

    @property
    def url_slug(self) -> str:
        """What follows the id in URLs: the slug, below a section for ``path_section``."""
        return f"laws/{self.slug}" if self.has("path_section") else self.slug

    def path(self, slash: bool = True) -> str:
        return f"/newstream/{self.article_id}/{self.url_slug}" + ("/" if slash else "")

    def has(self, quirk: str) -> bool:
        return quirk in self.quirks


# --- text generation ----------------------------------------------------------------------

_MASK = (1 << 64) - 1


def _mix(*parts: int) -> int:
    """splitmix64 over ``parts``: a stable hash (unlike ``hash()``) for seeding per article."""
    h = 0x9E3779B97F4A7C15
    for part in parts:
        h = (h ^ (part & _MASK)) & _MASK
        h = (h + 0x9E3779B97F4A7C15) & _MASK
        h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & _MASK
        h ^= h >> 31
    return h


def _w(text: str) -> list[str]:
    return text.split("|")


_V = {
    "city": _w(
        "Pyongyang|Hamhung|Chongjin|Wonsan|Sinuiju|Kaesong|Nampho|Haeju|Sariwon|Kanggye|"
        "Hyesan|Phyongsong|Anju|Tanchon|Kimchaek|Sunchon|Tokchon"
    ),
    "province": [
        f"{p} Province"
        for p in _w(
            "South Phyongan|North Phyongan|South Hamgyong|North Hamgyong|Jagang|Ryanggang|"
            "Kangwon|South Hwanghae|North Hwanghae"
        )
    ],
    "county": _w("Kilju|Unsan|Sakju|Pyoksong|Hwangju|Kujang|Yonan|Jongju|Orang|Tongsin|Kosan"),
    "org": _w(
        "Kangson Steel Complex|Sunchon Cement Complex|Hamhung Knitwear Factory|"
        "Pyongyang Cosmetics Factory|Sinuiju Textile Mill|Taean Heavy Machine Complex|"
        "Wonsan Shoe Factory|Kumsong Tractor Factory|Nampho Glass Factory|"
        "Chongjin Bag Factory|Kanggye Grape Wine Factory|Sariwon Potash Fertilizer Complex|"
        "Ryongsong Machine Complex|Pyongyang Cornstarch Factory"
    ),
    "farm": [f"{c} Cooperative Farm" for c in _w("Tongsan|Migok|Chongsan|Jangchon|Sambong")],
    "product": _w(
        "Pump|Motor|Water Purifier|Transplanter|Medical Appliance|Fertilizer Spreader|"
        "Solar Water Heater|Electric Bus|Seed Selector|Tile Press"
    ),
    "topic": _w(
        "Light Industry Products|Science and Technology|Fine Arts|Inventions|"
        "Building Materials|Foodstuffs|Children’s Books|Stamps"
    ),
    "system": _w(
        "Irrigation System|Forest Management|Seed Production|Power Supply Network|"
        "Public Health Service|Water Supply System|Land Management|Weather Forecasting"
    ),
    "sport": _w("Table Tennis|Wrestling|Football|Weightlifting|Volleyball|Marathon|Paduk"),
    "university": _w(
        "Kim Chaek University of Technology|Pyongyang University of Computer Technology|"
        "Hamhung University of Chemical Industry|Wonsan University of Agriculture"
    ),
    "ministry": _w(
        "Ministry of Agriculture|Ministry of Public Health|State Commission of Science and "
        "Technology|Ministry of Light Industry|Ministry of Land and Environment Protection"
    ),
    "country": _w("Russia|China|Laos|Viet Nam|Cuba|Belarus|Mongolia|Nicaragua"),
    "item": _w(
        "textiles|footwear|daily necessities|processed foods|machine tools|medicines|"
        "energy-saving devices|ceramics|garments|paper products"
    ),
    "section": _w("first|politics|economy|society|culture|sports"),
}

_TITLES = (
    "Nation Improves {system}",
    "{org} Increases Production",
    "New Houses Built at Farms in {province}",
    "A New-type {product} Developed",
    "Exhibition of {topic} Opens in {city}",
    "Tree Planting Brisk in {city}",
    "{sport} Contest Held in {city}",
    "Delegation of {ministry} Leaves for {country}",
    "Students of {university} Win Prizes",
    "Regional-industry Factory Inaugurated in {county} County",
    "{city} Hospital Introduces New Treatment Method",
    "Fish Farming in Paddy Fields Encouraged in {province}",
    "Rich Harvest Reaped at {farm}",
    "{org} Renovated on Modern Basis",
    "Water Supply Improved in {county} County",
)
_APOSTROPHE_TITLES = (
    "{city}’s Streets Decorated for Holiday",
    "Workers’ Housing Completed in {county} County",
    "{city}’s New Hospital Opens",
)
_KOREAN_TITLES = ("평양의 새 거리", "새로 건설된 살림집", "농업근로자들의 기쁨")
_AMP_TITLE = "Science & Technology Exhibition Opens in {city}"

_SENTENCES = (
    "Officials and workers of the {org} fulfilled their yearly plan {pct} percent ahead of "
    "schedule.",
    "The {org} in {city}, {province}, has recently renovated its production lines on a "
    "modern basis.",
    "Under the care of the Workers’ Party of Korea, {n1} modern houses were built at the "
    "{farm} in {province}.",
    "Farmers of the {farm} reaped a rich harvest thanks to scientific farming methods "
    "introduced this year.",
    "Researchers at {university} have developed a new-type {product_l} which consumes "
    "less electricity.",
    "The {product_l} passed its tests at {n3} units and is now in serial production.",
    "An exhibition of {topic_l} opened at the Three-Revolution Exhibition House on {when}.",
    "On display are more than {n2} items, including {item} and {item2}.",
    "Visitors are deeply impressed by the high quality of the exhibits.",
    "The residents of {county} County greeted the day with great joy.",
    "Tree planting is in full swing in {city}, where {n1} hectares were covered with saplings.",
    "Officials of the {ministry} said the work is being pushed forward in a planned way.",
    "The workers are making redoubled efforts to increase production of {item}.",
    "The {sport_l} contest held in {city} from {when} drew {n3} teams from across the country.",
    "Teams of {city} and {city2} took first places in the men’s and women’s events.",
    "A meeting took place in {city} on {when} to sum up the work of the past {n3} months.",
    "Speakers noted that the event was of great significance in the people’s life.",
    "A delegation of the {ministry} left Pyongyang on {when} to visit {country}.",
    "Students of {university} won {n3} gold medals at a national programming contest.",
    "The hospital in {city} has introduced a new treatment method, shortening recovery "
    "time by {pct} percent.",
    "Fish farming in paddy fields is encouraged in {province}, with {n1} tons of fish "
    "raised this year.",
    "Rural communities are pushing ahead with preparations for next year’s farming.",
    "The new facilities were built with local raw materials and resources.",
    "People across the country are waging a dynamic struggle to carry out the tasks set "
    "forth at the “plenary meeting” of the Party.",
    "The {system_l} was improved in {county} County, benefiting {n2} households.",
    "Technicians of the {org} introduced {n3} technical innovations in the first half of the year.",
)
_AMP_SENTENCE = (
    "Exhibits from the Research & Development Centre of the {org} drew particular attention."
)
_LT_SENTENCE = (
    "A students’ program that prints <not> when no solution exists won first prize in {city}."
)
_KOREAN_SENTENCE = (
    "The slogan “자력갱생” (self-reliance) was put up at the construction site in {city}."
)
_EDIT_SENTENCES = (
    "The work was reviewed at a meeting held on the spot.",
    "Similar successes were reported from other units in {province}.",
    "The achievement was widely introduced through the press.",
)
MONTHS = _w("January|February|March|April|May|June|July|August|September|October|November|December")


def slugify(title: str) -> str:
    """A WordPress-like slug: lowercase, dashes, ASCII punctuation dropped, non-ASCII %-encoded."""
    kept = []
    for ch in title.lower():
        if ch.isascii():
            kept.append(ch if ch.isalnum() or ch == "-" else " ")
        elif ch.isspace():
            kept.append(" ")
        else:
            kept.append(quote(ch, safe="").lower())
    return "-".join("".join(kept).split()).strip("-")


def juche_dateline(day: date) -> str:
    """``www.kcna.kp (Juche113.5.27.)``: Juche year = Gregorian - 1911, no zero padding."""
    return f"www.kcna.kp (Juche{day.year - 1911}.{day.month}.{day.day}.)"


def quirks_of(spec: StreamSpec, k: int) -> tuple[frozenset[str], str]:
    """The quirks and status of article ``k``: fixed ones at small k plus modulo rules."""
    fixed = {"naenara": _NAENARA_FIXED, "kcna": _KCNA_FIXED}.get(spec.key, _RODONG_FIXED)
    status = _NAENARA_STATUS.get(k, "ok") if spec.key == "naenara" else "ok"
    quirks = set(fixed.get(k, frozenset()))
    if k % 11 == 7:
        quirks.add("header_single")
    if k % 4 == 1 or "redirect_noslash" in quirks:
        quirks.add("link_noslash")
    if "no_canonical" in quirks:
        quirks.discard("link_noslash")  # its URL is the one the cards give: keep it unique
    if k % 3 == 0:
        quirks.add("messy_whitespace")
    if k % 2 == 0:
        quirks.add("entity_apostrophe")
    return frozenset(quirks), status


def timestamp(spec: StreamSpec, k: int) -> int:
    """URL timestamp of article ``k``: strictly decreasing in ``k``, irregular gaps."""
    jitter = _mix(spec.seed, spec.number, k, 1) % (spec.gap * 4 // 5)
    return spec.t0 - k * spec.gap - jitter


def index_of_num(spec: StreamSpec, num: int) -> int | None:
    """``k`` of the article whose URL id is ``num``, if ``num`` is on this stream's grid."""
    k, rest = divmod(spec.id_base - num, ID_STEP)
    return None if rest else k


@lru_cache(maxsize=8192)
def generate(spec: StreamSpec, k: int) -> Article:
    """Article ``k`` of ``spec``, before any mutation: pure in ``(spec, k)``."""
    rng = random.Random(_mix(spec.seed, spec.number, k))
    quirks, status = quirks_of(spec, k)
    ts = timestamp(spec, k)
    kst = datetime.fromtimestamp(ts, KST).date()
    pick = rng.choice
    ctx = {name: pick(words) for name, words in _V.items()}
    ctx.update(
        city2=pick([c for c in _V["city"] if c != ctx["city"]]),
        item2=pick([i for i in _V["item"] if i != ctx["item"]]),
        n1=rng.randint(12, 980),
        n2=rng.randint(120, 9800),
        n3=rng.randint(3, 60),
        pct=rng.randint(2, 30),
        when=f"{MONTHS[kst.month - 1]} {kst.day}",
        product_l=ctx["product"].lower(),
        system_l=ctx["system"].lower(),
        topic_l=ctx["topic"].lower(),
        sport_l=ctx["sport"].lower(),
    )
    if "slug_korean" in quirks:
        title = pick(_KOREAN_TITLES)
    elif "slug_apostrophe" in quirks:
        title = pick(_APOSTROPHE_TITLES).format(**ctx)
    elif "amp_text" in quirks:
        title = _AMP_TITLE.format(**ctx)
    else:
        title = pick(_TITLES).format(**ctx)
    sentences = rng.sample(_SENTENCES, rng.randint(4, 9))
    sentences[0] = f"{sentences[0][:-1]}, according to a report dated {ctx['when']}."
    for quirk, extra in (
        ("amp_text", _AMP_SENTENCE),
        ("escaped_lt", _LT_SENTENCE),
        ("korean_text", _KOREAN_SENTENCE),
    ):
        if quirk in quirks:
            sentences.insert(1, extra)
    body: list[str] = []
    while sentences:
        take = min(len(sentences), rng.randint(1, 3))
        body.append(" ".join(s.format(**ctx) for s in sentences[:take]))
        sentences = sentences[take:]
    date_line: date | None = kst
    if "no_date_line" in quirks:
        date_line = None
    elif "date_mismatch" in quirks:
        date_line = kst - timedelta(days=1)
    elif "date_ambiguous" in quirks:
        date_line = date(kst.year - 1, 4, 5)
    if spec.key == "rodong":
        title, body = korean_article(rng, kst)
    if spec.key == "kcna":
        signoff: tuple[str, ...] = ("-0-", juche_dateline(date_line or kst))
        original = f"http://www.kcna.kp/en/article/q/{_mix(spec.seed, k, 7):016x}.kcmsf"
    elif spec.key == "rodong":
        signoff = ()
        original = f"http://www.rodong.rep.kp/ko/index.php?newsID={kst.isoformat()}-{k % 97:04d}"
    else:
        signoff = ("KCNA",) if rng.random() < 0.6 else ()
        original = (
            f"http://www.naenara.com.kp/main/index/en/{ctx['section']}"
            f"?page=1&no={_mix(spec.seed, k, 9) % 90000 + 10000}"
        )
    if "no_original" in quirks:
        original = None
    return Article(
        stream=spec.key,
        index=k,
        ts=ts,
        num=spec.id_base - k * ID_STEP,
        slug=slugify(title),
        title=title,
        body=tuple(body),
        signoff=signoff,
        date_line=date_line,
        original_url=original,
        status=status,
        quirks=quirks | ({"signoff_kcna"} if signoff == ("KCNA",) else frozenset()),
    )


# --- mutable state ------------------------------------------------------------------------


class StreamState:
    """A stream as the replica currently serves it: base articles plus mutations.

    Not thread-safe by itself; the server holds ``lock`` around reads and mutations.
    """

    def __init__(self, spec: StreamSpec) -> None:
        self.spec = spec
        self.published = 0
        self.version = 0  # bumped on every mutation, for render caches
        self.lock = threading.RLock()
        self._titles: dict[int, str] = {}
        self._bodies: dict[int, tuple[str, ...]] = {}
        self._edits: dict[int, int] = {}
        self._status: dict[int, str] = {}
        self._unlisted: list[int] = []  # sorted

    # reading
    def article(self, k: int) -> Article:
        art = generate(self.spec, k)
        changes: dict[str, object] = {}
        if k in self._titles:
            changes["title"] = self._titles[k]
        if k in self._bodies:
            changes["body"] = self._bodies[k]
        if k in self._status:
            changes["status"] = self._status[k]
        return replace(art, **changes) if changes else art  # type: ignore[arg-type]

    def indexes(self) -> range:
        return range(-self.published, self.spec.count)

    def __iter__(self) -> Iterator[Article]:
        return (self.article(k) for k in self.indexes())

    def find(self, article_id: str) -> Article | None:
        """The article with URL id ``<ts>-<num>``, or None."""
        ts_text, _, num_text = article_id.partition("-")
        if not (ts_text.isdigit() and num_text.isdigit()):
            return None
        k = index_of_num(self.spec, int(num_text))
        if k is None or k not in self.indexes() or timestamp(self.spec, k) != int(ts_text):
            return None
        return self.article(k)

    def listed_count(self) -> int:
        return len(self.indexes()) - len(self._unlisted)

    def page_count(self) -> int:
        size, step = self.listed_count(), self.spec.page_size - self.spec.overlap
        if size <= self.spec.page_size:
            return 1
        return 1 + -(-(size - self.spec.page_size) // step)

    def page(self, n: int) -> list[Article]:
        """Cards of listing page ``n`` (1-based); each page repeats the previous one's last 2."""
        start = (n - 1) * (self.spec.page_size - self.spec.overlap)
        stop = min(start + self.spec.page_size, self.listed_count())
        return [self.article(self._k_at(pos)) for pos in range(start, stop)]

    def newest(self) -> list[Article]:
        return self.page(1)

    def _k_at(self, pos: int) -> int:
        k = pos - self.published
        for hidden in self._unlisted:
            if hidden <= k:
                k += 1
            else:
                break
        return k

    # mutating
    def _require(self, article_id: str) -> Article:
        art = self.find(article_id)
        if art is None:
            raise KeyError(f"no article {article_id!r} in stream {self.spec.key!r}")
        return art

    def publish(self, count: int = 1) -> list[Article]:
        """Add ``count`` newer articles at the top of the listings."""
        if count < 0:
            raise ValueError("count must be >= 0")
        self.published += count
        self.version += 1
        return [self.article(k) for k in range(-self.published, -self.published + count)]

    def edit(
        self, article_id: str, body: list[str] | None = None, title: str | None = None
    ) -> Article:
        """Change an article's body (by default: a sentence appended, a paragraph added)."""
        art = self._require(article_id)
        k = art.index
        if body is None:
            n = self._edits.get(k, 0)
            extra = _EDIT_SENTENCES[n % len(_EDIT_SENTENCES)].format(province=_V["province"][0])
            body = [f"{art.body[0]} (Revision {n + 1}.)", *art.body[1:], extra]
        self._edits[k] = self._edits.get(k, 0) + 1
        self._bodies[k] = tuple(" ".join(p.split()) for p in body)
        if title is not None:
            self._titles[k] = " ".join(title.split())
        self.version += 1
        return self.article(k)

    def delete(self, article_id: str, status: int = 410, unlist: bool = False) -> Article:
        """Make an article answer 404 or 410; ``unlist`` also drops it from the listings."""
        if status not in (404, 410):
            raise ValueError("status must be 404 or 410")
        art = self._require(article_id)
        self._status[art.index] = f"deleted{status}"
        if unlist:
            self.unlist(art.index)
        self.version += 1
        return self.article(art.index)

    def unlist(self, k: int) -> None:
        if k not in self._unlisted:
            self._unlisted.append(k)
            self._unlisted.sort()
            self.version += 1


def build_streams(
    naenara_articles: int = 160,
    kcna_articles: int = 40,
    seed: int = DEFAULT_SEED,
    today: date = TODAY,
    rodong_articles: int = 30,
) -> dict[str, StreamState]:
    """Every stream, keyed "naenara", "kcna" and "rodong"."""
    counts = {"naenara": naenara_articles, "kcna": kcna_articles, "rodong": rodong_articles}
    return {key: StreamState(make_spec(key, counts[key], seed, today)) for key in STREAM_KEYS}


def decode_slug(slug: str) -> str:
    """The slug as text (what a file system path or a comparison needs)."""
    return unquote(slug)
