"""A propensity model explained in words: why one customer scores as they do, which customers to
pick from, and what the ``explain`` command prints for a saved model.

The numbers come from ``personalization.propensity.shap``; this module finds the customer, orders
the contributions and says them in a plain sentence, in chances rather than model units.

How a customer's chance is explained (``chance_steps``): the start is the real conversion rate of
the model's test split, the same figure the Lift page shows (``lift.overall_rate``). SHAP values
are computed in probability space (a sampled, model-agnostic Kernel SHAP over the original
columns, so a one-hot column is one feature, against ``BACKGROUND_ROWS`` test customers spread
evenly over the scores): they add up exactly from the model's average chance over that
background to this customer's chance. The gap between the model's average chance and the real
rate is shown as a step of its own ("the model's average vs the real rate"); it is small for a
model trained without rebalancing and large for class weights, SMOTE or undersampling, which
``calibration_note`` says in words. The features are then added biggest first, and each step
reads "X raises the chance from A to B" (A and B depend on that order; the change does not).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from personalization import registry
from personalization.errors import BadInputError, NotFoundError
from personalization.propensity.artifact import ClassifierArtifact
from personalization.propensity.lift import overall_rate
from personalization.propensity.shap import as_probability, explain_frame, global_importance
from personalization.store import features as feature_store

MAX_CUSTOMERS = 2000
DEFAULT_TOP = 10
BACKGROUND_ROWS = 50
KERNEL_SAMPLES = 1024
SKEW_POINTS = 0.02
SKEW_SHARE = 0.2


def explain_customer(artifact: ClassifierArtifact, row: pd.Series | str | int, db=None) -> dict:
    """Why one customer scores as it does.

    ``row`` is a key value (looked up in the test split, then in ``artifact.table`` of ``db``),
    a row number of the test split when the model has no key, or a Series with the feature
    columns. Returns ``base_value`` and ``prediction`` (in ``output_space``), ``probability``
    (P(positive)), ``output_space``, ``method``, ``contributions`` (DataFrame ``feature``,
    ``value``, ``shap``, biggest |shap| first; base_value + sum(shap) == prediction), the keys of
    ``chance_steps`` (``average_rate``, ``model_average``, ``chance``, ``calibration``,
    ``steps``) and ``sentence`` (``chance_sentence``: in chances, not model units).
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
    chances = chance_steps(artifact, series)
    return {
        "base_value": explanation.base_value,
        "prediction": prediction,
        "probability": as_probability(prediction, explanation.output_space),
        "output_space": explanation.output_space,
        "method": explanation.method,
        "contributions": contributions,
        **chances,
        "sentence": chance_sentence(chances["steps"]),
    }


def background_rows(artifact: ClassifierArtifact, rows: int = BACKGROUND_ROWS) -> pd.DataFrame:
    """Up to ``rows`` test customers spread evenly over the scores (every k-th by rank), so their
    average chance is close to the whole test split's."""
    frame = artifact.test_frame if len(artifact.test_frame) else artifact.train_sample
    if len(frame) <= rows:
        return frame[artifact.features].reset_index(drop=True)
    scores = artifact.test_scores if len(artifact.test_frame) else artifact.predict_proba(frame)
    order = np.argsort(np.asarray(scores, dtype=float), kind="stable")
    picked = order[np.linspace(0, len(order) - 1, rows).round().astype(int)]
    return frame.iloc[picked][artifact.features].reset_index(drop=True)


def probability_shap(
    artifact: ClassifierArtifact, row: pd.Series
) -> tuple[pd.Series, float, float]:
    """SHAP values of one customer in chance units over the original columns, the model's average
    chance over ``background_rows`` and the customer's chance: ``base + sum(values) == chance``.

    Kernel SHAP (shap's ``KernelExplainer``, seeded) on the original columns: exact when
    2^columns - 2 coalitions fit in ``KERNEL_SAMPLES``, else sampled; always additive.
    """
    import shap as shap_lib

    features = artifact.features
    background = background_rows(artifact)

    def chance(values: np.ndarray) -> np.ndarray:
        frame = pd.DataFrame(values, columns=features).infer_objects()
        return artifact.predict_proba(frame)

    one = cells(row[features].to_frame().T)
    explainer = shap_lib.KernelExplainer(chance, cells(background))
    state = np.random.get_state()
    np.random.seed(0)
    try:
        samples = min(2 ** len(features) - 2, KERNEL_SAMPLES + 2 * len(features))
        values = np.ravel(explainer.shap_values(one, nsamples=max(samples, 1), silent=True))
    finally:
        np.random.set_state(state)
    base = float(np.ravel(explainer.expected_value)[0])
    return pd.Series(values, index=features, dtype=float), base, float(chance(one)[0])


