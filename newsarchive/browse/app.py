"""Datasette over one snapshot, as ``scrapy browse`` serves it.

The snapshot is opened immutable (read-only, no locking: it never changes while served), with
the project's metadata (``metadata.build_metadata``), templates and plugins (``plugin``: pages
and links; ``atom``: the ``.atom`` format the ``changes_feed`` query is read in).
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path
from typing import Any

from newsarchive.browse import atom, metadata, plugin
from newsarchive.snapshot import SnapshotError, check_snapshot

TEMPLATES = Path(__file__).with_name("templates")
#: Datasette settings: bodies are long, so table cells show their start only.
SETTINGS = {
    "truncate_cells_html": 240,
    "suggest_facets": False,
    "sql_time_limit_ms": 5000,
    "facet_time_limit_ms": 1000,
}


class BrowseError(RuntimeError):
    """``scrapy browse`` cannot serve; ``str()`` is one line."""


def build_datasette(path: Path) -> Any:
    """A Datasette for the snapshot at ``path`` (checked first: BrowseError in one line)."""
    try:
        check_snapshot(path)
    except SnapshotError as exc:
        raise BrowseError(str(exc)) from None
    from datasette.app import Datasette  # imported late: Scrapy loads every command module
    from datasette.plugins import pm

    for module, name in ((plugin, metadata.PLUGIN_NAME), (atom, f"{metadata.PLUGIN_NAME}-atom")):
        if not pm.is_registered(module):
            pm.register(module, name=name)
    return Datasette(
        immutables=[str(path)],
        metadata=metadata.build_metadata(path.stem),
        template_dir=str(TEMPLATES),
        settings=SETTINGS,
    )


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or BrowseError (port in use, bad address)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as exc:
        raise BrowseError(f"--host {host!r}: {exc.strerror}") from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise BrowseError(
                f"port {port} on {host} is in use (choose another with --port)"
            ) from None
        raise BrowseError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def serve(path: Path, host: str, port: int, ready: Any = print) -> None:
    """Serve the snapshot until interrupted; ``ready`` gets the one line saying where."""
    datasette = build_datasette(path)
    sock = listen(host, port)
    import uvicorn

    bound_port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    config = uvicorn.Config(datasette.app(), log_level="warning", lifespan="on")
    ready(f"scrapy browse: serving {path} at http://{shown}:{bound_port}/ (Ctrl-C stops)")
    uvicorn.Server(config).run(sockets=[sock])
