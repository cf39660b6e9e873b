"""A propensity model explained in words: why one customer scores as they do, which customers to
pick from, and what the ``explain`` command prints for a saved model.

The numbers come from ``personalization.propensity.shap``; this module finds the customer, orders
the contributions and says them in a plain sentence.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from personalization import registry
from personalization.errors import BadInputError, NotFoundError
from personalization.propensity.artifact import ClassifierArtifact
from personalization.propensity.shap import as_probability, explain_frame, global_importance
from personalization.store import features as feature_store

MAX_CUSTOMERS = 2000
DEFAULT_TOP = 10


def explain_customer(artifact: ClassifierArtifact, row: pd.Series | str | int, db=None) -> dict:
    """Why one customer scores as it does.

    ``row`` is a key value (looked up in the test split, then in ``artifact.table`` of ``db``),
    a row number of the test split when the model has no key, or a Series with the feature
    columns. Returns ``base_value`` and ``prediction`` (in ``output_space``), ``probability``
    (P(positive)), ``output_space``, ``method``, ``contributions`` (DataFrame ``feature``,
    ``value``, ``shap``, biggest |shap| first; base_value + sum(shap) == prediction) and
    ``sentence``.
    Raises ``NotFoundError`` for an unknown customer.
    """
    series = row if isinstance(row, pd.Series) else find_row(artifact, row, db)
    explanation = explain_frame(artifact, series.to_frame().T.infer_objects())
    values = explanation.shap.iloc[0]
    contributions = pd.DataFrame(
        {
            "feature": artifact.features,
            "value": [explanation.frame[f].iloc[0] for f in artifact.features],
            "shap": values[artifact.features].to_numpy(dtype=float),
        }
    )
    contributions = contributions.iloc[
        np.argsort(-contributions["shap"].abs().to_numpy(), kind="stable")
    ].reset_index(drop=True)
    prediction = float(explanation.output[0])
    return {
        "base_value": explanation.base_value,
        "prediction": prediction,
        "probability": as_probability(prediction, explanation.output_space),
        "output_space": explanation.output_space,
        "method": explanation.method,
        "contributions": contributions,
        "sentence": summary_sentence(contributions),
    }


def find_row(artifact: ClassifierArtifact, key: str | int, db=None) -> pd.Series:
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
    match = (
        test[test[artifact.key].astype(str) == str(key)] if artifact.key in test else test.iloc[:0]
    )
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
    for label, part, pick in (
        ("Most raising", raising, "idxmax"),
        ("most lowering", lowering, "idxmin"),
    ):
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
        "recency_days": lambda v: "active within the last day"
        if v < 1
        else f"last active {v:.0f} days ago",
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
    """``value`` as a float, or None for booleans and text that is not a number."""
    if isinstance(value, bool | np.bool_):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def customer_choices(artifact: ClassifierArtifact, limit: int = MAX_CUSTOMERS) -> list[str]:
    """Test-split customers to pick from, highest score first: their key values as text, or row
    numbers of the test split when the model has no key.

    A test split larger than ``limit`` is cut to the ``limit // 2`` highest scores plus as many
    others drawn at random (seeded), so a picker stays quick.
    """
    order = np.argsort(-np.asarray(artifact.test_scores, dtype=float), kind="stable")
    if len(order) > limit:
        half = limit // 2
        rng = np.random.default_rng(0)
        picked = np.sort(rng.choice(len(order) - half, limit - half, replace=False))
        order = np.concatenate([order[:half], order[half:][picked]])
    frame = artifact.test_frame.iloc[order]
    values = frame[artifact.key] if artifact.key else pd.Series(frame.index, index=frame.index)
    return values.astype(str).tolist()


def explain_model(
    model_id: str | None = None,
    row: str | None = None,
    top: int = DEFAULT_TOP,
    sample: int = 2000,
    db=None,
) -> dict[str, Any]:
    """What the ``explain`` command prints for a saved classifier (default: the promoted one).

    Without ``row``: ``model_id``, ``output_space``, ``method`` and ``features``, the ``top``
    features of ``global_importance`` over ``sample`` rows (each ``feature``, ``mean_abs_shap``).
    With ``row`` (a customer's key): also ``row``, ``sentence``, ``base_value``, ``prediction``,
    ``probability``, and ``features``, the ``top`` contributions (each ``feature``, ``shap``,
    ``value``). Raises ``BadInputError`` for ``top < 1`` and ``NotFoundError`` for an unknown
    model or customer.
    """
    if top < 1:
        raise BadInputError(f"--top must be at least 1; got {top}.")
    artifact, info = registry.load_model(model_id, kind="classifier", db=db)
    if row is None:
        table = global_importance(artifact, sample=sample).head(top)
        return {
            "model_id": info["model_id"],
            "output_space": table.attrs["output_space"],
            "method": table.attrs["method"],
            "features": table.to_dict(orient="records"),
        }
    result = explain_customer(artifact, row, db=db)
    contributions = result["contributions"].head(top)
    return {
        "model_id": info["model_id"],
        "row": row,
        "features": [
            {"feature": f, "shap": s, "value": _plain(v)}
            for f, s, v in zip(
                contributions["feature"], contributions["shap"], contributions["value"], strict=True
            )
        ],
        "sentence": result["sentence"],
        "base_value": result["base_value"],
        "prediction": result["prediction"],
        "probability": result["probability"],
        "output_space": result["output_space"],
        "method": result["method"],
    }


def _plain(value: Any) -> Any:
    """A cell as a plain Python value: missing becomes None, numpy scalars their Python kind."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value
