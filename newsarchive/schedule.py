"""``newsarchive-schedule``: ask Scrapyd to run a spider now, unless a run of it is still going,
and say how the previous run ended.

Why a command of its own: cron (or a systemd timer) calls it every few hours, and it must
stay harmless and quiet — a line or two of output, no duplicate job when the last run is still
pending or running, a non-zero exit status with a one-line reason when Scrapyd refuses (401,
unknown project or spider) or cannot be reached. It talks HTTP to Scrapyd's JSON API
(``listjobs.json``, ``schedule.json``) with the standard library.

Before scheduling, the spider's own argument check runs here (the one ``scrapy crawl`` runs),
so ``-a bogus=1`` is refused at once instead of becoming a job that dies in Scrapyd's log.
Scrapyd keeps no exit status, so the previous job's outcome is read from the last line of its
log (newsarchive.outcome) and, when NEWSARCHIVE_DATABASE_URL is set, from its ``crawl_runs``
row; a failed or dead previous run makes the exit status 4, so cron mails someone.

Where Scrapyd is, and who we are to it, come from the environment or ~/.netrc, never from
the command line (``ps`` shows command lines): ``SCRAPYD_URL`` (default
``http://127.0.0.1:6800/``; ``http://user:password@host:6800/`` works too),
``SCRAPYD_USERNAME``/``SCRAPYD_PASSWORD``, else the ``~/.netrc`` entry for the host — the
same sources ``scrapyd-deploy`` uses.

Exit status: 0 scheduled, or skipped because a job is still pending/running; 1 Scrapyd
refused (bad credentials, unknown project or spider, an error answer); 2 bad usage (spider
arguments included); 3 Scrapyd unreachable (connection refused, timeout, DNS); 4 scheduled or
skipped, but the previous run failed or died.
"""

from __future__ import annotations

import argparse
import base64
import json
import netrc
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urlencode, urljoin, urlsplit, urlunsplit
from urllib.request import Request, urlopen

from newsarchive import config
from newsarchive.outcome import previous_outcome

PROG = "newsarchive-schedule"
DEFAULT_URL = "http://127.0.0.1:6800/"
DEFAULT_PROJECT = "newsarchive"

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_LAST_RUN_FAILED = 4
#: How much of a finished job's log is read: its outcome is the last line.
LOG_TAIL_BYTES = 64 * 1024


