"""Events -> weighted matrix (weights, ratings, returns, decay, minimums, ids) and reading events."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from personalization import store
from personalization.errors import BadInputError, NotEnoughDataError, NotFoundError
from personalization.recommendation.interactions import (
    DEFAULT_EVENT_WEIGHTS,
    Interactions,
    build_interactions,
    with_items,
)
from personalization.store.events import read_attributes, read_events


def events(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "event_type", "timestamp", "value"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    return frame


def weight(result, user, item) -> float:
    return float(result.matrix[result.user_index(user), result.item_index(item)])


BASIC = events(
    [
        ("u1", "a", "view", "2024-01-10", None),
        ("u1", "a", "click", "2024-01-10", None),
        ("u1", "b", "purchase", "2024-01-10", 1.0),
        ("u2", "a", "rating", "2024-01-10", 4.5),
        ("u2", "c", "remove_from_cart", "2024-01-10", None),
        ("u2", "b", "wishlist", "2024-01-10", None),
    ]
)


def test_default_weights_are_summed_per_pair():
    result = build_interactions(BASIC)
    assert result.matrix.dtype == np.float32 and result.matrix.format == "csr"
    assert weight(result, "u1", "a") == 3.0
    assert weight(result, "u1", "b") == DEFAULT_EVENT_WEIGHTS["purchase"]
    assert weight(result, "u2", "a") == 4.5
    assert weight(result, "u2", "b") == 1.0
    assert result.item_index("c") is None
    assert list(result.user_ids) == ["u1", "u2"] and list(result.item_ids) == ["a", "b"]


def test_custom_weights_and_unknown_types():
    result = build_interactions(BASIC, event_weights={"view": 10, "wishlist": 3, "rating": 2})
    assert weight(result, "u1", "a") == 12.0
    assert weight(result, "u2", "b") == 3.0
    assert weight(result, "u2", "a") == 9.0
    with pytest.raises(BadInputError, match="unknown event types: like; known types: add_to_cart"):
        build_interactions(BASIC, event_weights={"like": 2})


def test_returns_ignored_or_subtracted():
    frame = events(
        [
            ("u1", "a", "purchase", "2024-01-01", 2.0),
            ("u1", "a", "purchase", "2024-01-02", 1.0),
            ("u1", "a", "purchase", "2024-01-03", -1.0),
            ("u1", "b", "purchase", "2024-01-01", 1.0),
            ("u1", "b", "purchase", "2024-01-02", -1.0),
        ]
    )
    ignored = build_interactions(frame)
    assert weight(ignored, "u1", "a") == 16.0 and weight(ignored, "u1", "b") == 8.0
    subtracted = build_interactions(frame, returns="subtract")
    assert weight(subtracted, "u1", "a") == 8.0
    assert subtracted.item_index("b") is None
    with pytest.raises(BadInputError, match="returns must be one of"):
        build_interactions(frame, returns="keep")


def test_half_life_decay_relative_to_now():
    frame = events(
        [("u1", "a", "view", "2024-01-31", None), ("u1", "b", "view", "2024-01-21", None)]
    )
    result = build_interactions(frame, half_life_days=10)
    assert weight(result, "u1", "a") == pytest.approx(1.0)
    assert weight(result, "u1", "b") == pytest.approx(0.5)
    later = build_interactions(frame, half_life_days=10, now="2024-02-10")
    assert weight(later, "u1", "a") == pytest.approx(0.5)
    assert later.age_days[0, later.item_index("b")] == pytest.approx(20.0)
    with pytest.raises(BadInputError, match="half_life_days must be a positive"):
        build_interactions(frame, half_life_days=0)


def test_minimums_are_applied_until_stable():
    frame = events(
        [
            ("u1", "a", "view", None, None),
            ("u1", "b", "view", None, None),
            ("u2", "a", "view", None, None),
            ("u2", "b", "view", None, None),
            ("u3", "a", "view", None, None),
            ("u3", "c", "view", None, None),
            ("u4", "c", "view", None, None),
        ]
    )
    result = build_interactions(frame, min_user_interactions=2, min_item_interactions=2)
    assert list(result.user_ids) == ["u1", "u2"] and list(result.item_ids) == ["a", "b"]
    with pytest.raises(NotEnoughDataError, match="lower the minimums"):
        build_interactions(frame, min_user_interactions=5)


def test_missing_columns_and_optional_ones():
    with pytest.raises(BadInputError, match="no column user_id; found: CustomerID"):
        build_interactions(pd.DataFrame({"CustomerID": ["1"], "item_id": ["a"]}))
    bare = build_interactions(pd.DataFrame({"user_id": ["1", "1"], "item_id": ["a", "a"]}))
    assert weight(bare, "1", "a") == 2.0 and bare.age_days is None
    with pytest.raises(BadInputError, match="needs a timestamp column"):
        build_interactions(pd.DataFrame({"user_id": ["1"], "item_id": ["a"]}), half_life_days=3)


def test_index_lookups_and_catalogue_items():
    result = build_interactions(BASIC)
    assert result.user_index("nobody") is None
    assert list(result.user_indices(["u2", "x"])) == [1, -1]
    wider = with_items(result, ["b", "z"])
    assert wider.matrix.shape == (2, 3) and wider.item_index("z") == 2
    assert wider.matrix[:, 2].nnz == 0


def test_read_events_and_attributes(db):
    store.execute(
        "CREATE TABLE events (user_id VARCHAR, item_id VARCHAR, event_type VARCHAR, "
        "timestamp TIMESTAMP, value DOUBLE, extra VARCHAR)",
        db=db,
    )
    store.execute(
        "INSERT INTO events VALUES ('u1', 'a', 'view', '2024-01-01', NULL, 'x'), "
        "('u2', 'b', 'purchase', '2024-01-02', 3, 'y')",
        db=db,
    )
    frame = read_events(db=db)
    assert list(frame.columns) == ["user_id", "item_id", "event_type", "timestamp", "value"]
    assert len(frame) == 2
    assert build_interactions(frame).matrix.shape == (2, 2)
    with pytest.raises(BadInputError, match="no column nope"):
        read_events(columns=["user_id", "nope"], db=db)
    with pytest.raises(NotFoundError):
        read_events("missing", db=db)
    assert read_attributes("items", "item_id", db=db).empty
    store.execute("CREATE TABLE items (item_id VARCHAR, title VARCHAR)", db=db)
    store.execute("INSERT INTO items VALUES ('a', 'Mug'), ('a', 'Dup'), (NULL, 'x')", db=db)
    items = read_attributes("items", "item_id", db=db)
    assert list(items.index) == ["a"] and items.loc["a", "title"] == "Mug"


def test_event_type_synonyms_weigh_like_their_canonical_types():
    events = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u1", "u2"],
            "item_id": ["a", "b", "c", "a"],
            "event_type": ["transaction", "addtocart", "Page View", "something_else"],
        }
    )
    inter = build_interactions(events)
    row = inter.matrix[inter.user_index("u1")].toarray().ravel()
    weights = dict(zip(inter.item_ids, row, strict=True))
    assert weights == {"a": 8.0, "b": 4.0, "c": 1.0}
    assert inter.matrix[inter.user_index("u2"), inter.item_index("a")] == 1.0


def test_saved_interactions_keep_their_ids_and_store_text_ids_as_one_block():
    text = np.array(["U1", "U2", "b\x00"], dtype=object)  # a trailing NUL would not survive "U"
    for users in (text[:2], text, np.array([10, 20])):
        inter = Interactions(sp.csr_matrix((len(users), 2), dtype=np.float32), users, text[:2])
        state = inter.__getstate__()
        assert "_users" not in state and state["item_ids"].dtype.kind == "U"
        back = pickle.loads(pickle.dumps(inter))
        assert back.user_ids.dtype == users.dtype and list(back.user_ids) == list(users)
        assert back.user_index(users[-1]) == len(users) - 1 and back.item_index("U2") == 1
