"""Scheduled crawls on a real Scrapyd, into a real PostgreSQL, against the offline replica.

One Scrapyd (deploy/scrapyd.conf, basic auth on, loopback, temporary folders) for the
module: ``scrapyd-deploy`` builds the egg from a copy of the project and uploads it; the
first job is scheduled with ``python -m newsarchive.schedule`` (fast settings passed as
``-d setting=…``), the second by running the command line of deploy/newsarchive.cron (the
production politeness settings). The database URL, data folder and start page reach the jobs
through Scrapyd's environment, as in production. Under ``CI=true`` a Scrapyd that cannot
start fails the tests instead of skipping them.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import psycopg
import pytest

from newsarchive_replica.server import ReplicaServer
from tests.conftest_postgres import migrate_url
from tests.scrapyd_server import (
    PROJECT,
    ROOT,
    ScrapydServer,
    ScrapydUnavailable,
    copy_project,
    deploy,
)
from tests.services import free_port

pytestmark = [pytest.mark.scrapyd, pytest.mark.postgres]

CRON_FILE = ROOT / "deploy" / "newsarchive.cron"
#: Loopback needs none of the live site's politeness; passed to the first job with -d.
FAST = {
    "DOWNLOAD_DELAY": "0",
    "AUTOTHROTTLE_ENABLED": "False",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "8",
    "RETRY_TIMES": "2",
    "NEWSARCHIVE_DB_BATCH_SECONDS": "0.5",
}
JOB_LINE = re.compile(r"scheduled newsarchive/naenara job (?P<job>[0-9a-f]+) on ")


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


class Stack:
    def __init__(self, site: ReplicaServer, scrapyd: ScrapydServer, db_url: str, root: Path):
        self.site, self.scrapyd, self.db_url, self.root = site, scrapyd, db_url, root
        self.deployed: subprocess.CompletedProcess[str] | None = None
        self.egg_names: list[str] = []

    def schedule(
        self, *args: str, credentials: bool = True, url: str | None = None, database: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """``python -m newsarchive.schedule`` as cron would run it (empty HOME, no netrc);
        ``database``: with NEWSARCHIVE_DATABASE_URL, so it reads crawl_runs too."""
        home = self.root / "empty-home"
        home.mkdir(exist_ok=True)
        env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "SCRAPYD_URL": url or self.scrapyd.url}
        if database:
            env["NEWSARCHIVE_DATABASE_URL"] = self.db_url
        if credentials:
            env.update(
                SCRAPYD_USERNAME=self.scrapyd.username, SCRAPYD_PASSWORD=self.scrapyd.password
            )
        return subprocess.run(
            [sys.executable, "-m", "newsarchive.schedule", *args],
            cwd=home, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip


@pytest.fixture(scope="module")
def stack(tmp_path_factory, postgres_server):
    root = tmp_path_factory.mktemp("scrapyd")
    db_url = postgres_server.create_database()
    migrate_url(db_url)
    with ReplicaServer(naenara_articles=60) as site:
        scrapyd = ScrapydServer(
            root,
            env={
                "NEWSARCHIVE_DATABASE_URL": db_url,
                "NEWSARCHIVE_DATA_DIR": str(root / "data"),
                "NEWSARCHIVE_NAENARA_START_URL": site.start_url("naenara", "listing"),
            },
        )
        try:
            scrapyd.start()
        except ScrapydUnavailable as exc:
            if _ci():
                pytest.fail(f"CI=true and Scrapyd could not be started: {exc}")
            pytest.skip(f"Scrapyd could not be started: {exc}")
        try:
            stack = Stack(site, scrapyd, db_url, root)
            scrapyd.write_netrc()  # scrapyd-deploy's credentials, as an operator sets them up
            env = {**scrapyd.environment, "SCRAPYD_URL": scrapyd.url}
            for name in ("SCRAPYD_USERNAME", "SCRAPYD_PASSWORD", "NEWSARCHIVE_DATABASE_URL"):
                env.pop(name)
            stack.deployed = deploy(copy_project(root / "project"), scrapyd, env)
            kept = re.search(r"Output dir not removed: (\S+)", stack.deployed.stderr)
            if kept:
                for egg in Path(kept[1]).glob("*.egg"):
                    stack.egg_names = zipfile.ZipFile(egg).namelist()
                shutil.rmtree(kept[1], ignore_errors=True)
            yield stack
        finally:
            scrapyd.stop()


def articles(db_url: str) -> set[str]:
    with psycopg.connect(db_url) as conn:
        return {row[0] for row in conn.execute("SELECT article_id FROM articles")}


def finished_job(stack: Stack, result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    match = JOB_LINE.search(result.stdout)
    assert match, result.stdout
    return stack.scrapyd.wait_for_job(match["job"])


def test_deploy_uploads_the_project_with_its_package_data(stack):
    assert stack.deployed is not None
    assert stack.deployed.returncode == 0, stack.deployed.stderr + stack.deployed.stdout
    assert '"status": "ok"' in stack.deployed.stdout
    assert "newsarchive/db/migrations/0001_initial.sql" in stack.egg_names
    assert not [name for name in stack.egg_names if name.startswith("tests/")]
    spiders = stack.scrapyd.api("listspiders.json", {"project": PROJECT})["spiders"]
    assert "naenara" in spiders


def test_unauthenticated_calls_are_refused(stack):
    assert stack.scrapyd.status_without_auth("schedule.json") == 401
    result = stack.schedule("naenara", credentials=False)
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert "401" in line and "refused" in line
    jobs = stack.scrapyd.api("listjobs.json", {"project": PROJECT})
    assert not jobs["pending"] and not jobs["running"] and not jobs["finished"]


def test_scheduled_runs_archive_everything_then_only_what_is_new(stack):
    site, scrapyd = stack.site, stack.scrapyd
    expected = {item["article_id"] for item in site.expected("naenara")}
    settings = [arg for name, value in FAST.items() for arg in ("-s", f"{name}={value}")]

    first = stack.schedule("naenara", *settings)
    # A second call while the job is pending or running schedules nothing.
    again = stack.schedule("naenara", *settings)
    assert again.returncode == 0, again.stderr
    assert re.search(
        r"skipped: newsarchive/naenara job \w+ is still (pending|running)", again.stdout
    )
    job = finished_job(stack, first)
    log = scrapyd.job_log(job["id"])
    assert "Spider closed (finished)" in log, log[-3000:]
    # raw capture runs in a job too: its recorder process imports the project's egg
    assert "Recorder process: " in log and "WACZ: " in log, log[-3000:]
    assert articles(stack.db_url) == expected
    jobs = scrapyd.api("listjobs.json", {"project": PROJECT})
    assert [j["id"] for j in jobs["finished"]] == [job["id"]]

    # The second run comes from the cron line, with production politeness, and finds nothing.
    site.reset_log()
    result = run_cron_line(stack)
    job = finished_job(stack, result)
    log = scrapyd.job_log(job["id"])
    assert "Spider closed (finished)" in log and "Caught up at" in log, log[-3000:]
    requests = site.requests
    print(f"second scheduled run: {len(requests)} requests")
    assert len(requests) <= 3, requests
    assert articles(stack.db_url) == expected
    with psycopg.connect(stack.db_url) as conn:
        runs = conn.execute("SELECT status, item_count FROM crawl_runs ORDER BY started_at")
        assert runs.fetchall() == [("finished", len(expected)), ("finished", 0)]


def run_cron_line(stack: Stack) -> subprocess.CompletedProcess[str]:
    """The first active line of deploy/newsarchive.cron, its paths pointed at this test."""
    lines = [
        line
        for line in CRON_FILE.read_text().splitlines()
        if line.strip() and not line.startswith("#") and "=" not in line.split()[0]
    ]
    fields = lines[0].split(None, 6)
    assert len(fields) == 7 and fields[5] == "newsarchive", "m h dom mon dow user command"
    command = fields[6]
    env_file = stack.root / "scrapyd.env"
    env_file.write_text(
        f"SCRAPYD_URL={stack.scrapyd.url}\n"
        f"SCRAPYD_USERNAME={stack.scrapyd.username}\n"
        f"SCRAPYD_PASSWORD={shlex.quote(stack.scrapyd.password)}\n"
    )
    log = stack.root / "schedule.log"
    command = (
        command.replace("/etc/newsarchive/scrapyd.env", str(env_file))
        .replace("/opt/newsarchive/.venv/bin/python", sys.executable)
        .replace("/var/log/newsarchive/schedule.log", str(log))
    )
    home = stack.root / "empty-home"
    home.mkdir(exist_ok=True)
    result = subprocess.run(
        ["/bin/sh", "-c", command], cwd=home, env={"PATH": "/usr/bin:/bin", "HOME": str(home)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    output = log.read_text()
    return subprocess.CompletedProcess(result.args, result.returncode, output, output)


@pytest.mark.parametrize(
    ("args", "url", "code", "message"),
    [
        (("--project", "nope", "naenara"), None, 1, "project 'nope' not found"),
        (("nosuchspider",), None, 1, "spider 'nosuchspider' not found"),
        (("naenara",), "unreachable", 3, "is unreachable"),
        (("naenara",), "ftp://x/", 2, "not an absolute http(s) URL"),
    ],
)
def test_schedule_refusals_are_one_line(stack, args, url, code, message):
    if url == "unreachable":
        url = f"http://127.0.0.1:{free_port()}/"
    result = stack.schedule(*args, url=url)
    assert result.returncode == code, result.stdout + result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("newsarchive-schedule: error: ") and message in line
    assert stack.scrapyd.password not in line


def test_wrong_password_is_refused(stack):
    home = stack.root / "empty-home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "SCRAPYD_URL": stack.scrapyd.url.replace("http://", "http://scheduler:wrong@"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "newsarchive.schedule", "naenara"],
        cwd=home, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert "401" in line and "wrong" not in line


def test_a_scheduled_job_with_a_bad_setting_dies_in_one_line(stack):
    """Scrapyd's runner runs the project's own `scrapy crawl`, so the job refuses a bad value
    before its first request: one line on its stderr (Scrapyd's log), exit status 2."""
    result = stack.schedule("naenara", "-s", "NEWSARCHIVE_MIN_ITEMS=x")
    job = finished_job(stack, result)
    log = stack.scrapyd.logfile.read_text(errors="replace")
    died = re.search(rf"Process died: exitstatus=(\d+) .*job='{job['id']}' pid=(\d+)", log)
    assert died and died[1] == "2", log[-3000:]
    stderr = [line for line in log.splitlines() if f"Launcher,{died[2]}/stderr" in line]
    assert len(stderr) == 1, log[-3000:]
    assert "scrapy crawl: error: -s NEWSARCHIVE_MIN_ITEMS='x' is not a whole number" in stderr[0]
    assert "Traceback" not in log[log.index(f"job='{job['id']}'") :]  # nothing since it began


# --- arguments checked before scheduling; the previous job's outcome -------------------------
# These run after the bad-setting job above, in this order: each reads the job before it.


def jobs_now(stack: Stack) -> dict[str, list[str]]:
    jobs = stack.scrapyd.api("listjobs.json", {"project": PROJECT})
    return {
        state: [job["id"] for job in jobs[state]] for state in ("pending", "running", "finished")
    }


def scheduled_job(result: subprocess.CompletedProcess[str]) -> str:
    match = JOB_LINE.search(result.stdout)
    assert match, result.stdout + result.stderr
    return match["job"]


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        (
            "bogus=1",
            "unknown spider argument(s) bogus; known: full, recheck_days, render, start_url",
        ),
        ("recheck_days=soon", "recheck_days='soon' is not a whole number"),
        ("start_url=ftp://x/", "is not an absolute http(s) URL"),
    ],
)
def test_bad_spider_arguments_are_refused_before_scheduling(stack, argument, message):
    before = jobs_now(stack)
    result = stack.schedule("naenara", "-a", argument)
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("newsarchive-schedule: error: newsarchive/naenara: "), line
    assert message in line and line.endswith("nothing scheduled"), line
    assert result.stdout == ""
    assert jobs_now(stack) == before  # no job was made, so none died


