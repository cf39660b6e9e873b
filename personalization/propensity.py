"""Conversion propensity: train, validate and score binary classifiers on a customer table.

``train_classifier`` reads any table with a target column, splits it stratified into train,
validation and test, cross-validates on train, tunes on validation only, picks a decision threshold on
validation, reports final figures on test only beside the base-rate baseline, warns about columns that
look like leakage, and saves a ``ClassifierArtifact`` in the registry. ``score_customers`` scores a
whole table with a saved model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from personalization.pipelines import CLASSIFIERS, original_columns



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
        return self.pipeline.predict_proba(frame[self.features])[:, 1]

    def feature_columns(self) -> list[str]:
        """For each column of ``pipeline.named_steps["prep"].transform(X)``, its original column."""
        return original_columns(self.pipeline.named_steps["prep"], self.numeric, self.categorical)
