"""The leakage guard: a column that alone predicts the outcome suspiciously well was probably
recorded after it (a call's duration, a refund, a delivery date), and a model that leans on it
looks brilliant in testing and fails in use.

Two measures per feature, both on data the test split never sees:

- ``single_feature_auc``: how well the column ALONE ranks positives above negatives on the
  training split (ROC-AUC, oriented so that 0.5 is no signal and 1.0 perfect). A numeric column
  ranks by its value; a categorical one by its level's target rate, computed out-of-fold
  (scikit-learn's ``TargetEncoder`` cross-fitting), so a level's own rows never grade themselves.
- ``shap_shares``: after training, the column's share of the model's total mean |SHAP| on the
  training sample (how much of the explanation it carries).

Thresholds (``LEAK_AUC`` and ``LEAK_AUC_WITH_SHARE``/``LEAK_SHARE``): a column is flagged when it
alone reaches ROC-AUC >= 0.95, or >= 0.90 while carrying at least half of the explanation. Honest
features rarely rank that well alone; when one does and the model leans on it, the question
whether it is known before the outcome must be answered by a person, so the model is saved
with a hold instead of being promoted silently. A softer note (``notes``, no hold) names a
column that reaches ROC-AUC >= 0.80 alone while carrying at least 40% of the explanation: strong
and probably honest, but worth one look.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import TargetEncoder

LEAK_AUC = 0.95
LEAK_AUC_WITH_SHARE = 0.90
LEAK_SHARE = 0.5
NOTE_AUC = 0.8
NOTE_SHARE = 0.4
SAMPLE_ROWS = 20_000
FOLDS = 5
SHARE_SAMPLE = 300


def single_feature_auc(
    X: pd.DataFrame,
    y: np.ndarray,
    numeric: list[str],
    categorical: list[str],
    seed: int = 0,
) -> dict[str, float]:
    """ROC-AUC of each feature alone on ``(X, y)`` (0/1), oriented: ``max(auc, 1 - auc)`` in
    [0.5, 1]. Numeric columns rank by value (missing values at the median); categorical columns by
    their level's out-of-fold target rate. At most ``SAMPLE_ROWS`` rows (a fixed draw) are used."""
    y = np.asarray(y, dtype=int)
    if len(X) > SAMPLE_ROWS:
        picked = np.sort(np.random.default_rng(seed).choice(len(X), SAMPLE_ROWS, replace=False))
        X, y = X.iloc[picked], y[picked]
    if len(np.unique(y)) < 2:
        return {column: 0.5 for column in numeric + categorical}
    out = {}
    for column in numeric + categorical:
        values = numeric_values(X[column]) if column in numeric else level_rates(X[column], y, seed)
        auc = float(roc_auc_score(y, values))
        out[column] = max(auc, 1.0 - auc)
    return out


def numeric_values(col: pd.Series) -> np.ndarray:
    """A column as floats, missing values set to the median (0 when all are missing)."""
    values = pd.to_numeric(col, errors="coerce").astype(float)
    return values.fillna(values.median() if values.notna().any() else 0.0).to_numpy()


def level_rates(col: pd.Series, y: np.ndarray, seed: int = 0) -> np.ndarray:
    """Each row's level's target rate, learned on the other folds (``TargetEncoder``'s cross
    fitting, ``FOLDS`` folds, at least 2 rows of each class per fold)."""
    text = col.astype(str).where(col.notna(), "(missing)").to_frame()
    folds = int(min(FOLDS, np.bincount(y).min()))
    if folds < 2:
        rates = pd.Series(y, index=text.index).groupby(text.iloc[:, 0]).transform("mean")
        return rates.to_numpy(dtype=float)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    encoder = TargetEncoder(target_type="binary", cv=splitter)
    return np.ravel(encoder.fit_transform(text, y))


def shap_shares(importance: pd.DataFrame) -> dict[str, float]:
    """Each feature's share (0..1) of the total mean |SHAP| of a ``global_importance`` table."""
    total = float(importance["mean_abs_shap"].sum())
    return {
        str(f): (float(v) / total if total > 0 else 0.0)
        for f, v in zip(importance["feature"], importance["mean_abs_shap"], strict=True)
    }


def findings(
    aucs: dict[str, float], shares: dict[str, float], model_id: str | None = None
) -> list[dict]:
    """The flagged columns, strongest first: each ``column``, ``auc``, ``shap_share`` (None
    when unknown) and ``message`` (what was seen, the question to answer, both ways out)."""
    flagged = []
    for column, auc in aucs.items():
        share = shares.get(column)
        leaning = share is not None and share >= LEAK_SHARE
        if auc >= LEAK_AUC or (auc >= LEAK_AUC_WITH_SHARE and leaning):
            flagged.append(
                {
                    "column": column,
                    "auc": round(auc, 4),
                    "shap_share": None if share is None else round(share, 4),
                    "message": message(column, auc, share, model_id),
                }
            )
    return sorted(flagged, key=lambda f: -f["auc"])


def message(column: str, auc: float, share: float | None, model_id: str | None = None) -> str:
    """The warning for one flagged column, in plain words."""
    carried = f" and carries {share:.0%} of the model's explanation" if share is not None else ""
    keep = (
        f"python -m personalization promote {model_id}"
        if model_id
        else "promote the model (python -m personalization promote MODEL_ID)"
    )
    return (
        f"Possible leakage: column {column!r} alone ranks a converter above a non-converter "
        f"{auc * 100:.0f} times in 100 (ROC-AUC {auc:.3f} on the training split){carried}. "
        f"Is {column!r} known before the outcome? If it is recorded after it (a call's length, a "
        f"refund, a delivery), the model will fail in use: retrain with --exclude {column}. If it "
        f"is known before, keep the model: {keep}. Until then the model is not promoted."
    )


def notes(aucs: dict[str, float], shares: dict[str, float], flagged: list[dict]) -> list[str]:
    """A sentence for each column not flagged that is strong alone (``NOTE_AUC``) and carries much
    of the explanation (``NOTE_SHARE``): worth checking, not held."""
    held = {f["column"] for f in flagged}
    return [
        f"Column {column!r} alone ranks a converter above a non-converter {auc * 100:.0f} times in "
        f"100 (ROC-AUC {auc:.2f}) and carries {shares[column]:.0%} of the explanation: make sure "
        f"it is known before the outcome (if not, retrain with --exclude {column})."
        for column, auc in aucs.items()
        if column not in held and auc >= NOTE_AUC and shares.get(column, 0.0) >= NOTE_SHARE
    ]


def hold_reason(flagged: list[dict]) -> str | None:
    """The registry hold for a model with flagged columns: ``"leakage: <column>[, <column>]"``."""
    if not flagged:
        return None
    return "leakage: " + ", ".join(f["column"] for f in flagged)


def model_shares(artifact) -> dict[str, float]:
    """Each feature's share of the fitted model's total mean |SHAP| over its training sample (at
    most ``SHARE_SAMPLE`` rows; the sampled explainer's ``SAMPLED_MAX_ROWS``)."""
    from personalization.propensity import shap

    rows = artifact.train_sample
    limit = SHARE_SAMPLE
    if shap.family(shap.parts(artifact)[1]) == "sampled":
        limit = min(limit, shap.SAMPLED_MAX_ROWS)
    if len(rows) == 0:
        return {}
    means = shap.explain_frame(artifact, rows.head(limit)).shap.abs().mean()
    table = pd.DataFrame({"feature": means.index, "mean_abs_shap": means.to_numpy()})
    return shap_shares(table)
