"""The archive's errors as a user meets them: one line naming the server, never the password.

Why one home: the crawl's pipeline, the incremental loader, the run monitor and the database
commands all report the same driver errors; they word them here, with one set of rules. No
driver import: a feeds-only crawl loads this module without loading psycopg.
"""

from __future__ import annotations

import re

from newsarchive.db.urls import describe_target, scrub

#: The longest driver error text a line carries (some errors quote a whole query).
MAX_ERROR_CHARS = 300

#: What libpq puts before the reason; the line names the server itself, once.
_SERVER_PREFIX = re.compile(
    r'^connection failed:\s*|connection to server (at|on) "[^"]*"(, port \d+)? failed:\s*'
)


#: How a line about a failed connect begins (``error_line(CANNOT_CONNECT, url, exc)``).
CANNOT_CONNECT = "cannot connect to PostgreSQL"


class ArchiveUnavailable(RuntimeError):
    """The archive cannot be used; ``str()`` is one line naming the server, never the password."""


class DatabaseUnreachable(ArchiveUnavailable):
    pass


class SchemaOutOfDate(ArchiveUnavailable):
    pass


def one_line_error(exc: BaseException | None, url: str) -> str:
    """A driver error as one line of at most ``MAX_ERROR_CHARS``, without the password or the
    server address the caller already names."""
    if exc is None:
        return "unknown error"
    text = " ".join(str(exc).split())
    text = _SERVER_PREFIX.sub("", text).replace("FATAL: ", "").strip()
    return scrub(text or type(exc).__name__, url)[:MAX_ERROR_CHARS]


def error_line(doing: str, url: str, exc: BaseException | None) -> str:
    """``"<doing> at <host:port/db as user>: <reason>"``, e.g. ``cannot connect to PostgreSQL
    at db:5432/newsarchive as archivist: password authentication failed …``."""
    return f"{doing} at {describe_target(url)}: {one_line_error(exc, url)}"
