"""The fast paths of serving give what the general ones give (no timings here: bench/serve.py).

A shop of two tastes: kitchen fans (k00..k09) and toy fans (t00..t09), items with title,
category, price and an ``in_stock`` flag; an SVD (reasons from the user's history) and an ALS
(scores looked up by user row) trained on it.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from personalization.data.ingest import ingest_file
from personalization.deploy.embedded import load_model
from personalization.errors import BadInputError
from personalization.recommendation import batch, serving, training
from personalization.recommendation.serving import ListMaker, ListRules, rows_only
from personalization.store import query_df

KITCHEN = [f"kit{i}" for i in range(6)]
TOYS = [f"toy{i}" for i in range(6)]


def events() -> pd.DataFrame:
    rows = []
    for group, items in (("k", KITCHEN), ("t", TOYS)):
        for u in range(10):
            for j in range(4):
                when = pd.Timestamp("2024-03-01") + pd.Timedelta(hours=24 * j + u)
                kind = "purchase" if j % 2 == 0 else "view"
                rows.append((f"{group}{u:02d}", items[(u + j) % 6], kind, when.isoformat()))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "event_type", "timestamp"])


def items() -> pd.DataFrame:
    rows = [(i, f"Kitchen {i[-1]}", "kitchen", 10.0 + n, n % 2 == 0) for n, i in enumerate(KITCHEN)]
    rows += [(i, f"Toy {i[-1]}", "toys", 5.0, True) for i in TOYS]
    return pd.DataFrame(rows, columns=["item_id", "title", "category", "price", "in_stock"])


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fast")
    db = folder / "shop.duckdb"
    for kind, frame in (("events", events()), ("items", items())):
        frame.to_csv(folder / f"{kind}.csv", index=False)
        ingest_file(folder / f"{kind}.csv", kind=kind, db=db)
    svd = training.train_recommender(algo="svd", params={"rank": 2}, db=db)["model_id"]
    als = training.train_recommender(algo="als", params={"factors": 2}, db=db)["model_id"]
    return db, svd, als


def general(maker: ListMaker, user: str) -> list[dict]:
    frame = maker.for_users(np.array([user], dtype=object), {})
    return serving.records(frame.drop(columns="user_id"))


@pytest.mark.parametrize(
    "rules",
    [
        None,
        ListRules(exclude_items=["kit1"], item_columns=("in_stock",)),
        ListRules(only_if="in_stock", item_columns=("price",), only_item_columns=True),
        ListRules(filter_seen=False, rebuyable=("kit0",)),
    ],
)
def test_one_users_records_equal_the_general_path(shop, rules):
    db, svd, _ = shop
    art, _ = serving.load_artifact(svd, db)
    maker = ListMaker(art, 4, rules)
    users = [f"k{u:02d}" for u in range(10)] + [f"t{u:02d}" for u in range(10)]
    for user in users:
        fast = maker.user_records(user)
        assert fast == general(maker, user)
        assert fast and all(isinstance(row["score"], float) for row in fast)
    some = maker.user_records("k00")
    assert list(some[0])[:4] == ["rank", "item_id", "score", "reason"]


def test_an_unknown_user_gets_the_segment_list_as_records(shop):
    db, svd, _ = shop
    art, _ = serving.load_artifact(svd, db)
    maker = ListMaker(art, 3)
    assert maker.user_records("nobody") == serving.records(maker.for_segment({}))
    assert maker.user_records("nobody")[0]["reason"] == "Popular with all customers"


def test_reasons_name_history_items_with_their_verbs(shop):
    db, svd, _ = shop
    art, _ = serving.load_artifact(svd, db)
    rows = ListMaker(art, 6, ListRules(filter_seen=False)).user_records("k00")
    named = [r["reason"] for r in rows if r["reason"].startswith("Because you ")]
    assert named, rows
    assert all("Kitchen" in text for text in named)


@pytest.mark.parametrize("which", [1, 2])
def test_scoring_only_the_asked_rows_gives_the_full_matrix_scores(shop, which):
    db = shop[0]
    art, _ = serving.load_artifact(shop[which], db)
    matrix = art.interactions.matrix
    rows = np.array([3, 17, 3, 0])
    expected = art.model.score(rows, matrix)
    assert np.allclose(art.model.score(rows, rows_only(matrix, rows)), expected)
    part = rows_only(matrix, rows)
    assert part.shape == matrix.shape and part.nnz == matrix[np.unique(rows)].nnz


@pytest.mark.parametrize(
    ("rules", "named"),
    [
        (ListRules(exclude_categories=["kitchen", "toys"]), "exclude_categories (kitchen, toys)"),
        (ListRules(exclude_items=KITCHEN + TOYS), "exclude_items"),
        (ListRules(exclude_categories=["toys"], only_if="in_stock"), "only_if in_stock"),
    ],
)
def test_rules_that_leave_no_item_are_refused_naming_the_rule(shop, rules, named, tmp_path):
    db, svd, _ = shop
    art, _ = serving.load_artifact(svd, db)
    art.items["in_stock"] = art.items.index.str.startswith("toy")  # kitchen all out of stock
    try:
        with pytest.raises(BadInputError, match=re.escape(named)) as caught:
            ListMaker(art, 3, rules)
        assert "\n" not in str(caught.value) and "drop that rule" in str(caught.value)
        with pytest.raises(BadInputError, match=re.escape(named)):
            batch.export_recommendations(tmp_path / "out.csv", model_id=svd, rules=rules, db=db)
        assert not (tmp_path / "out.csv").exists()
    finally:
        art.items["in_stock"] = items().set_index("item_id")["in_stock"].reindex(art.items.index)


def test_similar_is_one_path_for_the_library_and_embedded_use(shop):
    db, svd, _ = shop
    model = load_model(svd, db=db)
    frame = serving.similar_items("kit0", k=3, model_id=svd, db=db)
    assert model.similar("kit0", k=3) == serving.records(frame)
    assert list(frame.columns) == [
        "rank",
        "item_id",
        "score",
        "reason",
        "title",
        "category",
        "price",
    ]
    assert frame["reason"].eq("Similar to Kitchen 0").all()
    assert "kit0" not in set(frame["item_id"])
    assert model.recommend("k00", k=3) == general(model.maker(3), "k00")


def test_an_export_in_many_blocks_keeps_the_order_and_logs_every_row(shop, tmp_path, monkeypatch):
    db, svd, _ = shop
    whole = batch.recommendations_for_users(None, k=3, model_id=svd, db=db)
    monkeypatch.setattr(batch, "EXPORT_BLOCK_USERS", 3)  # 7 blocks, scored one ahead
    monkeypatch.setattr(batch, "LOG_ROWS", 10)  # the log written in several parts
    out = batch.export_recommendations(tmp_path / "all.csv", k=3, model_id=svd, db=db)
    written = pd.read_csv(tmp_path / "all.csv", dtype={"user_id": str})
    assert out["rows"] == len(written) == len(whole) == 60 and out["users"] == 20
    assert written["user_id"].tolist() == whole["user_id"].tolist()
    assert written["reason"].tolist() == whole["reason"].tolist()
    logged = query_df(
        "SELECT user_id, item_id, rank FROM recommendation_log WHERE batch_id = ? "
        "ORDER BY user_id, rank",
        [out["batch_id"]],
        db=db,
    )
    expected = written.sort_values(["user_id", "rank"])[["user_id", "item_id", "rank"]]
    assert logged.to_numpy().tolist() == expected.to_numpy().tolist()
