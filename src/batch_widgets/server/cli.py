"""The ``batch-widgets`` command. ``batch-widgets serve`` runs the local batch server in the foreground."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

from .settings import INSECURE_FLAG

__all__ = ["main", "build_parser"]

_SERVE_EPILOG = """\
examples:
  batch-widgets serve                                  simulated answers on http://127.0.0.1:8765/v1
  batch-widgets serve --rate 0 --failure-rate 0        as fast as it can, no simulated failures
  batch-widgets serve --executor upstream --upstream-url http://127.0.0.1:8000/v1
                                                       a Batch API in front of vLLM, Ollama, ...
  batch-widgets serve --host 0.0.0.0 --api-key KEY     reachable from other machines (a key is required)

clients: point the openai SDK (or batch_widgets) at it with
  OPENAI_BASE_URL=http://127.0.0.1:8765/v1 OPENAI_API_KEY=<the --api-key, or anything without one>
"""


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="run the local OpenAI-compatible batch server",
        description="Serve OpenAI's /v1/files, /v1/batches and /v1/models from a local data directory (SQLite +\n"
        "files). Batches survive restarts; a batch left running resumes on the next start.",
        epilog=_SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    net = p.add_argument_group("network and security")
    net.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to bind (default 127.0.0.1: this machine only). Any other address needs "
        f"--api-key, or {INSECURE_FLAG}",
    )
    net.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    net.add_argument(
        "--api-key",
        default=os.environ.get("BATCH_WIDGETS_LOCAL_API_KEY"),
        help="require 'Authorization: Bearer KEY' on every request (default: "
        "$BATCH_WIDGETS_LOCAL_API_KEY; none). Never logged",
    )
    net.add_argument(
        INSECURE_FLAG,
        dest="insecure_allow_no_api_key",
        action="store_true",
        help="DANGEROUS: allow a non-loopback --host without --api-key, so anyone on the network "
        "can run batches (and, with --executor upstream, spend the upstream key)",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where batches and files live (default: $BATCH_WIDGETS_HOME or the user data dir)",
    )
    ex = p.add_argument_group("executor: who answers the requests")
    ex.add_argument(
        "--executor",
        choices=("simulated", "upstream"),
        default="simulated",
        help="'simulated' (default): realistic answers generated locally, offline, with token usage, "
        "body checks and transient failures; 'upstream': forward every request to an "
        "OpenAI-compatible server that has no Batch API of its own (--upstream-url)",
    )
    ex.add_argument(
        "--upstream-url",
        help="OpenAI-compatible base URL for --executor upstream, e.g. "
        "http://127.0.0.1:8000/v1 (its key: $BATCH_WIDGETS_UPSTREAM_API_KEY)",
    )
    ex.add_argument("--concurrency", type=int, default=8, help="upstream requests in flight (default 8)")
    sim = p.add_argument_group("simulation (--executor simulated)")
    sim.add_argument(
        "--rate",
        type=float,
        default=20.0,
        metavar="REQUESTS_PER_S",
        help="simulated throughput, requests/s (0 = as fast as it can; default 20)",
    )
    sim.add_argument("--latency", type=float, default=0.0, metavar="SECONDS", help="simulated seconds per request")
    sim.add_argument(
        "--failure-rate",
        type=float,
        default=0.03,
        metavar="FRACTION",
        help="fraction of requests answered with a transient 429/500, drawn per attempt so a retry "
        "can succeed (default 0.03)",
    )
    sim.add_argument(
        "--seed",
        type=int,
        default=None,
        help="make the simulated failures reproducible (default: they differ from run to run)",
    )
    api = p.add_argument_group("batch behaviour")
    api.add_argument(
        "--window-seconds",
        type=int,
        default=None,
        help="shorten every batch's 24h completion window to this many seconds (to demo expiry)",
    )
    api.add_argument(
        "--enqueued-token-limit",
        type=int,
        default=None,
        metavar="N",
        help="per model, the most estimated input tokens of batches not yet finished; a batch that "
        "would pass it fails with token_limit_exceeded as on OpenAI (estimate: "
        "batch_widgets.tokens; default: no limit)",
    )
    api.add_argument(
        "--webhook-url",
        default=None,
        help="POST OpenAI's batch.completed/failed/cancelled/expired events here, signed as "
        "Standard Webhooks (retried with backoff until delivered)",
    )
    api.add_argument(
        "--webhook-secret",
        default=os.environ.get("BATCH_WIDGETS_WEBHOOK_SECRET"),
        help="'whsec_...' secret that signs the webhooks (default: $BATCH_WIDGETS_WEBHOOK_SECRET)",
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also log every upstream HTTP request (httpx/httpcore, quiet by default)",
    )
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
    from .settings import ServerSettings, check_bind, is_loopback
    from .storage import default_data_dir

    if args.executor == "upstream" and not args.upstream_url:
        print("batch-widgets serve: --executor upstream needs --upstream-url", file=sys.stderr)
        return 2
    if bool(args.webhook_url) != bool(args.webhook_secret):
        print("batch-widgets serve: --webhook-url and --webhook-secret go together", file=sys.stderr)
        return 2
    try:
        check_bind(args.host, args.api_key, args.insecure_allow_no_api_key)
    except ValueError as exc:
        print(f"batch-widgets serve: {exc}", file=sys.stderr)
        return 2
    if not is_loopback(args.host):
        print(f"warning: binding {args.host}: the server is reachable from other machines", file=sys.stderr)
    if not is_loopback(args.host) and not args.api_key:
        print(
            f"WARNING: {INSECURE_FLAG}: NO API KEY - anyone who can reach {args.host}:{args.port} can use this server",
            file=sys.stderr,
        )
    setup_logging(args.verbose)
    data_dir = args.data_dir or default_data_dir()
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = ServerSettings(
        data_dir=data_dir,
        api_key=args.api_key or None,
        executor=args.executor,
        upstream_url=args.upstream_url,
        upstream_api_key=os.environ.get("BATCH_WIDGETS_UPSTREAM_API_KEY"),
        concurrency=args.concurrency,
        rate=args.rate,
        latency=args.latency,
        failure_rate=args.failure_rate,
        window_seconds=args.window_seconds,
        enqueued_token_limit=args.enqueued_token_limit,
    )
    try:
        app = create_app(settings)
    except ValueError as exc:
        print(f"batch-widgets serve: {exc}", file=sys.stderr)
        return 2
    auth = "API key required" if settings.api_key else "no API key required"
    print(
        f"batch_widgets local batch server: http://{args.host}:{args.port}/v1 ({auth}; data in {data_dir})", flush=True
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False, timeout_graceful_shutdown=5)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="batch-widgets",
        description="batch_widgets: Jupyter widgets and a Python API for LLM Batch API jobs. "
        "This command runs the embedded local OpenAI-compatible batch server.",
        epilog="'batch-widgets COMMAND --help' shows a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"batch-widgets {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_serve(sub)
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
