"""``scrapy parse`` as Scrapy ships it, run with TOOL_SETTINGS (no run records, no verdict)."""

from scrapy.commands.parse import Command as ScrapyParseCommand

from newsarchive.commands import tool_command

Command = tool_command(ScrapyParseCommand, __name__)
