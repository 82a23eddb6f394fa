"""Scrapy's default components that a stream crawl has switched off: left out, not imported.

Scrapy builds every component of its ``*_BASE`` lists and lets each refuse (``NotConfigured``)
when its switch is off; by then its module is imported, and Scrapy imports a component named
in ``EXTENSIONS`` or ``DOWNLOADER_MIDDLEWARES`` even to switch it off with ``None``. Two of
them import far more than they do: the remote control extension imports aiohttp (about 0.11 s
of a crawl's start-up) and the cookies middleware imports tldextract and requests (0.05-0.16
s), in a crawl whose settings switch both off. So a stream crawl takes each component of
``SWITCHED_COMPONENTS`` whose switch is off out of Scrapy's base list, after every ``-s``
(``StreamSpider.update_settings``): ``-s COOKIES_ENABLED=True`` still turns it back on.
"""

from __future__ import annotations

from scrapy.settings import BaseSettings

#: (component list, component): the setting that switches it on.
SWITCHED_COMPONENTS: dict[tuple[str, str], str] = {
    ("EXTENSIONS", "scrapy.extensions.remote_control.RemoteControl"): "REMOTE_CONTROL_ENABLED",
    ("EXTENSIONS", "scrapy.extensions.telnet.TelnetConsole"): "TELNETCONSOLE_ENABLED",
    ("EXTENSIONS", "scrapy.extensions.memdebug.MemoryDebugger"): "MEMDEBUG_ENABLED",
    ("DOWNLOADER_MIDDLEWARES", "scrapy.downloadermiddlewares.cookies.CookiesMiddleware"): (
        "COOKIES_ENABLED"
    ),
}


def leave_out(settings: BaseSettings, setting: str, components: set[str]) -> None:
    """Take ``components`` out of Scrapy's base list of ``setting`` (``EXTENSIONS_BASE``, …),
    so Scrapy never imports them; naming one with ``None`` in ``setting`` would import it."""
    base = f"{setting}_BASE"
    listed = settings.getdict(base)
    kept = {name: order for name, order in listed.items() if name not in components}
    if len(kept) == len(listed):
        return
    # One above the list's own priority, as for FEEDS (newsarchive.spiders.feeds): the
    # runner re-applies the project's settings to the crawler after this.
    settings.set(base, kept, priority=(settings.getpriority(base) or 0) + 1)


def leave_out_switched_off(settings: BaseSettings) -> None:
    """Take each component of ``SWITCHED_COMPONENTS`` whose switch is off out of its list."""
    for (setting, component), switch in SWITCHED_COMPONENTS.items():
        if not settings.getbool(switch):
            leave_out(settings, setting, {component})
