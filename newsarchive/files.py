"""Durable file writes: the one home for "a crash leaves the old file or the new one"."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO


@contextlib.contextmanager
def open_atomically(path: Path) -> Iterator[BinaryIO]:
    """A binary file to write in pieces that replaces ``path`` only when the block ends
    without an error: written to a temporary file beside it, fsynced, renamed over ``path``,
    then the folder fsynced. Readers and crashes see the old file or the new one, never half
    of one; a large file never needs to be whole in memory. Blocking: use it from a thread
    when in the reactor."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def write_atomically(path: Path, data: str | bytes) -> None:
    """Replace ``path`` by ``data`` with :func:`open_atomically`."""
    with open_atomically(path) as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)


def compact_json(data: Any) -> str:
    """``data`` as the compact JSON of the project's state files: non-ASCII unescaped, no
    spaces, keys sorted (a file written in pieces gives the same bytes with it)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def write_json_atomically(path: Path, data: Any, *, indent: int | None = None) -> None:
    """``data`` as UTF-8 JSON (:func:`compact_json`, or indented), written with
    :func:`write_atomically`."""
    if indent is None:
        text = compact_json(data)
    else:
        text = json.dumps(data, ensure_ascii=False, indent=indent)
    write_atomically(path, text + "\n")
