"""The promise of the default SVD on real purchases (UCI online retail): well over half above
popularity and within a few percent of EASE, the strongest classical method, on a split by time
and on a random one. Skips where ../shared/data is absent."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from personalization.data.ingest import ingest_file
from personalization.evaluation import align, ndcg_at_k, split_events, unseen_relevant
from personalization.recommendation.interactions import build_interactions
from personalization.recommendation.models import make_recommender
from personalization.store.events import read_events
from tests.conftest import shared_file


@pytest.fixture(scope="module")
def purchases(tmp_path_factory) -> pd.DataFrame:
    """The invoices loaded as a user would: the ingest maps, cleans and rejects what it must."""
    db = tmp_path_factory.mktemp("retail") / "retail.duckdb"
    ingest_file(
        shared_file("online-retail/online_retail.csv.gz"),
        mapping={
            "user_id": "CustomerID",
            "item_id": "StockCode",
            "timestamp": "InvoiceDate",
            "value": "Quantity",
        },
        constants={"event_type": "purchase"},
        db=db,
    )
    return read_events("events", db=db)


@pytest.mark.parametrize("method", ["temporal", "random"])
def test_default_svd_is_near_ease_and_far_above_popularity(purchases, method):
    train_ev, test_ev = split_events(purchases, method, 0.2, seed=0)
    train = build_interactions(train_ev)
    tested = build_interactions(test_ev)
    truth = unseen_relevant(
        align(tested.matrix, tested.user_ids, tested.item_ids, train.user_ids, train.item_ids),
        train.matrix,
    )
    users = np.flatnonzero(np.diff(truth.indptr))

    def ndcg(algo: str) -> float:
        model = make_recommender(algo).fit(train.matrix)
        ids, _ = model.recommend(users, train.matrix, n=10)
        return ndcg_at_k(ids, truth, k=10, users=users)

    svd = ndcg("svd")
    ease, popularity = ndcg("ease"), ndcg("popularity")
    assert svd > 2 * popularity
    assert svd > 0.97 * ease, (svd, ease)
