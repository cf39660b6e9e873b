"""``train-classifier`` and ``score``: each one call of ``personalization.propensity``."""

from __future__ import annotations

from personalization.cli import progress_bar
from personalization.propensity import BALANCES, CLASSIFIERS, SCALINGS, SEARCHES


def register(sub) -> None:
    p = sub.add_parser(
        "train-classifier",
        help="train a conversion propensity model on a table",
        description="Train a conversion propensity model. A column that alone predicts the "
        "target suspiciously well (probably recorded after the outcome) is listed under "
        "'leakage' and the model is saved without being promoted: retrain with --exclude COL, "
        "or promote it when the column is known before the outcome.",
    )
    p.add_argument(
        "--table", default="customers", help="table with one row per customer (default: customers)"
    )
    p.add_argument("--target", required=True, help="column holding the outcome, e.g. converted")
    p.add_argument("--positive", help="the outcome value to predict (default: the rarer of two)")
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="COL",
        help="a column not to use as a feature (repeatable), e.g. one the leakage guard names",
    )
    p.add_argument("--algo", choices=CLASSIFIERS, default="gradient_boosting")
    p.add_argument(
        "--balance",
        choices=BALANCES,
        default="none",
        help="imbalance handling inside the training folds (default: none; the "
        "threshold is still tuned on validation)",
    )
    p.add_argument(
        "--split",
        default="0.7,0.15,0.15",
        help="train,validation,test fractions, stratified (default 0.7,0.15,0.15)",
    )
    p.add_argument(
        "--folds", type=int, default=5, help="cross-validation folds on train; 0 skips (default 5)"
    )
    p.add_argument(
        "--search",
        choices=SEARCHES,
        default="none",
        help="parameter search on the validation split (default: none)",
    )
    p.add_argument("--trials", type=int, default=20, help="trials of --search bayes (default 20)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scaling", choices=SCALINGS, default="standard", help="z-score or min-max")
    p.add_argument(
        "--cost-per-contact",
        type=float,
        help="with --value-per-conversion: pick the threshold by expected profit instead of F1",
    )
    p.add_argument("--value-per-conversion", type=float)
    p.add_argument(
        "--drop-missing-target",
        action="store_true",
        help="drop rows whose target is empty instead of refusing",
    )
    p.add_argument("--name", help="a name to find the model by")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("score", help="score every customer of a table with a propensity model")
    p.add_argument("--model", help="model id (default: the promoted classifier)")
    p.add_argument("--table", help="table to score (default: the one the model was trained on)")
    p.add_argument("--out", help="write the scores to this .csv or .parquet file")
    p.set_defaults(func=cmd_score)


def cmd_train(args) -> dict:
    from personalization.propensity.training import train_classifier

    return train_classifier(
        table=args.table,
        target=args.target,
        positive=args.positive,
        exclude=args.exclude,
        algo=args.algo,
        balance=args.balance,
        split=args.split,
        folds=args.folds,
        search=args.search,
        trials=args.trials,
        seed=args.seed,
        scaling=args.scaling,
        name=args.name,
        cost_per_contact=args.cost_per_contact,
        value_per_conversion=args.value_per_conversion,
        drop_missing_target=args.drop_missing_target,
        db=args.db,
        progress=progress_bar(),
    )


def cmd_score(args) -> dict:
    from personalization.propensity.scoring import score_table

    return score_table(
        model_id=args.model, table=args.table, out=args.out, db=args.db, progress=progress_bar()
    )
