"""A job's outcome, as ``scrapy crawl`` leaves it in its log and ``newsarchive-schedule``
reads it back.

Scrapyd keeps no exit status: its ``listjobs.json`` says only that a job ended. So the crawl
command ends its log with one line, ``newsarchive run outcome: {json}`` (exit status, run id,
why), and the scheduler reads it from the job's log (Scrapyd serves it at ``log_url``). A log
without that line belongs to a job that died: killed, or crashed before it could write it.
Standard library only (psycopg when a database is named): the scheduler imports this
without Scrapy.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

MARK = "newsarchive run outcome: "


@dataclass(frozen=True)
class Outcome:
    """How a ``scrapy crawl`` ended: its exit status, its run id (None when it never started
    a run) and a one-line reason ("" when all went well)."""

    exit_status: int
    run_id: str | None = None
    reason: str = ""

    @property
    def passed(self) -> bool:
        return self.exit_status == 0

    def line(self) -> str:
        return MARK + json.dumps(asdict(self), ensure_ascii=False)


def last_outcome(log_text: str) -> Outcome | None:
    """The last outcome line in ``log_text``, or None when there is none (or it is garbled)."""
    at = log_text.rfind(MARK)
    if at < 0:
        return None
    payload = log_text[at + len(MARK) :].split("\n", 1)[0]
    try:
        fields = json.loads(payload)
        return Outcome(
            int(fields["exit_status"]), fields.get("run_id"), str(fields.get("reason") or "")
        )
    except (ValueError, TypeError, KeyError):
        return None


# --- the previous job, as newsarchive-schedule reports it ---------------------------------


def last_finished(jobs: Mapping[str, Any], spider: str) -> dict[str, Any] | None:
    """The spider's most recently ended job in a listjobs answer."""
    finished = [job for job in jobs.get("finished") or [] if job.get("spider") == spider]
    return max(finished, key=lambda job: str(job.get("end_time") or ""), default=None)


#: The run's row, for the previous job's outcome (docs/POSTGRES.md: crawl_runs).
RUN_ROW_SQL = (
    "SELECT status, finish_reason, failed, failure_reason FROM crawl_runs WHERE run_id = %s"
)


def run_row(database_url: str, run_id: str) -> dict[str, Any] | str:
    """The run's ``crawl_runs`` row (None when it has none), or a one-line reason it could
    not be read (never the password)."""
    import psycopg  # only with a database
    from psycopg.rows import dict_row

    from newsarchive.db.urls import scrub

    try:
        with psycopg.connect(database_url, connect_timeout=10, row_factory=dict_row) as conn:
            row = conn.execute(RUN_ROW_SQL, (run_id,)).fetchone()
    except psycopg.Error as exc:
        return "crawl_runs not read: " + scrub(" ".join(str(exc).split()), database_url)[:200]
    return row if row is not None else f"crawl_runs has no row for run {run_id}"


def previous_outcome(
    jobs: Mapping[str, Any],
    spider: str,
    read_log: Callable[[dict[str, Any]], str | None],
    database_url: str = "",
) -> tuple[bool, str] | None:
    """How the spider's last finished job in a Scrapyd listjobs answer ended: (failed, one
    line), or None when none has. ``read_log``: the end of a job's log, None if it has none."""
    job = last_finished(jobs, spider)
    if job is None:
        return None
    what = f"previous job {job.get('id')} (ended {job.get('end_time')})"
    log = read_log(job)
    if log is None:
        return False, f"{what}: outcome unknown, Scrapyd keeps no log of it (logs_dir)"
    outcome = last_outcome(log)
    if outcome is None:
        return True, (
            f"{what} died: its log ends without the outcome line (killed, or it crashed before "
            "it could write it; its stderr is in Scrapyd's own log)"
        )
    failed, line = _judge(outcome)
    if database_url and outcome.run_id:
        row = run_row(database_url, outcome.run_id)
        if isinstance(row, str):
            line += f"; {row}"
        else:
            if row["failed"] or row["status"] != "finished":
                failed = True
            line += f"; crawl_runs: {row['status']}"
            if row["failed"]:
                line += f", failed: {row['failure_reason']}"
    return failed, f"{what} {line}"


def _judge(outcome: Outcome) -> tuple[bool, str]:
    run = f"run {outcome.run_id}" if outcome.run_id else "no run"
    if outcome.passed:
        return False, f"passed ({run})"
    return True, f"failed with exit status {outcome.exit_status} ({run}): {outcome.reason}"
