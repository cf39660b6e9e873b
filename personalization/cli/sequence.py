"""``sequence-readiness``, ``next-items`` and ``export-next-items``: each one call of
``personalization.recommendation.sequences`` or ``personalization.recommendation.next_items``,
imported when the command runs."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "sequence-readiness",
        help="whether the events hold sequences a sequence model can learn from",
    )
    p.add_argument("--table", default="events", help="the events table (default: events)")
    p.add_argument(
        "--session-gap",
        type=float,
        default=30.0,
        metavar="MINUTES",
        help="minutes without an event that end a session (default 30)",
    )
    p.set_defaults(func=cmd_readiness)

    p = sub.add_parser("next-items", help="the next items after a session of clicks, with reasons")
    p.add_argument("--model", help="model id (default: the promoted recommender)")
    p.add_argument(
        "--item",
        action="append",
        required=True,
        metavar="ID",
        help="an item of the session, oldest first (repeatable)",
    )
    p.add_argument("-k", "--k", dest="k", type=int, default=10, help="items (default 10)")
    p.add_argument("--filter-seen", action="store_true", help="leave out the session's own items")
    p.set_defaults(func=cmd_next)

    p = sub.add_parser(
        "export-next-items", help="the next items after every user's latest session, to a file"
    )
    p.add_argument("--model", help="a sequence model id (default: the promoted recommender)")
    p.add_argument("--out", required=True, help="file to write (.csv or .parquet)")
    p.add_argument("-k", "--k", dest="k", type=int, default=10, help="items per user (default 10)")
    p.add_argument(
        "--filter-seen", action="store_true", help="leave out the items of the latest session"
    )
    p.set_defaults(func=cmd_export)


def cmd_readiness(args) -> dict:
    from personalization.recommendation.sequences import sequence_readiness

    return sequence_readiness(args.table, args.session_gap, db=args.db)


def cmd_next(args) -> dict:
    from personalization.recommendation import next_items, serving

    art, info = serving.load_artifact(args.model, db=args.db)
    frame = next_items.next_items(art, args.item, args.k, args.filter_seen)
    return {
        "model_id": info["model_id"],
        "session": list(args.item),
        "unknown": frame.attrs.get("unknown", []),
        "items": frame.to_dict(orient="records"),
    }


def cmd_export(args) -> dict:
    from personalization.recommendation import next_items

    return next_items.export_next_items(
        args.out, k=args.k, model_id=args.model, filter_seen=args.filter_seen, db=args.db
    )