def cells(frame: pd.DataFrame) -> np.ndarray:
    """A frame as an object array with every missing value (NaN, ``pd.NA``, NaT) as ``None``."""
    values = frame.astype(object)
    return values.where(values.notna(), None).to_numpy(dtype=object)


def chance_steps(artifact: ClassifierArtifact, row: pd.Series) -> dict:
    """One customer's chance built up from the real conversion rate, in chance units (0..1).

    Returns ``average_rate`` (real rate of the test split, as on the Lift page),
    ``model_average`` (the model's average chance over the background), ``chance`` (this
    customer's), ``calibration`` (``calibration_note``) and ``steps``: a DataFrame with
    ``feature``, ``value``, ``change`` (chance points, + raises), ``before``, ``after`` and
    ``text``, biggest change first; ``average_rate + (model_average - average_rate) +
    sum(change) == chance``.
    """
    values, base, chance = probability_shap(artifact, row)
    order = step_order(values, base)
    changes = values[order].to_numpy(dtype=float)
    after = base + np.cumsum(changes)
    before = np.concatenate([[base], after[:-1]])
    steps = pd.DataFrame(
        {
            "feature": list(order),
            "value": [row[f] for f in order],
            "change": changes,
            "before": before,
            "after": after,
        }
    )
    steps["text"] = [
        step_text(f, v, b, a)
        for f, v, b, a in zip(order, steps["value"], before, after, strict=True)
    ]
    return {
        "average_rate": overall_rate(artifact),
        "model_average": base,
        "chance": chance,
        "calibration": calibration_note(artifact),
        "steps": steps,
    }


def step_order(changes: pd.Series, start: float) -> list[str]:
    """Features biggest change first, except that a step which would take the running chance
    below 0 or above 1 waits until it no longer does (its change is the same in any order)."""
    left = changes.abs().sort_values(ascending=False, kind="stable").index.tolist()
    order, total = [], start
    while left:
        fits = [f for f in left if -1e-9 <= total + changes[f] <= 1 + 1e-9]
        pick = fits[0] if fits else left[0]
        order.append(pick)
        left.remove(pick)
        total += changes[pick]
    return order


def step_text(feature: str, value, before: float, after: float) -> str:
    """ "PageValues of 68 raises the chance from 12% to 31%"."""
    if abs(after - before) < 0.0005:
        return f"{describe(feature, value)} leaves the chance at {before:.0%}"
    verb = "raises" if after > before else "lowers"
    return f"{describe(feature, value)} {verb} the chance from {pct(before)} to {pct(after)}"


def pct(p: float) -> str:
    """A chance as a percentage: whole numbers, one decimal below 10%."""
    return f"{p:.1%}" if p < 0.1 else f"{p:.0%}"


def chance_sentence(steps: pd.DataFrame) -> str:
    """The biggest step and the biggest one pushing the other way, as one sentence: "PageValues
    of 68 raises the chance from 15% to 52%; the other way: Month is Feb lowers the chance from
    52% to 44%."."""
    moving = steps[steps["change"].abs() >= 0.0005]
    if moving.empty:
        return "No column moves this customer's chance away from the average."
    first = moving.iloc[0]
    other = moving[np.sign(moving["change"]) != np.sign(first["change"])]
    sentence = first["text"][0].upper() + first["text"][1:]
    if len(other):
        sentence += f"; the other way: {other.iloc[0]['text']}"
    return sentence + "."


