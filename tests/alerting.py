"""Real receivers for alerts on loopback: an SMTP server (aiosmtpd) and an HTTP webhook."""

from __future__ import annotations

import email
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.services import free_port

USER, PASSWORD = "alerts", "s3cret-smtp-pw"


@dataclass
class Inbox:
    """What the SMTP server accepted, and the logins it saw."""

    messages: list[EmailMessage] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = (auth_data.login.decode(), auth_data.password.decode())
        self.logins.append(login)
        return AuthResult(success=login == (USER, PASSWORD))


@contextmanager
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on 127.0.0.1 with AUTH LOGIN/PLAIN (no TLS: loopback only)."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port,
        authenticator=inbox.authenticate, auth_require_tls=False,
    )  # fmt: skip
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@contextmanager
def webhook_receiver(status: int = 200, delay: float = 0.0) -> Iterator[tuple[list[dict], str]]:
    """An HTTP server on 127.0.0.1 that keeps every JSON body POSTed to it."""
    posts: list[dict] = []
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if delay:
                stop.wait(delay)
            posts.append(json.loads(body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield posts, f"http://127.0.0.1:{server.server_port}/hooks/T000/secret-token"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


def alert_env(smtp_port: int, webhook_url: str) -> dict[str, str]:
    """The environment an operator sets for alerts (password from the environment only)."""
    return {
        "NEWSARCHIVE_ALERT_SMTP_HOST": "127.0.0.1",
        "NEWSARCHIVE_ALERT_SMTP_PORT": str(smtp_port),
        "NEWSARCHIVE_ALERT_SMTP_TLS": "off",
        "NEWSARCHIVE_ALERT_SMTP_USER": USER,
        "NEWSARCHIVE_ALERT_SMTP_PASSWORD": PASSWORD,
        "NEWSARCHIVE_ALERT_EMAIL_FROM": "crawler@example.org",
        "NEWSARCHIVE_ALERT_EMAIL_TO": "ops@example.org, research@example.org",
        "NEWSARCHIVE_ALERT_WEBHOOK_URL": webhook_url,
        "NEWSARCHIVE_ALERT_TIMEOUT": "5",
    }
