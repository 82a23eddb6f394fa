"""An HTTP server that plays kcnawatch.org for the demo, the tests and the benchmark.

Why stdlib ``ThreadingHTTPServer``: no dependency, a few hundred requests a second is enough,
and tests can run it in a background thread (``with ReplicaServer() as site: ...``).
All state (streams, request log, fault memory) sits behind one lock; responses are computed
under it and written outside it.

Admin endpoints (under ``/_replica/``, never logged; GET or POST, parameters in the query
string, a form body or a JSON object body):

- ``GET /_replica/requests``: the request log as JSON.
- ``GET /_replica/expected?stream=naenara|kcna|all``: expected items as JSON Lines.
- ``GET /_replica/state``: counts, start URLs, per-stream version.
- ``POST /_replica/publish?stream=naenara&count=1``: new articles at the top of a stream.
- ``POST /_replica/edit?article_id=…[&title=…]`` (JSON ``{"body": [paragraphs]}`` optional).
- ``POST /_replica/delete?article_id=…&status=410[&unlist=1]``.
- ``POST /_replica/reset_log``, ``POST /_replica/reset_faults`` (the 503 fires again).
- ``GET|POST /_replica/faults``: fault-injection rules (see ``faults.py``).
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from newsarchive_replica import render, themes
from newsarchive_replica.expected import expected_item, expected_items, is_article, to_jsonl
from newsarchive_replica.faults import FaultError, FaultInjector
from newsarchive_replica.model import (
    DEFAULT_SEED,
    STREAM_KEYS,
    TODAY,
    Article,
    StreamState,
    build_streams,
)
from newsarchive_replica.themes import DEFAULT_THEME

ARTICLE_PATH_RE = re.compile(
    r"^/newstream/(?P<id>\d+-\d+)(?:/(?P<slug>[^/]*(?:/[^/]+)*?))?(?P<slash>/?)$"
)
HTML = "text/html; charset=UTF-8"

Response = tuple[int, dict[str, str], bytes]


def _html(status: int, text: str, **headers: str) -> Response:
    return status, {"Content-Type": HTML, **headers}, text.encode()


def _json(data: Any, status: int = 200) -> Response:
    body = json.dumps(data, ensure_ascii=False, indent=1).encode()
    return status, {"Content-Type": "application/json"}, body


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    replica: ReplicaServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-answer (a killed or closing crawl) is routine, not a
        traceback on the console; anything else is reported as socketserver does."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: Scrapy reuses connections
    server_version = "KCNAWatchReplica/1.0"
    sys_version = ""
    timeout = 30
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stalls
    server: _HTTPServer

    def _serve(self, send_body: bool = True) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        payload = self.rfile.read(length) if length else b""
        agent = self.headers.get("User-Agent", "")
        status, headers, body = self.server.replica.respond(self.command, self.path, agent, payload)
        if self.server.replica.faults.perform(self, headers):  # reset / delay (faults.py)
            return
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if headers.get("Connection") != "close":  # else streamed: ends with the connection
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the request log is ``ReplicaServer.requests``."""


