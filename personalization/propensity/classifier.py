"""Conversion propensity: train, validate and score binary classifiers on a customer table.

``train_classifier`` reads any table with a target column, splits it stratified into train,
validation and test, cross-validates on train, tunes on validation only, picks a decision threshold on
validation, reports final figures on test only beside the base-rate baseline, warns about columns that
look like leakage, and saves a ``ClassifierArtifact`` in the registry. ``score_customers`` scores a
whole table with a saved model.
"""

from __future__ import annotations

import re
import warnings as warnings_module
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import optuna
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import ParameterGrid, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline

from personalization import export, registry, store
from personalization.errors import BadInputError, NotEnoughDataError
from personalization.propensity.pipelines import (
    BALANCES,
    CLASSIFIERS,
    DEFAULT_PARAMS,
    GRIDS,
    SCALINGS,
    SMOTE_NEIGHBOURS,
    build_pipeline,
    fit_params,
    limit_threads,
    original_columns,
    scoring_pipeline,
)


@dataclass
class ClassifierArtifact:
    """A fitted propensity model and what is needed to score, explain and chart it.

    ``pipeline`` is a scikit-learn ``Pipeline`` with the steps ``("prep", ColumnTransformer)`` and
    ``("model", estimator)``; it takes a frame with the original ``features`` columns. Class 1 of
    the model is ``positive``. ``train_sample`` holds at most 500 training rows (original feature
    columns) as a SHAP background; ``test_frame`` holds the test split with every column of the
    table (key, target, segments), aligned with ``y_test`` (0/1) and ``test_scores`` (P(positive)).
    """

    pipeline: Pipeline
    features: list[str]
    numeric: list[str]
    categorical: list[str]
    target: str
    positive: str
    threshold: float
    key: str | None
    table: str
    train_sample: pd.DataFrame
    test_frame: pd.DataFrame
    y_test: np.ndarray
    test_scores: np.ndarray
    metrics: dict
    warnings: list[str] = field(default_factory=list)
    algo: str = ""

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """P(positive) for each row of ``frame`` (original columns; extra columns are ignored).

        Returns an array of shape ``(len(frame),)`` in [0, 1].
        """
        with limit_threads():
            return self.pipeline.predict_proba(frame[self.features])[:, 1]

    def feature_columns(self) -> list[str]:
        """For each column of ``pipeline.named_steps["prep"].transform(X)``, its original column."""
        return original_columns(self.pipeline.named_steps["prep"], self.numeric, self.categorical)


TRUTHY = frozenset({"true", "1", "yes", "y", "t"})
FALSY = frozenset({"false", "0", "no", "n", "f"})
ID_NAME = re.compile(r"(^|[^a-z])(id|uuid|guid|key)([^a-z]|$)|id$")
DATE_NAME = re.compile(r"date|time|(^|_)at$|^converted_|_on$")
LEAK_AUC = 0.98
LEAK_SAMPLE = 20_000
SAMPLE_ROWS = 500
CALIBRATION_BINS = 10
NUMERIC_SHARE = 0.95
SEARCHES = ("none", "grid", "bayes")
MLP_LAYERS = {"32": (32,), "64-32": (64, 32), "128-64": (128, 64)}
SEARCHED = {
    "logreg": ("C",),
    "random_forest": ("min_samples_leaf", "max_features"),
    "gradient_boosting": ("learning_rate", "max_leaf_nodes", "min_samples_leaf", "l2_regularization"),
    "mlp": ("hidden_layer_sizes", "alpha", "learning_rate_init"),
}


