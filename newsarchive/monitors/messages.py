"""What an alert says: pure functions from a verdict or a list of changes to one message."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from newsarchive.monitor import Verdict
from newsarchive.signals import ArticleChange


@dataclass(frozen=True)
class Message:
    """One message for every channel: an email subject and body, a chat post's text."""

    subject: str
    text: str

    def webhook_json(self) -> dict[str, str]:
        """Slack (``text``) and Discord (``content``) both read their own key and ignore the
        other; Discord caps ``content`` at 2,000 characters."""
        post = f"*{self.subject}*\n{self.text}"
        return {"text": post, "content": post[:2000]}


def run_label(spider: str, run_id: str | None) -> str:
    return f"{spider} run {run_id or '(no run id)'}"


def failure_message(spider: str, run_id: str | None, verdict: Verdict) -> Message:
    """A failed run: which checks failed and what each saw, one line each."""
    failed = verdict.failed
    lines = [f"{run_label(spider, run_id)} FAILED {len(failed)} of {len(verdict.checks)} checks:"]
    lines += [f"- {check.name}: {check.message}" for check in failed]
    lines.append("The run summary (data/runs/) and crawl_runs.failure_reason say the same.")
    return Message(
        subject=f"[newsarchive] {spider} {run_id} FAILED: "
        + ", ".join(check.name for check in failed),
        text="\n".join(lines),
    )


def digest_message(
    spider: str, run_id: str | None, changes: Sequence[ArticleChange]
) -> Message | None:
    """The run's edits and deletions, one line each; None when the run changed nothing."""
    if not changes:
        return None
    edited = sum(change.change == "edited" for change in changes)
    deleted = len(changes) - edited
    lines = [f"{run_label(spider, run_id)}: {edited} edited, {deleted} deleted"]
    for change in sorted(changes, key=lambda c: (c.change, c.article_id)):
        title = change.title or "(title not in this run)"
        lines.append(f"- {change.change}: {change.article_id} {title} {change.url or ''}".rstrip())
    return Message(
        subject=f"[newsarchive] {spider} {run_id}: {edited} edited, {deleted} deleted",
        text="\n".join(lines),
    )
