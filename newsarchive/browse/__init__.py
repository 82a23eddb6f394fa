"""``scrapy browse``: Datasette over an SQLite snapshot of the archive, with the project's
metadata (``metadata``), plugin (``plugin``: article pages, word diffs, pictures) and
templates."""
