"""The crawl-time judgement (``newsarchive.reextract.judgement``) end to end: a replica crawl
into a real PostgreSQL with capture on, then a changed cleaning rule with a bumped version
and a re-crawl. Our change alone gives ``reextract`` revisions, never ``edit``; an outlet edit
on top is the one ``edit`` (after the old capture's re-reading) and the digest's one change;
with the captures gone, a changed text is ``unverified``. Also how the capture of a previous
text is found.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

import psycopg
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from newsarchive.reextract.captures import read_page
from newsarchive.reextract.judgement import CaptureIndex, Previous
from newsarchive_replica.server import ReplicaServer
from tests.alerting import alert_env, smtp_server, webhook_receiver
from tests.crawling import after_this_second
from tests.test_postgres_crawl import RECHECK_ALL, ROOT, environment, query, scrapy_command
from tests.test_reextract import ARTICLE, RUN_A, RUN_B, changed_rule_env


def crawl_again(site: ReplicaServer, url: str, data: Path, env: dict[str, str] | None = None):
    """A crawl of the replica that re-fetches every archived article, capture on."""
    line = scrapy_command(
        "crawl", "naenara", f"-astart_url={site.start_url('naenara', 'listing')}",
        f"-a{RECHECK_ALL}", url=url, data_dir=data, settings={"NEWSARCHIVE_WARC_ENABLED": "1"},
    )  # fmt: skip
    result = subprocess.run(
        line, cwd=ROOT, env={**environment(), **(env or {})}, capture_output=True, text=True,
        timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def accept_unverified(url: str) -> None:
    """The widening of ``revisions.kind`` that migration 0004 (the db engineer's) brings,
    applied here only when the schema under test does not have it yet."""
    (row,) = query(url, "SELECT conname, pg_get_constraintdef(oid) AS definition FROM "
                   "pg_constraint WHERE conrelid = 'revisions'::regclass AND contype = 'c' "
                   "AND pg_get_constraintdef(oid) LIKE '%%kind%%'")  # fmt: skip
    if "unverified" not in row["definition"]:
        name = row["conname"]
        with psycopg.connect(url) as conn:
            widened = "CHECK (kind IN ('first', 'edit', 'reextract', 'unverified'))"
            conn.execute(
                f"ALTER TABLE revisions DROP CONSTRAINT {name}, ADD CONSTRAINT {name} {widened}"
            )


def changed_by_rule(url: str) -> set[str]:
    """The archived articles whose text CHANGED_RULE reads differently."""
    rows = query(url, "SELECT article_id, title, body FROM articles")
    return {r["article_id"] for r in rows if " the " in f"{r['title']}\n\n{r['body']}"}


def kinds_of(url: str) -> dict[str, list[str]]:
    rows = query(url, "SELECT article_id, kind FROM article_revisions ORDER BY first_seen_at, kind")
    kinds: dict[str, list[str]] = {}
    for row in rows:
        kinds.setdefault(row["article_id"], []).append(row["kind"])
    return kinds


def _write_dated(path: Path, pages: list[tuple[str, str, bytes]]) -> None:
    """A WARC of article responses, each with its own WARC-Date."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as stream:
        writer = WARCWriter(stream, gzip=True)
        for url, warc_date, body in pages:
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(
                url, "response", payload=BytesIO(body), http_headers=http,
                warc_headers_dict={"WARC-Date": warc_date},
            ))  # fmt: skip


def test_the_previous_text_is_looked_up_in_the_capture_of_its_last_sighting(tmp_path):
    other = ARTICLE.replace("531298405", "7")
    runs = {  # run → its article pages: (url, WARC-Date, body)
        RUN_A: [
            (ARTICLE, "2026-12-01T10:00:05.250000Z", b"a"),
            (other, "2026-12-01T10:00:06Z", b"o"),
        ],
        RUN_B: [(ARTICLE, "2026-12-02T10:00:07Z", b"b")],
        "20261203T100000Z-0000000c": [(ARTICLE, "2026-12-03T10:00:08Z", b"c")],
    }
    for run_id, pages in runs.items():
        _write_dated(tmp_path / "warc" / "naenara" / run_id / f"{run_id}-00001.warc.gz", pages)
    index = CaptureIndex(tmp_path, current_run="20261203T100000Z-0000000c")
    article_id = "1713006283-531298405"

    def body(instant: str, run_id: str | None) -> bytes | None:
        previous = Previous("0" * 64, datetime.fromisoformat(instant), run_id)
        location = index.find(article_id, previous)
        return None if location is None else read_page(location).body

    assert body("2026-12-01T10:00:05+00:00", RUN_A) == b"a"  # that run, that instant
    assert body("2026-12-01T10:00:05+00:00", RUN_B) == b"a"  # the run named has no such page
    assert body("2026-12-02T10:00:07+00:00", None) == b"b"
    assert body("2026-12-02T10:00:09+00:00", RUN_A) == b"a"  # no instant: the run's page
    assert body("2026-12-02T10:00:09+00:00", None) is None
    assert body("2026-12-03T10:00:08+00:00", None) is None  # today's own run is not the past
    assert index.find("1-1", Previous("0" * 64, datetime.now(UTC), RUN_A)) is None


