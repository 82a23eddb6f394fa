"""``scrapy view`` as Scrapy ships it, run with TOOL_SETTINGS (no run records, no verdict)."""

from scrapy.commands.view import Command as ScrapyViewCommand

from newsarchive.commands import tool_command

Command = tool_command(ScrapyViewCommand, __name__)
