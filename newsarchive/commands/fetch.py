"""``scrapy fetch`` as Scrapy ships it, run with TOOL_SETTINGS (no run records, no verdict)."""

from scrapy.commands.fetch import Command as ScrapyFetchCommand

from newsarchive.commands import tool_command

Command = tool_command(ScrapyFetchCommand, __name__)