class ReplicaServer:
    """The offline kcnawatch.org: both streams on one host, with faults and admin mutators."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        naenara_articles: int = 160,
        kcna_articles: int = 40,
        scripted: bool = False,
        seed: int = DEFAULT_SEED,
        today: date = TODAY,
        base_url: str | None = None,
        theme: str = DEFAULT_THEME,
        rodong_articles: int = 30,
    ) -> None:
        self.host, self.port, self.scripted = host, port, scripted
        self.theme = themes.theme(theme)
        self.streams: dict[str, StreamState] = build_streams(
            naenara_articles, kcna_articles, seed, today, rodong_articles
        )
        self.lock = threading.RLock()
        for state in self.streams.values():
            state.lock = self.lock
        self._base_url_override = base_url.rstrip("/") if base_url else None
        self.base_url = self._base_url_override or ""
        self.links = render.Links(self.base_url)
        self._log: list[dict[str, Any]] = []
        self._fired: set[str] = set()  # flaky articles that already answered 503
        self.faults = FaultInjector()  # rules: see faults.py and /_replica/faults
        self._more_from: dict[str, tuple[int, str]] = {}
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle
    def start(self) -> ReplicaServer:
        """Bind and serve in a daemon thread; ``base_url`` is known from here on."""
        server_cls = _HTTPServer
        if ":" in self.host:
            server_cls = type("_HTTPServer6", (_HTTPServer,), {"address_family": socket.AF_INET6})
        self._httpd = server_cls((self.host, self.port), _Handler)
        self._httpd.replica = self
        self.port = self._httpd.server_address[1]
        if not self._base_url_override:
            host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
            host = f"[{host}]" if ":" in host else host
            self.base_url = f"http://{host}:{self.port}"
        self.links = render.Links(self.base_url)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ReplicaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # helpers for tests and the CLI
    def stream(self, key: str) -> StreamState:
        if key not in self.streams:
            raise KeyError(f"unknown stream {key!r} (expected one of {', '.join(STREAM_KEYS)})")
        return self.streams[key]

    def start_url(
        self, stream: str = "naenara", kind: str = "listing", scripted: bool = False
    ) -> str:
        """Page 1 of a stream's listing, or its newest article that yields an item."""
        state = self.stream(stream)
        with self.lock:
            if kind == "listing":
                return self.links.listing(state.spec, 1, scripted=scripted and not self.scripted)
            if kind == "article":
                art = next((a for a in state if a.status == "ok"), None)
                if art is None:
                    raise LookupError(f"stream {stream!r} has no article")
                return self.links.article(art)
        raise ValueError(f"unknown kind {kind!r} (expected 'listing' or 'article')")

    def article_url(self, article_id: str) -> str:
        return self.links.article(self._find_required(article_id)[1])

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The request log, admin endpoints excluded.

        Entries: method, path (as sent, %-encoded), query, status, user_agent, time (epoch s).
        """
        with self.lock:
            return list(self._log)

    def reset_log(self) -> None:
        with self.lock:
            self._log.clear()

    def reset_faults(self) -> None:
        """Make the flaky article answer 503 once more."""
        with self.lock:
            self._fired.clear()

    # mutators
    def publish(self, stream: str = "naenara", count: int = 1) -> list[str]:
        """Add ``count`` newest articles to ``stream``; returns their article ids."""
        with self.lock:
            return [art.article_id for art in self.stream(stream).publish(count)]

    def edit(
        self, article_id: str, body: list[str] | None = None, title: str | None = None
    ) -> dict:
        """Change an article's body (default: a sentence and a paragraph added); its new item."""
        with self.lock:
            state, _ = self._find_required(article_id)
            art = state.edit(article_id, body=body, title=title)
            return expected_item(state.spec, art, self.base_url)

    def delete(self, article_id: str, status: int = 410, unlist: bool = False) -> None:
        """Make an article answer ``status`` (404/410); ``unlist`` drops it from listings too."""
        with self.lock:
            state, _ = self._find_required(article_id)
            state.delete(article_id, status=status, unlist=unlist)

    def expected(self, stream: str = "naenara") -> list[dict]:
        """Expected items of ``stream`` ("all" for both) in the current state."""
        keys = STREAM_KEYS if stream == "all" else (stream,)
        with self.lock:
            return [
                item for key in keys for item in expected_items(self.stream(key), self.base_url)
            ]

    def _find(self, article_id: str) -> tuple[StreamState, Article] | None:
        for state in self.streams.values():
            art = state.find(article_id)
            if art is not None:
                return state, art
        return None

    def _find_required(self, article_id: str) -> tuple[StreamState, Article]:
        found = self._find(article_id)
        if found is None:
            raise KeyError(f"no article {article_id!r}")
        return found

    # HTTP
    def respond(self, method: str, target: str, user_agent: str, payload: bytes) -> Response:
        """Compute one response under the lock; log it unless it is an admin request."""
        parts = urlsplit(target)
        path = parts.path
        with self.lock:
            try:
                if path.startswith("/_replica/"):
                    return self._admin(path, parts.query, payload)
                response = self.faults.respond(self, path, parts.query)
            except Exception:  # a replica bug must show, not hang the client
                response = _html(500, traceback.format_exc())
            self._log.append(
                {
                    "method": method,
                    "path": path,
                    "query": parts.query,
                    "status": response[0],
                    "user_agent": user_agent,
                    "time": time.time(),
                }
            )
            return response

    def _route(self, path: str, query: str) -> Response:
        params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        if path == "/robots.txt":
            return 200, {"Content-Type": "text/plain; charset=UTF-8"}, render.ROBOTS_TXT.encode()
        if path in render.ASSETS:
            ctype, text = render.ASSETS[path]
            return 200, {"Content-Type": ctype}, text.encode()
        if path == "/":
            if "source" in params:
                return self._listing(params)
            return _html(200, render.home_page([s.spec for s in self.streams.values()], self.links))
        if path == "/wp-admin/admin-ajax.php":
            return self._ajax(params)
        if path in ("/free-member-form/", "/free-member-form"):
            return _html(200, render.paywall_page(self.links, params.get("redirect", "")))
        match = ARTICLE_PATH_RE.match(path)
        if match:
            return self._article(match)
        return _html(404, render.error_page(404))

    def _state_for_source(self, source: str) -> StreamState | None:
        return next((s for s in self.streams.values() if str(s.spec.source_id) == source), None)

    @staticmethod
    def _page_number(text: str | None) -> int | None:
        text = text or "1"
        return int(text) if text.isdigit() and int(text) >= 1 else None

    def _listing(self, params: dict[str, str]) -> Response:
        state = self._state_for_source(params.get("source", ""))
        page = self._page_number(params.get("paged"))
        if state is None or page is None or page > state.page_count():
            return _html(404, render.error_page(404))
        scripted = self.scripted or params.get("scripted") == "1"
        has_next = page < state.page_count()
        html = self.theme.listing_page(
            state.spec, state.page(page), self.links, page, has_next, scripted
        )
        return _html(200, html)

    def _ajax(self, params: dict[str, str]) -> Response:
        if params.get("action") != "more_results":
            return 400, {"Content-Type": HTML}, b"0"
        state = self._state_for_source(params.get("source", ""))
        page = self._page_number(params.get("paged"))
        if state is None or page is None or page > state.page_count():
            return _html(200, "")
        return _html(200, self.theme.cards_fragment(state.page(page), self.links))

    def _article(self, match: re.Match[str]) -> Response:
        found = self._find(match["id"])
        if found is None:
            return _html(404, render.error_page(404))
        state, art = found
        if art.status in ("deleted404", "deleted410", "forbidden403"):
            status = int(art.status[-3:])
            return _html(status, render.error_page(status))
        if art.status == "paywall":
            return _html(302, "", Location=self.links.paywall(art))
        if art.status == "flaky503" and art.article_id not in self._fired:
            self._fired.add(art.article_id)
            return _html(503, render.error_page(503), **{"Retry-After": "1"})
        slug = match["slug"] or ""
        if _decode(slug) != _decode(art.url_slug):
            return _html(301, "", Location=self.links.article(art))
        if not match["slash"] and art.has("redirect_noslash"):
            return _html(301, "", Location=self.links.article(art))
        return _html(
            200, self.theme.article_page(state.spec, art, self.links, self._more_from_html(state))
        )

    def _more_from_html(self, state: StreamState) -> str:
        cached = self._more_from.get(state.spec.key)
        if cached and cached[0] == state.version:
            return cached[1]
        html = self.theme.more_from(state.spec, state.newest(), self.links, state.page_count() > 1)
        self._more_from[state.spec.key] = (state.version, html)
        return html

    # admin
    def _admin(self, path: str, query: str, payload: bytes) -> Response:
        params: dict[str, Any] = {k: v[-1] for k, v in parse_qs(query).items()}
        text = payload.decode("utf-8", "replace").strip()
        if text.startswith("{"):
            params.update(json.loads(text))
        elif text:
            params.update({k: v[-1] for k, v in parse_qs(text).items()})
        action = path.removeprefix("/_replica/").strip("/")
        handler = self._admin_actions().get(action)
        if handler is None:
            return _json({"error": f"unknown admin action {action!r}"}, 404)
        try:
            return handler(params)
        except (KeyError, ValueError, TypeError) as exc:
            return _json({"error": str(exc).strip("'\"")}, 400)

    def _admin_actions(self) -> dict[str, Callable[[dict[str, Any]], Response]]:
        def expected(p: dict[str, Any]) -> Response:
            items = self.expected(p.get("stream", "naenara"))
            return (
                200,
                {"Content-Type": "application/x-ndjson; charset=UTF-8"},
                to_jsonl(items).encode(),
            )

        def publish(p: dict[str, Any]) -> Response:
            ids = self.publish(p.get("stream", "naenara"), int(p.get("count", 1)))
            return _json({"published": ids, "urls": [self.article_url(i) for i in ids]})

        def edit(p: dict[str, Any]) -> Response:
            body = p.get("body")
            if isinstance(body, str):
                body = [part for part in body.split("\n\n") if part.strip()]
            return _json(self.edit(p["article_id"], body=body, title=p.get("title")))

        def delete(p: dict[str, Any]) -> Response:
            unlist = str(p.get("unlist", "0")).lower() in ("1", "true", "yes")
            self.delete(p["article_id"], status=int(p.get("status", 410)), unlist=unlist)
            return _json({"deleted": p["article_id"]})

        def reset_log(_: dict[str, Any]) -> Response:
            self.reset_log()
            return _json({"ok": True})

        def reset_faults(_: dict[str, Any]) -> Response:
            self.reset_faults()
            return _json({"ok": True})

        def faults(p: dict[str, Any]) -> Response:
            try:
                return _json(self.faults.admin(p))
            except FaultError as exc:
                return _json({"error": str(exc)}, 400)

        return {
            "requests": lambda _: _json(self.requests),
            "expected": expected,
            "state": lambda _: _json(self.state()),
            "publish": publish,
            "edit": edit,
            "delete": delete,
            "reset_log": reset_log,
            "reset_faults": reset_faults,
            "faults": faults,
        }

    def state(self) -> dict[str, Any]:
        """A summary for humans and scripts: streams, sizes, start URLs, expected counts."""
        with self.lock:
            return {
                "base_url": self.base_url,
                "scripted": self.scripted,
                "streams": {
                    key: {
                        "label": st.spec.label,
                        "source_id": st.spec.source_id,
                        "articles": len(st.indexes()),
                        "published": st.published,
                        "listed": st.listed_count(),
                        "pages": st.page_count(),
                        "expected_items": sum(1 for art in st if is_article(art)),
                        "version": st.version,
                        "listing_url": self.start_url(key, "listing"),
                        "article_url": next(
                            (self.links.article(a) for a in st if is_article(a)), None
                        ),
                    }
                    for key, st in self.streams.items()
                },
            }


def _decode(slug: str) -> str:
    """A slug as text, whether the client sent it %-encoded (any case) or as raw UTF-8."""
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        slug = slug.encode("latin-1").decode("utf-8")
    return unquote(slug)
