"""The project's commands (COMMANDS_MODULE): ``crawl`` with one-line errors and an honest exit
status, the database commands, and Scrapy's own tools (``parse``, ``fetch``, ``shell``,
``bench``, ``check``, ``view``) as Scrapy ships them, run with TOOL_SETTINGS.

Why the tools are subclassed at all: each of them runs a crawler with the project's
extensions and pipelines, which would otherwise take a look at one page for an archive run
(a feed folder, a run summary, a ``crawl_runs`` row, a failed verdict).
"""

from __future__ import annotations

import argparse
from typing import Any

from scrapy.commands import ScrapyCommand
from scrapy.settings import SETTINGS_PRIORITIES

#: What Scrapy's own tools run with: they read pages, they do not archive them.
TOOL_SETTINGS: dict[str, Any] = {
    "NEWSARCHIVE_TOOL_RUN": True,
    # No verdict either: one page is not a run (nor an alert, nor a crawl_runs.failed).
    "NEWSARCHIVE_MONITOR_ENABLED": False,
    # A page or two, read in the tool's own thread: no worker process to start for them, and
    # `scrapy check` runs its contracts on the plain callbacks.
    "NEWSARCHIVE_EXTRACTION_WORKERS": 0,
}
TOOL_PRIORITY = (SETTINGS_PRIORITIES["spider"] + SETTINGS_PRIORITIES["cmdline"]) // 2


def tool_command(scrapy_command: type[ScrapyCommand], module: str) -> type[ScrapyCommand]:
    """Scrapy's ``scrapy_command`` with TOOL_SETTINGS, as the command class of ``module``
    (Scrapy takes a module's command class only if it is defined there)."""

    def process_options(self: ScrapyCommand, args: list[str], opts: argparse.Namespace) -> None:
        scrapy_command.process_options(self, args, opts)
        assert self.settings is not None
        # A command's default_settings rank below the project's: set these above it (and the
        # spider's), below the command line, as Scrapy's own `check` does for FEEDS.
        self.settings.setdict(TOOL_SETTINGS, priority=TOOL_PRIORITY)

    return type(
        "Command",
        (scrapy_command,),
        {
            "__module__": module,
            "__doc__": scrapy_command.__doc__,
            "process_options": process_options,
        },
    )
