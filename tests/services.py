"""Real services for integration tests: the private PostgreSQL server lives in the project
(``newsarchive.pgserver``, the demo starts one too); tests import it from here as before."""

from newsarchive.pgserver import (
    PostgresServer,
    PostgresUnavailable,
    find_bindir,
    free_port,
)

__all__ = ["PostgresServer", "PostgresUnavailable", "find_bindir", "free_port"]
