"""Where ``scrapy export`` writes: one export per folder, replaced whole or not at all.

Why a staging folder: files renamed one by one into a folder that holds an older export would
leave, for a while or for good (a format the new export does not write), old files beside a
manifest that does not list them. The set is written beside the folder and renamed into place.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from newsarchive.manifest import MANIFEST_NAME


class FolderRefused(ValueError):
    """``--output`` cannot take this export; the message is one line naming the folder."""


def check_output_folder(folder: Path, replace: bool) -> None:
    """An export's folder holds one export: refuse a folder that holds anything (an older
    export's files would sit beside a manifest that does not list them), unless ``replace``
    names an earlier export (it has a manifest), which is then replaced as a whole."""
    if folder.exists() and not folder.is_dir():
        raise FolderRefused(f"--output {folder} is not a folder")
    if not folder.is_dir() or not any(folder.iterdir()):
        return
    if not replace:
        raise FolderRefused(
            f"--output {folder} already holds files (an older export?): name a new or empty "
            "folder, or add --replace to replace that export as a whole"
        )
    if not (folder / MANIFEST_NAME).is_file():
        raise FolderRefused(
            f"--output {folder} holds files but no {MANIFEST_NAME}: --replace replaces an "
            "earlier export only"
        )


def staging_folder(folder: Path) -> Path:
    """A hidden sibling the export is written to, then renamed into place: readers of
    ``folder`` see the old set or the new one, never a mix."""
    return folder.parent / f".{folder.name}.export-{os.getpid()}"


def put_in_place(staging: Path, folder: Path) -> None:
    """Rename the finished export to ``folder``; an older export there is set aside first
    and deleted after."""
    old = None
    if folder.exists():
        old = folder.parent / f".{folder.name}.replaced-{os.getpid()}"
        os.replace(folder, old)
    os.replace(staging, folder)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
