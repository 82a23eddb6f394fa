"""Scrapy components a stream crawl does not use stay out of it (issue 13's start-up cost):
switched off, they are not even imported, and each switch still turns its component on."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from scrapy.settings import Settings
from scrapy.utils.conf import build_component_list
from scrapy.utils.project import get_project_settings

from newsarchive.reextract.spider import (
    BROWSER_MEMORY,
    CORE_STATS,
    MEMORY_USAGE,
    NETWORK_EXTENSIONS,
    ReextractSpider,
)
from newsarchive.spiders.components import SWITCHED_COMPONENTS
from newsarchive.spiders.naenara import NaenaraSpider
from newsarchive_replica.server import ReplicaServer
from tests.crawling import crawl_listing_modules, read_jsonl, scrapy_modules


def stream_crawl_settings(**cmdline: object) -> Settings:
    settings = get_project_settings()
    settings.setdict(cmdline, priority="cmdline")
    NaenaraSpider.update_settings(settings)
    return settings


def components(settings: Settings, kind: str) -> list[str]:
    return build_component_list(settings.getwithbase(kind))


def test_switched_off_components_are_left_out():
    settings = stream_crawl_settings()
    for (kind, component), switch in SWITCHED_COMPONENTS.items():
        assert not settings.getbool(switch), switch
        assert component not in components(settings, kind)


@pytest.mark.parametrize(("kind", "component", "switch"), [
    (kind, component, switch) for (kind, component), switch in SWITCHED_COMPONENTS.items()
])  # fmt: skip
def test_each_switch_still_turns_its_component_on(kind, component, switch):
    assert component in components(stream_crawl_settings(**{switch: True}), kind)


def test_the_per_page_defaults_the_archive_does_not_use_are_off():
    settings = stream_crawl_settings()
    downloader = components(settings, "DOWNLOADER_MIDDLEWARES")
    spider = components(settings, "SPIDER_MIDDLEWARES")
    assert not settings.getbool("METAREFRESH_ENABLED")
    assert not settings.getbool("REFERER_ENABLED")
    assert settings.getint("URLLENGTH_LIMIT") == 0
    assert "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware" not in downloader
    assert "scrapy.spidermiddlewares.depth.DepthMiddleware" not in spider
    assert "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware" not in spider
    # The monitor and the summary read the downloader's counts.
    assert "scrapy.downloadermiddlewares.stats.DownloaderStats" in downloader


def probed_crawl(tmp_path: Path, **settings: str) -> tuple[subprocess.CompletedProcess, Path]:
    """A static crawl of the replica that prints which of aiohttp and tldextract (imported by
    the remote control extension and the cookies middleware) it imported."""
    with ReplicaServer() as site:
        start = site.start_url("naenara", "listing")
        done, output = crawl_listing_modules(tmp_path, start, ("aiohttp", "tldextract"), **settings)
    assert done.returncode == 0, done.stderr[-3000:]
    return done, output


def test_a_crawl_imports_neither_remote_control_nor_cookie_modules(tmp_path):
    done, output = probed_crawl(tmp_path)
    assert len(read_jsonl(output)) > 100
    assert done.stdout.strip().splitlines()[-1] == "imported: []"
    # The redirect middleware expects no Referer middleware: no warning about it on every run.
    assert "found no scrapy.spidermiddlewares.referer.RefererMiddleware" not in done.stderr


def test_cookies_switched_on_are_used(tmp_path):
    done, _ = probed_crawl(tmp_path, COOKIES_ENABLED="True")
    imported = done.stdout.strip().splitlines()[-1]
    assert "'tldextract'" in imported and "'aiohttp'" not in imported
    assert "scrapy.downloadermiddlewares.cookies.CookiesMiddleware" in done.stderr


def test_reextract_leaves_the_network_extensions_out_without_importing_them():
    """`scrapy reextract` switches off Scrapy's extensions for a crawl of the network and
    replaces CoreStats; none of them is even named (a name with None would import it)."""
    settings = get_project_settings()
    ReextractSpider.update_settings(settings)
    named = set(settings.getwithbase("EXTENSIONS"))
    enabled = components(settings, "EXTENSIONS")
    for extension in (*NETWORK_EXTENSIONS, CORE_STATS):
        assert extension not in named, extension
    assert "newsarchive.reextract.spider.ReextractCoreStats" in enabled
    # the project's own extensions stay
    assert "newsarchive.extensions.manifest.FeedManifest" in enabled
    # no browser: Scrapy's own memory check in place of the browser-counting one
    assert BROWSER_MEMORY not in named and MEMORY_USAGE in enabled


def test_reextract_loads_no_download_handler_nor_the_crawl_spiders(tmp_path):
    """A re-extraction fetches nothing: no download handler (nor the HTTP/TLS stack and the
    browser module they import) and none of the crawl's spider modules is loaded."""
    unwanted = ("newsarchive.browser", "newsarchive.spiders.base",
                "scrapy.core.downloader.handlers.http11")  # fmt: skip
    done = scrapy_modules(["reextract", "-s", f"NEWSARCHIVE_DATA_DIR={tmp_path}"], unwanted)
    assert "no captures for this selection" in done.stderr, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "imported: []"
