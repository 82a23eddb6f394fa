"""Incremental crawls: what earlier runs archived, where a stream walk may stop, what to re-fetch.

The spider asks only a few questions ("is this article known?", "may the walk stop on this
page?", "what must be re-fetched?") and tells a few facts ("the walk reached its end", "this
part of the stream was not read"). The answers come from one of two sources of known
articles (``known``): PostgreSQL when ``NEWSARCHIVE_DATABASE_URL`` is set, else the state file
(``state``). They are read once when the run starts (asynchronously: the reactor never waits
on a disk or a socket) and written back once when it ends; whether the next run may stop
early is the stop policy's call (``policy``).

Known at run start means handled by an earlier run: archived, or listed but final and not an
article (404/410, paywall, no title, 403 after retries, ...), which must neither count as new
nor be fetched again on every run. A listing page whose article links are all known ends the
walk of the stream, since listings show the newest first; a page holding anything unknown is
always followed by the next one, so articles pushed down by new posts are never missed.
"""

from newsarchive.incremental.known import (
    DatabaseSource,
    KnownArticles,
    KnownSource,
    KnownUnavailable,
    RecheckTarget,
    StateFileSource,
)
from newsarchive.incremental.policy import StopPolicy
from newsarchive.incremental.run import Incremental, is_transient
from newsarchive.incremental.state import CrawlState, RunChanges, StateError, state_path

__all__ = [
    "CrawlState",
    "DatabaseSource",
    "Incremental",
    "KnownArticles",
    "KnownSource",
    "KnownUnavailable",
    "RecheckTarget",
    "RunChanges",
    "StateError",
    "StateFileSource",
    "StopPolicy",
    "is_transient",
    "state_path",
]
