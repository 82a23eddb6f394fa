"""The pure parts of incremental crawling and scheduling: arguments, the state file, URLs."""

from __future__ import annotations

import copy
import json

import pytest

from newsarchive.files import write_json_atomically
from newsarchive.incremental import CrawlState, RunChanges, StateError, state_path
from newsarchive.incremental.state import update_state_file
from newsarchive.schedule import EXIT_USAGE, ScheduleError, Target, _mask
from newsarchive.spiders.arguments import ConfigurationError, parse_full, parse_recheck_days
from newsarchive.spiders.naenara import NaenaraSpider


@pytest.mark.parametrize(
    ("text", "value"), [("1", True), ("true", True), ("0", False), (None, False)]
)
def test_full(text, value):
    assert parse_full(text) is value


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("3", 3), (" 30 ", 30), (None, None)])
def test_recheck_days(text, value):
    assert parse_recheck_days(text) == value


@pytest.mark.parametrize(
    "arguments",
    [{"recheck_days": "abc"}, {"recheck_days": "1.5"}, {"full": "2"}, {"ful": "1"}],
)
def test_bad_arguments_are_configuration_errors(arguments):
    with pytest.raises(ConfigurationError) as raised:
        NaenaraSpider.check_arguments(arguments)
    assert "\n" not in str(raised.value)


def test_scrapyd_job_arguments_are_accepted():
    NaenaraSpider.check_arguments({"_job": "abc", "_version": "r1", "full": "1"})


def test_state_path_names_spider_and_site(tmp_path):
    assert state_path(tmp_path, "naenara", "https://kcnawatch.org/newstream/1-2/x/") == (
        tmp_path / "state" / "naenara-kcnawatch.org.json"
    )
    assert state_path(tmp_path, "naenara", "http://127.0.0.1:8765/?s=").name == (
        "naenara-127.0.0.1_8765.json"
    )


def test_state_round_trip_and_atomic_write(tmp_path):
    path = tmp_path / "state" / "s.json"
    assert CrawlState.load(path) == CrawlState()
    state = CrawlState(
        articles={"Naenara (En)": {"1-2": {"url": "u", "published_date": "2025-01-02"}}}
    )
    write_json_atomically(path, state.to_json(spider="naenara"))
    assert CrawlState.load(path) == state
    assert [p.name for p in path.parent.iterdir()] == ["s.json"]  # no temporary file left
    path.write_text(json.dumps({"format": 99}))
    with pytest.raises(StateError, match="unreadable"):
        CrawlState.load(path)


def test_changes_merge_into_what_another_run_wrote():
    """A run's record is applied to the file as it is at the end, not as it was at the start."""
    theirs = CrawlState(
        articles={"Naenara (En)": {"1-1": {"url": "a"}}},
        not_articles={"3-3": {"reason": "paywall"}},
        retry={"2-2": {"url": "b", "attempts": 1}, "4-4": {"url": "d", "attempts": 2}},
    )
    ours = RunChanges(keep_articles=True)
    ours.archive("2-2", "Naenara (En)", "b", "2025-01-01")
    ours.gone["1-1"] = "2025-01-03T00:00:00+00:00"
    ours.not_articles["4-4"] = {"reason": "http_503 (after 3 runs)"}
    ours.apply(theirs)
    assert set(theirs.articles["Naenara (En)"]) == {"1-1", "2-2"}
    assert theirs.articles["Naenara (En)"]["1-1"]["gone_at"]
    assert theirs.retry == {}
    assert set(theirs.not_articles) == {"3-3", "4-4"}


def test_database_mode_keeps_no_articles_in_the_file():
    state = CrawlState(retry={"2-2": {"url": "b"}})
    changes = RunChanges(keep_articles=False)
    changes.archive("2-2", "Naenara (En)", "b", None)
    changes.apply(state)
    assert state.articles == {} and state.retry == {}


def test_schedule_target_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    target = Target.from_environment(environ={"SCRAPYD_URL": "http://u:p%40ss@host:6800"})
    assert target == Target("http://host:6800/", "u", "p@ss")
    env = {"SCRAPYD_URL": "https://h/scrapyd", "SCRAPYD_USERNAME": "a", "SCRAPYD_PASSWORD": "b"}
    assert Target.from_environment(environ=env) == Target("https://h/scrapyd/", "a", "b")
    assert Target.from_environment(environ={}) == Target("http://127.0.0.1:6800/")
    (tmp_path / ".netrc").write_text("machine 127.0.0.1 login n password m\n")
    (tmp_path / ".netrc").chmod(0o600)
    assert Target.from_environment(environ={}) == Target("http://127.0.0.1:6800/", "n", "m")
    with pytest.raises(ScheduleError) as raised:
        Target.from_environment(environ={"SCRAPYD_URL": "http://u:secret@h:99999/"})
    assert raised.value.code == EXIT_USAGE and "secret" not in str(raised.value)
    assert _mask("http://u:secret@h:1/") == "http://u:***@h:1/"


