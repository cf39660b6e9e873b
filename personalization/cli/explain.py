"""``explain``, ``lift`` and ``build-features``: why a model scores as it does, what targeting
gains, and the customer table a model learns from; each one library call."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub) -> None:
    p = sub.add_parser(
        "explain", help="SHAP: which features drive a classifier, overall or for one row"
    )
    p.add_argument("--model", help="model id (default: the promoted classifier)")
    p.add_argument(
        "--row", metavar="KEY", help="explain one customer (its key value); none = global"
    )
    p.add_argument("--top", type=int, default=10, help="how many features to list")
    p.add_argument("--sample", type=int, default=2000, help="rows sampled for global importance")
    p.set_defaults(func=cmd_explain)
    p = sub.add_parser(
        "lift", help="lift per score bin on the model's test split, overall or per segment"
    )
    p.add_argument("--model", help="model id (default: the promoted classifier)")
    p.add_argument("--segment", metavar="COLUMN", help="a categorical column of the table")
    p.add_argument("--bins", type=int, default=10, help="score bins (10 = deciles)")
    p.set_defaults(func=cmd_lift)
    p = sub.add_parser(
        "build-features", help="per-user features and a conversion label from events"
    )
    p.add_argument("--table", default="events", help="events table (default: events)")
    p.add_argument(
        "--events-table", dest="table", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    p.add_argument("--users-table", default="users")
    p.add_argument("--items-table", default="items")
    p.add_argument("--cutoff", help="YYYY-MM-DD (default: the last event minus --label-days)")
    p.add_argument("--label-days", type=int, default=30, help="days after the cut-off that count")
    p.add_argument("--out-table", default="customer_features")
    p.set_defaults(func=cmd_build_features)


def cmd_explain(args) -> dict[str, Any]:
    from personalization.propensity.explain import explain_model

    return explain_model(args.model, row=args.row, top=args.top, sample=args.sample, db=args.db)


def cmd_lift(args) -> dict[str, Any]:
    from personalization.propensity.lift import model_lift

    return model_lift(args.model, segment=args.segment, bins=args.bins, db=args.db)


def cmd_build_features(args) -> dict[str, Any]:
    from personalization.data.features import build_customer_features

    return build_customer_features(
        events_table=args.table,
        users_table=args.users_table,
        cutoff=args.cutoff,
        label_days=args.label_days,
        out_table=args.out_table,
        items_table=args.items_table,
        db=args.db,
    )