class ScheduleError(RuntimeError):
    """Scrapyd refused or could not be reached; ``str()`` is one line, ``code`` the exit status."""

    def __init__(
        self, message: str, code: int = EXIT_REFUSED, http_status: int | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.http_status = http_status


@dataclass(frozen=True)
class Target:
    """A Scrapyd server: its base URL (no credentials in it) and basic-auth credentials."""

    url: str
    username: str = ""
    password: str = ""

    @classmethod
    def from_environment(
        cls, url: str | None = None, environ: Mapping[str, str] | None = None
    ) -> Target:
        """``url`` or ``SCRAPYD_URL``; credentials from the URL, the environment or ~/.netrc."""
        env = os.environ if environ is None else environ
        raw = (url or env.get("SCRAPYD_URL") or DEFAULT_URL).strip()
        parts = urlsplit(raw)
        try:
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError:
            raise ScheduleError(f"bad port in Scrapyd URL {_mask(raw)!r}", EXIT_USAGE) from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ScheduleError(
                f"Scrapyd URL {_mask(raw)!r} is not an absolute http(s) URL "
                "(set SCRAPYD_URL, e.g. http://127.0.0.1:6800/)",
                EXIT_USAGE,
            )
        username = unquote(parts.username or "") or env.get("SCRAPYD_USERNAME", "")
        password = unquote(parts.password or "") or env.get("SCRAPYD_PASSWORD", "")
        if not username:
            username, password = _netrc_credentials(parts.hostname)
        netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        if parts.port:
            netloc += f":{parts.port}"
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        base = urlunsplit((parts.scheme, netloc, path, "", ""))
        return cls(base, username, password)

    def endpoint(self, name: str) -> str:
        return urljoin(self.url, name)


def _netrc_credentials(host: str) -> tuple[str, str]:
    try:
        found = netrc.netrc().authenticators(host)
    except (OSError, netrc.NetrcParseError):
        return "", ""
    if not found:
        return "", ""
    login, _account, password = found
    return login or "", password or ""


def _mask(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{userinfo.split(':', 1)[0]}:***@{hostport}"))


class Scrapyd:
    """The few Scrapyd API calls scheduling needs, with one-line errors."""

    def __init__(self, target: Target, timeout: float = 30.0) -> None:
        self.target = target
        self.timeout = timeout

    def call(
        self,
        name: str,
        query: Mapping[str, str] | None = None,
        form: Sequence[tuple[str, str]] = (),
    ) -> dict[str, Any]:
        """GET (or POST with ``form``) ``name`` and return the JSON answer, status "ok"."""
        url = self.target.endpoint(name)
        if query:
            url += "?" + urlencode(query)
        data = urlencode(list(form)).encode() if form else None
        body, _ = self._fetch(name, url, data)
        where = self.target.url
        try:
            answer = json.loads(body)
        except ValueError:
            raise ScheduleError(f"Scrapyd at {where} answered {name} with no JSON") from None
        if not isinstance(answer, dict) or answer.get("status") != "ok":
            message = answer.get("message") if isinstance(answer, dict) else None
            text = " ".join(str(message or answer).split())
            raise ScheduleError(f"Scrapyd at {where} refused {name}: {text}")
        return answer

    def _fetch(
        self,
        name: str,
        url: str,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        method: str | None = None,
    ) -> tuple[bytes, Mapping[str, str]]:
        """The body and headers of a GET (POST with ``data``, or ``method``) with our
        credentials; one-line errors."""
        method = method or ("POST" if data is not None else "GET")
        request = Request(url, data=data, method=method)
        for header, value in (headers or {}).items():
            request.add_header(header, value)
        if self.target.username:
            token = f"{self.target.username}:{self.target.password}".encode()
            request.add_header("Authorization", "Basic " + base64.b64encode(token).decode())
        where = self.target.url
        try:
            with urlopen(request, timeout=self.timeout) as response:
                return response.read(), response.headers
        except HTTPError as exc:
            if exc.code == 401:
                who = (
                    "without credentials" if not self.target.username else "with these credentials"
                )
                raise ScheduleError(
                    f"Scrapyd at {where} refused {name} {who} (401 Unauthorized); set "
                    "SCRAPYD_USERNAME/SCRAPYD_PASSWORD or a ~/.netrc entry"
                ) from None
            raise ScheduleError(
                f"Scrapyd at {where} answered {name} with HTTP {exc.code}", http_status=exc.code
            ) from None
        except (URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ScheduleError(
                f"Scrapyd at {where} is unreachable: {reason}", EXIT_UNREACHABLE
            ) from None

    def jobs(self, project: str) -> dict[str, Any]:
        """``listjobs.json`` of ``project``: its pending, running and finished jobs."""
        return self.call("listjobs.json", {"project": project})

    def log_tail(self, job: dict[str, Any]) -> str | None:
        """The end of a finished job's log (its ``log_url``), or None when Scrapyd keeps none."""
        log_url = job.get("log_url")
        if not log_url:
            return None
        url = urljoin(self.target.url, str(log_url).lstrip("/"))
        name = "the job's log"
        try:
            # Its size first: Twisted's file server fails a suffix range longer than the file.
            _, headers = self._fetch(name, url, method="HEAD")
            size = int(headers.get("Content-Length") or 0)
            if size == 0:
                return ""
            start = max(0, size - LOG_TAIL_BYTES)
            body, _ = self._fetch(name, url, headers={"Range": f"bytes={start}-"})
        except ScheduleError as exc:
            if exc.http_status == 404:  # Scrapyd keeps no logs (logs_dir), or lost this one
                return None
            raise
        return body.decode("utf-8", errors="replace")

    def schedule(
        self,
        project: str,
        spider: str,
        settings: Sequence[str] = (),
        arguments: Sequence[tuple[str, str]] = (),
    ) -> str:
        form = [("project", project), ("spider", spider)]
        form += [("setting", setting) for setting in settings]
        form += list(arguments)
        return str(self.call("schedule.json", form=form)["jobid"])


def active_jobs(jobs: Mapping[str, Any], spider: str) -> list[tuple[str, dict[str, Any]]]:
    """(state, job) of the spider's pending and running jobs in a listjobs answer."""
    return [
        (state, job)
        for state in ("running", "pending")
        for job in jobs.get(state) or []
        if job.get("spider") == spider
    ]


def schedule_unless_active(
    scrapyd: Scrapyd,
    project: str,
    spider: str,
    settings: Sequence[str] = (),
    arguments: Sequence[tuple[str, str]] = (),
    jobs: Mapping[str, Any] | None = None,
) -> tuple[bool, str]:
    """Schedule ``spider`` unless a job of it is pending or running: (scheduled, one line).
    ``jobs``: a listjobs answer already read."""
    active = active_jobs(scrapyd.jobs(project) if jobs is None else jobs, spider)
    if active:
        state, job = active[0]
        since = f" since {job['start_time']}" if job.get("start_time") else ""
        return False, f"skipped: {project}/{spider} job {job.get('id')} is still {state}{since}"
    jobid = scrapyd.schedule(project, spider, settings, arguments)
    return True, f"scheduled {project}/{spider} job {jobid} on {scrapyd.target.url}"


# --- the spider's arguments and the previous job's outcome -----------------------------------


def check_arguments(project: str, spider: str, arguments: Sequence[tuple[str, str]]) -> None:
    """The spider's own argument check (the one ``scrapy crawl`` runs), for this project's
    spiders; ScheduleError (usage) for arguments the job would die of. A spider this project
    does not know is Scrapyd's to refuse."""
    if project != DEFAULT_PROJECT:
        return
    from scrapy.settings import Settings  # imported here: the rest needs no Scrapy

    from newsarchive.commands.crawl import check_spider_arguments
    from newsarchive.spiders.base import ConfigurationError

    settings = Settings()
    settings.setmodule("newsarchive.settings", priority="project")
    try:
        check_spider_arguments(settings, spider, dict(arguments))
    except KeyError:
        return
    except ConfigurationError as exc:
        raise ScheduleError(f"{project}/{spider}: {exc}; nothing scheduled", EXIT_USAGE) from None


# --- command line ---------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{PROG}: error: {message}\n")


def _pair(text: str) -> str:
    name, sep, _value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Schedule a spider on Scrapyd unless a job of it is pending or running.",
        epilog="Scrapyd is SCRAPYD_URL (default http://127.0.0.1:6800/); credentials come from "
        "SCRAPYD_USERNAME/SCRAPYD_PASSWORD, the URL, or ~/.netrc. Exit status: 0 scheduled or "
        "skipped, 1 refused, 2 usage, 3 unreachable.",
    )
    parser.add_argument("spider", help="spider name, e.g. naenara")
    parser.add_argument(
        "--project",
        default=os.environ.get("SCRAPYD_PROJECT", DEFAULT_PROJECT),
        help="Scrapyd project",
    )
    parser.add_argument(
        "-s", "--setting", action="append", default=[], type=_pair, metavar="NAME=VALUE",
        help="a Scrapy setting for this job (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "-a", "--argument", action="append", default=[], type=_pair, metavar="NAME=VALUE",
        help="a spider argument for this job, e.g. recheck_days=3 (repeatable)",
    )  # fmt: skip
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per API call")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    arguments = [tuple(a.split("=", 1)) for a in args.argument]
    reserved = {"project", "spider", "setting", "jobid", "priority", "_version"}
    clash = sorted({name for name, _ in arguments} & reserved)
    if clash:
        print(f"{PROG}: error: {', '.join(clash)} cannot be a spider argument", file=sys.stderr)
        return EXIT_USAGE
    database_url = str(config.module_values()["NEWSARCHIVE_DATABASE_URL"]).strip()
    try:
        check_arguments(args.project, args.spider, arguments)  # type: ignore[arg-type]
        target = Target.from_environment()
        scrapyd = Scrapyd(target, timeout=args.timeout)
        jobs = scrapyd.jobs(args.project)
        previous = previous_outcome(jobs, args.spider, scrapyd.log_tail, database_url)
        _, line = schedule_unless_active(
            scrapyd,
            args.project,
            args.spider,
            args.setting,
            arguments,  # type: ignore[arg-type]
            jobs=jobs,
        )
    except ScheduleError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.code
    print(f"{PROG}: {line}")
    if previous is not None:
        failed, about = previous
        if failed:
            print(f"{PROG}: {about}", file=sys.stderr)
            return EXIT_LAST_RUN_FAILED
        print(f"{PROG}: {about}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
