"""CSV cells a spreadsheet would run as formulas, made inert: the one rule for every CSV.

Excel, LibreOffice and Google Sheets read a cell that starts with ``=``, ``+``, ``-`` or ``@``
(and, per OWASP's CSV-injection advice, a tab or carriage return) as a formula, so a title
such as ``=HYPERLINK("http://…")`` from the site would run when a researcher opens the feed.
Such a cell gets a leading ``'``, which spreadsheets show as "text follows" and hide. A cell
that already starts with ``'`` gets one too, so the escape is exactly reversible: strip one
leading ``'`` from every cell that has one (``unescape_formula``). JSON Lines and Parquet are
never changed. Off with NEWSARCHIVE_CSV_ESCAPE_FORMULAS=false (docs/DATA.md).
"""

from __future__ import annotations

#: What makes a spreadsheet read a cell as a formula, and the escape mark itself.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


def escape_formula(cell: str) -> str:
    """``cell`` with a leading ``'`` if a spreadsheet would read it as a formula."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def unescape_formula(cell: str) -> str:
    """The cell as the archive holds it, from an escaped CSV cell."""
    return cell[1:] if cell.startswith("'") else cell
