"""Researchers' datasets (issue 7): a run's feeds, its manifest and WARC, and `scrapy export`.

One archive for the module: the replica's Naenara stream crawled into a real PostgreSQL with
the default feeds and WARC on, one article edited, the stream crawled again, and the KCNA
stream crawled with ``-O``. Every file is read back with standard readers (pandas, pyarrow,
the csv module, warcio) and compared with what PostgreSQL holds.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from psycopg.rows import dict_row
from warcio.archiveiterator import ArchiveIterator

from newsarchive.export import ARTICLE_COLUMNS, REVISION_COLUMNS
from newsarchive.items import ARTICLE_FIELDS, ARTICLE_FIELDS_VERSION
from newsarchive.manifest import verify_manifest
from newsarchive.processors import article_url_parts
from newsarchive_replica.server import ReplicaServer
from tests.conftest_postgres import migrate_url
from tests.crawling import FAST, ROOT, read_jsonl
from tests.services import PostgresServer

pytestmark = pytest.mark.postgres

KOREAN = "평양의 새 거리"  # one of the replica's Korean titles


@dataclass
class Run:
    data_dir: Path
    summary: dict[str, Any]
    log: str

    @property
    def run_id(self) -> str:
        return self.summary["run_id"]

    @property
    def manifest_path(self) -> Path:
        return Path(self.summary["manifest"])

    @property
    def manifest(self) -> dict[str, Any]:
        return json.loads(self.manifest_path.read_text(encoding="utf-8"))

    def files(self, suffix: str) -> list[Path]:
        return sorted(Path(p) for p in self.summary["feed_files"] if p.endswith(suffix))

    def jsonl_items(self) -> list[dict[str, Any]]:
        return [item for path in self.files(".jsonl.gz") for item in read_jsonl(path)]


@dataclass
class Archive:
    url: str
    first: Run
    second: Run
    kcna: Run
    kcna_output: Path
    edited_id: str
    tmp: Path


def environment(url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NEWSARCHIVE_DATABASE_URL"}
    if url:
        env["NEWSARCHIVE_DATABASE_URL"] = url  # not -s: keeps the password out of `ps`
    return env


def crawl(start_url: str, data_dir: Path, url: str, *extra: str, **settings: str) -> Run:
    command = [sys.executable, "-m", "scrapy", "crawl", "naenara", "-a", f"start_url={start_url}"]
    values = {**FAST, "NEWSARCHIVE_DATA_DIR": str(data_dir), "NEWSARCHIVE_DB_BATCH_SECONDS": "0.5",
              **settings}  # fmt: skip
    for name, value in values.items():
        command += ["-s", f"{name}={value}"]
    finished = subprocess.run(
        [*command, *extra], cwd=ROOT, capture_output=True, text=True, timeout=180,
        env=environment(url),
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr[-4000:]
    (summary_file,) = (data_dir / "runs" / "naenara").glob("*.json")
    return Run(data_dir, json.loads(summary_file.read_text(encoding="utf-8")), finished.stderr)


def export(url: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scrapy", "export", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=environment(url),
    )  # fmt: skip


def query(url: str, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        return conn.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def archive(postgres_server: PostgresServer, tmp_path_factory) -> Archive:
    tmp = tmp_path_factory.mktemp("datasets")
    url = postgres_server.create_database()
    migrate_url(url)
    with ReplicaServer() as site:
        start = site.start_url("naenara", "listing")
        # Batches of 50: a run's feed is several files, all in the manifest.
        first = crawl(start, tmp / "1", url, NEWSARCHIVE_WARC_ENABLED="1",
                      NEWSARCHIVE_FEED_BATCH_SIZE="50")  # fmt: skip
        edited_id = next(
            i["article_id"] for i in site.expected("naenara") if KOREAN not in i["title"]
        )
        site.edit(edited_id)
        # Incremental crawls skip archived articles: re-fetch them all, as a recheck does.
        second = crawl(start, tmp / "2", url, "-a", "recheck_days=36500")
        kcna_output = tmp / "kcna.jsonl"
        kcna = crawl(site.start_url("kcna", "listing"), tmp / "3", url, "-O", str(kcna_output))
    return Archive(url, first, second, kcna, kcna_output, edited_id, tmp)


def by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["article_id"]: row for row in rows}


def typed(name: str, text: Any) -> Any:
    """A feed's text value as the database types it."""
    if text in (None, ""):
        return None
    if name in ("published_date", "page_date"):
        return date.fromisoformat(text)
    if name in ("published_at", "crawled_at"):
        return datetime.fromisoformat(text)
    return text


