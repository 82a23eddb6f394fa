"""``newsarchive-replica``: serve the replica, print its expected items, export it for nginx.

Why one-line errors: the command is used from scripts and CI logs, where a usage dump or a
traceback hides the one fact that matters.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

from newsarchive_replica.expected import expected_items, to_jsonl
from newsarchive_replica.export import ExportError, export_static
from newsarchive_replica.model import DEFAULT_SEED, STREAM_KEYS, build_streams
from newsarchive_replica.server import ReplicaServer
from newsarchive_replica.themes import DEFAULT_THEME, THEME_NAMES

PROG = "newsarchive-replica"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message}\n")


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return int(text)


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port 0-65535, got {text!r}")
    return int(text)


def _seed(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None


def _base_url(text: str) -> str:
    parts = urlsplit(text)
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad port in base URL {text!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"expected scheme://host[:port], got {text!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise argparse.ArgumentTypeError(f"base URL must have no path or query, got {text!r}")
    return f"{parts.scheme}://{parts.netloc}"


def _add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--naenara-articles", type=_count, default=160, metavar="N")
    parser.add_argument("--kcna-articles", type=_count, default=40, metavar="N")
    parser.add_argument("--rodong-articles", type=_count, default=30, metavar="N")
    parser.add_argument("--seed", type=_seed, default=DEFAULT_SEED, metavar="S")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Offline replica of kcnawatch.org.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    serve = sub.add_parser("serve", help="serve both streams over HTTP until Ctrl-C/SIGTERM")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8765)
    serve.add_argument("--scripted", action="store_true", help="scripted 'More Articles'")
    serve.add_argument("--base-url", type=_base_url, help="URL the pages link to, if not host:port")
    serve.add_argument("--theme", choices=THEME_NAMES, default=DEFAULT_THEME)
    _add_model_args(serve)

    expected = sub.add_parser("expected", help="print the expected items as JSON Lines")
    expected.add_argument("--base-url", type=_base_url, required=True)
    expected.add_argument("--stream", choices=[*STREAM_KEYS, "all"], default="naenara")
    _add_model_args(expected)

    export = sub.add_parser("export", help="write a static copy of one stream and nginx.conf")
    export.add_argument("dir", type=Path)
    export.add_argument("--base-url", type=_base_url, required=True)
    export.add_argument("--stream", choices=STREAM_KEYS, default="naenara")
    export.add_argument("--port", type=_port, help="nginx port (default: the base URL's)")
    export.add_argument("--host", default="127.0.0.1", help="nginx listen address")
    export.add_argument("--theme", choices=THEME_NAMES, default=DEFAULT_THEME)
    _add_model_args(export)
    return parser


def _serve(args: argparse.Namespace) -> int:
    server = ReplicaServer(
        host=args.host,
        port=args.port,
        naenara_articles=args.naenara_articles,
        kcna_articles=args.kcna_articles,
        scripted=args.scripted,
        seed=args.seed,
        base_url=args.base_url,
        theme=args.theme,
        rodong_articles=args.rodong_articles,
    )
    try:
        server.start()
    except OSError as exc:
        print(f"{PROG}: error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        article = server.start_url("naenara", "article")
    except LookupError:
        article = "-"
    print(
        f"{PROG}: serving {server.base_url} naenara={server.start_url('naenara')}"
        f" naenara_article={article} kcna={server.start_url('kcna')}",
        flush=True,
    )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


def _expected(args: argparse.Namespace) -> int:
    streams = build_streams(
        args.naenara_articles, args.kcna_articles, args.seed, rodong_articles=args.rodong_articles
    )
    keys = STREAM_KEYS if args.stream == "all" else (args.stream,)
    for key in keys:
        sys.stdout.write(to_jsonl(expected_items(streams[key], args.base_url)))
    return 0


def _export(args: argparse.Namespace) -> int:
    try:
        summary = export_static(
            args.dir,
            args.base_url,
            stream=args.stream,
            naenara_articles=args.naenara_articles,
            kcna_articles=args.kcna_articles,
            seed=args.seed,
            port=args.port,
            host=args.host,
            theme=args.theme,
            rodong_articles=args.rodong_articles,
        )
    except (ExportError, OSError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ExportError) else 1
    print(
        f"{PROG}: exported {summary.articles} articles, {summary.pages} listing pages to"
        f" {summary.directory}; start {summary.start_url}; run: {summary.nginx_command}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return {"serve": _serve, "expected": _expected, "export": _export}[args.command](args)
    except BrokenPipeError:  # `... expected | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
