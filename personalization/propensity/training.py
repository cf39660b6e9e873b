"""Training a propensity model: split, cross-validation, parameter search, threshold, save.

``train_classifier`` reads any table with a target column, splits it stratified into train,
validation and test, cross-validates on train, searches parameters on validation only (through
``personalization.tuning``), picks a decision threshold on validation, reports final figures on
test only beside the base-rate baseline (and says each in plain words), flags columns that look
recorded after the outcome (``personalization.propensity.leakage``: single-feature ROC-AUC and
share of the SHAP explanation), and saves a ``ClassifierArtifact`` in the registry, on hold (not
promoted) while a leakage flag is unanswered.
"""

from __future__ import annotations

import warnings as warnings_module
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split

from personalization import registry, store, tuning
from personalization.errors import BadInputError, NotEnoughDataError
from personalization.progress import Progress, report, scaled
from personalization.propensity import BALANCES, CLASSIFIERS, SCALINGS, SEARCHES, leakage
from personalization.propensity.artifact import ClassifierArtifact
from personalization.propensity.columns import choose_columns
from personalization.propensity.metrics import (
    baseline_metrics,
    choose_threshold,
    final_metrics,
    metrics_in_words,
    split_metrics,
)
from personalization.propensity.pipelines import (
    DEFAULT_PARAMS,
    SMOTE_NEIGHBOURS,
    build_pipeline,
    fit_params,
    limit_threads,
    predict_positive,
    scoring_pipeline,
)
from personalization.propensity.target import check_target_column, resolve_target

SAMPLE_ROWS = 500


