"""The run monitor: checks on a finished run's stats that say whether its output makes sense.

Every number the checks need is already a stat (the spider and the middlewares count them),
so the checks are plain functions, a few lines each, unit-testable on a dict. ``evaluate`` is
pure; Spidermon runs it at the end of a run as one monitor per check
(newsarchive.monitors.suite), and the ``RunMonitor`` extension (newsarchive.extensions.monitor)
acts on the verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from scrapy.settings import BaseSettings

from newsarchive import stats as names
from newsarchive.config import default

#: Fields a research item cannot do without; each must be on NEWSARCHIVE_MIN_FIELD_COVERAGE.
COVERED_FIELDS = ("title", "body", "published_date", "source")

#: Anchors the spider reads pages by, as a reader would name them (newsarchive/site.py).
ARTICLE_ANCHORS = {
    "title": "the <h1> title",
    "meta_line": "the 'Date: … | Source: …' meta line",
    "date_line": "the 'Date:' label in the meta line",
    "body": "the article body",
    "original_link": "the 'Read original version at source' link",
}
LISTING_ANCHORS = {"more_articles": "the 'More Articles' link"}

#: Statuses that mean the site refuses the crawler.
BLOCKING_STATUSES = ("403", "429")


@dataclass(frozen=True)
class Thresholds:
    """The limits the checks apply; each is a setting, and its default is the registry's
    (newsarchive/config.py)."""

    min_items: int = default("NEWSARCHIVE_MIN_ITEMS")
    min_field_coverage: float = default("NEWSARCHIVE_MIN_FIELD_COVERAGE")
    max_error_rate: float = default("NEWSARCHIVE_MAX_ERROR_RATE")
    max_drop_rate: float = default("NEWSARCHIVE_MAX_DROP_RATE")
    max_blocked_rate: float = default("NEWSARCHIVE_MAX_BLOCKED_RATE")
    max_anchor_missing_rate: float = default("NEWSARCHIVE_MAX_ANCHOR_MISSING_RATE")

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> Thresholds:
        return cls(
            min_items=settings.getint("NEWSARCHIVE_MIN_ITEMS"),
            min_field_coverage=settings.getfloat("NEWSARCHIVE_MIN_FIELD_COVERAGE"),
            max_error_rate=settings.getfloat("NEWSARCHIVE_MAX_ERROR_RATE"),
            max_drop_rate=settings.getfloat("NEWSARCHIVE_MAX_DROP_RATE"),
            max_blocked_rate=settings.getfloat("NEWSARCHIVE_MAX_BLOCKED_RATE"),
            max_anchor_missing_rate=settings.getfloat("NEWSARCHIVE_MAX_ANCHOR_MISSING_RATE"),
        )


@dataclass(frozen=True)
class Check:
    """One check's outcome; ``message`` says what was seen, in one line."""

    name: str
    passed: bool
    message: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Verdict:
    checks: tuple[Check, ...]

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]

    @property
    def passed(self) -> bool:
        return not self.failed

    @property
    def reason(self) -> str | None:
        """The failed checks in one line (for crawl_runs.failure_reason), or None."""
        return "; ".join(f"{c.name}: {c.message}" for c in self.failed) or None

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "failed": [check.name for check in self.failed],
            "checks": [check.to_json() for check in self.checks],
        }


def _n(values: Mapping[str, Any], key: str) -> int:
    value = values.get(key, 0)
    return int(value) if isinstance(value, int | float) else 0


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "n/a"


def _describe(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(counts.items()))


def coverage(values: Mapping[str, Any]) -> dict[str, Any]:
    """``{"items": n, "fields": {field: share}}`` from the spider's item and null-field counts."""
    items = _n(values, names.ITEMS)
    return {
        "items": items,
        "fields": {
            field: round(_covered(values, field) / items, 4) if items else None
            for field in COVERED_FIELDS
        },
    }


def _covered(values: Mapping[str, Any], field: str) -> int:
    """Items that hold ``field``: every item the spider yielded but those it counted null."""
    return _n(values, names.ITEMS) - _n(values, names.null_field(field))


