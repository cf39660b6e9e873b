"""Classifier pipelines: column preparation, models and resampling for propensity models.

``build_pipeline`` returns an imbalanced-learn ``Pipeline`` with the steps ``prep`` (a
``ColumnTransformer``), an optional ``sampler`` (SMOTE or random undersampling, applied only while
fitting, so never to validation or test rows) and ``model``. ``scoring_pipeline`` turns a fitted one
into a plain scikit-learn ``Pipeline([("prep", ...), ("model", ...)])`` for scoring and SHAP;
``predict_positive`` scores with either, and ``column_groups`` maps each prepared column back to
the original column it was made from. ``DEFAULT_PARAMS`` are each family's defaults; what a
search varies lives in ``personalization.tuning``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import pandas as pd
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import Pipeline as ImbPipeline
from imblearn.under_sampling import RandomUnderSampler
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from personalization import config
from personalization.propensity import BALANCES, CLASSIFIERS, SCALINGS

MIN_CATEGORY_FREQUENCY = 10
SMOTE_NEIGHBOURS = 5

DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "logreg": {"C": 1.0},
    "random_forest": {
        "n_estimators": 150,
        "max_depth": 14,
        "min_samples_leaf": 5,
        "max_features": "sqrt",
    },
    "gradient_boosting": {
        "learning_rate": 0.05,
        "max_iter": 400,
        "max_leaf_nodes": 31,
        "min_samples_leaf": 20,
        "l2_regularization": 0.0,
    },
    "mlp": {"hidden_layer_sizes": (64, 32), "alpha": 1e-3, "learning_rate_init": 1e-3},
}


def limit_threads() -> AbstractContextManager:
    """Run native code (OpenMP, BLAS) on ``config.threads()`` threads (1 unless
    ``PERSONALIZATION_THREADS`` says otherwise): OpenMP threads spin while they wait, so when the
    cores are shared (the dashboard, a scoring job) two threads made gradient boosting 7x slower,
    while one thread on an idle machine costs well under 2x."""
    return threadpool_limits(limits=config.threads())


def to_numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """Numeric view of ``frame``: text that looks like numbers is parsed, the rest becomes NaN."""
    return frame.apply(lambda col: pd.to_numeric(col, errors="coerce")).astype("float64")


def to_text(frame: pd.DataFrame) -> np.ndarray:
    """Categorical view of ``frame`` as an object array of strings; missing values stay None."""
    out = frame.astype(object).where(frame.notna(), None)
    return out.map(lambda v: v if v is None else str(v)).to_numpy(dtype=object)


def build_prep(
    numeric: list[str], categorical: list[str], scaling: str = "standard"
) -> ColumnTransformer:
    """The ``ColumnTransformer``: impute (with missing indicators) and scale numerics, one-hot
    encode categoricals with categories rarer than ``MIN_CATEGORY_FREQUENCY`` grouped together."""
    if scaling not in SCALINGS:
        raise ValueError(f"scaling must be one of {SCALINGS}; got {scaling!r}")
    scaler = StandardScaler() if scaling == "standard" else MinMaxScaler()
    num = Pipeline(
        [
            ("numbers", FunctionTransformer(to_numbers, feature_names_out="one-to-one")),
            (
                "impute",
                SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            ),
            ("scale", scaler),
        ]
    )
    cat = Pipeline(
        [
            ("text", FunctionTransformer(to_text, feature_names_out="one-to-one")),
            ("impute", SimpleImputer(strategy="constant", fill_value="(missing)")),
            (
                "onehot",
                OneHotEncoder(
                    handle_unknown="infrequent_if_exist",
                    min_frequency=MIN_CATEGORY_FREQUENCY,
                    sparse_output=False,
                ),
            ),
        ]
    )
    parts = []
    if numeric:
        parts.append(("num", num, list(numeric)))
    if categorical:
        parts.append(("cat", cat, list(categorical)))
    return ColumnTransformer(parts, sparse_threshold=0.0)


def build_model(
    algo: str, params: dict | None = None, balance: str = "class_weight", seed: int = 0
):
    """An unfitted estimator of family ``algo`` with ``DEFAULT_PARAMS`` overridden by ``params``.

    ``balance="class_weight"`` sets ``class_weight="balanced"`` where the estimator takes it;
    the MLP gets balanced sample weights at fit time instead (see ``fit_params``).
    """
    if algo not in CLASSIFIERS:
        raise ValueError(f"algo must be one of {', '.join(CLASSIFIERS)}; got {algo!r}")
    kwargs = {**DEFAULT_PARAMS[algo], **(params or {})}
    weight = "balanced" if balance == "class_weight" else None
    if algo == "logreg":
        return LogisticRegression(max_iter=2000, class_weight=weight, random_state=seed, **kwargs)
    if algo == "random_forest":
        return RandomForestClassifier(class_weight=weight, n_jobs=-1, random_state=seed, **kwargs)
    if algo == "gradient_boosting":
        return HistGradientBoostingClassifier(
            class_weight=weight,
            early_stopping=True,
            validation_fraction=0.1,
            n_iter_no_change=30,
            random_state=seed,
            **kwargs,
        )
    kwargs["hidden_layer_sizes"] = tuple(kwargs["hidden_layer_sizes"])
    return MLPClassifier(
        early_stopping=True, max_iter=300, n_iter_no_change=15, random_state=seed, **kwargs
    )


def build_sampler(balance: str, seed: int = 0, neighbours: int = SMOTE_NEIGHBOURS):
    """SMOTE for ``smote``, random undersampling for ``undersample``, else ``None``."""
    if balance == "smote":
        return SMOTE(k_neighbors=neighbours, random_state=seed)
    if balance == "undersample":
        return RandomUnderSampler(random_state=seed)
    return None


def build_pipeline(
    algo: str,
    numeric: list[str],
    categorical: list[str],
    params: dict | None = None,
    balance: str = "class_weight",
    scaling: str = "standard",
    seed: int = 0,
) -> ImbPipeline:
    """``prep`` -> optional ``sampler`` -> ``model``, unfitted."""
    if balance not in BALANCES:
        raise ValueError(f"balance must be one of {', '.join(BALANCES)}; got {balance!r}")
    steps = [("prep", build_prep(numeric, categorical, scaling))]
    sampler = build_sampler(balance, seed)
    if sampler is not None:
        steps.append(("sampler", sampler))
    steps.append(("model", build_model(algo, params, balance, seed)))
    return ImbPipeline(steps)


def fit_params(algo: str, balance: str, y: np.ndarray) -> dict[str, np.ndarray]:
    """Extra ``fit`` arguments: balanced sample weights for the MLP under ``class_weight``."""
    if algo != "mlp" or balance != "class_weight":
        return {}
    y = np.asarray(y)
    counts = np.bincount(y, minlength=2).astype(float)
    weights = len(y) / (2.0 * np.maximum(counts, 1.0))
    return {"model__sample_weight": weights[y]}


def predict_positive(pipeline: Pipeline | ImbPipeline, X: pd.DataFrame) -> np.ndarray:
    """P(positive) of each row of ``X`` under a fitted pipeline: shape ``(len(X),)``, in [0, 1]."""
    with limit_threads():
        return pipeline.predict_proba(X)[:, 1]


def scoring_pipeline(fitted: ImbPipeline) -> Pipeline:
    """The fitted ``prep`` and ``model`` steps as a plain scikit-learn ``Pipeline`` (no sampler)."""
    return Pipeline([("prep", fitted.named_steps["prep"]), ("model", fitted.named_steps["model"])])


def column_groups(prep: ColumnTransformer, features: list[str]) -> list[str]:
    """For each column of a fitted ``prep.transform(X)``, the original column it was made from.

    Uses ``get_feature_names_out``: within a transformer's output slice, a name belongs to the
    longest input column it equals, starts with (``device_mobile``, ``device_infrequent_sklearn``)
    or indicates as missing (``missingindicator_age``). So every one-hot part of ``device`` maps to
    ``device`` and a missing indicator to its column; ``features`` are the input columns in order.
    """
    names = list(prep.get_feature_names_out())
    out = list(names)
    inputs = {name: cols for name, _, cols in prep.transformers_}
    for name, where in prep.output_indices_.items():
        columns = [
            features[c] if isinstance(c, int | np.integer) else c for c in inputs.get(name, [])
        ]
        for i in range(where.start, where.stop):
            out[i] = owner(names[i].removeprefix(f"{name}__"), columns)
    return out


def owner(name: str, columns: list[str]) -> str:
    """The input column ``name`` (a transformed column's name) was made from."""
    bare = name.removeprefix("missingindicator_")
    found = [c for c in columns if bare == c or bare.startswith(f"{c}_")]
    if found:
        return max(found, key=len)
    return columns[0] if len(columns) == 1 else name
