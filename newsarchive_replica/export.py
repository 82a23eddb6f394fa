"""A static copy of one stream for nginx: the benchmark's fast, fault-free target.

Why static: the benchmark measures the spider, not the replica, so at 20,000 articles the
site must be served by something much faster than a Python server. Only the articles that
yield items are written and listed (no 404/410/403/paywall/no-title pages; the 503 one is an
ordinary page), so ``expected.jsonl`` equals ``newsarchive-replica expected`` for the same
arguments. Listings use path URLs (``/listing/<n>/``): nginx ignores query strings.
"""

from __future__ import annotations

import os
import pwd
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from newsarchive_replica import render, themes
from newsarchive_replica.expected import expected_items, to_jsonl
from newsarchive_replica.model import (
    DEFAULT_SEED,
    NON_ARTICLE,
    TODAY,
    StreamState,
    build_streams,
    decode_slug,
    quirks_of,
)
from newsarchive_replica.themes import DEFAULT_THEME

MARKER = ".newsarchive-replica-export"


class ExportError(Exception):
    """A reason the export cannot proceed, worded for the command line."""


@dataclass(frozen=True)
class ExportSummary:
    directory: Path
    articles: int
    pages: int
    start_url: str
    nginx_command: str


def nginx_conf(directory: Path, host: str, port: int, label: str) -> str:
    """A non-root nginx config with every writable path inside ``directory``."""
    d = directory
    # A root master drops workers to "nobody", who may not traverse a private DIR.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    return f"""# Static copy of the KCNA Watch stream "{label}" made by newsarchive-replica export.
# Run: nginx -c {d}/nginx.conf -p {d} -e {d}/logs/error.log
{user}daemon off;
worker_processes 2;
pid {d}/nginx.pid;
error_log {d}/logs/error.log warn;
events {{
    worker_connections 1024;
}}
http {{
    types {{
        text/html html;
        text/plain txt;
        text/css css;
        application/javascript js;
        image/svg+xml svg;
        application/x-ndjson jsonl;
    }}
    default_type application/octet-stream;
    charset utf-8;
    access_log {d}/logs/access.log;
    client_body_temp_path {d}/tmp/client_body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    sendfile on;
    keepalive_timeout 30;
    server {{
        listen {host}:{port};
        server_name _;
        root {d}/site;
        absolute_redirect off;
        error_page 404 /404.html;
        location / {{
            # Article URLs with and without the trailing slash both answer 200.
            try_files $uri $uri/index.html =404;
        }}
    }}
}}
"""


def _prepare(directory: Path) -> None:
    if directory.exists() and not directory.is_dir():
        raise ExportError(f"{directory} exists and is not a directory")
    if directory.is_dir() and any(directory.iterdir()):
        if not (directory / MARKER).exists():
            raise ExportError(f"{directory} is not empty and not a previous export")
        shutil.rmtree(directory / "site", ignore_errors=True)
    for sub in ("site", "logs", "tmp"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    (directory / MARKER).write_text("written by newsarchive-replica export\n")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def export_static(
    directory: Path,
    base_url: str,
    stream: str = "naenara",
    naenara_articles: int = 160,
    kcna_articles: int = 40,
    seed: int = DEFAULT_SEED,
    port: int | None = None,
    host: str = "127.0.0.1",
    theme: str = DEFAULT_THEME,
    rodong_articles: int = 30,
) -> ExportSummary:
    """Write ``directory/site`` (pages), ``nginx.conf`` and ``expected.jsonl``."""
    directory = directory.resolve()
    base_url = base_url.rstrip("/")
    if port is None:
        port = urlsplit(base_url).port or 8080
    _prepare(directory)
    state: StreamState = build_streams(
        naenara_articles, kcna_articles, seed, TODAY, rodong_articles
    )[stream]
    spec = state.spec
    for k in state.indexes():
        if quirks_of(spec, k)[1] in NON_ARTICLE:
            state.unlist(k)
    links = render.Links(base_url, static=True)
    pages_of = themes.theme(theme)
    site = directory / "site"
    pages = state.page_count()
    shared = pages_of.more_from(spec, state.newest(), links, pages > 1)
    written = 0
    for n in range(1, pages + 1):
        cards = state.page(n)
        html = pages_of.listing_page(spec, cards, links, n, n < pages, scripted=False)
        _write(site / "listing" / str(n) / "index.html", html)
        if n == 1:
            _write(site / "index.html", html)
        for art in cards[spec.overlap if n > 1 else 0 :]:
            folder = site / "newstream" / art.article_id / decode_slug(art.url_slug)
            _write(folder / "index.html", pages_of.article_page(spec, art, links, shared))
            written += 1
    _write(site / "robots.txt", render.ROBOTS_TXT)
    _write(site / "404.html", render.error_page(404))
    for path, (_, text) in render.ASSETS.items():
        _write(site / path.lstrip("/"), text)
    (directory / "nginx.conf").write_text(nginx_conf(directory, host, port, spec.label))
    (directory / "expected.jsonl").write_text(to_jsonl(expected_items(state, base_url)))
    command = f"nginx -c {directory}/nginx.conf -p {directory} -e {directory}/logs/error.log"
    return ExportSummary(directory, written, pages, links.listing(spec, 1), command)
