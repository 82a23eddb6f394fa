"""The settings registry (newsarchive/config.py): one declaration per setting, the README's
table printed from it, values checked once before a crawl starts (one line, exit 2), and the
safe defaults (no remote-control endpoint)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from scrapy.settings import Settings
from scrapy.utils.project import get_project_settings

from newsarchive import config
from newsarchive_replica.server import ReplicaServer
from tests.crawling import ROOT, SCRAPY, crawl
from tests.services import free_port

README = ROOT / "README.md"


def test_readme_table_is_the_registry():
    readme = config.table_in(README.read_text(encoding="utf-8"))
    assert readme == config.readme_table(), config.README_BEGIN


def test_every_setting_the_code_reads_is_declared_once():
    declared = [setting.name for setting in config.SETTINGS]
    assert len(declared) == len(set(declared))
    used = set()
    for path in (ROOT / "newsarchive").rglob("*.py"):
        used |= set(re.findall(r'"(NEWSARCHIVE_[A-Z0-9_]+)"', path.read_text(encoding="utf-8")))
    assert used - set(declared) == set()


#: Files whose owners are still dropping their in-code fallbacks (issue 10); empty it then.
FALLBACK_READ = re.compile(r'\.get\w*\(\s*"NEWSARCHIVE_[A-Z0-9_]+"\s*,')


def test_settings_are_read_with_no_fallback_of_their_own():
    with_fallbacks = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "newsarchive").rglob("*.py")
        if FALLBACK_READ.search(path.read_text(encoding="utf-8"))
    }
    assert not with_fallbacks, "read the registry's default: no fallback"
    assert FALLBACK_READ.search('settings.getint(\n    "NEWSARCHIVE_X", 5)')  # the probe bites


def test_project_settings_take_the_registry_and_the_environment(monkeypatch):
    for setting in config.SETTINGS:
        monkeypatch.delenv(setting.name, raising=False)
    settings = get_project_settings()
    for setting in config.SETTINGS:
        assert settings.get(setting.name) == setting.default, setting.name
    assert settings.getbool("REMOTE_CONTROL_ENABLED") is False
    values = config.module_values({"NEWSARCHIVE_MIN_ITEMS": "7"})
    assert values["NEWSARCHIVE_MIN_ITEMS"] == "7" and values["NEWSARCHIVE_DB_WRITERS"] == 2


def _settings(**cmdline: str) -> Settings:
    settings = Settings(config.defaults())
    settings.setdict(cmdline, priority="cmdline")
    return settings


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"NEWSARCHIVE_MIN_ITEMS": "x"}, "-s NEWSARCHIVE_MIN_ITEMS='x' is not a whole number"),
        ({"NEWSARCHIVE_WARC_ENABLED": "maybe"}, "NEWSARCHIVE_WARC_ENABLED='maybe' is not a bool"),
        ({"NEWSARCHIVE_MIN_FIELD_COVERAGE": "1.5"}, "COVERAGE='1.5' is above 1"),
        ({"NEWSARCHIVE_RETRY_BACKOFF_MAX": "-1"}, "is below 0"),
        ({"RETRY_TIMES": "x"}, "-s RETRY_TIMES='x' is not a whole number"),
        ({"RETRY_HTTP_CODES": "500,oops"}, "RETRY_HTTP_CODES"),
        ({"LOG_LEVEL": "LOUD"}, "is not one of CRITICAL"),
        ({"NEWSARCHIVE_MIN_ITEM": "1"}, "-s NEWSARCHIVE_MIN_ITEM: no such setting"),
    ],
)  # fmt: skip
def test_bad_values_are_refused_in_one_line(given, message):
    with pytest.raises(config.SettingError) as refused:
        config.validate(_settings(**given), environ={})
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_good_values_and_the_defaults_pass():
    config.validate(get_project_settings(), environ={})
    config.validate(_settings(NEWSARCHIVE_MIN_ITEMS="0", RETRY_TIMES="2"), environ={})


def test_a_secret_is_never_echoed():
    settings = _settings()
    settings.set("NEWSARCHIVE_DATABASE_URL", 5, priority="cmdline")
    settings.set("NEWSARCHIVE_MIN_ITEMS", "x", priority="project")
    with pytest.raises(config.SettingError) as refused:
        config.validate(settings, environ={"NEWSARCHIVE_MIN_ITEMS": "x"})
    assert (
        str(refused.value) == "environment variable NEWSARCHIVE_MIN_ITEMS='x' is not a whole number"
    )


# --- as a user meets them: `scrapy crawl` in a subprocess, before any request -----------------


def _crawl(tmp_path: Path, *settings: str, env: dict[str, str] | None = None):
    # Nothing listens on this port: a check that let the crawl start would show in the log.
    start_url = f"http://127.0.0.1:{free_port()}/newstream/"
    command = [*SCRAPY, "crawl", "naenara", "-a", f"start_url={start_url}"]
    for setting in (
        "NEWSARCHIVE_RETRY_BACKOFF_MAX=0",
        f"NEWSARCHIVE_DATA_DIR={tmp_path}",
        *settings,
    ):
        command += ["-s", setting]
    process_env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSARCHIVE_")}
    process_env.update(env or {})
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=120, env=process_env
    )  # fmt: skip


@pytest.mark.parametrize(
    ("settings", "env", "named"),
    [
        (["NEWSARCHIVE_MIN_ITEMS=x"], {}, "-s NEWSARCHIVE_MIN_ITEMS"),
        ([], {"NEWSARCHIVE_WARC_ENABLED": "maybe"}, "environment variable NEWSARCHIVE_WARC"),
        (["NEWSARCHIVE_MIN_FIELD_COVERAGE=1.5"], {}, "NEWSARCHIVE_MIN_FIELD_COVERAGE"),
        (["RETRY_TIMES=x"], {}, "RETRY_TIMES"),
        ([], {"NEWSARCHIVE_PROGRESS_INTERVAL": "soon"}, "NEWSARCHIVE_PROGRESS_INTERVAL"),
    ],
)  # fmt: skip
def test_scrapy_crawl_refuses_a_bad_value_in_one_line(tmp_path, settings, env, named):
    finished = _crawl(tmp_path, *settings, env=env)
    assert finished.returncode == 2, finished.stderr
    assert "Traceback" not in finished.stderr
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scrapy crawl: error: "), lines
    assert named in lines[0]
    assert not (tmp_path / "runs").exists()  # no run started


def test_scrapy_crawl_refuses_a_data_folder_that_takes_no_files(tmp_path):
    not_a_folder = tmp_path / "data"
    not_a_folder.write_text("a file, not a folder\n", encoding="utf-8")
    finished = _crawl(tmp_path, f"NEWSARCHIVE_DATA_DIR={not_a_folder}")
    assert finished.returncode == 2, finished.stderr
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in finished.stderr, lines
    assert f"data folder {not_a_folder} (NEWSARCHIVE_DATA_DIR) is not writable" in lines[0]
    beneath = tmp_path / "data" / "deeper"  # below a file: cannot be made either
    finished = _crawl(tmp_path, f"NEWSARCHIVE_DATA_DIR={beneath}")
    assert finished.returncode == 2 and len(finished.stderr.strip().splitlines()) == 1


# --- safe defaults -----------------------------------------------------------------------------


def test_a_default_crawl_opens_no_remote_control_endpoint(tmp_path):
    """Scrapy 2.19's RemoteControl would listen on loopback with an /execute endpoint; the
    project turns it off. The control run shows the test would see it if it were on."""
    jobs = tmp_path / "jobs"
    with ReplicaServer(naenara_articles=0, kcna_articles=3) as site:
        start = f"start_url={site.start_url('kcna')}"
        default = crawl(tmp_path / "a", start, settings={"REMOTE_CONTROL_JOBS_DIR": str(jobs)})
        enabled = crawl(
            tmp_path / "b",
            start,
            settings={"REMOTE_CONTROL_JOBS_DIR": str(jobs), "REMOTE_CONTROL_ENABLED": "True"},
        )
    assert default.items and enabled.items, default.log[-3000:]  # both crawls ran
    assert "RemoteControl" not in default.log
    assert "Remote control HTTP server listening" not in default.log
    assert "Remote control HTTP server listening" in enabled.log


def test_the_contact_url_given_with_s_reaches_the_user_agent(tmp_path):
    """The user agent is built when the settings load; `-s NEWSARCHIVE_CONTACT_URL` (a Scrapyd
    job's `-d setting=…`) must still name the operator to the site."""
    with ReplicaServer(naenara_articles=0, kcna_articles=2) as site:
        result = crawl(
            tmp_path,
            f"start_url={site.start_url('kcna')}",
            settings={"NEWSARCHIVE_CONTACT_URL": "https://operator.example/contact"},
        )
        agents = {request["user_agent"] for request in site.requests}
    assert result.items, result.log[-3000:]
    assert agents == {"newsarchive/0.1 (research archive; +https://operator.example/contact)"}