def train_classifier(
    table: str = "customers",
    target: str | None = None,
    positive: str | None = None,
    exclude: Sequence[str] = (),
    algo: str = "gradient_boosting",
    balance: str = "none",
    split: Sequence[float] | str = (0.7, 0.15, 0.15),
    folds: int = 5,
    search: str = "none",
    trials: int = 20,
    seed: int = 0,
    scaling: str = "standard",
    name: str | None = None,
    cost_per_contact: float | None = None,
    value_per_conversion: float | None = None,
    drop_missing_target: bool = False,
    db=None,
    progress: Progress = None,
    on_trial: Callable[[dict], None] | None = None,
) -> dict:
    """Train a propensity model on ``table`` and save it; return its figures.

    The rows are split stratified into train/validation/test by ``split`` (three fractions summing
    to 1, or text like ``"0.7,0.15,0.15"``). ``folds``-fold stratified cross-validation runs on
    train (``folds=0`` skips it); ``search`` (``none``, ``grid`` or ``bayes`` with ``trials``
    trials) fits each candidate on train and scores ROC-AUC on validation, calling
    ``on_trial({"trial", "params", "roc_auc", "best_roc_auc"})`` after each. The decision
    threshold maximises F1 on validation, or expected profit when ``cost_per_contact`` and
    ``value_per_conversion`` are both given. Test figures are computed once, at the end.

    ``positive`` matches the stored target however it is written (``yes`` matches ``YES``, ``true``
    matches ``TRUE`` and ``1``); without it, a two-valued target's minority value is positive.
    Rows with a missing target are refused unless ``drop_missing_target`` (then dropped and
    reported).

    Returns a dict with ``model_id``, ``algo``, ``params``, ``metrics`` (``validation``, ``test``,
    ``baseline``), ``cv`` (``roc_auc_mean``, ``roc_auc_std``), ``warnings``, ``leakage`` (a list
    of ``column``, ``auc``, ``shap_share``, ``message``; non-empty means the model was saved with
    ``hold="leakage: <column>"`` and is not promoted), ``single_feature_auc`` (per feature),
    ``metrics_in_words`` (``metrics.metrics_in_words``), ``settings`` (the arguments to train
    again), ``trials`` and more.
    Raises ``BadInputError`` (or its ``NotFoundError``/``NotEnoughDataError`` children) for input
    that cannot be trained on, with the fix in the message.
    """
    check_options(algo, balance, search, scaling, folds, trials)
    fractions = parse_split(split)
    report(progress, 0.02, f"reading {table}")
    frame = store.read_table(table, db=db)
    check_target_column(table, target, frame.columns)
    frame, y, positive_label, warnings = resolve_target(
        frame, target, positive, drop_missing_target
    )
    columns = choose_columns(frame, target, exclude)
    warnings += columns["warnings"]
    train_idx, val_idx, test_idx = split_rows(y, fractions, seed)
    check_counts(y[train_idx], folds, balance)
    X = frame[columns["features"]]
    X_train, y_train = X.iloc[train_idx], y[train_idx]
    report(progress, 0.08, "checking columns for leakage")
    aucs = leakage.single_feature_auc(
        X_train, y_train, columns["numeric"], columns["categorical"], seed
    )
    spec = {
        "algo": algo,
        "numeric": columns["numeric"],
        "categorical": columns["categorical"],
        "balance": balance,
        "scaling": scaling,
        "seed": seed,
    }
    cv = cross_validate_auc(spec, X_train, y_train, folds, seed, scaled(progress, 0.1, 0.4))
    fitted, params, trial_log = search_pipeline(
        spec,
        (X_train, y_train),
        (X.iloc[val_idx], y[val_idx]),
        search,
        trials,
        on_trial,
        scaled(progress, 0.4, 0.9),
    )
    report(progress, 0.9, "choosing the threshold on validation and scoring the test split")
    scorer = scoring_pipeline(fitted)
    val_scores = predict_positive(scorer, X.iloc[val_idx])
    threshold = choose_threshold(y[val_idx], val_scores, cost_per_contact, value_per_conversion)
    test_scores = predict_positive(scorer, X.iloc[test_idx])
    metrics = {
        "validation": split_metrics(y[val_idx], val_scores, threshold),
        "test": final_metrics(
            y[test_idx], test_scores, threshold, cost_per_contact, value_per_conversion
        ),
        "baseline": baseline_metrics(y[test_idx], float(y_train.mean())),
        "cv": cv,
    }
    artifact = ClassifierArtifact(
        pipeline=scorer,
        features=columns["features"],
        numeric=columns["numeric"],
        categorical=columns["categorical"],
        target=target,
        positive=positive_label,
        threshold=threshold,
        key=columns["key"],
        table=table,
        train_sample=X_train.sample(min(SAMPLE_ROWS, len(X_train)), random_state=seed),
        test_frame=frame.iloc[test_idx].reset_index(drop=True),
        y_test=y[test_idx],
        test_scores=test_scores,
        metrics=metrics,
        warnings=warnings,
        algo=algo,
    )
    saved_params = {
        **params,
        "balance": balance,
        "scaling": scaling,
        "split": list(fractions),
        "folds": folds,
        "search": search,
        "seed": seed,
        "table": table,
        "target": target,
        "positive": positive_label,
        "exclude": list(exclude),
    }
    report(progress, 0.93, "measuring how much of the explanation each column carries")
    shares = leakage.model_shares(artifact)
    flagged = leakage.findings(aucs, shares)
    warnings += leakage.notes(aucs, shares, flagged)
    report(progress, 0.95, "saving the model")
    model_id = registry.save_model(
        artifact,
        kind="classifier",
        algo=algo,
        params=saved_params,
        metrics=metrics,
        data_fingerprint=registry.fingerprint(table, frame.shape, list(frame.columns), y.sum()),
        name=name,
        db=db,
        hold=leakage.hold_reason(flagged),
    )
    flagged = leakage.findings(aucs, shares, model_id)
    report(progress, 1.0, "done")
    return {
        "model_id": model_id,
        **registry.standing(model_id, db=db),
        "algo": algo,
        "params": saved_params,
        "metrics": {k: metrics[k] for k in ("validation", "test", "baseline")},
        "cv": cv,
        "threshold": threshold,
        "warnings": warnings,
        "leakage": flagged,
        "single_feature_auc": {c: round(a, 4) for c, a in aucs.items()},
        "metrics_in_words": metrics_in_words(metrics["test"], metrics["baseline"]),
        "settings": {
            "table": table,
            "target": target,
            "positive": positive,
            "exclude": list(exclude),
            "algo": algo,
            "balance": balance,
            "split": list(fractions),
            "folds": folds,
            "search": search,
            "trials": trials,
            "seed": seed,
            "scaling": scaling,
        },
        "trials": trial_log,
        "target": target,
        "positive": positive_label,
        "key": columns["key"],
        "features": columns["features"],
        "dropped": columns["dropped"],
        "rows": {"train": len(train_idx), "validation": len(val_idx), "test": len(test_idx)},
        "positive_rate": float(y.mean()),
    }


