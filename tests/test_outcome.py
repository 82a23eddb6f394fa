"""The outcome line ``scrapy crawl`` ends its log with, and how the scheduler judges it (pure:
the Scrapyd and PostgreSQL sides are in tests/test_scrapyd.py)."""

from __future__ import annotations

from newsarchive.outcome import Outcome, last_finished, last_outcome, previous_outcome

JOBS = {
    "finished": [
        {"id": "a", "spider": "naenara", "end_time": "2026-12-01 08:00:00.1", "log_url": "/l/a"},
        {"id": "b", "spider": "naenara", "end_time": "2026-12-01 09:00:00.1", "log_url": "/l/b"},
        {"id": "c", "spider": "other", "end_time": "2026-12-01 10:00:00.1", "log_url": "/l/c"},
    ]
}


def log_with(*outcomes: Outcome) -> str:
    lines = ["2026-12-01 09:00:00 [scrapy.core.engine] INFO: Spider closed (finished)"]
    lines += [
        f"2026-12-01 09:00:01 [newsarchive.commands.crawl] INFO: {o.line()}" for o in outcomes
    ]
    return "\n".join(lines) + "\n"


def test_the_last_outcome_line_wins_and_round_trips():
    first, last = Outcome(1, "r1", "monitor checks failed: min_items"), Outcome(0, "r2")
    assert last_outcome(log_with(first, last)) == last
    assert last_outcome(log_with(first)) == first
    assert last_outcome(log_with()) is None
    assert last_outcome(log_with(first)[:-20]) is None  # cut short: garbled, not trusted


def test_the_latest_finished_job_of_the_spider_is_judged():
    assert last_finished(JOBS, "naenara")["id"] == "b"
    assert last_finished(JOBS, "kcna") is None
    assert previous_outcome(JOBS, "kcna", lambda job: "") is None


def test_failed_died_passed_and_unknown():
    logs = {"/l/b": log_with(Outcome(2, None, "unknown spider argument(s) bogus"))}
    failed, line = previous_outcome(JOBS, "naenara", lambda job: logs[job["log_url"]])
    assert failed and line.startswith("previous job b (ended 2026-12-01 09:00:00.1) failed")
    assert "exit status 2 (no run): unknown spider argument(s) bogus" in line

    failed, line = previous_outcome(JOBS, "naenara", lambda job: "a log cut by kill -9\n")
    assert failed and " died: " in line

    failed, line = previous_outcome(JOBS, "naenara", lambda job: log_with(Outcome(0, "r9")))
    assert not failed and line.endswith("passed (run r9)")

    failed, line = previous_outcome(JOBS, "naenara", lambda job: None)
    assert not failed and "outcome unknown" in line