def test_a_recrawl_after_an_extractor_change_is_judged_reextract_never_edit(pg_url, tmp_path):
    data = tmp_path / "data"
    with ReplicaServer() as site:
        crawl_again(site, pg_url, data)
        changed = changed_by_rule(pg_url)
        assert changed
        again = crawl_again(site, pg_url, data, env=changed_rule_env(tmp_path))
    kinds = kinds_of(pg_url)
    assert {a: k for a, k in kinds.items() if k != ["first"]} == {
        a: ["first", "reextract"] for a in changed
    }
    assert f"Judged {len(changed)} changed texts" in again.stderr
    assert f"{len(changed)} reextract, 0 edit, 0 unverified" in again.stderr


def test_an_outlet_edit_after_an_extractor_change_is_the_one_edit(pg_url, tmp_path):
    data = tmp_path / "data"
    with (
        ReplicaServer() as site,
        smtp_server() as (inbox, port),
        webhook_receiver() as (posts, url),
    ):
        alerts = alert_env(port, url)
        crawl_again(site, pg_url, data, env=alerts)
        changed = changed_by_rule(pg_url)
        edited_id = sorted(changed)[0]  # its old text reads differently today, too
        (old,) = query(pg_url, "SELECT * FROM article_revisions WHERE article_id = %s",
                       (edited_id,))  # fmt: skip
        site.edit(edited_id)
        after_this_second()  # the edit first seen in a later second than the last sighting
        again = crawl_again(site, pg_url, data, env={**alerts, **changed_rule_env(tmp_path)})
    # the changes digest tells of the outlet's one edit, never of our re-readings
    (mail,) = inbox.messages
    assert mail["Subject"].endswith(": 1 edited, 0 deleted") and len(posts) == 1
    assert edited_id in mail.get_content()
    kinds = kinds_of(pg_url)
    assert kinds.pop(edited_id) == ["first", "reextract", "edit"]
    assert {a: k for a, k in kinds.items() if k != ["first"]} == {
        a: ["first", "reextract"] for a in changed - {edited_id}
    }
    # the old capture re-read at its own instant, today's version; the edit is today's page
    rows = query(pg_url, "SELECT * FROM article_revisions WHERE article_id = %s "
                 "ORDER BY first_seen_at, kind", (edited_id,))  # fmt: skip
    first, reread, edit = rows
    assert first["body"] == old["body"] and first["extractor_version"] != "2099.1.1"
    assert reread["first_seen_at"] == old["first_seen_at"] == reread["last_seen_at"]
    assert reread["body"] == old["body"].replace(" the ", " THE ")
    assert reread["extractor_version"] == edit["extractor_version"] == "2099.1.1"
    assert edit["first_seen_at"] > old["last_seen_at"] and edit["body"] != reread["body"]
    assert f"{len(changed) - 1} reextract, 1 edit, 0 unverified" in again.stderr


def test_without_the_previous_capture_a_changed_text_is_unverified(pg_url, tmp_path):
    data = tmp_path / "data"
    with ReplicaServer() as site:
        crawl_again(site, pg_url, data)
        accept_unverified(pg_url)
        changed = changed_by_rule(pg_url)
        shutil.rmtree(data / "warc")
        again = crawl_again(site, pg_url, data, env=changed_rule_env(tmp_path))
    kinds = kinds_of(pg_url)
    assert {a: k for a, k in kinds.items() if k != ["first"]} == {
        a: ["first", "unverified"] for a in changed
    }
    assert f"0 reextract, 0 edit, {len(changed)} unverified" in again.stderr
    # the researchers' snapshot carries the kind too
    exported = subprocess.run(
        [sys.executable, "-m", "scrapy", "export", "--format", "sqlite", "--output",
         str(tmp_path / "export"), "--database-url", pg_url],
        cwd=ROOT, env=environment(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr[-2000:]
    (snapshot,) = (tmp_path / "export").rglob("archive.sqlite")
    with contextlib.closing(sqlite3.connect(snapshot)) as db:
        rows = db.execute("SELECT kind, count(*) FROM revisions GROUP BY 1 ORDER BY 1").fetchall()
    assert rows == [("first", len(kinds)), ("unverified", len(changed))]
