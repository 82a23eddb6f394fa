"""The real Chromium browser tests use: the ``chromium`` fixture, shared by the browser test
modules (``from tests.chromium import chromium_fixture``).

Tests needing it skip without one (Debian's ``chromium``, or one named by
NEWSARCHIVE_CHROMIUM_PATH), except under ``CI=true``, where a missing browser is a broken CI
image and fails.
"""

from __future__ import annotations

import os

import pytest

from newsarchive import browser


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="module", name="chromium")
def chromium_fixture() -> str:
    """A real Chromium, or skip (fail under CI=true)."""
    found = browser.find_chromium(os.environ.get("NEWSARCHIVE_CHROMIUM_PATH", ""))
    if found.path is None:
        message = f"no Chromium ({found.problem or 'not installed'}): {browser.INSTALL_HINT}"
        if in_ci():
            pytest.fail(f"CI=true and {message}")
        pytest.skip(message)
    return found.path
