"""``@saved_page``: a Scrapy contract that runs a callback on a page saved in the project.

``scrapy check`` runs the contracts in the callbacks' docstrings (``@returns``, ``@scrapes``…)
on the page their ``@url`` names. The site's live pages change every day and tests run
offline, so the callbacks name saved pages instead: ``@saved_page tests/fixtures/x.html``, a
path from the project folder (beside scrapy.cfg), fetched as a ``file://`` URL. The page's
links keep the site's host, so the spider reads them as it reads the live page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scrapy.contracts import Contract
from scrapy.utils.conf import closest_scrapy_cfg


def project_folder() -> Path:
    """The folder of the project's scrapy.cfg (the working folder when there is none)."""
    cfg = closest_scrapy_cfg()
    return Path(cfg).parent if cfg else Path.cwd()


class SavedPageContract(Contract):
    """``@saved_page <path>``: the callback's sample request reads this saved page."""

    name = "saved_page"

    def adjust_request_args(self, args: dict[str, Any]) -> dict[str, Any]:
        if len(self.args) != 1:
            raise ValueError("@saved_page takes one path, from the project folder")
        path = project_folder() / self.args[0]
        if not path.is_file():
            raise ValueError(f"@saved_page {self.args[0]}: no such file in {project_folder()}")
        args["url"] = path.resolve().as_uri()
        # A file:// URL has no host: the spider's allowed_domains must not drop it.
        args["meta"] = {**(args.get("meta") or {}), "allow_offsite": True}
        return args