def evaluate(values: Mapping[str, Any], limits: Thresholds, finish_reason: str) -> Verdict:
    """Every check on a run's stats; pure, so it can be tested on a dict. A ``scrapy
    reextract`` run re-reads stored captures: the same checks by the same names, the walk's
    not applying (no listing is read) and ``min_items`` asking for captures instead."""
    finished = _finished(finish_reason)
    if values.get(names.REEXTRACT_RUN):
        not_walked = "not applicable: the run re-read stored captures, it did not walk the site"
        blocked, min_items = Check("blocked", True, not_walked), _captures(values)
        walk = [Check(name, True, not_walked) for name in WALK_CHECKS]
        if finished.passed and not _n(values, names.REEXTRACT_COMPLETE):
            finished = _job_unfinished(values)
    else:
        blocked, min_items = _blocked(values, limits), _min_items(values, limits)
        walk = [
            _article_links(values),
            _listings_have_links(values),
            _listings_fetched(values),
            _pagination(values),
        ]
    checks = [
        finished,
        blocked,
        min_items,
        *walk,
        _database(values),
        _capture(values),
        _coverage(values, limits),
        _error_rate(values, limits),
        _drop_rate(values, limits),
        _layout(values, limits),
    ]
    return Verdict(tuple(checks))


#: The checks after ``min_items`` that judge a walk of the site.
WALK_CHECKS = ("article_links", "listings_have_links", "listings_fetched", "pagination")


def _captures(values: Mapping[str, Any]) -> Check:
    """``min_items`` of a re-read: the selection must name captures (an empty one is a wrong
    selection, not "nothing changed")."""
    if _n(values, names.REEXTRACT_NO_CAPTURES):
        return Check("min_items", False, "no captures for this selection: nothing was re-read")
    items, done = _n(values, names.REEXTRACT_ITEMS), _n(values, names.REEXTRACT_RESUMED)
    return Check("min_items", True, f"{items} articles re-read from captures ({done} done before)")


def _job_unfinished(values: Mapping[str, Any]) -> Check:
    """``finished`` of a re-read whose engine stopped before start() had read every share:
    Scrapy says "finished", yet some captures were never re-extracted."""
    if _n(values, names.REEXTRACT_NO_CAPTURES):  # min_items says so; nothing was left unread
        return Check("finished", True, "the run finished")
    return Check(
        "finished",
        False,
        "the run stopped before every capture was re-read; its output is partial "
        "(run it again to resume)",
    )


def _finished(reason: str) -> Check:
    if reason == "finished":
        return Check("finished", True, "the run finished")
    return Check("finished", False, f"the run stopped early ({reason}); its output is partial")


def _blocked(values: Mapping[str, Any], limits: Thresholds) -> Check:
    blocked = {
        status: count
        for status, count in names.with_prefix(values, names.BLOCKED).items()
        if status in BLOCKING_STATUSES
    }
    total = sum(blocked.values())
    listing_blocked = sum(
        _n(values, names.listing_failed(f"http_{status}")) for status in BLOCKING_STATUSES
    )
    pages = _article_outcomes(values)
    rate = total / pages if pages else (1.0 if total else 0.0)
    if listing_blocked or rate > limits.max_blocked_rate:
        return Check(
            "blocked",
            False,
            f"BLOCKED: {total} requests still answered {_describe(blocked) or '403/429'} after "
            f"retries ({_pct(total, pages)} of article pages, {listing_blocked} listing pages): "
            "the site refuses the crawler; this is not 'no new articles'",
        )
    return Check("blocked", True, f"{total} requests blocked ({_pct(total, pages)})")


def _min_items(values: Mapping[str, Any], limits: Thresholds) -> Check:
    """At least NEWSARCHIVE_MIN_ITEMS articles, unless nothing was missing: an incremental
    run (one that stops at the first listing page with nothing new), a walk (``full=1``)
    whose listings named only articles archived before, or a JOBDIR job finished by an
    earlier run. Their floor is 0; the article_links check still fails a run whose listings
    showed no article at all, and an empty archive has nothing "archived before"."""
    items = _n(values, names.ITEMS)
    message = f"{items} articles archived (NEWSARCHIVE_MIN_ITEMS={limits.min_items}"
    why_zero = _nothing_missing(values)
    if why_zero:
        message += f"; {why_zero}: floor 0"
    return Check("min_items", items >= (0 if why_zero else limits.min_items), message + ")")