def assert_rows_equal_archive(rows: list[dict[str, Any]], db_rows: dict[str, dict]) -> None:
    """Feed rows (text) equal the database's article rows, field by field."""
    assert sorted(row["article_id"] for row in rows) == sorted(db_rows)
    for row in rows:
        db = db_rows[row["article_id"]]
        for name in ARTICLE_FIELDS:
            if name == "extractor_version" and name not in db:
                continue  # schema 0001 does not store it (0002 does)
            want = db["last_run_id"] if name == "run_id" else db[name]
            assert typed(name, row[name]) == want, (row["article_id"], name)


# --- a run's feeds --------------------------------------------------------------------------


def test_run_feed_is_gzip_jsonl_and_csv_in_batches(archive):
    run = archive.first
    folder = run.data_dir / "feeds" / "naenara" / run.run_id
    jsonl, csvs = run.files(".jsonl.gz"), run.files(".csv")
    assert [p.name for p in jsonl] == [f"articles-{n:05d}.jsonl.gz" for n in (1, 2, 3, 4)]
    assert [p.name for p in csvs] == [f"articles-{n:05d}.csv" for n in (1, 2, 3, 4)]
    assert all(p.parent == folder for p in jsonl + csvs)
    with gzip.open(jsonl[0], "rt", encoding="utf-8") as lines:
        first = json.loads(next(lines))
    assert tuple(first) == ARTICLE_FIELDS  # the documented order
    assert first["run_id"] == run.run_id
    assert run.manifest_path == folder / "manifest.json"


def test_feeds_equal_postgres_with_pandas_and_csv(archive):
    """The second run saw every article last: its JSONL and CSV equal the archive's rows."""
    run = archive.second
    db_rows = by_id(query(archive.url, "SELECT * FROM articles WHERE source = 'Naenara (En)'"))
    frame = pd.concat(
        pd.read_json(path, lines=True, dtype=False) for path in run.files(".jsonl.gz")
    )
    assert list(frame.columns) == list(ARTICLE_FIELDS)
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    assert_rows_equal_archive(rows, db_rows)
    csv_rows = []
    for path in run.files(".csv"):
        with path.open(encoding="utf-8", newline="") as stream:
            reader = csv.DictReader(stream)
            assert tuple(reader.fieldnames or ()) == ARTICLE_FIELDS
            csv_rows += list(reader)
    assert_rows_equal_archive(csv_rows, db_rows)
    assert any("\n\n" in row["body"] for row in csv_rows)  # multi-line bodies survive quoting


def test_first_run_feed_equals_its_revisions(archive):
    """Each line of the first run is the revision it created, including the edited article's
    old text."""
    revisions = {
        (r["article_id"], r["content_hash"]): r
        for r in query(archive.url, "SELECT * FROM article_revisions")
    }
    items = archive.first.jsonl_items()
    assert len(items) == archive.first.summary["items"]
    for item in items:
        revision = revisions[(item["article_id"], item["content_hash"])]
        assert (revision["title"], revision["body"]) == (item["title"], item["body"])
        assert revision["first_run_id"] == item["run_id"] == archive.first.run_id


def test_korean_text_is_unescaped_in_jsonl(archive):
    for path in archive.first.files(".jsonl.gz"):
        raw = gzip.decompress(path.read_bytes()).decode("utf-8")
        assert "\\u" not in raw
        if KOREAN in raw:
            break
    else:
        pytest.fail(f"no feed line holds {KOREAN!r} as UTF-8 text")


def test_run_manifest_checksums_verify(archive):
    run = archive.first
    manifest = run.manifest
    assert verify_manifest(run.manifest_path) == []
    assert manifest["run_ids"] == [run.run_id]
    assert manifest["schema"] == {
        "name": "article", "version": ARTICLE_FIELDS_VERSION, "fields": list(ARTICLE_FIELDS),
    }  # fmt: skip
    assert manifest["software"]["newsarchive"] and manifest["created_at"]
    feeds = [f for f in manifest["files"] if f["format"] == "jsonlines"]
    assert sum(f["rows"] for f in feeds) == run.summary["items"]
    assert {f["format"] for f in manifest["files"]} == {"jsonlines", "csv", "warc", "wacz"}
    # A changed byte is caught.
    copy = archive.tmp / "tampered"
    shutil.copytree(run.manifest_path.parent, copy)
    shutil.copy(run.manifest_path, copy / "manifest.json")
    victim = copy / "articles-00001.csv"
    victim.write_bytes(victim.read_bytes().replace(b"Pyongyang", b"Pyongyanq", 1))
    assert any(
        "articles-00001.csv: sha256 differs" in p for p in verify_manifest(copy / "manifest.json")
    )


