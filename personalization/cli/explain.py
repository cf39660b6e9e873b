"""``explain``, ``lift`` and ``build-features``: why a model scores as it does, and what targeting gains."""

from __future__ import annotations

from typing import Any

import pandas as pd

from personalization import registry
from personalization.data.features import build_customer_features
from personalization.errors import BadInputError
from personalization.propensity import explain, lift

DEFAULT_TOP = 10


def register(sub) -> None:
    p = sub.add_parser("explain", help="SHAP: which features drive a classifier, overall or for one row")
    p.add_argument("--model", help="model id (default: the promoted classifier)")
    p.add_argument("--row", metavar="KEY", help="explain one customer (its key value); none = global")
    p.add_argument("--top", type=int, default=DEFAULT_TOP, help="how many features to list")
    p.add_argument("--sample", type=int, default=2000, help="rows sampled for global importance")
    p.set_defaults(func=cmd_explain)
    p = sub.add_parser("lift", help="lift per score bin on the model's test split, overall or per segment")
    p.add_argument("--model", help="model id (default: the promoted classifier)")
    p.add_argument("--segment", metavar="COLUMN", help="a categorical column of the table")
    p.add_argument("--bins", type=int, default=10, help="score bins (10 = deciles)")
    p.set_defaults(func=cmd_lift)
    p = sub.add_parser("build-features", help="per-user features and a conversion label from events")
    p.add_argument("--events-table", default="events")
    p.add_argument("--users-table", default="users")
    p.add_argument("--items-table", default="items")
    p.add_argument("--cutoff", help="YYYY-MM-DD (default: the last event minus --label-days)")
    p.add_argument("--label-days", type=int, default=30, help="days after the cut-off that count")
    p.add_argument("--out-table", default="customer_features")
    p.set_defaults(func=cmd_build_features)


def check_top(top: int) -> None:
    if top < 1:
        raise BadInputError(f"--top must be at least 1; got {top}.")


def cmd_explain(args) -> dict[str, Any]:
    check_top(args.top)
    artifact, info = registry.load_model(args.model, kind="classifier", db=args.db)
    if args.row is None:
        table = explain.global_importance(artifact, sample=args.sample).head(args.top)
        return {
            "model_id": info["model_id"],
            "output_space": table.attrs["output_space"],
            "method": table.attrs["method"],
            "features": table.to_dict(orient="records"),
        }
    result = explain.explain_customer(artifact, args.row, db=args.db)
    contributions = result["contributions"].head(args.top)
    return {
        "model_id": info["model_id"],
        "row": args.row,
        "features": [
            {"feature": f, "shap": s, "value": plain(v)}
            for f, s, v in zip(contributions["feature"], contributions["shap"], contributions["value"], strict=False)
        ],
        "sentence": result["sentence"],
        "base_value": result["base_value"],
        "prediction": result["prediction"],
        "probability": result["probability"],
        "output_space": result["output_space"],
        "method": result["method"],
    }


def plain(value):
    """A cell value JSON can print: missing values become null, numbers stay numbers."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def cmd_lift(args) -> dict[str, Any]:
    artifact, info = registry.load_model(args.model, kind="classifier", db=args.db)
    if args.segment is None:
        table = lift.decile_table(artifact.y_test, artifact.test_scores, bins=args.bins)
        table.insert(0, "segment", "all")
    else:
        if args.segment not in artifact.test_frame.columns:
            raise BadInputError(
                f"--segment {args.segment!r} is not a column of {artifact.table!r}; columns: "
                f"{', '.join(map(str, artifact.test_frame.columns))}."
            )
        table = lift.segment_lift(
            artifact.y_test, artifact.test_scores, artifact.test_frame[args.segment], bins=args.bins
        )
    return {"model_id": info["model_id"], "rows": table.to_dict(orient="records")}


def cmd_build_features(args) -> dict[str, Any]:
    return build_customer_features(
        events_table=args.events_table, users_table=args.users_table, cutoff=args.cutoff,
        label_days=args.label_days, out_table=args.out_table, items_table=args.items_table,
        db=args.db,
    )
