"""The manifest takes a WARC file's sha256 from the run's WACZ (hashed as it was packaged)
instead of reading the file again, only while the file still has the packaged size."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from newsarchive.extensions.manifest import packaged_warc_hashes
from newsarchive.manifest import file_entry, sha256_file


def test_a_known_hash_is_taken_only_for_a_file_of_that_size(tmp_path: Path) -> None:
    warc = tmp_path / "run-00001.warc.gz"
    warc.write_bytes(b"a WARC file")
    size = warc.stat().st_size
    taken = file_entry(warc, tmp_path, rows=None, file_format="warc", known=(size, "f" * 64))
    assert taken["sha256"] == "f" * 64
    changed = file_entry(warc, tmp_path, rows=None, file_format="warc", known=(size + 1, "f"))
    assert changed["sha256"] == sha256_file(warc)


def test_the_hashes_come_from_the_wacz_datapackage(tmp_path: Path) -> None:
    resources = [
        {"name": "pages.jsonl", "path": "pages/pages.jsonl", "hash": "sha256:" + "1" * 64,
         "bytes": 5},
        {"name": "r-00001.warc.gz", "path": "archive/r-00001.warc.gz",
         "hash": "sha256:" + "2" * 64, "bytes": 7},
        {"name": "odd", "path": "archive/odd.warc.gz", "hash": "md5:00", "bytes": 1},
    ]  # fmt: skip
    wacz = tmp_path / "r.wacz"
    with zipfile.ZipFile(wacz, "w") as archive:
        archive.writestr("datapackage.json", json.dumps({"resources": resources}))
    assert packaged_warc_hashes(wacz) == {"r-00001.warc.gz": (7, "2" * 64)}
    assert packaged_warc_hashes(tmp_path / "none.wacz") == {}
    (tmp_path / "broken.wacz").write_bytes(b"not a zip")
    assert packaged_warc_hashes(tmp_path / "broken.wacz") == {}
