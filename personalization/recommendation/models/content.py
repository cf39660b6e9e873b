"""Content-based: items described by TF-IDF of their text and one-hot of their attributes.

``FeatureEncoder`` turns an attributes frame (rows aligned with the matrix columns for items, or
rows for users) into a sparse feature matrix: text columns (object columns whose values are long
or mostly distinct) by TF-IDF, other object/bool/category columns one-hot, numeric columns one-hot
of their quintile. A user's profile is the weighted average of the features of the items they
touched; scores are the cosine of the profile and each item. An item with no events is scored
like any other through its features, so giving ``user_items`` a zero column for it (see
``interactions.with_items``) lets it be recommended.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from personalization.errors import BadInputError
from personalization.recommendation.models.base import (
    Recommender,
    check_number,
    pair_dots,
    unit_rows,
)

TEXT_MIN_WORDS = 3.0
NUMERIC_BINS = 5


class FeatureEncoder:
    """Fit on an attributes frame, then map any frame (or dict) with those columns to CSR rows."""

    def __init__(self, max_features: int = 5000) -> None:
        self.max_features = max_features

    def fit(self, frame: pd.DataFrame) -> FeatureEncoder:
        self.text_ = [c for c in frame.columns if _is_text(frame[c])]
        self.numeric_ = [
            c
            for c in frame.columns
            if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
        ]
        self.categorical_ = [c for c in frame.columns if c not in self.text_ + self.numeric_]
        self.edges_ = {
            c: np.unique(
                np.nanquantile(
                    pd.to_numeric(frame[c], errors="coerce"),
                    np.linspace(0, 1, NUMERIC_BINS + 1)[1:-1],
                )
            )
            for c in self.numeric_
            if frame[c].notna().any()
        }
        self.categories_ = {c: sorted(set(self._tokens(frame, c))) for c in self.categorical_}
        self.categories_.update({c: list(range(len(e) + 1)) for c, e in self.edges_.items()})
        self.vectorizer_ = None
        if self.text_:
            from sklearn.feature_extraction.text import TfidfVectorizer

            self.vectorizer_ = TfidfVectorizer(max_features=int(self.max_features), min_df=1)
            try:
                self.vectorizer_.fit(_text(frame, self.text_))
            except ValueError:
                self.vectorizer_ = None
        self.names_ = [f"{c}={v}" for c, values in self.categories_.items() for v in values]
        if self.vectorizer_ is not None:
            self.names_ += [f"text:{w}" for w in self.vectorizer_.get_feature_names_out()]
        return self

    def transform(self, frame: pd.DataFrame | dict) -> sp.csr_matrix:
        """Rows of features (len(frame), len(names_)); unseen values and columns are ignored."""
        if isinstance(frame, dict):
            frame = pd.DataFrame([frame])
        blocks = [self._one_hot(frame, c, values) for c, values in self.categories_.items()]
        if self.vectorizer_ is not None:
            present = [c for c in self.text_ if c in frame.columns]
            blocks.append(self.vectorizer_.transform(_text(frame, present)))
        if not blocks:
            return sp.csr_matrix((len(frame), 0), dtype=np.float32)
        return sp.hstack(blocks, format="csr", dtype=np.float32)

    def _tokens(self, frame: pd.DataFrame, column) -> pd.Series:
        if column in self.edges_:
            values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
            return pd.Series(
                np.where(np.isnan(values), -1, np.searchsorted(self.edges_[column], values))
            )
        return frame[column].astype("string").fillna("(missing)").astype(str)

    def _one_hot(self, frame: pd.DataFrame, column, values: list) -> sp.csr_matrix:
        if column not in frame.columns:
            return sp.csr_matrix((len(frame), len(values)), dtype=np.float32)
        codes = pd.Index(values).get_indexer(self._tokens(frame, column))
        rows = np.flatnonzero(codes >= 0)
        data = np.ones(len(rows), dtype=np.float32)
        return sp.csr_matrix((data, (rows, codes[rows])), shape=(len(frame), len(values)))


def _is_text(series: pd.Series) -> bool:
    if not (pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)):
        return False
    values = series.dropna().astype(str)
    if values.empty:
        return False
    words = values.str.split().str.len().mean()
    return words >= TEXT_MIN_WORDS or (values.nunique() > 0.5 * len(values) and len(values) > 20)


def _text(frame: pd.DataFrame, columns: list) -> pd.Series:
    if not columns:
        return pd.Series([""] * len(frame))
    return frame[columns].astype("string").fillna("").astype(str).agg(" ".join, axis=1)


def encode_features(features: Any, n_rows: int, what: str, max_features: int = 5000):
    """``(csr features, encoder or None)`` from a frame or a matrix with ``n_rows`` rows."""
    if isinstance(features, pd.DataFrame):
        encoder = FeatureEncoder(max_features).fit(features)
        matrix = encoder.transform(features)
    elif sp.issparse(features) or isinstance(features, np.ndarray):
        encoder, matrix = None, sp.csr_matrix(features, dtype=np.float32)
    else:
        raise BadInputError(
            f"{what} must be a DataFrame of attributes or a matrix; got {type(features).__name__}."
        )
    if matrix.shape[0] != n_rows:
        raise BadInputError(
            f"{what} has {matrix.shape[0]} rows but user_items has {n_rows} "
            f"{'columns' if what == 'item_features' else 'rows'}; align them by id first."
        )
    return matrix, encoder


class ContentRecommender(Recommender):
    """Parameters: ``max_features`` (TF-IDF vocabulary size).

    ``fit`` needs ``item_features`` (a DataFrame of item attributes, rows in the order of the
    columns of ``user_items``, or a matrix). Learned: ``item_features_`` (CSR, rows L2-normalised),
    ``encoder_`` (a ``FeatureEncoder``, None when a matrix was given). ``item_similarity`` is the
    cosine of the item features.
    """

    similarity_kind = "content"

    def __init__(self, max_features: int = 5000) -> None:
        self.max_features = max_features

    def _fit(
        self,
        user_items: sp.csr_matrix,
        item_features: Any,
        user_features: Any,
        age_days: sp.csr_matrix | None,
    ) -> None:
        if item_features is None:
            raise BadInputError(
                "content needs item attributes (item_features); load an items table with "
                "title, category or description columns, or choose another algorithm."
            )
        limit = check_number("max_features", self.max_features, 1, integer=True)
        matrix, self.encoder_ = encode_features(
            item_features, self.n_items_, "item_features", limit
        )
        self.item_features_ = unit_rows(matrix)

    def _score(self, user_indices: np.ndarray, rows: sp.csr_matrix) -> np.ndarray:
        profiles = unit_rows(rows @ self.item_features_)
        return (profiles @ self.item_features_.T).toarray()

    def _item_similarity(self, item_index: int) -> np.ndarray:
        return (self.item_features_ @ self.item_features_[item_index].T).toarray().ravel()

    def _pair_similarity(self, items: np.ndarray, others: np.ndarray) -> np.ndarray:
        return pair_dots(self.item_features_, items, others)