def train_classifier(
    table: str = "customers",
    target: str | None = None,
    positive: str | None = None,
    exclude: Sequence[str] = (),
    algo: str = "gradient_boosting",
    balance: str = "none",
    split: Sequence[float] = (0.7, 0.15, 0.15),
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
    progress: Callable[[float, str], None] | None = None,
    on_trial: Callable[[dict], None] | None = None,
) -> dict:
    """Train a propensity model on ``table`` and save it; return its figures.

    The rows are split stratified into train/validation/test by ``split`` (three fractions summing
    to 1). ``folds``-fold stratified cross-validation runs on train (``folds=0`` skips it); ``search``
    (``none``, ``grid`` or ``bayes``) fits each candidate on train and scores ROC-AUC on validation,
    calling ``on_trial({"trial", "params", "roc_auc", "best_roc_auc"})`` after each. The decision
    threshold maximises F1 on validation, or expected profit when ``cost_per_contact`` and
    ``value_per_conversion`` are both given. Test figures are computed once, at the end.

    ``positive`` matches the stored target however it is written (``yes`` matches ``YES``, ``true``
    matches ``TRUE`` and ``1``); without it, a two-valued target's minority value is positive.
    Rows with a missing target are refused unless ``drop_missing_target`` (then dropped and reported).

    Returns a dict with ``model_id``, ``algo``, ``params``, ``metrics`` (``validation``, ``test``,
    ``baseline``), ``cv`` (``roc_auc_mean``, ``roc_auc_std``), ``warnings``, ``trials`` and more.
    Raises ``BadInputError`` (or its ``NotFoundError``/``NotEnoughDataError`` children) for input
    that cannot be trained on, with the fix in the message.
    """
    report = _reporter(progress)
    check_options(algo, balance, search, scaling, folds, trials)
    fractions = parse_split(split)
    report(0.02, f"reading {table}")
    frame = store.read_table(table, db=db)
    if target is None or target not in frame.columns:
        raise BadInputError(_target_message(table, target, frame.columns))
    frame, y, positive_label, warnings = resolve_target(frame, target, positive, drop_missing_target)
    columns = choose_columns(frame, target, exclude)
    warnings += columns["warnings"]
    train_idx, val_idx, test_idx = split_rows(y, fractions, seed)
    check_counts(y[train_idx], folds, balance)
    X = frame[columns["features"]]
    X_train, y_train = X.iloc[train_idx], y[train_idx]
    report(0.08, "checking columns for leakage")
    warnings += leakage_warnings(X_train, y_train, columns["numeric"], columns["categorical"])
    spec = {"algo": algo, "numeric": columns["numeric"], "categorical": columns["categorical"],
            "balance": balance, "scaling": scaling, "seed": seed}
    cv = cross_validate_auc(spec, X_train, y_train, folds, seed, _span(report, 0.1, 0.4))
    fitted, params, trial_log = search_params(
        spec, X_train, y_train, X.iloc[val_idx], y[val_idx], search, trials, seed, on_trial,
        _span(report, 0.4, 0.9),
    )
    report(0.9, "choosing the threshold on validation and scoring the test split")
    scorer = scoring_pipeline(fitted)
    val_scores = _proba(scorer, X.iloc[val_idx])
    threshold = choose_threshold(y[val_idx], val_scores, cost_per_contact, value_per_conversion)
    test_scores = _proba(scorer, X.iloc[test_idx])
    metrics = {
        "validation": split_metrics(y[val_idx], val_scores, threshold),
        "test": final_metrics(y[test_idx], test_scores, threshold,
                             cost_per_contact, value_per_conversion),
        "baseline": baseline_metrics(y[test_idx], float(y_train.mean())),
        "cv": cv,
    }
    artifact = ClassifierArtifact(
        pipeline=scorer, features=columns["features"], numeric=columns["numeric"],
        categorical=columns["categorical"], target=target, positive=positive_label,
        threshold=threshold, key=columns["key"], table=table,
        train_sample=X_train.sample(min(SAMPLE_ROWS, len(X_train)), random_state=seed),
        test_frame=frame.iloc[test_idx].reset_index(drop=True), y_test=y[test_idx],
        test_scores=test_scores, metrics=metrics, warnings=warnings, algo=algo,
    )
    saved_params = {**params, "balance": balance, "scaling": scaling, "split": list(fractions),
                    "folds": folds, "search": search, "seed": seed, "table": table,
                    "target": target, "positive": positive_label, "exclude": list(exclude)}
    report(0.95, "saving the model")
    model_id = registry.save_model(
        artifact, kind="classifier", algo=algo, params=saved_params, metrics=metrics,
        data_fingerprint=registry.fingerprint(table, frame.shape, list(frame.columns), y.sum()),
        name=name, db=db,
    )
    report(1.0, "done")
    return {
        "model_id": model_id, **registry.standing(model_id, db=db), "algo": algo, "params": saved_params,
        "metrics": {k: metrics[k] for k in ("validation", "test", "baseline")}, "cv": cv,
        "threshold": threshold, "warnings": warnings, "trials": trial_log,
        "target": target, "positive": positive_label, "key": columns["key"],
        "features": columns["features"], "dropped": columns["dropped"],
        "rows": {"train": len(train_idx), "validation": len(val_idx), "test": len(test_idx)},
        "positive_rate": float(y.mean()),
    }


