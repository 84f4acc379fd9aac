"""The ``batch-widgets`` command. ``batch-widgets serve`` runs the local batch server in the foreground.

Subcommands register themselves in ``COMMANDS`` (name -> function adding its parser); another module can add
one (e.g. ``dashboard``) with ``register("dashboard", add_parser)`` before ``main`` runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Callable, Optional, Sequence

__all__ = ["main", "register", "COMMANDS", "build_parser"]

# name -> function(subparsers) that adds the subcommand's parser and sets ``func`` on it
COMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {}


def register(name: str, add_parser: Callable[[argparse._SubParsersAction], None]) -> None:
    COMMANDS[name] = add_parser


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the local OpenAI-compatible batch server",
                       description="Serve /v1/files and /v1/batches from a local data directory.")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback only)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="where batches and files live (default: $BATCH_WIDGETS_HOME or the user data dir)")
    p.add_argument("--api-key", default=os.environ.get("BATCH_WIDGETS_LOCAL_API_KEY"),
                   help="require 'Authorization: Bearer KEY' (default: $BATCH_WIDGETS_LOCAL_API_KEY; none)")
    p.add_argument("--executor", choices=("simulated", "upstream"), default="simulated")
    p.add_argument("--upstream-url", help="OpenAI-compatible base URL for --executor upstream, e.g. "
                                          "http://127.0.0.1:8000/v1 (its key: $BATCH_WIDGETS_UPSTREAM_API_KEY)")
    p.add_argument("--concurrency", type=int, default=8, help="upstream requests in flight (default 8)")
    p.add_argument("--rate", type=float, default=20.0, metavar="REQUESTS_PER_S",
                   help="simulated throughput, requests/s (0 = as fast as it can; default 20)")
    p.add_argument("--latency", type=float, default=0.0, metavar="SECONDS", help="simulated seconds per request")
    p.add_argument("--failure-rate", type=float, default=0.03, metavar="FRACTION",
                   help="simulated fraction of requests that fail (default 0.03)")
    p.add_argument("--window-seconds", type=int, default=None,
                   help="override every batch's completion window (to demo expiry)")
    p.add_argument("--enqueued-token-limit", type=int, default=None, metavar="N",
                   help="per model, the most estimated input tokens of batches not yet finished; a batch that "
                        "would pass it fails with token_limit_exceeded as on OpenAI (estimate: "
                        "batch_widgets.tokens; default: no limit)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="also log every upstream HTTP request (httpx/httpcore, quiet by default)")
    p.set_defaults(func=_serve)


#: Loggers of the HTTP client; at INFO, httpx logs one line per upstream request.
HTTP_LOGGERS = ("httpx", "httpcore")


def setup_logging(verbose: bool = False) -> None:
    """INFO for our own messages; the HTTP client's per-request lines only with --verbose."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in HTTP_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app
    from .settings import ServerSettings
    from .storage import default_data_dir

    if args.executor == "upstream" and not args.upstream_url:
        print("batch-widgets serve: --executor upstream needs --upstream-url", file=sys.stderr)
        return 2
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: binding {args.host}: the server is reachable from other machines", file=sys.stderr)
    setup_logging(args.verbose)
    data_dir = args.data_dir or default_data_dir()
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = ServerSettings(
        data_dir=data_dir, api_key=args.api_key or None, executor=args.executor, upstream_url=args.upstream_url,
        upstream_api_key=os.environ.get("BATCH_WIDGETS_UPSTREAM_API_KEY"), concurrency=args.concurrency,
        rate=args.rate, latency=args.latency, failure_rate=args.failure_rate, window_seconds=args.window_seconds,
        enqueued_token_limit=args.enqueued_token_limit)
    try:
        app = create_app(settings)
    except ValueError as exc:
        print(f"batch-widgets serve: {exc}", file=sys.stderr)
        return 2
    auth = "API key required" if settings.api_key else "no API key required"
    print(f"batch_widgets local batch server: http://{args.host}:{args.port}/v1 ({auth}; data in {data_dir})",
          flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False,
                timeout_graceful_shutdown=5)
    return 0


register("serve", _add_serve)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="batch-widgets", description="batch_widgets command line")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add_parser in COMMANDS.values():
        add_parser(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
