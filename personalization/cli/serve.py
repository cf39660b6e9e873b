"""``serve``: the REST service (``personalization.deploy.api``) under uvicorn, until stopped.

The database comes from ``--db`` (handed to the workers through ``PERSONALIZATION_DB``); the API
key from ``PERSONALIZATION_API_KEY``. With ``--workers`` above 1, uvicorn starts that many
processes, each with its own copy of the models in memory, sharing one listening socket bound
here with Nagle's algorithm off (``tcp_socket``).
"""

from __future__ import annotations

import argparse
import os
import socket

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
    p.set_defaults(func=cmd_serve, long_running=True)


def cmd_serve(args: argparse.Namespace) -> dict:
    if not 1 <= args.port <= 65535:
        raise BadInputError(f"--port must be between 1 and 65535; got {args.port}.")
    if args.workers < 1:
        raise BadInputError(f"--workers must be 1 or more; got {args.workers}.")
    if args.db:
        os.environ["PERSONALIZATION_DB"] = str(args.db)
    run(APP_FACTORY, args.host, args.port, args.workers, args.log_level, factory=True)
    return {"served": f"http://{args.host}:{args.port}", "workers": args.workers, "stopped": True}


# Idle keep-alive connections stay open this long (uvicorn's default is 5 s). A client pool that
# keeps idle connections as long as the server (httpx: 5 s) or longer (a proxy: often 60 s)
# races it: it reuses a connection the server is closing and gets a reset (a ReadError), most
# often when the server was briefly busy, e.g. loading a newly promoted model.
KEEP_ALIVE_SECONDS = 75


def run(
    app: str, host: str, port: int, workers: int = 1, log_level: str = "info", factory=False
) -> None:
    """Serve ``app`` ("module:attribute") under uvicorn until stopped. With ``workers`` above 1
    the listening socket is bound here (``tcp_socket``) and handed to uvicorn's supervisor."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    timeouts = {"timeout_keep_alive": KEEP_ALIVE_SECONDS}
    if workers <= 1:
        uvicorn.run(app, factory=factory, host=host, port=port, log_level=log_level, **timeouts)
        return
    config = uvicorn.Config(
        app, factory=factory, host=host, port=port, workers=workers, log_level=log_level, **timeouts
    )
    Multiprocess(config, sockets=[tcp_socket(config)]).run()


def tcp_socket(config) -> socket.socket:
    """uvicorn's listening socket made again with its protocol named (``IPPROTO_TCP``), so that
    asyncio turns Nagle's algorithm off on every accepted connection. uvicorn binds it with
    protocol 0 when it runs several workers (uvicorn issue #3149), and then each keep-alive
    request after the first waits ~40 ms for the client's delayed ACK."""
    bound = config.bind_socket()
    return socket.socket(bound.family, bound.type, socket.IPPROTO_TCP, fileno=bound.detach())
