"""``scrapy shell`` as Scrapy ships it, run with TOOL_SETTINGS (no run records, no verdict)."""

from scrapy.commands.shell import Command as ScrapyShellCommand

from newsarchive.commands import tool_command

Command = tool_command(ScrapyShellCommand, __name__)
