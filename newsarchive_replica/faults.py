"""Fault injection for the replica: the live site blocks bots, changes theme and goes down.

Why a rule list: tests and humans describe a fault as "requests whose URL matches this
pattern get these answers, in this order" (503, then 503, then the page), which covers
transient and persistent faults alike. Rules are set from Python (``server.faults.add(...)``)
or over HTTP (``POST /_replica/faults``); the first active rule that matches a request decides
its answer. A rule whose actions are used up stops matching, unless ``repeat`` keeps its last
action for good (a persistent fault); ``per_url`` gives every distinct URL its own sequence
(every article answers 503 once, then its page).

Actions, as dicts (``{"do": "status", "status": 503}``) or shorthand strings:

=====================================  ===========================================================
shorthand                              what the client gets
=====================================  ===========================================================
``pass``                               the normal page
``503`` / ``429:retry_after=2``        that status, an error page, optional ``Retry-After``
``reset``                              the connection is reset (RST) before any response byte
``delay:2.5``                          the normal page after 2.5 s (beyond a short timeout)
``truncate`` / ``truncate:0.3``        the first half (or 30 %) of the page, Content-Length matching
``empty``                              200 with an empty body
``oversize:2000000``                   the page padded to that many bytes
``oversize_stream:2000000``            the same, streamed without Content-Length (then closed)
``redirect:http://other/x``            302 to that URL (another host)
``theme:date_label``                   the ``Date:`` label renamed (``Published:``)
``theme:no_body``                      the article body left out
``theme:no_title``                     the ``<h1>`` left out
``theme:no_more_articles``             the "More Articles" link replaced by a page number
``loop:2``                             listing: "More Articles" leads back to page 2 (a new URL
                                       each time, so a URL dupefilter cannot see the loop)
``endless``                            listing: "More Articles" is always there; pages past the
                                       end show a moving window of older cards
``offsite_links``                      listing: cards linking articles on another host added
=====================================  ===========================================================

Connection-level behaviours (reset, delay) are carried to the request handler in the private
``X-Replica-Fault`` header, which never reaches the client.
"""

from __future__ import annotations

import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from newsarchive_replica import render

if TYPE_CHECKING:
    from http.server import BaseHTTPRequestHandler

    from newsarchive_replica.server import ReplicaServer

Response = tuple[int, dict[str, str], bytes]

#: Private header: a connection-level behaviour for the handler (never sent to the client).
DIRECTIVE = "X-Replica-Fault"
HTML = "text/html; charset=UTF-8"
OFFSITE_BASE = "http://offsite.invalid"

#: Theme changes as (pattern, replacement) pairs on the rendered HTML.
THEMES: dict[str, tuple[tuple[str, str], ...]] = {
    "date_label": ((r"Date: ", "Published: "),),
    "no_body": ((r'(<div class="article-content">).*?(\n    </div>)', r"\1\2"),),
    "no_title": ((r"<h1 class=\"article-title\">.*?</h1>\n?", ""),),
    # numbered pages instead of the "More Articles" link (its id and class gone too)
    "no_more_articles": ((r"<a [^>]*more-articles[^>]*>More Articles</a>", '<a href="#">1</a>'),),
}
_MORE_ARTICLES_HREF = re.compile(r'(<a [^>]*class="more-articles"[^>]*href=")[^"]*(")')
_ARCHIVE_LIST = '<div class="archive-list" id="archive_wrapper">\n'


class FaultError(ValueError):
    """A rule or action that cannot be understood (the admin endpoint answers 400)."""


def parse_action(action: str | dict[str, Any]) -> dict[str, Any]:
    """A normalised action dict from a dict or a shorthand string (see the module doc)."""
    if isinstance(action, dict):
        spec = dict(action)
        if "do" not in spec:
            raise FaultError(f"action {action!r} has no 'do'")
        if spec["do"] == "status":
            spec["status"] = int(spec["status"])
        return spec
    text = str(action).strip()
    name, _, argument = text.partition(":")
    if name.isdigit():
        spec = {"do": "status", "status": int(name)}
        for part in filter(None, argument.split(",")):
            key, _, value = part.partition("=")
            spec[key.strip()] = value.strip()
        return spec
    if name in ("pass", "reset", "empty", "endless", "offsite_links"):
        return {"do": name}
    if name == "delay":
        return {"do": "delay", "seconds": float(argument or 1)}
    if name == "truncate":
        return {"do": "truncate", "fraction": float(argument or 0.5)}
    if name in ("oversize", "oversize_stream"):
        spec = {"do": "oversize", "bytes": int(argument or 2_000_000)}
        return {**spec, "stream": True} if name == "oversize_stream" else spec
    if name == "redirect":
        if not argument:
            raise FaultError("redirect needs a location: redirect:http://host/path")
        return {"do": "redirect", "location": argument}
    if name == "theme":
        if argument not in THEMES:
            raise FaultError(f"unknown theme {argument!r} (known: {', '.join(THEMES)})")
        return {"do": "theme", "name": argument}
    if name == "loop":
        return {"do": "loop", "to": int(argument or 1)}
    raise FaultError(f"unknown fault action {text!r}")


