"""``ClassifierArtifact``: a fitted propensity model and what scoring, explaining and charting
it need.

Saved in the registry as it is; a model saved before the propensity package was split into modules
does not load and is refused with a message to train it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from personalization.propensity.pipelines import predict_positive


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
        return predict_positive(self.pipeline, frame[self.features])
