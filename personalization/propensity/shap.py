"""SHAP values of a propensity model as tidy tables: per row, per feature, overall.

The explainer follows the model family: ``TreeExplainer`` for random forests and gradient
boosting, ``LinearExplainer`` for logistic regression (background: ``artifact.train_sample``), and a
sampled, model-agnostic ``KernelExplainer`` for the MLP (background: 20 rows of the training
sample, ``2 * columns + 200`` coalitions per row, at most 100 rows; its efficiency constraint
keeps it additive; chosen over ``PermutationExplainer``, whose numba compilation costs ~20 s on
first use in every process). A random forest too deep for exact TreeSHAP on the requested rows
within about ``FOREST_BUDGET`` operations (leaves x depth^2 per tree and row) is explained with
Saabas attributions instead: additive too, fast, but an approximation; ``method`` says which was
used. SHAP runs on the prepared matrix and the contributions of the columns made from one original column
(its one-hot parts, its missing indicator) are summed back onto it, so ``device`` is one feature.

Output space (``output_space``): a random forest averages probabilities, so its SHAP values add up
to P(positive) ("probability"); every other family is explained in log-odds ("log_odds").
In both, base value + sum of contributions == the model's output for the row.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shap
from scipy.special import expit
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression

from personalization.errors import BadInputError, NotFoundError
from personalization.propensity.pipelines import column_groups

TREES = (
    RandomForestClassifier,
    ExtraTreesClassifier,
    HistGradientBoostingClassifier,
    GradientBoostingClassifier,
)
AVERAGED = (RandomForestClassifier, ExtraTreesClassifier)
KERNEL_BACKGROUND_ROWS = 20
KERNEL_EXTRA_SAMPLES = 200
SAMPLED_MAX_ROWS = 100
FOREST_BUDGET = 4e9
EPS = 1e-12
TREE_EXPLAINERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass
class Explanation:
    """Grouped SHAP values of some rows: ``shap`` is (rows x features), ``frame`` the values."""

    shap: pd.DataFrame
    frame: pd.DataFrame
    base_value: float
    output: np.ndarray
    output_space: str
    method: str


def parts(artifact):
    """The fitted ``prep`` (ColumnTransformer) and ``model`` of the artifact's pipeline."""
    steps = artifact.pipeline.named_steps
    return steps["prep"], steps["model"]


def family(model) -> str:
    """``"tree"``, ``"linear"`` or ``"sampled"``: which SHAP explainer fits ``model``."""
    if isinstance(model, TREES):
        return "tree"
    if isinstance(model, LogisticRegression):
        return "linear"
    return "sampled"


def output_space(artifact) -> str:
    """``"probability"`` for forests (their SHAP values add up to P(positive)), else
    ``"log_odds"``."""
    return "probability" if isinstance(parts(artifact)[1], AVERAGED) else "log_odds"


def transform(artifact, frame: pd.DataFrame) -> np.ndarray:
    """The prepared matrix (rows x transformed columns) of ``frame``'s feature columns."""
    prep, _ = parts(artifact)
    return np.asarray(prep.transform(frame[artifact.features]), dtype=float)


def model_output(artifact, matrix: np.ndarray) -> np.ndarray:
    """The model's output for prepared rows in the explainer's space (shape ``(rows,)``)."""
    _, model = parts(artifact)
    proba = model.predict_proba(matrix)[:, 1]
    if output_space(artifact) == "probability":
        return proba
    return logit(proba)


