"""The one verdict of a Spidermon run of the suite: every check, computed once from stats.

The monitors and the actions of one suite run share Spidermon's ``data``; the verdict is
computed on first use and kept in ``data.meta``, so every monitor and action sees the same
stats (the ERROR lines the verdict causes must not change the ``error_rate`` it judged).
"""

from __future__ import annotations

from typing import Any

from newsarchive.monitor import Thresholds, Verdict, evaluate
from newsarchive.monitors.schema import schema_check

_KEY = "newsarchive_verdict"


def judge_stats(values: dict[str, Any], limits: Thresholds, finish_reason: str) -> Verdict:
    """The run monitor's checks plus the item-schema check; pure."""
    return Verdict((*evaluate(values, limits, finish_reason).checks, schema_check(values)))


def verdict_of(data: Any) -> Verdict:
    verdict = data.meta.get(_KEY)
    if verdict is None:
        stats = dict(data.stats)
        reason = data.get("finish_reason") or stats.get("finish_reason") or "unknown"
        limits = Thresholds.from_settings(data.crawler.settings)
        verdict = data.meta[_KEY] = judge_stats(stats, limits, reason)
    return verdict
