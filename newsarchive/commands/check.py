"""``scrapy check`` as Scrapy ships it, run with TOOL_SETTINGS (no run records, no verdict)."""

from scrapy.commands.check import Command as ScrapyCheckCommand

from newsarchive.commands import tool_command

Command = tool_command(ScrapyCheckCommand, __name__)