def as_probability(value: float, output_space: str) -> float:
    """A model output as a chance in [0, 1]: log-odds through the logistic function (scipy's
    ``expit``, the one the charts use too), a ``"probability"`` output as it is."""
    return float(expit(value)) if output_space == "log_odds" else float(value)


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds of probabilities ``p`` (clipped to ``EPS``..``1 - EPS``, so always finite)."""
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def raw_shap(artifact, matrix: np.ndarray, approximate: bool = False) -> tuple[np.ndarray, float]:
    """SHAP values (rows x transformed columns) and the base value, in ``output_space``.

    ``approximate`` uses Saabas attributions for tree models (additive, much faster, not exact
    Shapley values); other families ignore it.
    """
    _, model = parts(artifact)
    kind = family(model)
    if kind == "tree":
        explainer = tree_explainer(model)
        values = np.asarray(
            explainer.shap_values(matrix, approximate=approximate, check_additivity=False)
        )
        base = np.ravel(explainer.expected_value)
        if values.ndim == 3:
            return values[:, :, 1], float(base[1])
        return values, float(base[-1])
    if kind == "linear":
        explainer = shap.LinearExplainer(
            model, background_matrix(artifact, len(artifact.train_sample))
        )
        return np.asarray(explainer.shap_values(matrix)), float(
            np.ravel(explainer.expected_value)[0]
        )
    explainer = shap.KernelExplainer(
        lambda x: model_output(artifact, x), background_matrix(artifact, KERNEL_BACKGROUND_ROWS)
    )
    values = explainer.shap_values(
        matrix, nsamples=2 * matrix.shape[1] + KERNEL_EXTRA_SAMPLES, l1_reg=False, silent=True
    )
    return np.asarray(values), float(np.ravel(explainer.expected_value)[0])


def tree_explainer(model) -> shap.TreeExplainer:
    """The ``TreeExplainer`` of ``model``, built once per fitted model object."""
    if model not in TREE_EXPLAINERS:
        TREE_EXPLAINERS[model] = shap.TreeExplainer(model)
    return TREE_EXPLAINERS[model]


def forest_row_cap(model) -> int:
    """Rows of a forest that exact TreeSHAP explains in about ``FOREST_BUDGET`` operations.

    TreeSHAP costs about leaves x depth^2 per tree and row: a deep forest (150 trees of 2,400
    leaves, depth 26) fits about 16 rows, a shallow one thousands.
    """
    cost = sum(t.tree_.n_leaves * max(t.tree_.max_depth, 1) ** 2 for t in model.estimators_)
    return int(FOREST_BUDGET / max(cost, 1))


def method(artifact, rows: int) -> str:
    """How ``rows`` rows are explained: ``tree``, ``saabas`` (a forest too deep for exact
    TreeSHAP on that many rows), ``linear`` or ``kernel``."""
    model = parts(artifact)[1]
    if isinstance(model, AVERAGED) and rows > forest_row_cap(model):
        return "saabas"
    return {"tree": "tree", "linear": "linear", "sampled": "kernel"}[family(model)]


def background_matrix(artifact, rows: int) -> np.ndarray:
    """Up to ``rows`` prepared rows of ``artifact.train_sample`` (a fixed draw)."""
    sample = artifact.train_sample
    if len(sample) == 0:
        raise BadInputError("The model has no training sample to explain against; train it again.")
    return transform(artifact, sample.sample(min(rows, len(sample)), random_state=0))


def explain_frame(artifact, frame: pd.DataFrame) -> Explanation:
    """Grouped SHAP values of every row of ``frame`` (original columns)."""
    missing = [c for c in artifact.features if c not in frame.columns]
    if missing:
        raise BadInputError(
            f"The rows to explain lack the model's columns {', '.join(missing)}; "
            f"pass rows with every feature the model was trained on."
        )
    frame = frame[artifact.features].reset_index(drop=True)
    matrix = transform(artifact, frame)
    how = method(artifact, len(frame))
    values, base = raw_shap(artifact, matrix, approximate=how == "saabas")
    grouped = (
        pd.DataFrame(values, columns=column_groups(parts(artifact)[0], artifact.features))
        .T.groupby(level=0, sort=False)
        .sum()
        .T
    )
    return Explanation(
        shap=grouped.reindex(columns=artifact.features, fill_value=0.0),
        frame=frame,
        base_value=base,
        output=model_output(artifact, matrix),
        output_space=output_space(artifact),
        method=how,
    )


def sample_rows(artifact, sample: int) -> pd.DataFrame:
    """At most ``sample`` rows of the test split (else the training sample), a fixed draw.

    The model-agnostic explainer takes at most ``SAMPLED_MAX_ROWS`` rows, to stay quick.
    """
    if sample < 1:
        raise BadInputError(f"sample must be at least 1; got {sample}.")
    frame = artifact.test_frame if len(artifact.test_frame) else artifact.train_sample
    if family(parts(artifact)[1]) == "sampled":
        sample = min(sample, SAMPLED_MAX_ROWS)
    if len(frame) > sample:
        frame = frame.sample(sample, random_state=0)
    return frame


def global_importance(artifact, sample: int = 2000) -> pd.DataFrame:
    """Mean |SHAP| per original feature over a sample of ``sample`` test rows, biggest first.

    Columns: ``feature``, ``mean_abs_shap`` (>= 0, in ``output_space`` units); ``attrs`` holds
    ``method`` and ``output_space``.
    """
    explanation = explain_frame(artifact, sample_rows(artifact, sample))
    table = _ranked(explanation.shap.abs().mean())
    table.attrs.update(method=explanation.method, output_space=explanation.output_space)
    return table


def importance(points: pd.DataFrame) -> pd.DataFrame:
    """Mean |SHAP| per feature of a ``beeswarm_data`` table: what ``global_importance`` gives for
    the same rows, without explaining them again. Columns ``feature``, ``mean_abs_shap`` (>= 0),
    biggest first; ``attrs`` carried over."""
    means = points.assign(size=points["shap"].abs()).groupby("feature", sort=False)["size"].mean()
    table = _ranked(means)
    table.attrs.update(points.attrs)
    return table


def _ranked(means: pd.Series) -> pd.DataFrame:
    means = means.sort_values(ascending=False, kind="stable")
    return pd.DataFrame({"feature": means.index.astype(str), "mean_abs_shap": means.to_numpy()})


def beeswarm_data(artifact, sample: int = 1000) -> pd.DataFrame:
    """One row per (customer, feature), features ordered by mean |SHAP|, biggest first.

    Columns: ``row`` (0..n-1), ``feature``, ``shap``, ``value`` (the original value) and
    ``value_norm`` (numeric values min-max scaled to 0..1 within the feature; NaN for text and
    missing values, and 0.5 for a constant feature).
    """
    explanation = explain_frame(artifact, sample_rows(artifact, sample))
    order = explanation.shap.abs().mean().sort_values(ascending=False, kind="stable").index
    pieces = [
        pd.DataFrame(
            {
                "row": np.arange(len(explanation.frame)),
                "feature": feature,
                "shap": explanation.shap[feature].to_numpy(),
                "value": explanation.frame[feature].astype(object).to_numpy(),
                "value_norm": normalise(
                    explanation.frame[feature], feature in artifact.categorical
                ),
            }
        )
        for feature in order
    ]
    data = pd.concat(pieces, ignore_index=True)
    data.attrs.update(method=explanation.method, output_space=explanation.output_space)
    return data


def normalise(values: pd.Series, categorical: bool) -> np.ndarray:
    """Min-max scaled numbers (0..1) for colouring; NaN for categories and missing values."""
    if categorical:
        return np.full(len(values), np.nan)
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    low, high = np.nanmin(numbers, initial=np.inf), np.nanmax(numbers, initial=-np.inf)
    if not np.isfinite(low):
        return numbers
    if high == low:
        return np.where(np.isnan(numbers), np.nan, 0.5)
    return (numbers - low) / (high - low)


def dependence_data(artifact, feature: str, sample: int = 1000) -> pd.DataFrame:
    """A feature's value against its SHAP contribution, one row per sampled customer.

    Columns: ``value`` (original value), ``shap``. Raises ``NotFoundError`` for an unknown feature.
    """
    if feature not in artifact.features:
        raise NotFoundError(
            f"The model has no feature {feature!r}; its features are: "
            f"{', '.join(artifact.features)}."
        )
    explanation = explain_frame(artifact, sample_rows(artifact, sample))
    return pd.DataFrame(
        {
            "value": explanation.frame[feature].astype(object).to_numpy(),
            "shap": explanation.shap[feature].to_numpy(),
        }
    )
