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


AUC_VERDICTS = (
    (0.97, "suspiciously high: check that no column is recorded after the outcome"),
    (0.85, "very good"),
    (0.75, "good"),
    (0.65, "fair"),
    (0.0, "weak: little better than a coin toss"),
)
RATIO_VERDICTS = ((3.0, "very good"), (2.0, "good"), (1.3, "fair"), (0.0, "weak"))


def verdict(value: float, scale: tuple[tuple[float, str], ...]) -> str:
    """The word of the first step of ``scale`` (``(floor, word)``, highest first) ``value`` reaches."""
    return next(word for floor, word in scale if value >= floor)


def metrics_in_words(test: dict, baseline: dict) -> list[dict]:
    """Each classifier metric of ``test`` in plain words, beside ``baseline`` (``baseline_metrics``).

    Returns one dict per metric present (``roc_auc``, ``pr_auc``, ``precision``, ``recall``,
    ``f1``, ``brier``): ``metric``, ``value``, ``baseline``, ``verdict`` and ``text``, e.g.
    "ROC AUC 0.91: ranks a converter above a non-converter 91 times in 100; 0.5 is a coin toss
    (very good)." Verdicts: ROC AUC by ``AUC_VERDICTS``; PR AUC and precision by how many times
    the conversion rate they reach (``RATIO_VERDICTS``); F1 and Brier against the baseline.
    """
    rate = float(baseline.get("precision", 0.0))
    threshold = test.get("threshold")
    out = []

    def add(metric: str, word: str, text: str) -> None:
        out.append(
            {
                "metric": metric,
                "value": float(test[metric]),
                "baseline": baseline.get(metric),
                "verdict": word,
                "text": f"{text} ({word}).",
            }
        )

    def times(value: float) -> float:
        return value / rate if rate > 0 else float("nan")

    if "roc_auc" in test:
        auc = float(test["roc_auc"])
        add(
            "roc_auc",
            verdict(auc, AUC_VERDICTS),
            f"ROC AUC {auc:.2f}: ranks a converter above a non-converter {auc * 100:.0f} times "
            f"in 100; 0.5 is a coin toss",
        )
    if "pr_auc" in test:
        pr = float(test["pr_auc"])
        add(
            "pr_auc",
            verdict(times(pr), RATIO_VERDICTS),
            f"PR AUC {pr:.2f}: going down the list, on average {pr:.0%} of the customers picked "
            f"convert, against {rate:.0%} when picking at random ({times(pr):.1f}x)",
        )
    if "precision" in test:
        precision = float(test["precision"])
        cut = f" (score {threshold:.2f} or more)" if threshold is not None else ""
        add(
            "precision",
            verdict(times(precision), RATIO_VERDICTS),
            f"Precision {precision:.2f}: of the customers the model picks{cut}, "
            f"{precision * 100:.0f} in 100 convert, against {rate * 100:.0f} in 100 when "
            f"contacting everyone ({times(precision):.1f}x)",
        )
    if "recall" in test:
        recall = float(test["recall"])
        add(
            "recall",
            "a trade-off, not a grade",
            f"Recall {recall:.2f}: the picked customers include {recall * 100:.0f} of every 100 "
            f"converters; contacting everyone finds all of them, at a {rate:.0%} hit rate",
        )
    if "f1" in test:
        f1, base = float(test["f1"]), float(baseline.get("f1", 0.0))
        add(
            "f1",
            "better than contacting everyone"
            if f1 > base
            else "no better than contacting everyone",
            f"F1 {f1:.2f}: one figure balancing precision and recall (0 to 1, higher is better); "
            f"contacting everyone scores {base:.2f}",
        )
    if "brier" in test and "brier" in baseline:
        brier, base = float(test["brier"]), float(baseline["brier"])
        add(
            "brier",
            "honest chances" if brier < base else "no better than the average rate",
            f"Brier score {brier:.3f}: the average squared gap between the predicted chance and "
            f"what happened (0 is perfect, lower is better); giving everyone the average rate "
            f"scores {base:.3f}",
        )
    return out
