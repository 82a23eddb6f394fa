"""``scrapy bench`` as Scrapy ships it, run with TOOL_SETTINGS (no run records, no verdict)."""

from scrapy.commands.bench import Command as ScrapyBenchCommand

from newsarchive.commands import tool_command

Command = tool_command(ScrapyBenchCommand, __name__)
