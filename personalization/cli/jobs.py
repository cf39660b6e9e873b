"""``update``, ``retrain`` and ``scheduler``: keeping the models fresh.

- ``update --model ID``: fold new and changed users into an SVD or ALS model (a new version).
- ``retrain --kind recommender|classifier [--margin 0.01]``: a challenger against the champion
  on the same hold-out; promoted only when better by the margin (or the champion's data is gone).
- ``scheduler [--every-minutes M] [--growth 0.2] [--days 7] [--once]``: retrain when the data
  grew by a share or every N days; runs until Ctrl-C (or SIGTERM); each check is logged as one
  JSON line on stderr and the summary printed on stdout when it stops. Flags not given come
  from the saved schedule (the Train page's); ``scheduler --save --growth 0.3 --days 14``
  stores one and prints it as ``schedule``.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys

KINDS = ("recommender", "classifier")
SCHEDULE = ("growth", "days", "margin")


def register(sub) -> None:
    """Add the commands of this module to ``sub`` (the subparsers of ``build_parser``)."""
    p = sub.add_parser("update", help="fold new and changed users into an SVD or ALS model")
    p.add_argument(
        "--model", metavar="ID", help="the svd or als model to update (default: the promoted one)"
    )
    p.set_defaults(func=cmd_update)
    p = sub.add_parser("retrain", help="train a challenger; promote it only when it is better")
    p.add_argument("--kind", required=True, choices=KINDS, help="%(choices)s")
    p.add_argument(
        "--margin",
        type=float,
        default=0.01,
        help="how much better (absolute NDCG@10 or ROC-AUC) the challenger must be (default 0.01)",
    )
    p.set_defaults(func=cmd_retrain)
    p = sub.add_parser("scheduler", help="retrain when the data grew or every N days")
    p.add_argument(
        "--every-minutes", type=float, default=60.0, help="minutes between checks (default 60)"
    )
    p.add_argument(
        "--growth",
        type=float,
        help="retrain when the data grew by this share (default: the saved schedule, else 0.2)",
    )
    p.add_argument(
        "--days", type=float, help="retrain at least every N days (default: saved, else 7)"
    )
    p.add_argument("--margin", type=float, help="as for retrain (default: saved, else 0.01)")
    p.add_argument(
        "--save",
        action="store_true",
        help="store --growth, --days and --margin as the schedule (also the dashboard's) and exit",
    )
    p.add_argument(
        "--kind", action="append", choices=KINDS, help="only this kind (repeatable; default both)"
    )
    p.add_argument("--once", action="store_true", help="check once, retrain what is due, exit")
    p.set_defaults(func=cmd_scheduler, long_running=True)


def cmd_update(args: argparse.Namespace) -> dict:
    from personalization.deploy.update import update_model

    return update_model(args.model, db=args.db)


def cmd_retrain(args: argparse.Namespace) -> dict:
    from personalization.deploy.retrain import retrain

    return retrain(args.kind, margin=args.margin, db=args.db)


def cmd_scheduler(args: argparse.Namespace) -> dict:
    from personalization.deploy.schedule import run_scheduler, save_settings, settings

    stored = settings(db=args.db)
    chosen = {k: stored[k] if getattr(args, k) is None else getattr(args, k) for k in SCHEDULE}
    if args.save:
        return {"schedule": save_settings(**chosen, db=args.db)}

    def log(entry: dict) -> None:
        print(json.dumps(entry, default=str), file=sys.stderr, flush=True)

    def stop(signum, frame) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread: Ctrl-C still stops it
        previous = None
    try:
        return run_scheduler(
            kinds=tuple(args.kind or KINDS),
            every_minutes=args.every_minutes,
            **chosen,
            once=args.once,
            db=args.db,
            log=None if args.once else log,
        )
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
