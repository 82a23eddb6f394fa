"""Dataset manifests: which files a crawl run or an export wrote, their rows and checksums.

Why: researchers cite and share these files. A manifest beside them names every file with its
row count and sha256, the schema version, the software version, the crawl runs covered and the
filters used, so anyone can check that the files they hold are the ones that were published
(``verify_manifest``) and cite one checksum (the manifest's own) for the whole dataset.

Everything here is blocking file I/O: crawl extensions call it through a thread.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from newsarchive.clock import utc_now_iso

#: The layout of manifest.json itself; bump it when keys change meaning.
MANIFEST_VERSION = 1
MANIFEST_NAME = "manifest.json"
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """sha256 hex of a file, read in 1 MiB chunks (files may be larger than memory)."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def package_version() -> str:
    try:
        return version("newsarchive")
    except PackageNotFoundError:
        return "unknown"


def software() -> dict[str, str]:
    """Versions of what produced the files: enough to reproduce them."""
    import scrapy  # only for its version; keeps this module light to import

    return {
        "newsarchive": package_version(),
        "scrapy": scrapy.__version__,
        "python": platform.python_version(),
    }


def file_entry(
    path: Path,
    folder: Path,
    *,
    rows: int | None,
    file_format: str,
    compression: str | None = None,
    known: tuple[int, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One file of a dataset: its path relative to the manifest's folder, format,
    compression, rows, size and sha256. ``known``: (size, sha256) hashed when the file was
    written; taken while the file still has that size, instead of reading it again."""
    # Relative even outside the folder ("../../../warc/…"): the data folder can be moved whole.
    name = Path(os.path.relpath(path.resolve(), folder.resolve())).as_posix()
    entry: dict[str, Any] = {
        "name": name,
        "format": file_format,
        "compression": compression,
        "rows": rows,
    }
    if path.is_file():
        entry["bytes"] = size = path.stat().st_size
        entry["sha256"] = known[1] if known and known[0] == size else sha256_file(path)
    else:
        entry["missing"] = True
    entry.update(extra)
    return entry


def build_manifest(
    *,
    kind: str,
    files: list[dict[str, Any]],
    schema: Mapping[str, Any],
    run_ids: Iterable[str],
    filters: Mapping[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    """The manifest document; ``extra`` keys (spider, finish_reason, …) go after the core ones."""
    return {
        "manifest_version": MANIFEST_VERSION,
        "kind": kind,
        "created_at": utc_now_iso(),
        "software": software(),
        "schema": dict(schema),
        "run_ids": sorted(set(run_ids)),
        "filters": dict(filters),
        **extra,
        "files": files,
    }


def verify_manifest(path: Path) -> list[str]:
    """Problems found re-checking every file of a manifest (empty: all files match)."""
    manifest = json.loads(path.read_text(encoding="utf-8"))
    problems = []
    for entry in manifest.get("files", []):
        if "sha256" not in entry:
            problems.append(f"{entry.get('name')}: no checksum recorded")
            continue
        file = Path(entry["name"])
        file = file if file.is_absolute() else path.parent / file
        if not file.is_file():
            problems.append(f"{entry['name']}: missing")
        elif sha256_file(file) != entry["sha256"]:
            problems.append(f"{entry['name']}: sha256 differs")
    return problems