def test_dash_o_writes_a_plain_jsonl_and_a_manifest(archive):
    lines = archive.kcna_output.read_text(encoding="utf-8").splitlines()
    assert len(lines) == archive.kcna.summary["items"] > 0
    assert tuple(json.loads(lines[0])) == ARTICLE_FIELDS
    # Besides the run's raw capture (on by default), the one -O file.
    files = archive.kcna.manifest["files"]
    (entry,) = [f for f in files if f["format"] not in ("warc", "wacz")]
    assert sorted({f["format"] for f in files if f is not entry}) == ["wacz", "warc"]
    assert entry["rows"] == len(lines) and entry["compression"] is None
    assert verify_manifest(archive.kcna.manifest_path) == []


# --- WARC -------------------------------------------------------------------------------------


def test_warc_holds_every_article_response(archive):
    run = archive.first
    (path,) = map(Path, run.summary["warc_files"])
    assert path == run.data_dir / "warc" / "naenara" / run.run_id / f"{run.run_id}-00001.warc.gz"
    responses: dict[str, bytes] = {}
    response_ids: dict[str, str] = {}  # WARC-Record-ID -> target URI
    requests: dict[str, str] = {}  # WARC-Concurrent-To -> target URI
    with path.open("rb") as stream:
        records = iter(ArchiveIterator(stream))
        info = next(records)
        assert info.rec_type == "warcinfo"
        fields = info.content_stream().read().decode("utf-8")
        assert f"run_id: {run.run_id}" in fields and "newsarchive/" in fields
        for record in records:
            uri = record.rec_headers.get_header("WARC-Target-URI")
            assert record.rec_headers.get_header("WARC-Date")
            if record.rec_type == "request":
                requests[record.rec_headers.get_header("WARC-Concurrent-To")] = uri
            elif record.rec_type == "response" and record.http_headers.get_statuscode() == "200":
                parts = article_url_parts(uri)
                if parts:
                    responses[parts[0]] = record.content_stream().read()
                    response_ids[record.rec_headers.get_header("WARC-Record-ID")] = uri
    assert all(requests.get(record_id) == uri for record_id, uri in response_ids.items())
    items = run.jsonl_items()
    assert {item["article_id"] for item in items} <= set(responses)
    for item in items:
        assert item["article_id"].encode() in responses[item["article_id"]]


# --- scrapy export ----------------------------------------------------------------------------


def read_export(folder: Path, stem: str) -> tuple[list[dict], list[dict], pa.Table]:
    jsonl = read_jsonl(folder / f"{stem}.jsonl.gz")
    with (folder / f"{stem}.csv").open(encoding="utf-8", newline="") as stream:
        csv_rows = list(csv.DictReader(stream))
    return jsonl, csv_rows, pq.read_table(folder / f"{stem}.parquet")


def test_export_equals_postgres_in_every_format(archive):
    folder = archive.tmp / "export-all"
    done = export(archive.url, "--output", str(folder))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1 and done.stderr == ""
    db_rows = by_id(query(archive.url, "SELECT * FROM articles"))
    jsonl, csv_rows, table = read_export(folder, "articles")
    names = [c.name for c in ARTICLE_COLUMNS]
    assert table.column_names == names and tuple(jsonl[0]) == tuple(names)
    assert table.schema.field("published_date").type == pa.date32()
    assert table.schema.field("crawled_at").type == pa.timestamp("us", tz="UTC")
    assert_rows_equal_archive(jsonl, db_rows)
    assert_rows_equal_archive(csv_rows, db_rows)
    for row in table.to_pylist():  # typed: compares to psycopg's values directly
        db = db_rows[row["article_id"]]
        assert {k: row[k] for k in names if k != "run_id"} == {
            # extractor_version: null in the export of a schema 0001 archive (no column)
            k: db.get(k) if k == "extractor_version" else db[k]
            for k in names
            if k != "run_id"
        }
        assert row["run_id"] == db["last_run_id"]
    # The export and the last run's feed say the same, to the character.
    feed = by_id(archive.second.jsonl_items())
    schema_0001 = "extractor_version" not in next(iter(db_rows.values()))
    fields = [k for k in ARTICLE_FIELDS if not (schema_0001 and k == "extractor_version")]
    assert all(
        {k: by_id(jsonl)[a][k] for k in fields} == {k: item[k] for k in fields}
        for a, item in feed.items()
    )
    assert KOREAN in gzip.decompress((folder / "articles.jsonl.gz").read_bytes()).decode()

    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert verify_manifest(folder / "manifest.json") == []
    assert (
        manifest["schema"]["version"]
        == query(archive.url, "SELECT max(version) AS v FROM schema_migrations")[0]["v"]
    )
    assert manifest["run_ids"] == sorted({archive.second.run_id, archive.kcna.run_id})
    assert [f["rows"] for f in manifest["files"]] == [len(db_rows)] * 3
    assert manifest["filters"] == {"source": None, "since": None, "until": None, "revisions": False}


