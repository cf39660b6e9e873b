"""``serve``: the REST service (``personalization.deploy.api``) under uvicorn, until stopped.

The database comes from ``--db`` (handed to the workers through ``PERSONALIZATION_DB``); the API
key from ``PERSONALIZATION_API_KEY``. With ``--workers`` above 1, uvicorn starts that many
processes, each with its own copy of the models in memory.
"""

from __future__ import annotations

import argparse
import os

from personalization.errors import BadInputError

APP_FACTORY = "personalization.deploy.api:create_app"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def register(sub) -> None:
    """Add ``serve`` to ``sub`` (the subparsers of ``build_parser``)."""
    p = sub.add_parser("serve", help="run the REST service (OpenAPI at /docs)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument(
        "--log-level",
        default="info",
        choices=LOG_LEVELS,
        metavar="LEVEL",
        help="%(choices)s (default: info; warning hides the access log)",
    )
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> dict:
    if not 1 <= args.port <= 65535:
        raise BadInputError(f"--port must be between 1 and 65535; got {args.port}.")
    if args.workers < 1:
        raise BadInputError(f"--workers must be 1 or more; got {args.workers}.")
    import uvicorn

    if args.db:
        os.environ["PERSONALIZATION_DB"] = str(args.db)
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
    )
    return {"served": f"http://{args.host}:{args.port}", "workers": args.workers, "stopped": True}