def _nothing_missing(values: Mapping[str, Any]) -> str | None:
    """Why this run may archive nothing and still be right, in words; None when it may not."""
    known = _n(values, names.KNOWN_SKIPPED)
    if _n(values, names.JOB_FINISHED_BEFORE):
        return "the job (JOBDIR) had nothing left: an earlier run finished it"
    if values.get(names.INCREMENTAL_MODE) == "incremental":
        return f"incremental run, {known} listed articles archived before"
    if known and not _n(values, names.NEW_LISTED):
        return f"every one of the {known} listed articles was archived before"
    return None


def _article_links(values: Mapping[str, Any]) -> Check:
    links, read = _n(values, names.ARTICLE_LINKS), _n(values, names.LISTINGS_READ)
    if links:
        return Check("article_links", True, f"{links} article links on {read} listings")
    if _n(values, names.JOB_FINISHED_BEFORE):
        return Check("article_links", True, "no listing read: the job (JOBDIR) was finished")
    return Check(
        "article_links",
        False,
        f"no article links at all on {read} listing pages: nothing was found, which is not "
        "the same as nothing new",
    )


def _listings_have_links(values: Mapping[str, Any]) -> Check:
    empty, read = _n(values, names.LISTINGS_WITHOUT_LINKS), _n(values, names.LISTINGS_READ)
    if empty:
        return Check(
            "listings_have_links", False, f"{empty} of {read} listing pages held no article links"
        )
    return Check("listings_have_links", True, f"all {read} listing pages held article links")


def _listings_fetched(values: Mapping[str, Any]) -> Check:
    """Listing pages that never came, or scripted listings that were not paged (no browser,
    a browser error, or ``-a render=never``: a user's choice, but the stream beyond them was
    still not read, so the run did not archive it)."""
    failed = dict(names.with_prefix(values, names.LISTING_FAILED))
    for reason, count in names.with_prefix(values, names.LISTING_NOT_FOLLOWED).items():
        failed[f"not_rendered_{reason}"] = count
    if failed:
        return Check(
            "listings_fetched",
            False,
            f"{sum(failed.values())} listing pages could not be fetched ({_describe(failed)}): "
            "the stream beyond them was not read",
        )
    return Check("listings_fetched", True, "every listing page was fetched")


def _pagination(values: Mapping[str, Any]) -> Check:
    loops = _n(values, names.LISTING_LOOPS)
    if _n(values, names.LISTING_CAP_REACHED):
        return Check(
            "pagination",
            False,
            f"stopped at NEWSARCHIVE_MAX_LISTING_PAGES ({_n(values, names.LISTING_PAGES)} listing "
            "pages): pagination never ended, or the stream is longer than the cap",
        )
    note = f" ({loops} loops back to earlier pages cut)" if loops else ""
    return Check("pagination", True, f"pagination ended{note}")


def _database(values: Mapping[str, Any]) -> Check:
    """Items the PostgreSQL archive never got: kept in the spill file or, refused for their
    data, in the rejected file (nothing is lost), but the archive does not hold them, so the
    run failed."""
    spilled = _n(values, names.DB_SPILLED)
    rejected = names.with_prefix(values, names.DB_REJECTED)
    if rejected:  # refused for their data: kept aside, but the archive does not hold them
        return Check(
            "database",
            False,
            f"{sum(rejected.values())} items were refused by PostgreSQL ({_describe(rejected)}) "
            "and are kept in <data>/rejected/: the archive does not hold them",
        )
    if not spilled:
        return Check("database", True, "every item reached the database (or none is configured)")
    return Check("database", False, spill_notice(spilled, values.get(names.DB_SPILL_FILE)))


def _capture(values: Mapping[str, Any]) -> Check:
    """The raw pages are the archive's evidence: a run whose WARC files are incomplete (a
    write failed, the recorder died) did not keep what it read. A failed WACZ packaging
    leaves the WARC files whole: a WARNING, not a failed run."""
    if _n(values, names.CAPTURE_FAILED):
        return Check(
            "capture",
            False,
            "the run's WARC files are incomplete (see the ERROR line): not every page it "
            "read is kept as evidence",
        )
    return Check("capture", True, "every response read was recorded (or capture is off)")