def test_the_previous_jobs_outcome_is_reported_and_a_failure_exits_4(stack):
    scrapyd = stack.scrapyd
    fast = [arg for name, value in FAST.items() for arg in ("-s", f"{name}={value}")]
    died_of_setting = scrapyd.api("listjobs.json", {"project": PROJECT})["finished"][0]["id"]

    # 1. The job before (the bad -s of the test above) exited 2 at once: said, exit 4; the
    #    new job is scheduled all the same (the archive goes on). It walks the whole stream
    #    and fails its monitor on purpose: a cap of one listing page (the pagination check;
    #    a full walk of a complete archive is itself a success).
    failing = stack.schedule(
        "naenara", *fast, "-a", "full=1", "-s", "NEWSARCHIVE_MAX_LISTING_PAGES=1", database=True
    )
    assert failing.returncode == 4, failing.stdout + failing.stderr
    (line,) = failing.stderr.splitlines()
    assert f"previous job {died_of_setting} " in line and "failed with exit status 2" in line
    assert "-s NEWSARCHIVE_MIN_ITEMS='x' is not a whole number" in line, line
    failing_job = scheduled_job(failing)
    scrapyd.wait_for_job(failing_job)

    # 2. That one ran to the end and failed a check: its outcome and its crawl_runs row say so.
    plain = stack.schedule("naenara", *fast, database=True)
    assert plain.returncode == 4, plain.stdout + plain.stderr
    (line,) = plain.stderr.splitlines()
    assert f"previous job {failing_job} " in line and "failed with exit status 1" in line, line
    assert "monitor checks failed: pagination" in line, line
    assert "crawl_runs: finished, failed: " in line and "pagination" in line.split("crawl_runs")[1]
    with psycopg.connect(stack.db_url) as conn:
        (failed,) = conn.execute(
            "SELECT failed FROM crawl_runs ORDER BY started_at DESC LIMIT 1"
        ).fetchone()
    assert failed is True
    scrapyd.wait_for_job(scheduled_job(plain))

    # 3. A run with nothing new passed: exit 0, one line saying so.
    passed_job = scrapyd.api("listjobs.json", {"project": PROJECT})["finished"][0]["id"]
    slow = stack.schedule("naenara", "-a", "full=1", database=True)  # production politeness
    assert slow.returncode == 0, slow.stdout + slow.stderr
    assert re.search(rf"previous job {passed_job} \(ended [^)]+\) passed \(run \w", slow.stdout)
    assert "crawl_runs: finished" in slow.stdout and slow.stderr == ""

    # 4. That slow job is killed (kill -9) while it runs: the next call says it died.
    slow_job = scheduled_job(slow)
    pid = wait_until_running(stack, slow_job)
    os.kill(pid, 9)
    scrapyd.wait_for_job(slow_job)
    after_kill = stack.schedule("naenara", *fast, database=True)
    assert after_kill.returncode == 4, after_kill.stdout + after_kill.stderr
    (line,) = after_kill.stderr.splitlines()
    assert f"previous job {slow_job} " in line and " died: " in line, line
    scrapyd.wait_for_job(scheduled_job(after_kill))


def wait_until_running(stack: Stack, jobid: str, timeout: float = 60) -> int:
    """The pid of a running job, once its log shows the crawl has begun."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = stack.scrapyd.api("listjobs.json", {"project": PROJECT})
        for job in jobs["running"]:
            if job["id"] == jobid and "Spider opened" in stack.scrapyd.job_log(jobid):
                return int(job["pid"])
        time.sleep(0.2)
    raise TimeoutError(f"job {jobid} did not start: {stack.scrapyd.job_log(jobid)[-2000:]}")
