"""How good a propensity model is: the decision threshold chosen on validation, the figures of a
split (ROC-AUC, PR-AUC, precision, recall, F1, Brier), the test split's confusion matrix and
calibration, and the base-rate baseline every model must beat.

``y`` is 0/1 (1 = positive) and ``scores`` are P(positive) in [0, 1], of the same length.
"""

from __future__ import annotations

import numpy as np
from sklearn.calibration import calibration_curve
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

CALIBRATION_BINS = 10


def choose_threshold(
    y: np.ndarray,
    scores: np.ndarray,
    cost_per_contact: float | None = None,
    value_per_conversion: float | None = None,
) -> float:
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


def final_metrics(
    y: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    cost_per_contact: float | None = None,
    value_per_conversion: float | None = None,
) -> dict:
    """``split_metrics`` plus the confusion matrix, calibration curve points and, given the money
    figures, the expected profit of contacting everyone at or above ``threshold``."""
    out = split_metrics(y, scores, threshold)
    tn, fp, fn, tp = confusion_matrix(y, scores >= threshold, labels=[0, 1]).ravel()
    out["confusion_matrix"] = {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)}
    observed, predicted = calibration_curve(y, scores, n_bins=CALIBRATION_BINS, strategy="quantile")
    out["calibration"] = [
        {"predicted": float(p), "observed": float(o)}
        for p, o in zip(predicted, observed, strict=True)
    ]
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
