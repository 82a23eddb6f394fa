"""Scrapyd's application for newsarchive: the same server, but it never runs open.

Scrapyd turns authentication on only when both a username and a password are configured,
and otherwise serves its API (which runs any deployed code) to anyone who can reach the port.
``deploy/scrapyd.conf`` names this factory as its ``application``, so a Scrapyd started from
the shipped configuration without credentials refuses to start, with one line saying what to
set, instead of serving unauthenticated.
"""

from __future__ import annotations

import os
from typing import Any

from scrapyd.app import application as scrapyd_application
from scrapyd.exceptions import ConfigError

MISSING_CREDENTIALS = (
    "newsarchive: Scrapyd refuses to start without credentials: set SCRAPYD_USERNAME and "
    "SCRAPYD_PASSWORD in its environment (see docs/DEPLOY.md)"
)


def credentials_configured(config: Any) -> bool:
    """True when Scrapyd's basic auth will be on: both a username and a password, from the
    environment or the configuration (the same sources, in the same order, as Scrapyd's own)."""
    username = os.getenv("SCRAPYD_USERNAME") or config.get("username", "")
    password = os.getenv("SCRAPYD_PASSWORD") or config.get("password", "")
    return bool(username and password)


def application(config: Any) -> Any:
    """Scrapyd's own application, once credentials are known to be configured."""
    if not credentials_configured(config):
        raise ConfigError(MISSING_CREDENTIALS)
    return scrapyd_application(config)
