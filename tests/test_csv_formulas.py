"""CSV cells that would open as spreadsheet formulas get a leading ``'``; JSONL stays exact.

Both CSVs are tried as users make them — the run feeds of ``scrapy crawl`` and ``scrapy
export`` from a real PostgreSQL archive — on replica articles whose title or body starts with
``=``, ``+``, ``-`` or ``@``, with the default and with NEWSARCHIVE_CSV_ESCAPE_FORMULAS off.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from newsarchive.csv_cells import escape_formula, unescape_formula
from newsarchive_replica.server import ReplicaServer
from tests.conftest_postgres import migrate_url
from tests.crawling import FAST, ROOT

HOSTILE_TITLES = ['=HYPERLINK("http://evil.example/","open me")', "+1 more", "-2 today", "@SUM(A1)"]
HOSTILE_BODY = ["=cmd|' /C calc'!A0", "A second paragraph."]
OFF = {"NEWSARCHIVE_CSV_ESCAPE_FORMULAS": "false"}


@pytest.mark.parametrize(
    ("cell", "escaped"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-0-", "'-0-"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("'quoted", "''quoted"),  # so that undoing the escape is exact
        ("Kim Jong Un", "Kim Jong Un"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_escape_formula(cell, escaped):
    assert escape_formula(cell) == escaped
    assert unescape_formula(escape_formula(cell)) == cell


def scrapy(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("NEWSARCHIVE_")}
    result = subprocess.run(
        [sys.executable, "-m", "scrapy", *args],
        cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def crawl(start_url: str, data: Path, database_url: str = "", **settings: str) -> Path:
    """A crawl with the default feeds; its feed folder."""
    command = ["crawl", "naenara", "-a", f"start_url={start_url}"]
    for name, value in {**FAST, **settings}.items():
        command += ["-s", f"{name}={value}"]
    env = {"NEWSARCHIVE_DATA_DIR": str(data), "NEWSARCHIVE_DATABASE_URL": database_url}
    scrapy(*command, env=env)
    (folder,) = (data / "feeds" / "naenara").iterdir()
    return folder


def csv_rows(paths: list[Path]) -> dict[str, dict[str, str]]:
    rows: dict[str, dict[str, str]] = {}
    for path in paths:
        with path.open(encoding="utf-8", newline="") as stream:
            rows.update({row["article_id"]: row for row in csv.DictReader(stream)})
    return rows


def jsonl_rows(paths: list[Path]) -> dict[str, dict]:
    rows: dict[str, dict] = {}
    for path in paths:
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            rows.update({row["article_id"]: row for row in map(json.loads, lines)})
    return rows


@dataclass
class Outputs:
    hostile: dict[str, dict]  # article_id -> the replica's expected item
    feeds_on: Path
    feeds_off: Path
    export_on: Path
    export_off: Path


@pytest.fixture(scope="module")
def outputs(postgres_server, tmp_path_factory) -> Outputs:
    tmp = tmp_path_factory.mktemp("csv")
    db_url = postgres_server.create_database()
    migrate_url(db_url)
    with ReplicaServer(naenara_articles=60, kcna_articles=2) as site:
        items = site.expected("naenara")
        hostile = {}
        for item, title in zip(items, HOSTILE_TITLES, strict=False):
            hostile[item["article_id"]] = site.edit(item["article_id"], title=title)
        body_id = items[len(HOSTILE_TITLES)]["article_id"]
        hostile[body_id] = site.edit(body_id, body=HOSTILE_BODY)
        start = site.start_url("naenara", "listing")
        feeds_on = crawl(start, tmp / "on", db_url)
        feeds_off = crawl(start, tmp / "off", **OFF)
    env = {"NEWSARCHIVE_DATABASE_URL": db_url}
    scrapy("export", "--output", str(tmp / "export-on"), env=env)
    off = [arg for name, value in OFF.items() for arg in ("-s", f"{name}={value}")]
    scrapy("export", "--output", str(tmp / "export-off"), *off, env=env)
    return Outputs(hostile, feeds_on, feeds_off, tmp / "export-on", tmp / "export-off")


def assert_cells(rows: dict[str, dict[str, str]], hostile: dict[str, dict], escaped: bool):
    for article_id, item in hostile.items():
        row = rows[article_id]
        for name in ("title", "body"):
            want = escape_formula(item[name]) if escaped else item[name]
            assert row[name] == want, (article_id, name, row[name])
    # Ordinary cells are never touched.
    plain = [row for key, row in rows.items() if key not in hostile]
    assert plain and all(not row["title"].startswith("'") for row in plain)


def test_run_feed_csv_escapes_formulas_by_default(outputs):
    rows = csv_rows(sorted(outputs.feeds_on.glob("*.csv")))
    assert_cells(rows, outputs.hostile, escaped=True)
    assert rows[next(iter(outputs.hostile))]["title"].startswith("'=HYPERLINK(")


def test_run_feed_csv_as_is_when_turned_off(outputs):
    assert_cells(csv_rows(sorted(outputs.feeds_off.glob("*.csv"))), outputs.hostile, False)


@pytest.mark.parametrize("which", ["feeds_on", "feeds_off"])
def test_run_feed_jsonl_is_never_changed(outputs, which):
    rows = jsonl_rows(sorted(getattr(outputs, which).glob("*.jsonl.gz")))
    for article_id, item in outputs.hostile.items():
        assert (rows[article_id]["title"], rows[article_id]["body"]) == (
            item["title"],
            item["body"],
        )


def test_export_csv_escapes_formulas_by_default(outputs):
    assert_cells(csv_rows([outputs.export_on / "articles.csv"]), outputs.hostile, escaped=True)


def test_export_csv_as_is_when_turned_off(outputs):
    assert_cells(csv_rows([outputs.export_off / "articles.csv"]), outputs.hostile, False)


@pytest.mark.parametrize("which", ["export_on", "export_off"])
def test_export_jsonl_and_parquet_are_never_changed(outputs, which):
    import pyarrow.parquet as pq

    folder = getattr(outputs, which)
    rows = jsonl_rows([folder / "articles.jsonl.gz"])
    table = {
        row["article_id"]: row for row in pq.read_table(folder / "articles.parquet").to_pylist()
    }
    for article_id, item in outputs.hostile.items():
        for found in (rows[article_id], table[article_id]):
            assert (found["title"], found["body"]) == (item["title"], item["body"])
