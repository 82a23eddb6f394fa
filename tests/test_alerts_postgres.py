"""The changes digest end to end: `scrapy crawl` into a real PostgreSQL against the replica,
with a real SMTP server (aiosmtpd) and an HTTP webhook receiver on loopback. A run that
records an edit and a deletion sends one digest listing both; runs that record none (the
first crawl, a re-crawl that sees the same deletion again) send nothing."""

from __future__ import annotations

import pytest

from newsarchive_replica.server import ReplicaServer
from tests.alerting import PASSWORD, alert_env, smtp_server, webhook_receiver
from tests.crawling import after_this_second
from tests.test_postgres_crawl import RECHECK_ALL, crawl, query, tail

pytestmark = pytest.mark.postgres


def test_a_run_with_an_edit_and_a_deletion_sends_one_digest(pg_url, tmp_path, monkeypatch):
    with (
        ReplicaServer() as site,
        smtp_server() as (inbox, port),
        webhook_receiver() as (posts, url),
    ):
        for name, value in alert_env(port, url).items():
            monkeypatch.setenv(name, value)  # operators set these in the environment
        expected = site.expected("naenara")
        first = crawl(site, pg_url, tmp_path / "1")
        assert first.returncode == 0, tail(first)
        # The replica's listed 404/410 pages were never archived: not a deletion to report.
        assert (inbox.messages, posts) == ([], [])

        edited, deleted = expected[0], expected[1]
        new_version = site.edit(edited["article_id"], title="A New Title After the Edit")
        site.delete(deleted["article_id"], status=410)
        after_this_second()  # the deletion answered after the last sighting
        second = crawl(site, pg_url, tmp_path / "2", RECHECK_ALL)
        assert second.returncode == 0, tail(second)
        run_id = query(pg_url, "SELECT run_id FROM crawl_runs ORDER BY started_at")[-1]["run_id"]
        (mail,) = inbox.messages
        (post,) = posts

        # The deleted article is still listed and answers 410 again: already recorded.
        third = crawl(site, pg_url, tmp_path / "3", RECHECK_ALL)
        assert third.returncode == 0, tail(third)
        assert (len(inbox.messages), len(posts)) == (1, 1)

    subject = f"[newsarchive] naenara {run_id}: 1 edited, 1 deleted"
    assert mail["Subject"] == subject
    lines = mail.get_content().replace("\r\n", "\n").strip().splitlines()
    assert lines[1:] == [
        f"- deleted: {deleted['article_id']} {deleted['title']} {deleted['url']}",
        f"- edited: {edited['article_id']} {new_version['title']} {new_version['url']}",
    ]
    assert new_version["title"] == "A New Title After the Edit"
    assert post["text"] == post["content"] == f"*{subject}*\n" + "\n".join(lines)
    assert "FAILED" not in mail["Subject"]  # a clean run with changes: no failure alert
    for result in (first, second, third):
        assert PASSWORD not in result.stderr
