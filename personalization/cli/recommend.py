"""``train-recommender``, ``evaluate-recommender``, ``tune-recommender``, ``recommend`` and
``export-recommendations``: each one call of ``personalization.recommendation.training``,
``personalization.recommendation.serving`` or ``personalization.recommendation.batch``, imported
when the command runs so that the command line starts fast."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from personalization.cli import LibraryChoices, parse_pairs, progress_bar
from personalization.errors import BadInputError

NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
WORDS = {"true": True, "false": False, "none": None, "null": None}


def register(sub) -> None:
    p = sub.add_parser("train-recommender", help="train a recommender on the events and save it")
    _model_flags(p)
    p.add_argument("--name", help="a name to find the model by")
    add_engine_flags(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "evaluate-recommender", help="offline metrics beside the popularity baseline"
    )
    _model_flags(p)
    _split_flags(p)
    p.add_argument(
        "--folds", type=int, help="k-fold cross-validation (random folds) instead of one split"
    )
    add_engine_flags(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("tune-recommender", help="search parameters on a validation split")
    _model_flags(p)
    _split_flags(p)
    p.add_argument(
        "--search",
        choices=LibraryChoices("personalization.tuning", "SEARCHES"),
        default="bayes",
        metavar="SEARCH",
        help="%(choices)s (default: bayes)",
    )
    p.add_argument("--trials", type=int, default=20, help="settings to try (default 20)")
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("recommend", help="top items for one user or a new visitor, with reasons")
    p.add_argument("--model", help="model id (default: the promoted recommender)")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="user id (one without events is served by their attributes)")
    who.add_argument(
        "--attribute",
        action="append",
        metavar="KEY=VALUE",
        help="a new visitor's attribute, e.g. device=mobile (repeatable)",
    )
    _k_flag(p, "number of items (default 10)")
    p.set_defaults(func=cmd_recommend)

    p = sub.add_parser(
        "export-recommendations", help="top-k lists for many users to CSV or Parquet"
    )
    p.add_argument("--model", help="model id (default: the promoted recommender)")
    p.add_argument("--out", required=True, help="output file, .csv or .parquet")
    _k_flag(p, "items per user (default 10)")
    p.add_argument(
        "--users", help="only these users: a comma list of ids or a file with one id per line"
    )
    p.add_argument("--columns", help="comma list of item columns to add (e.g. brand,in_stock)")
    p.add_argument(
        "--include-seen", action="store_true", help="keep items the user already interacted with"
    )
    p.add_argument("--exclude-items", help="comma list of item ids never to recommend")
    p.add_argument("--exclude-categories", help="comma list of categories never to recommend")
    p.add_argument("--only-if", help="only items whose yes/no column is true (e.g. in_stock)")
    p.add_argument(
        "--control-share",
        type=float,
        help="hold out this share of customers (e.g. 0.1) as a control group that gets the "
        "best-sellers list; stable per customer for the salt; the file gains 'group'",
    )
    p.add_argument(
        "--salt", default="personalization-control", help="salt of the control draw (recorded)"
    )
    add_engine_flags(p)
    p.set_defaults(func=cmd_export)


def add_engine_flags(p) -> None:
    """``--engine {local,spark}`` and ``--spark-master`` (the Spark engine is optional)."""
    p.add_argument(
        "--engine",
        choices=("local", "spark"),
        default="local",
        help="where to run: local (default) or spark (needs pip install -r "
        "requirements-spark.txt and Java)",
    )
    p.add_argument(
        "--spark-master", help="Spark master with --engine spark (default local[*]), e.g. yarn"
    )


def _model_flags(p) -> None:
    p.add_argument(
        "--algo", default="svd", help="popularity, svd, als, itemknn, ease, content, hybrid, ..."
    )
    p.add_argument(
        "--param", action="append", metavar="KEY=VALUE", help="model parameter (repeatable)"
    )
    p.add_argument(
        "--event-weight",
        action="append",
        metavar="TYPE=W",
        help="weight of an event type (repeatable)",
    )
    p.add_argument("--half-life", type=float, help="time decay half-life in days")
    p.add_argument("--table", default="events", help="events table (default: events)")


def _split_flags(p) -> None:
    p.add_argument(
        "--split",
        choices=LibraryChoices("personalization.evaluation", "SPLITS"),
        default="temporal",
        metavar="SPLIT",
        help="how to hold out: %(choices)s (default: temporal)",
    )
    p.add_argument("--test-size", type=float, default=0.2, help="share held out (default 0.2)")
    _k_flag(p, "list length for metrics (default 10)")
    p.add_argument("--seed", type=int, default=0)


def _k_flag(p, text: str) -> None:
    p.add_argument("-k", "--k", dest="k", type=int, default=10, help=text)


def parse_value(text: str) -> Any:
    """``"32"`` -> 32, ``"0.5"`` -> 0.5, ``"true"`` -> True, ``"none"`` -> None; else the text."""
    lowered = text.strip().lower()
    if lowered in WORDS:
        return WORDS[lowered]
    if NUMBER.match(text.strip()):
        number = float(text)
        return int(number) if re.match(r"^[+-]?\d+$", text.strip()) else number
    return text


def _params(args) -> dict:
    return {k: parse_value(v) for k, v in parse_pairs(args.param, "--param").items()}


def _weights(args) -> dict:
    out = {}
    for key, value in parse_pairs(args.event_weight, "--event-weight").items():
        number = parse_value(value)
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise BadInputError(
                f"--event-weight {key}={value}: the weight must be a number, e.g. {key}=4"
            )
        out[key] = float(number)
    return out


def _common(args) -> dict:
    return {
        "algo": args.algo,
        "params": _params(args),
        "event_weights": _weights(args),
        "half_life_days": args.half_life,
        "table": args.table,
        "db": args.db,
    }


def cmd_train(args) -> dict:
    from personalization.recommendation import training

    if args.engine == "spark":
        from personalization.spark import training as spark_training

        return spark_training.train_recommender(
            **_common(args), name=args.name, master=args.spark_master
        )
    return training.train_recommender(**_common(args), name=args.name, progress=progress_bar())


def cmd_evaluate(args) -> dict:
    from personalization.recommendation import training

    evaluate = training.evaluate_recommender
    extra = {}
    if args.engine == "spark":
        from personalization.spark import training as spark_training

        evaluate, extra = spark_training.evaluate_recommender, {"master": args.spark_master}
    return evaluate(
        **_common(args),
        split=args.split,
        test_size=args.test_size,
        k=args.k,
        folds=args.folds,
        seed=args.seed,
        **extra,
    )


def cmd_tune(args) -> dict:
    from personalization.recommendation import training

    common = _common(args)
    fixed = common.pop("params")
    return training.tune_recommender(
        **common,
        params=fixed,
        search=args.search,
        trials=args.trials,
        split=args.split,
        test_size=args.test_size,
        k=args.k,
        seed=args.seed,
    )


def cmd_recommend(args) -> dict:
    from personalization.recommendation import serving

    if args.user is None:
        attributes = parse_pairs(args.attribute, "--attribute")
        frame = serving.recommend_for_new_user(
            attributes, k=args.k, model_id=args.model, db=args.db
        )
        out = {"user": None, "attributes": attributes}
    else:
        frame = serving.recommend_for_user(args.user, k=args.k, model_id=args.model, db=args.db)
        out = {"user": args.user}
    out["items"] = frame.to_dict(orient="records")
    if "note" in frame.attrs:
        out["note"] = frame.attrs["note"]
    return out


def cmd_export(args) -> dict:
    from personalization import values
    from personalization.recommendation import batch, serving

    rules = serving.ListRules(
        filter_seen=not args.include_seen,
        exclude_items=values.parse_ids(args.exclude_items),
        exclude_categories=_comma_list(args.exclude_categories),
        only_if=args.only_if,
        item_columns=_comma_list(args.columns),
    )
    export = batch.export_recommendations
    extra = {"progress": progress_bar()}
    if args.engine == "spark":
        from personalization.spark import export as spark_export

        export, extra = spark_export.export_recommendations, {"master": args.spark_master}
    return export(
        args.out,
        k=args.k,
        model_id=args.model,
        users=_users(args.users),
        rules=rules,
        db=args.db,
        control_share=args.control_share,
        salt=args.salt,
        **extra,
    )


def _comma_list(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _users(spec: str | None) -> list[str] | None:
    """A comma list of ids, or a file of ids (one per line, the first field of a CSV line; a
    header ``user_id`` is skipped)."""
    from personalization import values

    if not spec:
        return None
    path = Path(spec)
    if path.is_file():
        first_fields = (line.split(",")[0] for line in path.read_text().splitlines())
        ids = values.parse_ids("\n".join(first_fields))
        ids = ids[1:] if ids and ids[0].lower() == "user_id" else ids
    else:
        ids = values.parse_ids(spec)
    if not ids:
        raise BadInputError(f"--users {spec!r} names no user; give a comma list or a file of ids.")
    return ids
