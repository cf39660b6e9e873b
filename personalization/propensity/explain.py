"""SHAP explanations of a propensity model as tidy tables.

The explainer follows the model family: ``TreeExplainer`` for random forests and gradient
boosting, ``LinearExplainer`` for logistic regression (background: ``artifact.train_sample``), and a
sampled, model-agnostic ``KernelExplainer`` for the MLP (background: 20 rows of the training
sample, ``2 * columns + 200`` coalitions per row, at most 100 rows; its efficiency constraint
keeps it additive; chosen over ``PermutationExplainer``, whose numba compilation costs ~20 s on
first use in every process). A random forest too deep for exact TreeSHAP on the requested rows within
about ``FOREST_BUDGET`` operations (leaves x depth^2 per tree and row) is explained with Saabas
attributions instead: additive too, fast, but an approximation; ``method`` says which was used. SHAP
runs on the prepared matrix and the contributions of the columns made from one original column
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
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression

from personalization.errors import BadInputError, NotFoundError
from personalization.store import features as feature_store

TREES = (RandomForestClassifier, ExtraTreesClassifier, HistGradientBoostingClassifier,
         GradientBoostingClassifier)
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
    """``"probability"`` for forests (their SHAP values add up to P(positive)), else ``"log_odds"``."""
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


def expit(x: float) -> float:
    return float(1 / (1 + np.exp(-x)))


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def column_groups(prep, features: list[str]) -> list[str]:
    """For each column of ``prep.transform(X)``, the original column it was made from.

    Uses ``get_feature_names_out``: within a transformer's output slice, a name belongs to the
    longest input column it equals, starts with (``device_mobile``, ``device_infrequent_sklearn``)
    or indicates as missing (``missingindicator_age``).
    """
    names = list(prep.get_feature_names_out())
    out = list(names)
    inputs = {name: cols for name, _, cols in prep.transformers_}
    for name, where in prep.output_indices_.items():
        columns = [features[c] if isinstance(c, int | np.integer) else c for c in inputs.get(name, [])]
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
        explainer = shap.LinearExplainer(model, background_matrix(artifact, len(artifact.train_sample)))
        return np.asarray(explainer.shap_values(matrix)), float(np.ravel(explainer.expected_value)[0])
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
        .T.groupby(level=0, sort=False).sum().T
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
    means = explanation.shap.abs().mean().sort_values(ascending=False, kind="stable")
    table = pd.DataFrame({"feature": means.index, "mean_abs_shap": means.to_numpy()})
    table.attrs.update(method=explanation.method, output_space=explanation.output_space)
    return table


def beeswarm_data(artifact, sample: int = 1000) -> pd.DataFrame:
    """One row per (customer, feature), features ordered by mean |SHAP|, biggest first.

    Columns: ``row`` (0..n-1), ``feature``, ``shap``, ``value`` (the original value) and
    ``value_norm`` (numeric values min-max scaled to 0..1 within the feature; NaN for text and
    missing values, and 0.5 for a constant feature).
    """
    explanation = explain_frame(artifact, sample_rows(artifact, sample))
    order = explanation.shap.abs().mean().sort_values(ascending=False, kind="stable").index
    pieces = [
        pd.DataFrame({
            "row": np.arange(len(explanation.frame)),
            "feature": feature,
            "shap": explanation.shap[feature].to_numpy(),
            "value": explanation.frame[feature].astype(object).to_numpy(),
            "value_norm": normalise(explanation.frame[feature], feature in artifact.categorical),
        })
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
            f"The model has no feature {feature!r}; its features are: {', '.join(artifact.features)}."
        )
    explanation = explain_frame(artifact, sample_rows(artifact, sample))
    return pd.DataFrame({
        "value": explanation.frame[feature].astype(object).to_numpy(),
        "shap": explanation.shap[feature].to_numpy(),
    })


def explain_customer(artifact, row: pd.Series | str | int, db=None) -> dict:
    """Why one customer scores as it does.

    ``row`` is a key value (looked up in the test split, then in ``artifact.table`` of ``db``),
    a row number of the test split when the model has no key, or a Series with the feature
    columns. Returns ``base_value`` and ``prediction`` (in ``output_space``), ``probability``
    (P(positive)), ``output_space``, ``method``, ``contributions`` (DataFrame ``feature``, ``value``,
    ``shap``, biggest |shap| first; base_value + sum(shap) == prediction) and ``sentence``.
    Raises ``NotFoundError`` for an unknown customer.
    """
    series = row if isinstance(row, pd.Series) else find_row(artifact, row, db)
    explanation = explain_frame(artifact, series.to_frame().T.infer_objects())
    values = explanation.shap.iloc[0]
    contributions = pd.DataFrame({
        "feature": artifact.features,
        "value": [explanation.frame[f].iloc[0] for f in artifact.features],
        "shap": values[artifact.features].to_numpy(dtype=float),
    })
    contributions = contributions.iloc[
        np.argsort(-contributions["shap"].abs().to_numpy(), kind="stable")
    ].reset_index(drop=True)
    prediction = float(explanation.output[0])
    return {
        "base_value": explanation.base_value,
        "prediction": prediction,
        "probability": prediction if explanation.output_space == "probability" else expit(prediction),
        "output_space": explanation.output_space,
        "method": explanation.method,
        "contributions": contributions,
        "sentence": summary_sentence(contributions),
    }


def find_row(artifact, key: str | int, db=None) -> pd.Series:
    """The customer with ``key``: in the test split, else in ``artifact.table``."""
    test = artifact.test_frame
    if artifact.key is None:
        text = str(key)
        if text.isdigit() and int(text) < len(test):
            return test.iloc[int(text)]
        raise NotFoundError(
            f"The model's table {artifact.table!r} has no key column, so a customer is a row "
            f"number of the test split: 0 to {len(test) - 1}; got {key!r}."
        )
    match = test[test[artifact.key].astype(str) == str(key)] if artifact.key in test else test.iloc[:0]
    if len(match):
        return match.iloc[0]
    found = feature_store.lookup_row(artifact.table, artifact.key, str(key), db=db)
    if len(found):
        return found.iloc[0]
    examples = ", ".join(test[artifact.key].astype(str).head(3)) if artifact.key in test else ""
    raise NotFoundError(
        f"No customer with {artifact.key} = {key!r} in table {artifact.table!r}; "
        f"examples from the test split: {examples or 'none'}."
    )


def summary_sentence(contributions: pd.DataFrame) -> str:
    """One plain sentence naming the contribution that raises the score most and the one that
    lowers it most, e.g. "Most raising: last active 3 days ago (+0.21); most lowering: ..."."""
    raising = contributions[contributions["shap"] > 0]
    lowering = contributions[contributions["shap"] < 0]
    if raising.empty and lowering.empty:
        return "No feature moves this customer's score away from the average."
    pieces = []
    for label, part, pick in (("Most raising", raising, "idxmax"), ("most lowering", lowering, "idxmin")):
        if part.empty:
            pieces.append(f"{label}: nothing")
            continue
        best = part.loc[getattr(part["shap"], pick)()]
        pieces.append(f"{label}: {describe(best['feature'], best['value'])} ({best['shap']:+.2f})")
    pieces[0] = pieces[0][0].upper() + pieces[0][1:]
    return "; ".join(pieces) + "."


def describe(feature: str, value) -> str:
    """A feature value in plain words: ``("recency_days", 3)`` -> ``"last active 3 days ago"``."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return f"{feature} unknown"
    number = as_number(value)
    if number is None:
        return f"{feature} is {value}"
    phrases = {
        "recency_days": lambda v: "active within the last day" if v < 1 else f"last active {v:.0f} days ago",
        "tenure_days": lambda v: f"first seen {v:.0f} days ago",
        "events": lambda v: f"{v:.0f} events",
        "sessions": lambda v: f"{v:.0f} sessions",
        "days_active": lambda v: f"active on {v:.0f} days",
        "monetary": lambda v: f"spent {v:,.2f}",
        "dwell_mean": lambda v: f"views of {v:.0f} seconds on average",
        "cart_abandonment": lambda v: f"left {v:.0%} of carted items unbought",
        "distinct_items": lambda v: f"{v:.0f} different items",
        "distinct_categories": lambda v: f"{v:.0f} categories",
    }
    if feature in phrases:
        return phrases[feature](number)
    if feature.startswith("n_"):
        kind = feature[2:].replace("_", " ")
        return f"no {kind} events" if number == 0 else f"{number:.0f} {kind} events"
    return f"{feature} = {number:.3g}"


def as_number(value) -> float | None:
    if isinstance(value, bool | np.bool_):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
