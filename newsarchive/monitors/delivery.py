"""Carry a message to a person: SMTP email and a JSON webhook, each bounded by a timeout.

The senders block (smtplib, urllib), so they run in a thread; the ``Outbox`` keeps those
threads' futures and the Spidermon extension awaits them at spider close, so the process
does not exit before the message left, and never waits longer than the timeout. A delivery
that fails is one WARNING naming the channel and the host: never the password, the
recipient list or the webhook URL (its path is a token).
"""

from __future__ import annotations

import asyncio
import json
import logging
import smtplib
import ssl
import urllib.request
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Self
from urllib.parse import urlsplit

from scrapy.crawler import Crawler
from scrapy.settings import BaseSettings

from newsarchive.monitors.messages import Message

logger = logging.getLogger(__name__)

TLS_MODES = ("starttls", "ssl", "off")


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    tls: str
    user: str
    password: str
    sender: str
    recipients: tuple[str, ...]
    timeout: float

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> Self | None:
        """None when no host or no recipient is set: email alerts are off."""
        host = (settings.get("NEWSARCHIVE_ALERT_SMTP_HOST") or "").strip()
        recipients = tuple(
            address.strip()
            for address in (settings.get("NEWSARCHIVE_ALERT_EMAIL_TO") or "").split(",")
            if address.strip()
        )
        if not host or not recipients:
            return None
        tls = (settings.get("NEWSARCHIVE_ALERT_SMTP_TLS") or "").strip().lower()
        if tls not in TLS_MODES:
            raise ValueError(f"NEWSARCHIVE_ALERT_SMTP_TLS={tls!r} is not one of {TLS_MODES}")
        return cls(
            host=host,
            port=settings.getint("NEWSARCHIVE_ALERT_SMTP_PORT"),
            tls=tls,
            user=settings.get("NEWSARCHIVE_ALERT_SMTP_USER") or "",
            password=settings.get("NEWSARCHIVE_ALERT_SMTP_PASSWORD") or "",
            sender=settings.get("NEWSARCHIVE_ALERT_EMAIL_FROM"),
            recipients=recipients,
            timeout=settings.getfloat("NEWSARCHIVE_ALERT_TIMEOUT"),
        )

    @property
    def target(self) -> str:
        return f"SMTP server {self.host}:{self.port}"


@dataclass(frozen=True)
class WebhookConfig:
    url: str
    timeout: float

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> Self | None:
        url = (settings.get("NEWSARCHIVE_ALERT_WEBHOOK_URL") or "").strip()
        if not url:
            return None
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError("NEWSARCHIVE_ALERT_WEBHOOK_URL is not an http(s) URL")
        return cls(url=url, timeout=settings.getfloat("NEWSARCHIVE_ALERT_TIMEOUT"))

    @property
    def target(self) -> str:
        return f"webhook at {urlsplit(self.url).hostname}"


def send_email(config: SmtpConfig, message: Message) -> None:
    """Blocking: one SMTP session, at most ``timeout`` seconds per network step."""
    email = EmailMessage()
    email["Subject"] = message.subject
    email["From"] = config.sender
    email["To"] = ", ".join(config.recipients)
    email.set_content(message.text)
    context = ssl.create_default_context()
    if config.tls == "ssl":
        session: smtplib.SMTP = smtplib.SMTP_SSL(
            config.host, config.port, timeout=config.timeout, context=context
        )
    else:
        session = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
    with session:
        if config.tls == "starttls":
            session.starttls(context=context)
        if config.user:
            session.login(config.user, config.password)
        session.send_message(email)


def post_webhook(config: WebhookConfig, message: Message) -> None:
    """Blocking: one POST of ``{"text": …, "content": …}``; a non-2xx answer raises."""
    request = urllib.request.Request(
        config.url,
        data=json.dumps(message.webhook_json()).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "newsarchive-alerts"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=config.timeout) as answer:
        answer.read()


class Outbox:
    """Deliveries in flight for one crawl; ``drain`` waits for them (bounded)."""

    def __init__(self) -> None:
        self.pending: list[asyncio.Future[None]] = []
        self.timeout = 0.0

    def send(
        self, target: str, deliver: Callable[[Any, Message], None], config: Any, message: Message
    ) -> None:
        """Start ``deliver(config, message)`` in a thread now; failures are logged there."""
        self.timeout = max(self.timeout, config.timeout)

        def run() -> None:
            try:
                deliver(config, message)
            except Exception as exc:  # one line, never the secret parts of the config
                logger.warning("Alert %r not delivered to the %s: %s",
                               message.subject, target, _describe(exc))  # fmt: skip
            else:
                logger.info("Alert %r delivered to the %s", message.subject, target)

        self.pending.append(asyncio.get_running_loop().run_in_executor(None, run))

    async def drain(self) -> None:
        pending, self.pending = self.pending, []
        if not pending:
            return
        # Each network step is bounded by the timeout; a session has a few of them.
        _, late = await asyncio.wait(pending, timeout=4 * self.timeout + 1)
        if late:
            logger.warning("%d alert(s) still being sent after %.0fs: given up",
                           len(late), 4 * self.timeout + 1)  # fmt: skip


def _describe(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return f"{type(error).__name__}: {text}"[:200]


_outboxes: weakref.WeakKeyDictionary[Crawler, Outbox] = weakref.WeakKeyDictionary()


def outbox_for(crawler: Crawler) -> Outbox:
    """The crawl's one outbox (actions fill it, the extension drains it)."""
    return _outboxes.setdefault(crawler, Outbox())