def check_options(
    algo: str, balance: str, search: str, scaling: str, folds: int, trials: int
) -> None:
    """Raise ``BadInputError`` for an unknown choice or an out-of-range count."""
    choices = {
        "algo": (algo, CLASSIFIERS),
        "balance": (balance, BALANCES),
        "search": (search, SEARCHES),
        "scaling": (scaling, SCALINGS),
    }
    for flag, (value, allowed) in choices.items():
        if value not in allowed:
            raise BadInputError(f"--{flag} must be one of {', '.join(allowed)}; got {value!r}.")
    if folds < 0 or folds == 1:
        raise BadInputError(f"--folds must be 0 (no cross-validation) or at least 2; got {folds}.")
    if trials < 1:
        raise BadInputError(f"--trials must be at least 1; got {trials}.")


def parse_split(split: Sequence[float] | str) -> tuple[float, float, float]:
    """``(train, validation, test)`` fractions, each in (0, 1), summing to 1; text such as
    ``"0.8,0.1,0.1"`` works too."""
    try:
        parts = [float(p) for p in (split.split(",") if isinstance(split, str) else split)]
    except ValueError as exc:
        raise BadInputError(
            f"--split takes three fractions like 0.7,0.15,0.15; got {split!r}."
        ) from exc
    if len(parts) != 3 or min(parts) <= 0 or abs(sum(parts) - 1.0) > 1e-6:
        raise BadInputError(
            f"--split takes three positive fractions (train, validation, test) summing to 1, "
            f"like 0.7,0.15,0.15; got {split!r}."
        )
    return parts[0], parts[1], parts[2]