@dataclass
class FaultRule:
    """Requests whose ``path?query`` matches ``pattern`` get ``actions`` in order."""

    pattern: str
    actions: list[dict[str, Any]]
    repeat: bool = False
    per_url: bool = False
    name: str = ""
    hits: int = 0
    _counts: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        try:
            self._regex = re.compile(self.pattern)
        except re.error as exc:
            raise FaultError(f"bad pattern {self.pattern!r}: {exc}") from None
        if not self.actions:
            raise FaultError("a rule needs at least one action")

    def next_action(self, target: str) -> dict[str, Any] | None:
        """The action for this request, or None when the rule does not apply (any more)."""
        if not self._regex.search(target):
            return None
        key = target if self.per_url else ""
        n = self._counts.get(key, 0)
        if n >= len(self.actions) and not self.repeat:
            return None
        self._counts[key] = n + 1
        self.hits += 1
        return self.actions[min(n, len(self.actions) - 1)]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pattern": self.pattern,
            "actions": self.actions,
            "repeat": self.repeat,
            "per_url": self.per_url,
            "hits": self.hits,
        }


class FaultInjector:
    """The replica's fault rules; the server calls ``respond`` and ``perform`` (one hook each)."""

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []
        self.lock = threading.RLock()
        self._loops = 0  # makes every looping "More Articles" URL new

    # --- configuration ------------------------------------------------------------------------

    def add(
        self,
        pattern: str,
        *actions: str | dict[str, Any],
        repeat: bool = False,
        per_url: bool = False,
        name: str = "",
    ) -> FaultRule:
        """Add a rule; e.g. ``add(r"^/newstream/", "503", "reset", per_url=True)``."""
        rule = FaultRule(
            pattern, [parse_action(a) for a in actions], repeat=repeat, per_url=per_url, name=name
        )
        with self.lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()

    def describe(self) -> list[dict[str, Any]]:
        with self.lock:
            return [rule.describe() for rule in self.rules]

    def admin(self, params: dict[str, Any]) -> dict[str, Any]:
        """``/_replica/faults``: no parameters lists the rules; ``clear=1`` removes them;
        ``rules=[{pattern, actions, repeat, per_url, name}]`` (JSON) adds rules (after
        ``clear`` when both are given); ``pattern`` + ``actions`` (comma-separated shorthand)
        adds one rule from a query string."""
        if str(params.get("clear", "")).lower() in ("1", "true", "yes"):
            self.clear()
        rules = params.get("rules")
        if rules is None and "pattern" in params:
            actions = params.get("actions", "")
            rules = [
                {
                    "pattern": params["pattern"],
                    "actions": actions.split(",") if isinstance(actions, str) else actions,
                    "repeat": params.get("repeat", False),
                    "per_url": params.get("per_url", False),
                    "name": params.get("name", ""),
                }
            ]
        for spec in rules or []:
            if not isinstance(spec, dict) or "pattern" not in spec:
                raise FaultError(f"a rule needs a pattern: {spec!r}")
            self.add(
                spec["pattern"],
                *spec.get("actions") or [],
                repeat=_flag(spec.get("repeat")),
                per_url=_flag(spec.get("per_url")),
                name=str(spec.get("name", "")),
            )
        return {"rules": self.describe()}

    # --- serving ------------------------------------------------------------------------------

    def respond(self, server: ReplicaServer, path: str, query: str) -> Response:
        """The answer to a site request: the normal one, unless a rule says otherwise."""
        target = f"{path}?{query}" if query else path
        with self.lock:
            action = next(
                (a for rule in self.rules if (a := rule.next_action(target)) is not None), None
            )
        if action is None or action["do"] == "pass":
            return server._route(path, query)
        return self._apply(action, server, path, query)

    def _apply(
        self, action: dict[str, Any], server: ReplicaServer, path: str, query: str
    ) -> Response:
        do = action["do"]
        if do == "status":
            status = int(action["status"])
            headers = {"Content-Type": HTML}
            if action.get("retry_after") not in (None, ""):
                headers["Retry-After"] = str(action["retry_after"])
            return status, headers, render.error_page(status).encode()
        if do == "reset":
            return 0, {DIRECTIVE: "reset"}, b""
        if do == "empty":
            return 200, {"Content-Type": HTML}, b""
        if do == "redirect":
            return 302, {"Content-Type": HTML, "Location": action["location"]}, b""
        if do in ("loop", "endless", "offsite_links"):
            listing = self._listing(action, server, query)
            if listing is not None:
                return listing
        status, headers, body = server._route(path, query)
        if do == "delay":
            headers = {**headers, DIRECTIVE: f"delay={float(action['seconds'])}"}
        elif do == "truncate":
            body = body[: int(len(body) * float(action.get("fraction", 0.5)))]
        elif do == "oversize":
            padding = max(0, int(action["bytes"]) - len(body))
            body += b"<!--" + b"x" * max(0, padding - 7) + b"-->"
            if action.get("stream"):
                headers = {**headers, DIRECTIVE: "stream"}
        elif do == "theme":
            text = body.decode("utf-8")
            for pattern, replacement in THEMES[action["name"]]:
                text = re.sub(pattern, replacement, text, flags=re.DOTALL)
            body = text.encode("utf-8")
        return status, headers, body

    def _listing(
        self, action: dict[str, Any], server: ReplicaServer, query: str
    ) -> Response | None:
        """Listing faults: a "More Articles" that loops or never ends, off-site cards."""
        params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        state = server._state_for_source(params.get("source", ""))
        page = server._page_number(params.get("paged"))
        if state is None or page is None:
            return None
        last = state.page_count()
        links = server.links
        cards = state.page(min(page, last))
        if page > last:  # past the end: a window of older cards that moves with the page
            size, total = state.spec.page_size, state.listed_count()
            every = state.page(1) + [a for n in range(2, last + 1) for a in state.page(n)[2:]]
            start = (page - last) * 7 % max(1, total)
            cards = [every[(start + i) % len(every)] for i in range(min(size, len(every)))]
        html = render.listing_page(state.spec, cards, links, page, True, False)
        do = action["do"]
        if do == "loop":
            self._loops += 1
            target = f"{links.listing(state.spec, int(action['to']))}&loop={self._loops}"
            if int(action["to"]) == 1:
                target = target.replace("&sort=recent", "&sort=recent&paged=1", 1)
            html = _MORE_ARTICLES_HREF.sub(lambda m: m[1] + escape(target) + m[2], html)
        elif do == "offsite_links":
            if page > last:
                return None
            html = render.listing_page(state.spec, cards, links, page, page < last, False)
            html = html.replace(_ARCHIVE_LIST, _ARCHIVE_LIST + _offsite_cards(page), 1)
        return 200, {"Content-Type": HTML}, html.encode("utf-8")

    # --- connection-level behaviours (in the handler thread, outside the server lock) --------

    @staticmethod
    def perform(handler: BaseHTTPRequestHandler, headers: dict[str, str]) -> bool:
        """Carry out a reset or delay; True when the response must not be sent."""
        directive = headers.pop(DIRECTIVE, None)
        if directive is None:
            return False
        if directive == "reset":
            sock = handler.connection
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.close_connection = True
            sock.close()
            return True
        if directive == "stream":  # no Content-Length: the body ends when the connection does
            headers["Connection"] = "close"
            handler.close_connection = True
            return False
        if directive.startswith("delay="):
            time.sleep(float(directive.removeprefix("delay=")))
        return False


def _offsite_cards(page: int, count: int = 3) -> str:
    """Cards linking articles on another host (ids of their own, as a mirror's would be)."""
    cards = []
    for n in range(count):
        href = f"{OFFSITE_BASE}/newstream/1700000000-{page * 100 + n}/offsite-story-{n}/"
        cards.append(
            f'      <article class="clearfix"><div class="article-desc"><h4><a href="{href}">'
            f"Offsite story {n}</a></h4></div></article>\n"
        )
    return "".join(cards)


def _flag(value: Any) -> bool:
    return str(value).lower() in ("1", "true", "yes") if not isinstance(value, bool) else value
