"""Recommender models behind one interface (``base.Recommender``) and the registry of them.

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
from personalization.recommendation.models.svd import SVDRecommender
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
}


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


__all__ = ["ALGORITHMS", "Recommender", "make_recommender"]
