"""Schema migrations: numbered SQL files applied once each, in order, tracked in the database.

Why plain SQL files: the schema is the researchers' interface, so it is reviewed as SQL, and
``git log newsarchive/db/migrations`` is its history. A later change is a new file
(``0002_<what>.sql``); an applied file is never edited (its checksum is recorded and a
mismatch is reported).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib.abc import Traversable
from importlib.resources import files
from pathlib import Path

import psycopg

from newsarchive.db.errors import DatabaseUnreachable, error_line
from newsarchive.db.urls import describe_target

logger = logging.getLogger(__name__)

#: Any constant works; it only has to be the same for every process migrating this schema.
ADVISORY_LOCK_KEY = 0x6E657773  # "news"
_FILENAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")

CREATE_TRACKING_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(RuntimeError):
    """The migration files or the recorded schema are inconsistent."""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.version}_{self.name}"


def default_folder() -> Traversable:
    return files("newsarchive.db").joinpath("migrations")


def load_migrations(folder: Traversable | Path | None = None) -> list[Migration]:
    """Every ``NNNN_name.sql`` in ``folder`` (default: the packaged ones), by version."""
    folder = folder if folder is not None else default_folder()
    found: dict[str, Migration] = {}
    for entry in folder.iterdir():
        match = _FILENAME.match(entry.name)
        if not match:
            continue
        version = match["version"]
        if version in found:
            raise MigrationError(f"two migrations numbered {version}")
        found[version] = Migration(version, match["name"], entry.read_text(encoding="utf-8"))
    return [found[version] for version in sorted(found)]


def latest_version(migrations: list[Migration] | None = None) -> str:
    migrations = migrations if migrations is not None else load_migrations()
    return migrations[-1].version if migrations else ""


async def applied_versions(conn: psycopg.AsyncConnection) -> dict[str, str]:
    """``{version: checksum}`` recorded in ``schema_migrations`` ({} before the first migration)."""
    exists = await (
        await conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
    ).fetchone()
    if not exists or not exists[0]:
        return {}
    rows = await (await conn.execute("SELECT version, checksum FROM schema_migrations")).fetchall()
    return {version: checksum for version, checksum in rows}


async def pending(
    conn: psycopg.AsyncConnection, migrations: list[Migration] | None = None
) -> list[Migration]:
    """The migrations this database still needs."""
    migrations = migrations if migrations is not None else load_migrations()
    applied = await applied_versions(conn)
    return [m for m in migrations if m.version not in applied]


async def migrate(
    conn: psycopg.AsyncConnection, migrations: list[Migration] | None = None
) -> list[Migration]:
    """Apply what is pending, each migration in its own transaction; return what was applied.

    Idempotent, and safe when two processes migrate at once: a session advisory lock makes the
    second wait, and it then finds nothing left to do. ``conn`` must be in autocommit mode.
    """
    migrations = migrations if migrations is not None else load_migrations()
    applied_now: list[Migration] = []
    await conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
    try:
        await conn.execute(CREATE_TRACKING_TABLE)
        applied = await applied_versions(conn)
        for migration in migrations:
            recorded = applied.get(migration.version)
            if recorded is not None:
                if recorded != migration.checksum:
                    logger.warning(
                        "Migration %s was edited after it was applied; the database keeps the "
                        "applied version (write a new migration instead)",
                        migration.label,
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql.encode("utf-8"))
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum),
                )
            logger.info("Applied migration %s", migration.label)
            applied_now.append(migration)
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
    return applied_now


async def migrate_url(url: str, status_only: bool = False) -> list[str]:
    """Apply (or with ``status_only`` list) the migrations of the database at ``url``; the
    lines to print. Raises DatabaseUnreachable (one line) when the server cannot be used."""
    target = describe_target(url)
    migrations = load_migrations()
    try:
        async with await psycopg.AsyncConnection.connect(
            url, autocommit=True, connect_timeout=10
        ) as conn:
            if status_only:
                applied = await applied_versions(conn)
                return [
                    f"{'applied' if m.version in applied else 'pending'} {m.label}"
                    for m in migrations
                ]
            done = await migrate(conn, migrations)
            # Imported here: the SQL module needs the item fields, the bare migrator does not.
            from newsarchive.db.search import index_missing

            indexed = await index_missing(conn)  # one connection: no pool here
    except psycopg.Error as exc:
        raise DatabaseUnreachable(error_line("cannot migrate PostgreSQL", url, exc)) from None
    lines = [f"{target}: applied {m.label}" for m in done] or [
        f"{target}: schema up to date (version {latest_version(migrations)})"
    ]
    if indexed:
        lines.append(f"{target}: indexed {indexed} revision(s) for full-text search")
    return lines
