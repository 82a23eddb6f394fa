"""Each cleaning function on normal and malformed input."""

from __future__ import annotations

from datetime import date

import pytest

from newsarchive import processors as p


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  Talks  Held\n between ", "Talks Held between"),
        ("a\xa0\xa0b", "a b"),
        ("a\u200bb\u3000c\t\r\nd", "a b c d"),
        ("", ""),
        (None, ""),
        ("\xa0 \n", ""),
    ],
)
def test_collapse_whitespace(raw, clean):
    assert p.collapse_whitespace(raw) == clean


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("13/04/2024", date(2024, 4, 13)),
        ("05/04/2024", date(2024, 4, 5)),  # day first, never month first
        ("5/4/2024", date(2024, 4, 5)),
        (" 13.04.2024 ", date(2024, 4, 13)),
        ("31/02/2024", None),
        ("13/13/2024", None),
        ("2024-04-13", None),
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_day_first_date(raw, parsed):
    assert p.parse_day_first_date(raw) == parsed


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("December 27, 2025Dec 27, 2025", date(2025, 12, 27)),
        ("May 29, 2023", date(2023, 5, 29)),
        ("Apr 13, 2024", date(2024, 4, 13)),
        ("Sept 1, 2024", date(2024, 9, 1)),
        ("KCNA Naenara (En) December 27, 2025", date(2025, 12, 27)),
        ("Smarch 13, 2024", None),
        ("February 30, 2024", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_month_name_date(raw, parsed):
    assert p.parse_month_name_date(raw) == parsed


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("www.kcna.kp (Juche113.5.27.)", date(2024, 5, 27)),
        ("Juche 114.12.1", date(2025, 12, 1)),
        ("(Juche1.1.1.)", date(1912, 1, 1)),
        ("Juche113.13.27.", None),
        ("Juche0.1.1.", None),
        ("www.kcna.kp", None),
        (None, None),
    ],
)
def test_parse_juche_dateline(raw, parsed):
    assert p.parse_juche_dateline(raw) == parsed


META = "Date: 13/04/2024 | Source: Naenara (En) | Read original version at source"


@pytest.mark.parametrize(
    ("line", "date_text", "source"),
    [
        (META, "13/04/2024", "Naenara (En)"),
        ("Date:\xa013/04/2024 |\nSource:  KCNA.kp (En)", "13/04/2024", "KCNA.kp (En)"),
        ("Source: Naenara (En) | Read original version at source", None, "Naenara (En)"),
        ("Date: 13/04/2024 | Source: Naenara (En)", "13/04/2024", "Naenara (En)"),
        ("Date: | Source: |", None, None),
        ("nothing here", None, None),
        (None, None, None),
    ],
)
def test_meta_line(line, date_text, source):
    assert p.meta_line_date_text(line) == date_text
    assert p.meta_line_source(line) == source


@pytest.mark.parametrize(
    ("line", "label"),
    [
        ("KCNA Naenara (En)", "Naenara (En)"),
        ("KCNA KCNA.kp (En)", "KCNA.kp (En)"),
        ("December 27, 2025Dec 27, 2025 KCNA  Rodong Sinmun (En)", "Rodong Sinmun (En)"),
        ("KCNA Watch Newstream About December 27, 2025 KCNA Naenara (En)", "Naenara (En)"),
        ("KCNA\xa0Voice of Korea (Ru)", "Voice of Korea (Ru)"),
        ("Naenara (En)", None),  # no brand: not a label line
        ("KCNA", None),
        (None, None),
    ],
)
def test_strip_brand(line, label):
    assert p.strip_brand(line) == label


@pytest.mark.parametrize(
    ("label", "parts"),
    [
        ("Naenara (En)", ("Naenara", "en")),
        ("KCNA.kp (En)", ("KCNA.kp", "en")),
        ("Rodong Sinmun (Kr)", ("Rodong Sinmun", "ko")),
        ("Voice of Korea (Jp)", ("Voice of Korea", "ja")),
        ("Minju Choson (Ch)", ("Minju Choson", "zh")),
        ("Ryugyong (Sp)", ("Ryugyong", "es")),
        ("Naenara (Ge)", ("Naenara", "de")),
        ("Naenara (Xx)", ("Naenara", None)),
        ("Naenara", ("Naenara", None)),
        ("", (None, None)),
        (None, (None, None)),
    ],
)
def test_split_source_label(label, parts):
    assert p.split_source_label(label) == parts


@pytest.mark.parametrize(
    ("url", "parts"),
    [
        (
            "https://kcnawatch.org/newstream/1713006283-531298405/talks-held/",
            ("1713006283-531298405", 1713006283),
        ),
        (
            "https://kcnawatch.org/newstream/1713006283-531298405/talks-held",
            ("1713006283-531298405", 1713006283),
        ),
        ("http://127.0.0.1:8765/newstream/1700000000-1/%ed%95%9c/", ("1700000000-1", 1700000000)),
        ("https://kcnawatch.org/newstream/", None),
        ("https://kcnawatch.org/?s=&source=190052&paged=2", None),
        ("https://kcnawatch.org/newstream/abc-1/slug/", None),
        ("http://[::1", None),
        (None, None),
    ],
)
def test_article_url_parts(url, parts):
    assert p.article_url_parts(url) == parts


def test_timestamps():
    assert p.timestamp_to_utc_iso(1713006283) == "2024-04-13T11:04:43+00:00"
    # 2024-04-13 20:00 UTC is already the 14th in Pyongyang.
    assert p.timestamp_to_kst_date(1713038400) == date(2024, 4, 14)
    assert p.timestamp_to_utc_iso(None) is None
    assert p.timestamp_to_kst_date("soon") is None  # type: ignore[arg-type]
    assert p.timestamp_to_utc_iso(10**20) is None


def test_iso_date():
    assert p.iso_date(date(2024, 4, 13)) == "2024-04-13"
    assert p.iso_date("13/04/2024") == "2024-04-13"
    assert p.iso_date("not a date") is None
    assert p.iso_date(None) is None


@pytest.mark.parametrize(
    ("text", "promo"),
    [
        ("NK News is hiring: apply now", True),
        ("  Subscribe to NK Pro for full access", True),
        ("Talks were held in Pyongyang", False),
        ("KCNA", False),
        ("", False),
    ],
)
def test_is_promotional(text, promo):
    assert p.is_promotional(text) is promo


def test_content_hash_tells_changes_apart():
    base = p.content_hash("Title", "Body")
    assert base == p.content_hash("Title", "Body")
    assert len(base) == 64
    assert base != p.content_hash("Title", "Body.")
    assert base != p.content_hash("Title.", "Body")
    assert p.content_hash(None, None) == p.content_hash("", "")