def test_the_streamed_state_file_is_what_a_whole_write_gives(tmp_path):
    """The end-of-run write streams the run's articles from their packed record: the bytes
    are those of the whole document written at once, gone_at and moved streams included."""
    path = tmp_path / "state" / "s.json"
    theirs = CrawlState(
        articles={
            "Naenara (En)": {"1-1": {"url": "a", "published_date": None}, "5-5": {"url": "e"}},
            "KCNA.kp (En)": {"6-6": {"url": "f", "published_date": "2025-01-06"}},
        },
        not_articles={"3-3": {"reason": "paywall"}},
        retry={"2-2": {"url": "b", "attempts": 1}, "7-7": {"url": "g", "attempts": 1}},
        walks={"http://x/": {"complete": True}},
    )
    write_json_atomically(path, theirs.to_json(spider="naenara"))
    ours = RunChanges(keep_articles=True)
    ours.archive("2-2", "Naenara (En)", "b", "2025-01-01")
    ours.archive("6-6", "Naenara (En)", "f2", "2025-01-06")  # moved to another stream
    ours.archive("8-8", "Rodong Sinmun (En)", "h/\u00e9", None)
    ours.archive("10-10", "Naenara (En)", "https://kcnawatch.org/newstream/10-10/s%e2/", None)
    ours.gone["1-1"] = "2025-01-03T00:00:00+00:00"
    ours.gone["8-8"] = "2025-01-04T00:00:00+00:00"  # archived, then gone, in this run
    ours.not_articles["9-9"] = {"reason": "http_503 (after 3 runs)"}
    extra = {"spider": "naenara", "run_id": "r", "updated_at": "t", "archive": "state_file"}

    def walk(state: CrawlState) -> None:
        state.walks["http://y/"] = {"complete": False}

    update_state_file(path, walk, ours, **extra)
    streamed = path.read_bytes()
    whole = copy.deepcopy(theirs)
    walk(whole)
    ours.apply(whole)
    write_json_atomically(path, whole.to_json(**extra))
    assert streamed == path.read_bytes()
    assert whole.articles["Rodong Sinmun (En)"]["8-8"]["gone_at"].startswith("2025-01-04")
    assert "6-6" not in whole.articles["KCNA.kp (En)"]
    assert list(path.parent.iterdir()) == [path]  # no temporary file left


def test_a_failed_state_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "state" / "s.json"
    write_json_atomically(path, CrawlState().to_json(spider="naenara"))
    before = path.read_bytes()
    ours = RunChanges(keep_articles=True)
    ours.archive("2-2", "Naenara (En)", "b", "2025-01-01")

    def broken_entry(article_id: str) -> dict:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ours, "entry", broken_entry)
    update_state_file(path, lambda state: None, ours)  # logs the error, keeps the old file
    assert path.read_bytes() == before
    assert list(path.parent.iterdir()) == [path]


@pytest.mark.parametrize(
    "url",
    [
        "https://kcnawatch.org/newstream/1713006283-531298405/talks-held/",
        "https://kcnawatch.org/newstream/1713006283-531298405/talks%e2%80%99held",
        "https://kcnawatch.org/newstream/1713006283-531298405/",
        "https://kcnawatch.org/?p=1713006283-531298405",
        "http://127.0.0.1:8080/a/1713006283-531298405/b/1713006283-531298405/c",
        None,
    ],
)
def test_the_run_record_gives_back_each_url_exactly(url):
    changes = RunChanges(keep_articles=True)
    changes.archive("1713006283-531298405", "Naenara (En)", url, "2024-04-13")
    changes.archive("1-1", "Naenara (En)", "https://kcnawatch.org/newstream/1-1/x/", None)
    assert changes.record("1713006283-531298405") == ("Naenara (En)", url, "2024-04-13")
    assert "https://kcnawatch.org/newstream" in changes.url_heads
    packed = changes.archived["1-1"]
    assert packed is not None and b"kcnawatch" not in packed  # one head for every article