def spill_notice(spilled: int, spill_file: Any) -> str:
    """ "N items wait in the spill; the command that loads them", in one line."""
    where = str(spill_file) if spill_file else "<data>/spill/"
    return (
        f"{spilled} items never reached PostgreSQL and wait in the spill file {where}: "
        f"load them with `scrapy dbloadspill {where}`"
    )


def _coverage(values: Mapping[str, Any], limits: Thresholds) -> Check:
    report = coverage(values)
    items = report["items"]
    if not items:
        return Check("coverage", True, "no items to cover")
    low = {
        field: share
        for field, share in report["fields"].items()
        if share is not None and share < limits.min_field_coverage
    }
    if low:
        detail = ", ".join(
            f"{field} {100 * share:.1f}% ({_covered(values, field)} of {items})"
            for field, share in low.items()
        )
        return Check(
            "coverage",
            False,
            f"field coverage below {100 * limits.min_field_coverage:g}%: {detail}",
        )
    return Check(
        "coverage",
        True,
        f"{', '.join(COVERED_FIELDS)} on every item ({items})"
        if all(s == 1 for s in report["fields"].values())
        else f"{', '.join(COVERED_FIELDS)} above {100 * limits.min_field_coverage:g}%",
    )


def _error_rate(values: Mapping[str, Any], limits: Thresholds) -> Check:
    """ERROR lines other than retry give-ups (those pages are judged as drops, blocked or
    failed listings): exceptions in the spider, the pipelines, the extensions."""
    gave_up = _n(values, "retry/max_reached")
    errors = max(0, _n(values, "log_count/ERROR") - gave_up)
    requests = _n(values, "downloader/request_count")
    rate = errors / requests if requests else (1.0 if errors else 0.0)
    message = (
        f"{errors} ERROR lines for {requests} requests ({_pct(errors, requests)}; "
        f"{gave_up} retry give-ups counted as drops)"
    )
    if rate > limits.max_error_rate:
        return Check("error_rate", False, f"{message}, above {100 * limits.max_error_rate:g}%")
    return Check("error_rate", True, message)


def _drop_rate(values: Mapping[str, Any], limits: Thresholds) -> Check:
    drops = names.with_prefix(values, names.DROPS)
    dropped = sum(drops.values())
    pages = _article_outcomes(values)
    rate = dropped / pages if pages else 0.0
    message = f"{dropped} of {pages} articles gave no item ({_pct(dropped, pages)})"
    if rate > limits.max_drop_rate:
        return Check(
            "drop_rate",
            False,
            f"{message}, above {100 * limits.max_drop_rate:g}%: {_describe(drops)}",
        )
    return Check("drop_rate", True, message)


def _article_outcomes(values: Mapping[str, Any]) -> int:
    """Articles this run accounted for: archived, dropped, or listed and archived before
    (an incremental run skips those, and re-asks only about a few known failures)."""
    dropped = sum(names.with_prefix(values, names.DROPS).values())
    return _n(values, names.ITEMS) + dropped + _n(values, names.KNOWN_SKIPPED)


def _layout(values: Mapping[str, Any], limits: Thresholds) -> Check:
    """Layout drift: an anchor the spider reads pages by is missing on most pages."""
    missing = names.with_prefix(values, names.MISSING_ANCHOR)
    broken = []
    for anchors, pages, kind in (
        (ARTICLE_ANCHORS, _n(values, names.ARTICLE_PAGES), "article pages"),
        (LISTING_ANCHORS, _n(values, names.LISTINGS_READ), "listing pages"),
    ):
        for anchor, label in anchors.items():
            count = missing.get(anchor, 0)
            if pages and count / pages > limits.max_anchor_missing_rate:
                broken.append(
                    f"{label} (anchor {anchor}) not found on {count} of {pages} {kind}"
                    f" ({_pct(count, pages)})"
                )
    if broken:
        return Check(
            "layout",
            False,
            "LAYOUT DRIFT, the site's theme may have changed: "
            + "; ".join(broken)
            + " — update newsarchive/site.py",
        )
    return Check("layout", True, "every anchor found on most pages")
