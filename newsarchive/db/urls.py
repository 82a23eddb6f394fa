"""Database URLs in logs and error lines: name the server, never the password."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

MASK = "***"
_KEYWORD_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
#: ``user:password@`` in text that is no URL, e.g. the typo ``postgresql//user:pw@host/db``.
_USERINFO_PASSWORD = re.compile(r"([^\s/:@=']+):([^\s@]+)@")


class InvalidDatabaseURL(ValueError):
    """NEWSARCHIVE_DATABASE_URL cannot be parsed as a libpq URL or keyword/value string."""


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***``: URL form (``user:pw@``, ``?password=``)
    and keyword/value form (``password=pw``) alike."""
    if "://" not in url:
        masked = _KEYWORD_PASSWORD.sub(lambda m: m.group(1) + MASK, url)
        return _USERINFO_PASSWORD.sub(lambda m: f"{m.group(1)}:{MASK}@", masked)
    parts = urlsplit(url)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    netloc = parts.netloc
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:{MASK}@{hosts}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(key == "password" for key, _ in pairs):
            query = urlencode(
                [(key, MASK if key == "password" else value) for key, value in pairs], safe="*"
            )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def secrets_of(url: str) -> list[str]:
    """Every spelling of the password in ``url`` (raw and decoded), longest first."""
    from psycopg import Error
    from psycopg.conninfo import conninfo_to_dict

    found: set[str] = set()
    try:
        password = conninfo_to_dict(url).get("password")
    except Error:
        password = None
    if password:
        found.add(str(password))
    if "://" in url:
        userinfo = urlsplit(url).netloc.rpartition("@")[0]
        if ":" in userinfo:
            raw = userinfo.split(":", 1)[1]
            found.update({raw, unquote(raw)})
        for key, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
            if key == "password":
                found.add(value)
    else:
        for match in _KEYWORD_PASSWORD.finditer(url):
            found.add(match.group(2).strip("'"))
        for match in _USERINFO_PASSWORD.finditer(url):
            found.update({match.group(2), unquote(match.group(2))})
    return sorted((s for s in found if s), key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """``text`` (e.g. a driver error) with every spelling of ``url``'s password masked."""
    for secret in secrets_of(url):
        text = text.replace(secret, MASK)
    return text


def describe_target(url: str) -> str:
    """``host:port/dbname as user`` for one-line messages; raises InvalidDatabaseURL."""
    from psycopg import Error  # imported here: a feeds-only crawl never loads the driver
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(url)
    except Error as exc:
        reason = scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else "", url)
        raise InvalidDatabaseURL(
            f"NEWSARCHIVE_DATABASE_URL {mask_url(url)!r} is not a valid PostgreSQL URL ({reason})"
        ) from None
    host = str(params.get("host") or params.get("hostaddr") or "local socket")
    port = str(params.get("port") or "5432")
    where = f"{host}:{port}" if not host.startswith("/") and "," not in host else host
    target = where
    if params.get("dbname"):
        target += f"/{params['dbname']}"
    if params.get("user"):
        target += f" as {params['user']}"
    return target