def score_customers(model_id: str | None = None, table: str | None = None, db=None) -> pd.DataFrame:
    """Score every row of ``table`` (default: the table the model was trained on).

    Returns a frame with the key column (or ``row``, the row number, when the table had none),
    ``score`` (P(positive), 0..1) and ``decision`` (score >= the model's threshold), highest first.
    Raises ``NotFoundError`` for an unknown model or table and ``BadInputError`` when the table
    lacks feature columns.
    """
    artifact, info = registry.load_model(model_id, kind="classifier", db=db)
    table = table or artifact.table
    frame = store.read_table(table, db=db)
    missing = [c for c in artifact.features if c not in frame.columns]
    if missing:
        raise BadInputError(
            f"Table {table!r} lacks columns model {info['model_id']} needs: {', '.join(missing)}; "
            f"found: {', '.join(map(str, frame.columns))}. Score a table with the training columns."
        )
    key = artifact.key if artifact.key in frame.columns else None
    scores = artifact.predict_proba(frame) if len(frame) else np.empty(0)
    out = pd.DataFrame({
        key or "row": frame[key].to_numpy() if key else np.arange(len(frame)),
        "score": scores,
        "decision": scores >= artifact.threshold,
    })
    return out.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)


def check_options(algo: str, balance: str, search: str, scaling: str, folds: int, trials: int) -> None:
    """Raise ``BadInputError`` for an unknown choice or an out-of-range count."""
    choices = {"algo": (algo, CLASSIFIERS), "balance": (balance, BALANCES),
               "search": (search, SEARCHES), "scaling": (scaling, SCALINGS)}
    for flag, (value, allowed) in choices.items():
        if value not in allowed:
            raise BadInputError(f"--{flag} must be one of {', '.join(allowed)}; got {value!r}.")
    if folds < 0 or folds == 1:
        raise BadInputError(f"--folds must be 0 (no cross-validation) or at least 2; got {folds}.")
    if trials < 1:
        raise BadInputError(f"--trials must be at least 1; got {trials}.")


def parse_split(split: Sequence[float] | str) -> tuple[float, float, float]:
    """``(train, validation, test)`` fractions, each in (0, 1), summing to 1; ``"0.8,0.1,0.1"`` works."""
    try:
        parts = [float(p) for p in (split.split(",") if isinstance(split, str) else split)]
    except ValueError as exc:
        raise BadInputError(f"--split takes three fractions like 0.7,0.15,0.15; got {split!r}.") from exc
    if len(parts) != 3 or min(parts) <= 0 or abs(sum(parts) - 1.0) > 1e-6:
        raise BadInputError(
            f"--split takes three positive fractions (train, validation, test) summing to 1, "
            f"like 0.7,0.15,0.15; got {split!r}."
        )
    return parts[0], parts[1], parts[2]


def resolve_target(
    frame: pd.DataFrame, target: str, positive: str | None, drop_missing: bool
) -> tuple[pd.DataFrame, np.ndarray, str, list[str]]:
    """Binarise ``frame[target]``: return the kept rows, ``y`` (1 = positive), the positive value
    as stored, and warnings. Raises ``BadInputError`` for a target that cannot be binarised."""
    warnings: list[str] = []
    raw = frame[target]
    norm = raw.map(_normalise)
    missing = int(norm.isna().sum())
    if missing and not drop_missing:
        raise BadInputError(
            f"Target {target!r} is missing in {missing} of {len(frame)} rows; fill them in, or drop "
            f"those rows with --drop-missing-target (drop_missing_target=True)."
        )
    if missing:
        keep = norm.notna().to_numpy()
        frame, raw, norm = frame[keep].reset_index(drop=True), raw[keep], norm[keep]
        warnings.append(f"Dropped {missing} rows whose target {target!r} is missing.")
    if len(frame) == 0:
        raise NotEnoughDataError(f"Table has no rows with a value in {target!r}; load data first.")
    counts = norm.value_counts()
    if len(counts) == 1:
        raise BadInputError(
            f"Target {target!r} has one value ({raw.iloc[0]!r}) in all {len(frame)} rows; a model "
            f"needs rows of both outcomes. Load data with converters and non-converters, or pick "
            f"another --target."
        )
    mask = _positive_mask(raw, norm, counts, target, positive)
    positive_label = str(raw[mask].iloc[0])
    if len(counts) > 2:
        warnings.append(
            f"Target {target!r} has {len(counts)} values; {positive_label!r} is positive and the "
            f"others are negative."
        )
    return frame, mask.to_numpy().astype(int), positive_label, warnings