def calibration_note(artifact: ClassifierArtifact) -> dict:
    """Whether the model's chances can be read as chances: its average score on the test split
    against the real rate there. ``skewed`` when they differ by more than ``SKEW_POINTS``,
    ``SKEW_SHARE`` of the rate and two standard errors of the rate (so a small test split's chance
    wobble is not called a skew); rebalancing by class weights, SMOTE or undersampling does that;
    ``message`` says it in words. Keys: ``average_rate``, ``average_score``, ``skewed``,
    ``message``."""
    rate = overall_rate(artifact)
    scores = np.asarray(artifact.test_scores, dtype=float)
    average = float(scores.mean()) if len(scores) else rate
    gap = abs(average - rate)
    noise = 2 * np.sqrt(rate * (1 - rate) / max(len(scores), 1))
    skewed = bool(gap > max(SKEW_POINTS, SKEW_SHARE * rate, noise))
    if skewed:
        way = "high" if average > rate else "low"
        message = (
            f"This model's chances run {way}: its average score is {pct(average)} while "
            f"{pct(rate)} of the test customers really converted (training with class weights, "
            f"SMOTE or undersampling does this). Its ranking is still useful; read its chances "
            f"as scores, or retrain with rare converters 'None' for chances you can quote."
        )
    else:
        message = (
            f"The model's average score ({pct(average)}) is close to the real rate "
            f"({pct(rate)}), so its chances can be read as chances."
        )
    return {"average_rate": rate, "average_score": average, "skewed": skewed, "message": message}


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
    return f"{feature} of {number:,.4g}"


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

    Without ``row``: ``model_id``, ``output_space``, ``method``, ``average_rate`` (the test
    split's real rate, as ``lift`` shows) and ``features``, the ``top`` features of
    ``global_importance`` over ``sample`` rows (each ``feature``, ``mean_abs_shap``, ``share`` of
    the explanation). With ``row`` (a customer's key): also ``row``, ``sentence`` (in chances),
    ``average_rate``, ``model_average``, ``chance``, ``calibration`` (a sentence), ``base_value``,
    ``prediction``, ``probability``, and ``features``, the ``top`` steps of ``chance_steps`` in
    their order (each ``feature``, ``shap`` in ``output_space``, ``value``, ``change`` in chance
    points and ``text``). Raises ``BadInputError`` for ``top < 1`` and ``NotFoundError`` for an unknown
    model or customer.
    """
    if top < 1:
        raise BadInputError(f"--top must be at least 1; got {top}.")
    artifact, info = registry.load_model(model_id, kind="classifier", db=db)
    if row is None:
        table = with_shares(global_importance(artifact, sample=sample)).head(top)
        return {
            "model_id": info["model_id"],
            "output_space": table.attrs["output_space"],
            "method": table.attrs["method"],
            "average_rate": overall_rate(artifact),
            "features": table.to_dict(orient="records"),
        }
    result = explain_customer(artifact, row, db=db)
    shap_of = result["contributions"].set_index("feature")["shap"]
    steps = result["steps"].head(top)
    return {
        "model_id": info["model_id"],
        "row": row,
        "features": [
            {
                "feature": f,
                "shap": float(shap_of[f]),
                "value": _plain(v),
                "change": float(c),
                "text": t,
            }
            for f, v, c, t in steps[["feature", "value", "change", "text"]].itertuples(index=False)
        ],
        "sentence": result["sentence"],
        "average_rate": result["average_rate"],
        "model_average": result["model_average"],
        "chance": result["chance"],
        "calibration": result["calibration"]["message"],
        "base_value": result["base_value"],
        "prediction": result["prediction"],
        "probability": result["probability"],
        "output_space": result["output_space"],
        "method": result["method"],
    }


def with_shares(importance: pd.DataFrame) -> pd.DataFrame:
    """A ``global_importance`` table with ``share``: each feature's share (0..1) of the total mean
    |SHAP|, "its share of the explanation"; the shares add up to 1. ``attrs`` kept."""
    total = float(importance["mean_abs_shap"].sum())
    out = importance.assign(share=importance["mean_abs_shap"] / total if total > 0 else 0.0)
    out.attrs.update(importance.attrs)
    return out


def _plain(value: Any) -> Any:
    """A cell as a plain Python value: missing becomes None, numpy scalars their Python kind."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value
