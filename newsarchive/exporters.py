"""The run feeds' CSV exporter: Scrapy's, with formula cells made inert (newsarchive.csv_cells)."""

from __future__ import annotations

from typing import IO, Any, Self

from scrapy.crawler import Crawler
from scrapy.exporters import CsvItemExporter

from newsarchive.csv_cells import escape_formula


class FormulaSafeCsvItemExporter(CsvItemExporter):
    """CsvItemExporter whose text cells never start as a spreadsheet formula, unless
    NEWSARCHIVE_CSV_ESCAPE_FORMULAS is off."""

    def __init__(self, file: IO[bytes], *args: Any, escape_formulas: bool, **kwargs: Any) -> None:
        super().__init__(file, *args, **kwargs)
        self.escape_formulas = escape_formulas

    @classmethod
    def from_crawler(cls, crawler: Crawler, file: IO[bytes], *args: Any, **kwargs: Any) -> Self:
        escape = crawler.settings.getbool("NEWSARCHIVE_CSV_ESCAPE_FORMULAS")
        return cls(file, *args, escape_formulas=escape, **kwargs)

    def serialize_field(self, field: Any, name: str, value: Any) -> Any:
        value = super().serialize_field(field, name, value)
        if self.escape_formulas and isinstance(value, str):
            return escape_formula(value)
        return value