def _positive_mask(raw: pd.Series, norm: pd.Series, counts: pd.Series, target: str,
                   positive: str | None) -> pd.Series:
    values = ", ".join(_examples(raw))
    if positive is None:
        if len(counts) > 2:
            raise BadInputError(
                f"Target {target!r} has {len(counts)} values ({values}); a propensity model needs "
                f"two. Name the positive one with --positive VALUE; the rest count as negative."
            )
        ordered = sorted(counts.index, key=lambda v: (counts[v], v not in TRUTHY))
        return norm == ordered[0]
    wanted = _normalise(positive)
    if wanted is not None and wanted in counts.index:
        return norm == wanted
    for family in (TRUTHY, FALSY):
        if wanted in family and counts.index.isin(list(family)).any():
            return norm.isin(list(family))
    raise BadInputError(
        f"Positive value {positive!r} does not occur in target {target!r}; found: {values}. "
        f"Pass one of them with --positive."
    )


def _normalise(value) -> str | None:
    """Lower-case text of a target value; ``True`` -> ``"true"``, ``1.0`` -> ``"1"``, missing -> None."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    text = str(value).strip().lower()
    return text or None


def _examples(raw: pd.Series, limit: int = 10) -> list[str]:
    counts = raw.dropna().astype(str).value_counts()
    shown = [f"{v} ({n})" for v, n in counts.head(limit).items()]
    return shown + ([f"... {len(counts) - limit} more"] if len(counts) > limit else [])


def _target_message(table: str, target: str | None, columns: Sequence[str]) -> str:
    found = ", ".join(map(str, columns))
    if target is None:
        return f"Name the target column with --target; {table!r} has: {found}."
    return f"Table {table!r} has no column {target!r}; found: {found}. Pick one with --target."


def choose_columns(frame: pd.DataFrame, target: str, exclude: Sequence[str] = ()) -> dict:
    """Sort the columns of ``frame`` into features (numeric, categorical), key and dropped.

    Id columns (named like ``*id*``, every value unique, text or integers) are dropped and the
    first kept as ``key``; datetime columns, all-null and constant columns are dropped with a
    warning; text columns whose values are at least 95% numbers become numeric. Raises
    ``BadInputError`` for an unknown excluded column or when no feature is left.
    """
    unknown = [c for c in exclude if c not in frame.columns]
    if unknown:
        raise BadInputError(
            f"--exclude names columns that do not exist: {', '.join(unknown)}; "
            f"found: {', '.join(map(str, frame.columns))}."
        )
    out = {"numeric": [], "categorical": [], "key": None, "dropped": list(exclude), "warnings": []}
    for column in frame.columns:
        if column == target or column in exclude:
            continue
        _sort_column(frame[column], out)
    out["features"] = out["numeric"] + out["categorical"]
    if not out["features"]:
        raise BadInputError(
            f"No usable feature column is left after excluding {', '.join(out['dropped']) or 'none'}; "
            f"the table needs at least one column besides the target that varies."
        )
    return out


def _sort_column(col: pd.Series, out: dict) -> None:
    name = str(col.name)
    lowered = _snake(name)
    if ID_NAME.search(lowered) and _all_unique(col):
        out["dropped"].append(name)
        out["key"] = out["key"] or name
        out["warnings"].append(
            f"Column {name!r} looks like an id (every value unique); it is kept as the key, not used "
            f"as a feature."
        )
        return
    if col.nunique(dropna=False) <= 1:
        out["dropped"].append(name)
        state = "all empty" if col.isna().all() else "constant"
        out["warnings"].append(f"Column {name!r} is {state}; it is dropped.")
        return
    if pd.api.types.is_datetime64_any_dtype(col):
        out["dropped"].append(name)
        out["warnings"].append(
            f"Column {name!r} is a date; it is not used as a feature. If it was recorded after the "
            f"outcome (a date of conversion), it would leak the answer; derive a feature from it "
            f"that is known before the outcome instead."
        )
        return
    if DATE_NAME.search(lowered):
        out["warnings"].append(
            f"Column {name!r} looks like a date or a record of the outcome; if it was recorded "
            f"after the outcome it leaks the answer: exclude it with --exclude {name}."
        )
    kind = "numeric" if _looks_numeric(col) else "categorical"
    out[kind].append(name)
    if kind == "categorical" and col.nunique() > max(50, 0.5 * col.notna().sum()):
        out["warnings"].append(
            f"Column {name!r} has {col.nunique()} distinct values, like an id or free text; "
            f"it adds little. Exclude it with --exclude {name}."
        )


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _all_unique(col: pd.Series) -> bool:
    textual = pd.api.types.is_string_dtype(col) or col.dtype == object
    return (textual or pd.api.types.is_integer_dtype(col)) and col.notna().all() and col.is_unique


def _looks_numeric(col: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        return True
    present = col.dropna()
    parsed = pd.to_numeric(present.astype(str).str.strip(), errors="coerce")
    return len(present) > 0 and parsed.notna().mean() >= NUMERIC_SHARE


def split_rows(y: np.ndarray, fractions: tuple[float, float, float], seed: int = 0):
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
    train, val = train_test_split(rest, test_size=val_frac / (1 - test_frac), stratify=y[rest],
                                  random_state=seed)
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


def leakage_warnings(X: pd.DataFrame, y: np.ndarray, numeric: list[str],
                     categorical: list[str]) -> list[str]:
    """A warning for each column that alone ranks the target with ROC-AUC >= 0.98 (either way)."""
    if len(X) > LEAK_SAMPLE:
        picked = np.random.default_rng(0).choice(len(X), LEAK_SAMPLE, replace=False)
        X, y = X.iloc[picked], y[picked]
    out = []
    for column in numeric + categorical:
        auc = _single_feature_auc(X[column], y, column in numeric)
        if auc >= LEAK_AUC:
            out.append(
                f"Column {column!r} alone predicts the target almost perfectly (ROC-AUC {auc:.3f} "
                f"on train); it is probably recorded after the outcome (leakage). Check it and "
                f"exclude it with --exclude {column}."
            )
    return out


def _single_feature_auc(col: pd.Series, y: np.ndarray, numeric: bool) -> float:
    if numeric:
        values = pd.to_numeric(col, errors="coerce").astype(float)
        values = values.fillna(values.median() if values.notna().any() else 0.0)
    else:
        text = col.astype(str).where(col.notna(), "(missing)")
        values = text.map(pd.Series(y, index=text.index).groupby(text).mean())
    auc = roc_auc_score(y, values.to_numpy(dtype=float))
    return float(max(auc, 1 - auc))


def cross_validate_auc(spec: dict, X: pd.DataFrame, y: np.ndarray, folds: int, seed: int,
                       report: Callable[[float, str], None]) -> dict:
    """Stratified ``folds``-fold ROC-AUC of the default pipeline on the training split."""
    if not folds:
        return {"roc_auc_mean": None, "roc_auc_std": None, "folds": 0, "roc_auc": []}
    scores = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for i, (fit_rows, held_rows) in enumerate(splitter.split(X, y)):
        report(i / folds, f"cross-validation fold {i + 1} of {folds}")
        fitted = _fit(spec, None, X.iloc[fit_rows], y[fit_rows])
        scores.append(float(roc_auc_score(y[held_rows], _proba(fitted, X.iloc[held_rows]))))
    return {"roc_auc_mean": float(np.mean(scores)), "roc_auc_std": float(np.std(scores)),
            "folds": folds, "roc_auc": scores}


def _fit(spec: dict, params: dict | None, X: pd.DataFrame, y: np.ndarray):
    pipeline = build_pipeline(spec["algo"], spec["numeric"], spec["categorical"], params,
                              spec["balance"], spec["scaling"], spec["seed"])
    with warnings_module.catch_warnings(), limit_threads():
        warnings_module.simplefilter("ignore", category=ConvergenceWarning)
        return pipeline.fit(X, y, **fit_params(spec["algo"], spec["balance"], y))


def _proba(pipeline, X: pd.DataFrame) -> np.ndarray:
    with limit_threads():
        return pipeline.predict_proba(X)[:, 1]


def search_params(spec: dict, X_train, y_train, X_val, y_val, search: str, trials: int, seed: int,
                  on_trial: Callable[[dict], None] | None, report: Callable[[float, str], None]):
    """Fit candidates on train, score ROC-AUC on validation; return (best fitted, params, trials).

    The defaults are always the first candidate, so a search never picks worse than them on
    validation.
    """
    algo = spec["algo"]
    log: list[dict] = []

    def evaluate(params: dict) -> tuple[float, object]:
        fitted = _fit(spec, params, X_train, y_train)
        auc = float(roc_auc_score(y_val, _proba(fitted, X_val)))
        best = max([t["roc_auc"] for t in log] + [auc])
        entry = {"trial": len(log), "params": _jsonable(params), "roc_auc": auc, "best_roc_auc": best}
        log.append(entry)
        report(len(log) / max(total, 1), f"trial {len(log)} of {total}: validation ROC-AUC {auc:.3f}")
        if on_trial:
            on_trial(entry)
        return auc, fitted

    if search == "none":
        total = 1
        _, fitted = evaluate({})
        return fitted, dict(DEFAULT_PARAMS[algo]), log
    if search == "grid":
        candidates = _grid(algo)
        total = len(candidates)
        results = [evaluate(p) for p in candidates]
        best = int(np.argmax([r[0] for r in results]))
        return results[best][1], {**DEFAULT_PARAMS[algo], **candidates[best]}, log
    total = trials
    return _bayes(algo, evaluate, trials, seed, log)


def _grid(algo: str) -> list[dict]:
    candidates = [dict(DEFAULT_PARAMS[algo])]
    for params in ParameterGrid(GRIDS[algo]):
        if {**DEFAULT_PARAMS[algo], **params} != candidates[0]:
            candidates.append(params)
    return candidates


def _bayes(algo: str, evaluate, trials: int, seed: int, log: list[dict]):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial(_defaults_as_trial(algo))
    fitted_by_trial: dict[int, object] = {}

    def objective(trial: optuna.Trial) -> float:
        auc, fitted = evaluate(_suggest(algo, trial))
        best_so_far = max((t["roc_auc"] for t in log[:-1]), default=-1.0)
        if auc > best_so_far:
            fitted_by_trial.clear()
            fitted_by_trial[trial.number] = fitted
        return auc

    study.optimize(objective, n_trials=trials)
    best = study.best_trial.number
    return fitted_by_trial[best], {**DEFAULT_PARAMS[algo], **log[best]["params"]}, log


def _suggest(algo: str, trial: optuna.Trial) -> dict:
    if algo == "logreg":
        return {"C": trial.suggest_float("C", 1e-3, 100.0, log=True)}
    if algo == "random_forest":
        return {"min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 30),
                "max_features": trial.suggest_categorical("max_features", ["sqrt", 0.2, 0.4, 0.6])}
    if algo == "gradient_boosting":
        return {"learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
                "max_leaf_nodes": trial.suggest_int("max_leaf_nodes", 8, 64),
                "min_samples_leaf": trial.suggest_int("min_samples_leaf", 5, 100),
                "l2_regularization": trial.suggest_float("l2_regularization", 0.0, 5.0)}
    layers = trial.suggest_categorical("hidden_layer_sizes", list(MLP_LAYERS))
    return {"hidden_layer_sizes": MLP_LAYERS[layers],
            "alpha": trial.suggest_float("alpha", 1e-5, 1e-1, log=True),
            "learning_rate_init": trial.suggest_float("learning_rate_init", 1e-4, 1e-2, log=True)}


def _defaults_as_trial(algo: str) -> dict:
    defaults = {k: DEFAULT_PARAMS[algo][k] for k in SEARCHED[algo]}
    if algo == "mlp":
        defaults["hidden_layer_sizes"] = "-".join(map(str, defaults["hidden_layer_sizes"]))
    return defaults


def _jsonable(params: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


def choose_threshold(y: np.ndarray, scores: np.ndarray, cost_per_contact: float | None = None,
                     value_per_conversion: float | None = None) -> float:
    """The score cut-off (contact when score >= it) that maximises F1 on ``(y, scores)``, or the
    expected profit ``value * conversions - cost * contacts`` when both money figures are given."""
    if cost_per_contact is not None and value_per_conversion is not None:
        order = np.argsort(-scores, kind="stable")
        profit = np.cumsum(y[order] * value_per_conversion - cost_per_contact)
        best = int(np.argmax(profit))
        return float(scores[order][best]) if profit[best] > 0 else 1.0
    precision, recall, thresholds = precision_recall_curve(y, scores)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(thresholds[int(np.argmax(f1[:-1]))])


def split_metrics(y: np.ndarray, scores: np.ndarray, threshold: float) -> dict:
    """ROC-AUC, PR-AUC, Brier and, at ``threshold``, precision, recall and F1."""
    decision = scores >= threshold
    return {
        "roc_auc": float(roc_auc_score(y, scores)),
        "pr_auc": float(average_precision_score(y, scores)),
        "precision": float(precision_score(y, decision, zero_division=0)),
        "recall": float(recall_score(y, decision, zero_division=0)),
        "f1": float(f1_score(y, decision, zero_division=0)),
        "brier": float(brier_score_loss(y, scores)),
        "threshold": float(threshold),
        "rows": int(len(y)),
        "positives": int(y.sum()),
    }


def final_metrics(y: np.ndarray, scores: np.ndarray, threshold: float,
                 cost_per_contact: float | None = None, value_per_conversion: float | None = None) -> dict:
    """``split_metrics`` plus the confusion matrix, calibration curve points and, given the money
    figures, the expected profit of contacting everyone at or above ``threshold``."""
    out = split_metrics(y, scores, threshold)
    tn, fp, fn, tp = confusion_matrix(y, scores >= threshold, labels=[0, 1]).ravel()
    out["confusion_matrix"] = {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)}
    observed, predicted = calibration_curve(y, scores, n_bins=CALIBRATION_BINS, strategy="quantile")
    out["calibration"] = [{"predicted": float(p), "observed": float(o)}
                          for p, o in zip(predicted, observed, strict=True)]
    if cost_per_contact is not None and value_per_conversion is not None:
        out["expected_profit"] = float(tp * value_per_conversion - (tp + fp) * cost_per_contact)
    return out


def baseline_metrics(y: np.ndarray, base_rate: float) -> dict:
    """Figures of scoring everyone at the training base rate and contacting everyone."""
    rate = float(y.mean())
    return {
        "roc_auc": 0.5,
        "pr_auc": rate,
        "precision": rate,
        "recall": 1.0,
        "f1": 2 * rate / (1 + rate),
        "brier": float(np.mean((base_rate - y) ** 2)),
        "threshold": 0.0,
        "base_rate": base_rate,
    }


def _reporter(progress: Callable[[float, str], None] | None) -> Callable[[float, str], None]:
    return progress or (lambda fraction, message: None)


def _span(report: Callable[[float, str], None], start: float, end: float):
    """``report`` rescaled so that 0..1 maps onto ``start..end``."""
    return lambda fraction, message: report(start + (end - start) * min(fraction, 1.0), message)


def export_scores(out: str, model_id: str | None = None, table: str | None = None, db=None) -> dict:
    """Write ``score_customers`` to ``out`` (.csv, formula-safe, or .parquet).

    Returns ``path``, ``rows`` and ``contacts`` (rows at or above the threshold).
    """
    scores = score_customers(model_id=model_id, table=table, db=db)
    path = export.write_table(scores, out)
    return {"path": str(path), "rows": len(scores), "contacts": int(scores["decision"].sum())}
