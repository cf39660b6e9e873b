"""The saved recommender and the few rules every recommendation module shares.

``RecommenderArtifact`` is what ``training`` saves and ``serving``, ``reasons`` and ``batch`` read:
the model, the training matrix with its id maps, item and user attributes and the precomputed
pairs behind the reasons. Beside it: which item columns hold a title, a category or a price
(``first_present``), the size of the scoring blocks and the check of a list length ``k``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from personalization.errors import BadInputError
from personalization.recommendation.interactions import Interactions
from personalization.recommendation.models import Recommender

BLOCK_CELLS = 1 << 22
TITLE_COLUMNS = ("title", "name", "product_name", "description", "Description")
CATEGORY_COLUMNS = ("category", "department", "product_type", "categories")
PRICE_COLUMNS = ("price", "unit_price", "UnitPrice")


@dataclass
class RecommenderArtifact:
    """What a saved recommender holds: the model and everything needed to score and explain.

    ``interactions`` is the training matrix with its id maps; ``items`` and ``users`` hold the
    attributes (indexed by id as text); ``pair_types`` (same shape as the matrix) the code + 1 of
    the strongest event type of each pair in ``event_types``; ``trending`` a boolean per item
    column (these three from ``reasons.reason_inputs``).
    """

    model: Recommender
    algo: str
    params: dict
    interactions: Interactions
    event_weights: dict
    half_life_days: float | None
    table: str
    items: pd.DataFrame
    users: pd.DataFrame
    pair_types: sp.csr_matrix
    event_types: list[str]
    trending: np.ndarray
    metrics: dict = field(default_factory=dict)

    @property
    def n_items(self) -> int:
        """Number of item columns of the training matrix."""
        return self.interactions.matrix.shape[1]

    def titles(self, item_indices: np.ndarray) -> np.ndarray:
        """Title of each item column (its id where there is none), as an array of text."""
        ids = self.interactions.item_ids[item_indices]
        column = first_present(self.items, TITLE_COLUMNS)
        if column is None:
            return ids.astype(str)
        found = self.items[column].reindex(ids.astype(str)).to_numpy(dtype=object)
        return np.char.strip(np.where(pd.isna(found), ids.astype(str), found).astype(str))


def check_k(k: Any) -> int:
    """``k`` as an int when it is a whole number >= 1 (not a bool); else ``BadInputError``."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise BadInputError(f"k must be a whole number of items >= 1; got {k!r}.")
    return int(k)


def first_present(frame: pd.DataFrame, names: Sequence[str]) -> str | None:
    """The first of ``names`` that is a column of ``frame`` (e.g. ``TITLE_COLUMNS``), or None."""
    return next((n for n in names if n in frame.columns), None)
