"""The stop policy: when a walk of the stream may stop, and whether it finished.

Listings show the newest first, so a page whose article links are all known ends the walk,
but only when the last walk from this start URL ended cleanly: after an interrupted one an
older gap may remain, and this run walks the whole stream (``resume``). ``full=1`` always
walks it all. The spider tells the policy what happened (the end was reached, a listing was
never read, pagination looped, the page cap was hit); a walk counts as complete only when its
end was reached, nothing was left unread, and the crawl finished.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

MODE_FULL = "full"
MODE_INCREMENTAL = "incremental"
MODE_RESUME = "resume"


@dataclass
class StopPolicy:
    """One run's stop rule and its account of the walk."""

    full: bool = False
    #: Whether the last walk from this start URL ended cleanly (None: there was none).
    last_walk_complete: bool | None = None
    #: Why parts of the stream were not read in this run ("listing failed: http_500", ...).
    gaps: list[str] = field(default_factory=list)
    reached_end: bool = False
    caught_up: bool = False

    @property
    def may_stop(self) -> bool:
        """Whether the walk may stop on a page with nothing new."""
        return not self.full and bool(self.last_walk_complete)

    @property
    def mode(self) -> str:
        if self.full:
            return MODE_FULL
        return MODE_INCREMENTAL if self.may_stop else MODE_RESUME

    def describe(self) -> str:
        """How this run walks, for the log line at start."""
        if self.mode == MODE_INCREMENTAL:
            return "stopping at the first listing page with nothing new"
        if self.mode == MODE_FULL:
            return "walking the whole stream (full=1)"
        if self.last_walk_complete is None:
            return "walking the whole stream: first run from this start URL"
        return "walking the whole stream: no earlier walk from this start URL ended cleanly"

    def note_gap(self, why: str) -> None:
        """Part of the stream was not read: the next run must walk it all again."""
        self.gaps.append(why)

    def note_end(self, caught_up: bool) -> None:
        """The walk reached its end: the stream's last page, or a page with nothing new."""
        self.reached_end = True
        self.caught_up = self.caught_up or caught_up

    def walk_complete(self, finish_reason: str) -> bool:
        """Whether this run's walk reached its end with every listing page read: only then
        may the next run stop early."""
        return finish_reason == "finished" and not self.gaps and self.reached_end
