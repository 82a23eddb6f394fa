"""Shared fixtures: saved pages as Scrapy responses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scrapy.http import HtmlResponse

from newsarchive.worker_processes import usable_cores

FIXTURES = Path(__file__).parent / "fixtures"
SPECIMEN_URL = (
    "https://kcnawatch.org/newstream/1713006283-531298405/"
    "talks-held-between-choe-ryong-hae-and-zhao-leji/"
)
LISTING_URL = "https://kcnawatch.org/?s=&source=190052&sort=recent"


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` (scripts/test): one worker per usable core. pytest-xdist's own count
    (psutil's physical cores) sees the whole host, not a container's CPU quota, and every
    worker starts its own PostgreSQL."""
    return usable_cores()


def html_response(body: str | bytes, url: str = SPECIMEN_URL) -> HtmlResponse:
    if isinstance(body, str):
        body = body.encode("utf-8")
    return HtmlResponse(url=url, body=body, encoding="utf-8")


def fixture_response(name: str, url: str = SPECIMEN_URL) -> HtmlResponse:
    return html_response((FIXTURES / name).read_bytes(), url)


#: The specimen article's expected fields (article.expected.json of the shared specimen).
SPECIMEN_EXPECTED: dict = json.loads(
    (FIXTURES / "specimen_article.expected.json").read_text(encoding="utf-8")
)


@pytest.fixture
def specimen_expected() -> dict:
    return dict(SPECIMEN_EXPECTED)


# --- PostgreSQL fixtures (issue 3: the PostgreSQL archive) ----------------------------------
# postgres_server (session), pg_url (fresh migrated database), pg_empty_url: see the plugin.
pytest_plugins = ["tests.conftest_postgres"]
