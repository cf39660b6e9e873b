"""Recommender models behind one interface (``base.Recommender``) and the registry of them.

- ``base``: the interface (``fit`` with one signature for every family, ``recommend``, ``score``,
  ``similar_items``, ``item_similarity`` with its ``similarity_kind``, ``explain``), input checks
  and the shared top-N, cosine and co-occurrence machinery.
- ``popularity``: the most weighted items for everyone (the baseline).
- ``trending``: popularity over a recent window, weighted by recency (``age_days``).
- ``svd``: shrunk truncated SVD (a low-rank denoising autoencoder), settings chosen on validation.
- ``als``: implicit-feedback ALS solved by conjugate gradient.
- ``itemknn``: item-item cosine neighbours.
- ``ease``: the closed-form EASE item-item model.
- ``content``: item attributes (TF-IDF and one-hot) and the ``FeatureEncoder``.
- ``hybrid``: collaborative and content scores blended by how much history there is.
- ``sequential``: what the sequence families share (a repeat part and an explore part, mixed by
  a weight learned on the latest events); ``recent`` (recently touched items and their
  neighbours), ``transitions`` (what follows what), ``sessionknn`` (V-SKNN), ``sasrec`` (a
  self-attention network, needs the optional PyTorch) and ``sequence`` (the best of them on
  validation). They fit on ordered events (``fit_sequences``) or, given only a matrix, on its
  items ordered by age.

``make_recommender("svd", rank=32)`` builds a model by its name in ``ALGORITHMS``; unknown names
and parameters raise ``BadInputError`` naming what is accepted.
"""

from __future__ import annotations

import inspect

from personalization.errors import BadInputError
from personalization.recommendation.models.als import ALSRecommender
from personalization.recommendation.models.base import Recommender
from personalization.recommendation.models.content import ContentRecommender
from personalization.recommendation.models.ease import EASERecommender
from personalization.recommendation.models.hybrid import HybridRecommender
from personalization.recommendation.models.itemknn import ItemKNNRecommender
from personalization.recommendation.models.popularity import PopularityRecommender
from personalization.recommendation.models.recent import RecentRecommender
from personalization.recommendation.models.sasrec import SASRecRecommender
from personalization.recommendation.models.sequence import SequenceSelector
from personalization.recommendation.models.sequential import SequenceRecommender
from personalization.recommendation.models.sessionknn import SessionKNNRecommender
from personalization.recommendation.models.svd import SVDRecommender
from personalization.recommendation.models.transitions import TransitionsRecommender
from personalization.recommendation.models.trending import TrendingRecommender

ALGORITHMS: dict[str, type[Recommender]] = {
    "popularity": PopularityRecommender,
    "trending": TrendingRecommender,
    "svd": SVDRecommender,
    "als": ALSRecommender,
    "itemknn": ItemKNNRecommender,
    "ease": EASERecommender,
    "content": ContentRecommender,
    "hybrid": HybridRecommender,
    "sequence": SequenceSelector,
    "recent": RecentRecommender,
    "transitions": TransitionsRecommender,
    "session-knn": SessionKNNRecommender,
    "sasrec": SASRecRecommender,
}
SEQUENCE_ALGORITHMS = ("sequence", "recent", "transitions", "session-knn", "sasrec")


def make_recommender(algo: str, **params) -> Recommender:
    """A new, unfitted recommender of kind ``algo`` with ``params`` (constructor keywords)."""
    if algo not in ALGORITHMS:
        raise BadInputError(
            f"Unknown recommender {algo!r}; choose one of: {', '.join(ALGORITHMS)}."
        )
    cls = ALGORITHMS[algo]
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise BadInputError(
            f"{algo} takes no parameter {', '.join(unknown)}; it takes: "
            f"{', '.join(accepted) or 'none'}."
        )
    return cls(**params)


__all__ = [
    "ALGORITHMS",
    "SEQUENCE_ALGORITHMS",
    "Recommender",
    "SequenceRecommender",
    "make_recommender",
]