def test_export_revisions_holds_old_and_new_body(archive):
    folder = archive.tmp / "export-revisions"
    done = export(archive.url, "--output", str(folder), "--revisions", "--source", "Naenara (En)")
    assert done.returncode == 0, done.stderr
    jsonl, csv_rows, table = read_export(folder, "revisions")
    assert tuple(jsonl[0]) == tuple(c.name for c in REVISION_COLUMNS)
    old = by_id(archive.first.jsonl_items())[archive.edited_id]
    new = by_id(archive.second.jsonl_items())[archive.edited_id]
    assert old["body"] != new["body"]
    for rows in (jsonl, csv_rows, table.to_pylist()):
        edited = [r for r in rows if r["article_id"] == archive.edited_id]
        assert [r["body"] for r in edited] == [old["body"], new["body"]]
        assert [str(r["revision_number"]) for r in edited] == ["1", "2"]
        assert [str(r["is_current"]).lower() for r in edited] == ["false", "true"]
        assert [r["first_run_id"] for r in edited] == [archive.first.run_id, archive.second.run_id]
        assert [r["content_hash"] for r in edited] == [old["content_hash"], new["content_hash"]]
    others = [r for r in jsonl if r["article_id"] != archive.edited_id]
    assert len(others) == archive.second.summary["items"] - 1
    assert all(r["revision_number"] == 1 and r["is_current"] for r in others)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["filters"]["revisions"] is True
    assert manifest["run_ids"] == sorted({archive.first.run_id, archive.second.run_id})


def test_export_filters_by_source_and_dates(archive):
    dates = [r["published_date"] for r in query(
        archive.url, "SELECT DISTINCT published_date FROM articles ORDER BY 1")]  # fmt: skip
    since, until = dates[len(dates) // 3], dates[2 * len(dates) // 3]
    want = {r["article_id"] for r in query(
        archive.url,
        "SELECT article_id FROM articles WHERE source = %s AND published_date BETWEEN %s AND %s",
        ("Naenara (En)", since, until),
    )}  # fmt: skip
    assert 0 < len(want) < archive.second.summary["items"]
    folder = archive.tmp / "export-filtered"
    done = export(
        archive.url, "--output", str(folder), "--format", "parquet,jsonl",
        "--source", "Naenara (En)", "--since", since.isoformat(), "--until", until.isoformat(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert not (folder / "articles.csv").exists()
    rows = pq.read_table(folder / "articles.parquet").to_pylist()
    assert {r["article_id"] for r in rows} == want
    assert all(since <= r["published_date"] <= until for r in rows)  # bounds are inclusive
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["filters"] == {
        "source": "Naenara (En)", "since": since.isoformat(), "until": until.isoformat(),
        "revisions": False,
    }  # fmt: skip
    kcna = archive.tmp / "export-kcna"
    assert export(archive.url, "--output", str(kcna), "--source", "KCNA.kp (En)").returncode == 0
    kcna_rows = read_jsonl(kcna / "articles.jsonl.gz")
    assert len(kcna_rows) == archive.kcna.summary["items"]
    assert {r["source"] for r in kcna_rows} == {"KCNA.kp (En)"}


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--since", "2024-02-30"], 2, "--since '2024-02-30' is not a date"),
        (["--since", "2024-05-01", "--until", "2024-04-01"], 2, "is after --until"),
        (["--format", "xlsx"], 2, "--format 'xlsx'"),
        (["--source", " "], 2, "--source is empty"),
        (["--batch-size", "0"], 2, "--batch-size"),
        (["--nonsense"], 2, "unexpected argument"),
    ],
)
def test_export_bad_arguments_are_one_line(archive, args, code, message):
    done = export(archive.url, "--output", str(archive.tmp / "never"), *args)
    assert done.returncode == code
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert not (archive.tmp / "never").exists()


def test_export_unreachable_database_is_one_line(postgres_server, tmp_path):
    url = postgres_server.url_for("newsarchive", password="wrong-secret")
    done = export(url, "--output", str(tmp_path / "x"))
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "cannot connect to PostgreSQL" in done.stderr
    assert "wrong-secret" not in done.stderr
    unmigrated = postgres_server.create_database()
    done = export(unmigrated, "--output", str(tmp_path / "y"))
    assert done.returncode == 1 and "no newsarchive archive" in done.stderr
    assert not (tmp_path / "y" / "manifest.json").exists()