def split_rows(
    y: np.ndarray, fractions: tuple[float, float, float], seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified, disjoint row positions ``(train, validation, test)`` covering every row."""
    _, val_frac, test_frac = fractions
    minority = int(min(y.sum(), len(y) - y.sum()))
    needed = int(np.ceil(2 / min(val_frac, test_frac)))
    if minority < needed:
        raise NotEnoughDataError(
            f"Only {minority} rows of the rarer outcome in {len(y)} rows; a stratified "
            f"{'/'.join(f'{f:g}' for f in fractions)} split needs at least {needed} so that "
            f"validation and test each hold some. Add data or give validation and test larger "
            f"shares, e.g. --split 0.6,0.2,0.2."
        )
    rows = np.arange(len(y))
    rest, test = train_test_split(rows, test_size=test_frac, stratify=y, random_state=seed)
    train, val = train_test_split(
        rest, test_size=val_frac / (1 - test_frac), stratify=y[rest], random_state=seed
    )
    return np.sort(train), np.sort(val), np.sort(test)


def check_counts(y_train: np.ndarray, folds: int, balance: str) -> None:
    """Raise ``NotEnoughDataError`` when the rarer outcome is too rare for ``folds`` or SMOTE."""
    minority = int(min(y_train.sum(), len(y_train) - y_train.sum()))
    if folds and minority < folds:
        raise NotEnoughDataError(
            f"The training split holds only {minority} rows of the rarer outcome; {folds}-fold "
            f"cross-validation needs at least {folds}. Use --folds {max(minority, 2)} or fewer "
            f"(0 skips cross-validation), or add data."
        )
    if balance != "smote":
        return
    per_fold = minority * (folds - 1) // folds if folds else minority
    needed = SMOTE_NEIGHBOURS + 1
    if per_fold < needed:
        raise NotEnoughDataError(
            f"SMOTE needs at least {needed} rows of the rarer outcome in each training fold "
            f"({SMOTE_NEIGHBOURS} neighbours + 1); the training split holds {minority}, about "
            f"{per_fold} per fold. Use --balance class_weight or undersample, fewer --folds, "
            f"or more data."
        )


def fit_pipeline(spec: dict, params: dict | None, X: pd.DataFrame, y: np.ndarray):
    """``build_pipeline`` of ``spec`` (``algo``, ``numeric``, ``categorical``, ``balance``,
    ``scaling``, ``seed``) with ``params`` over the defaults, fitted on ``(X, y)``."""
    pipeline = build_pipeline(
        spec["algo"],
        spec["numeric"],
        spec["categorical"],
        params,
        spec["balance"],
        spec["scaling"],
        spec["seed"],
    )
    with warnings_module.catch_warnings(), limit_threads():
        warnings_module.simplefilter("ignore", category=ConvergenceWarning)
        return pipeline.fit(X, y, **fit_params(spec["algo"], spec["balance"], y))


def cross_validate_auc(
    spec: dict, X: pd.DataFrame, y: np.ndarray, folds: int, seed: int, progress: Progress = None
) -> dict:
    """Stratified ``folds``-fold ROC-AUC of the default pipeline on the training split.

    Returns ``roc_auc_mean``, ``roc_auc_std`` (None without folds), ``folds`` and ``roc_auc``
    (one figure per fold).
    """
    if not folds:
        return {"roc_auc_mean": None, "roc_auc_std": None, "folds": 0, "roc_auc": []}
    scores = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for i, (fit_rows, held_rows) in enumerate(splitter.split(X, y)):
        report(progress, i / folds, f"cross-validation fold {i + 1} of {folds}")
        fitted = fit_pipeline(spec, None, X.iloc[fit_rows], y[fit_rows])
        held = predict_positive(fitted, X.iloc[held_rows])
        scores.append(float(roc_auc_score(y[held_rows], held)))
    return {
        "roc_auc_mean": float(np.mean(scores)),
        "roc_auc_std": float(np.std(scores)),
        "folds": folds,
        "roc_auc": scores,
    }


def search_pipeline(
    spec: dict,
    train: tuple[pd.DataFrame, np.ndarray],
    validation: tuple[pd.DataFrame, np.ndarray],
    search: str = "none",
    trials: int = 20,
    on_trial: Callable[[dict], None] | None = None,
    progress: Progress = None,
) -> tuple[Any, dict, list[dict]]:
    """Fit candidates on ``train``, score ROC-AUC on ``validation``; return the best fitted
    pipeline, its full parameters and the trials (``trial``, ``params``, ``roc_auc``,
    ``best_roc_auc``).

    ``none`` fits the defaults once; ``grid`` tries ``tuning.CLASSIFIER_GRIDS`` and ``bayes``
    searches ``tuning.CLASSIFIER_SPACES`` for ``trials`` trials, both through
    ``tuning.search_params`` with the defaults first, so a search never picks worse than them on
    validation.
    """
    algo = spec["algo"]
    defaults = DEFAULT_PARAMS[algo]
    space = tuning.CLASSIFIER_GRIDS[algo] if search == "grid" else tuning.CLASSIFIER_SPACES[algo]
    first = {name: defaults[name] for name in space}
    total = {"none": 1, "grid": len(tuning.grid(space, first))}.get(search, trials)
    log: list[dict] = []
    best: dict[str, Any] = {}

    def objective(params: dict) -> dict[str, float]:
        fitted = fit_pipeline(spec, params, *train)
        auc = float(roc_auc_score(validation[1], predict_positive(fitted, validation[0])))
        if auc > best.get("roc_auc", -1.0):
            best.update(roc_auc=auc, fitted=fitted)
        entry = {
            "trial": len(log),
            "params": _jsonable(params),
            "roc_auc": auc,
            "best_roc_auc": best["roc_auc"],
        }
        log.append(entry)
        report(
            progress, len(log) / total, f"trial {len(log)} of {total}: validation ROC-AUC {auc:.3f}"
        )
        if on_trial:
            on_trial(entry)
        return {"roc_auc": auc}

    if search == "none":
        objective({})
        return best["fitted"], dict(defaults), log
    found = tuning.search_params(
        objective, space, search, total, "roc_auc", spec["seed"], first=first
    )
    return best["fitted"], {**defaults, **found["best_params"]}, log


def _jsonable(params: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}
