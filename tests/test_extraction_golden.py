"""The extraction output is pinned to EXTRACTOR_VERSION: change one only with the other.

Why: revisions tell an outlet's edit from our own change by the version (docs/DATA.md). A
rule change that alters any page's output under an unchanged version would let our change
pass for the outlet's. Re-record after bumping: ``NEWSARCHIVE_UPDATE_GOLDEN=1 pytest
tests/test_extraction_golden.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from newsarchive.extraction_version import EXTRACTOR_VERSION
from newsarchive.files import write_json_atomically
from tests.extraction_output import extraction_hash

GOLDEN = Path(__file__).parent / "golden" / "extraction.json"


def test_extraction_output_changes_only_with_the_version():
    digest, pages = extraction_hash()
    assert pages > 100  # the specimen and every theme's streams were read
    if os.environ.get("NEWSARCHIVE_UPDATE_GOLDEN") == "1":
        write_json_atomically(GOLDEN, {"version": EXTRACTOR_VERSION, "hash": digest})
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    if golden["hash"] != digest:
        assert golden["version"] != EXTRACTOR_VERSION, (
            "the extraction output changed: bump EXTRACTOR_VERSION in "
            "newsarchive/extraction_version.py and re-record with "
            "NEWSARCHIVE_UPDATE_GOLDEN=1 pytest tests/test_extraction_golden.py"
        )
        raise AssertionError(
            f"EXTRACTOR_VERSION is {EXTRACTOR_VERSION} but tests/golden/extraction.json was "
            f"recorded for {golden['version']}: re-record with NEWSARCHIVE_UPDATE_GOLDEN=1"
        )
    assert golden["version"] == EXTRACTOR_VERSION, "re-record with NEWSARCHIVE_UPDATE_GOLDEN=1"
