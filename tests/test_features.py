"""Per-user features on a tiny events table whose answers are computed by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from personalization import store
from personalization.data.features import build_customer_features
from personalization.errors import BadInputError, NotEnoughDataError, NotFoundError

EVENTS = [
    # user, item, type, timestamp, value, session
    ("u1", "i1", "view", "2024-01-01 10:00:00", 30.0, "s1"),
    ("u1", "i1", "add_to_cart", "2024-01-01 10:05:00", None, "s1"),
    ("u1", "i1", "purchase", "2024-01-01 10:10:00", 20.0, "s1"),
    ("u1", "i2", "view", "2024-01-07 23:59:00", 10.0, "s2"),
    ("u1", "i2", "add_to_cart", "2024-01-08 00:00:00", None, "s2"),
    ("u1", "i2", "purchase", "2024-01-12 00:00:00", 15.0, "s5"),  # label window
    ("u2", "i3", "click", "2024-01-05 00:00:00", None, "s3"),
    ("u2", "i3", "view", "2024-01-09 00:00:00", None, "s3"),
    ("u2", "i3", "purchase", "2024-01-20 00:00:00", 5.0, "s6"),  # after the label window
    ("u3", "i1", "purchase", "2024-01-11 00:00:00", 9.0, "s7"),  # no history before the cut-off
]
CUTOFF = "2024-01-10"


def make_tables(db, events=EVENTS) -> None:
    store.execute(
        "CREATE OR REPLACE TABLE events (user_id VARCHAR, item_id VARCHAR, event_type VARCHAR, "
        '"timestamp" TIMESTAMP, value DOUBLE, session_id VARCHAR)',
        db=db,
    )
    if events:
        values = ", ".join(["(?, ?, ?, CAST(? AS TIMESTAMP), ?, ?)"] * len(events))
        store.execute(
            f"INSERT INTO events VALUES {values}", [v for row in events for v in row], db=db
        )
    store.execute(
        "CREATE OR REPLACE TABLE users (user_id VARCHAR, device VARCHAR, events INTEGER)", db=db
    )
    store.execute("INSERT INTO users VALUES ('u1', 'mobile', 7), ('u2', 'desktop', 8)", db=db)
    store.execute("CREATE OR REPLACE TABLE items (item_id VARCHAR, category VARCHAR)", db=db)
    store.execute("INSERT INTO items VALUES ('i1', 'A'), ('i2', 'B'), ('i3', 'A')", db=db)


def build(db, **kwargs) -> tuple[dict, pd.DataFrame]:
    kwargs.setdefault("cutoff", CUTOFF)
    kwargs.setdefault("label_days", 5)
    info = build_customer_features(db=db, **kwargs)
    frame = store.read_table(info["table"], db=db).set_index("user_id")
    return info, frame


def test_hand_computed_features(db):
    make_tables(db)
    info, frame = build(db)
    assert (info["rows"], info["positives"], info["table"]) == (2, 1, "customer_features")
    assert info["cutoff"] == "2024-01-10 00:00:00" and info["label_end"] == "2024-01-15 00:00:00"
    assert list(frame.index) == ["u1", "u2"]  # u3 has no event before the cut-off
    u1, u2 = frame.loc["u1"], frame.loc["u2"]
    assert u1["recency_days"] == pytest.approx(2.0)
    assert u1["tenure_days"] == pytest.approx(8 + 14 / 24)
    assert (u1["events"], u1["sessions"], u1["days_active"]) == (5, 2, 3)
    assert (u1["n_view"], u1["n_add_to_cart"], u1["n_purchase"], u1["n_click"]) == (2, 2, 1, 0)
    assert u1["monetary"] == pytest.approx(20.0)
    assert u1["dwell_mean"] == pytest.approx(20.0)
    assert u1["cart_abandonment"] == pytest.approx(0.5)  # carted i1 and i2, bought i1
    assert (u1["distinct_items"], u1["distinct_categories"]) == (2, 2)
    assert (u1["device"], u1["user_events"]) == ("mobile", 7)  # clashing attribute renamed
    assert u2["recency_days"] == pytest.approx(1.0)
    assert (
        u2["monetary"] == 0 and math.isnan(u2["dwell_mean"]) and math.isnan(u2["cart_abandonment"])
    )
    assert (u1["converted"], u2["converted"]) == (1, 0)
    assert "converted" not in info["features"] and "recency_days" in info["features"]


def test_label_window_never_leaks_into_features(db):
    make_tables(db)
    _, before = build(db)
    late = [("u2", "i9", "purchase", "2024-01-10 00:00:00", 99.0, "s9")]  # exactly at the cut-off
    make_tables(db, EVENTS + late)
    _, after = build(db)
    assert after.loc["u2", "converted"] == 1 and before.loc["u2", "converted"] == 0
    features = [c for c in before.columns if c != "converted"]
    pd.testing.assert_frame_equal(before[features], after[features])


def test_default_cutoff_leaves_label_days_after_it(db):
    make_tables(db)
    info, _ = build(db, cutoff=None, label_days=10)
    assert info["cutoff"] == "2024-01-10 00:00:00"  # last event 2024-01-20 minus 10 days
    assert info["positives"] == 2  # u2's purchase at 2024-01-20 closes the window


def test_failed_build_keeps_the_old_table(db):
    make_tables(db)
    build(db)
    with pytest.raises(NotEnoughDataError, match="No purchase between"):
        build(db, cutoff="2024-01-13", label_days=2)
    assert store.count_rows("customer_features", db=db) == 2
    assert (
        store.datasets(db=db).set_index("table_name").loc["customer_features", "kind"]
        == "customers"
    )


def test_buyers_without_history_are_explained(db):
    make_tables(
        db, [e for e in EVENTS if e[0] != "u1"] + [("u1", "i1", "view", "2024-01-02", 1.0, "s")]
    )
    with pytest.raises(NotEnoughDataError, match="no\\s+earlier events"):
        build(db, cutoff="2024-01-10", label_days=1)


def test_empty_and_unstamped_events(db):
    make_tables(db, [])
    with pytest.raises(NotEnoughDataError, match="has no rows"):
        build(db)
    make_tables(db, [("u1", "i1", "purchase", None, 1.0, "s")])
    with pytest.raises(NotEnoughDataError, match="has a timestamp"):
        build(db)


def test_no_purchase_type_names_the_types_found(db):
    make_tables(db, [e for e in EVENTS if e[2] != "purchase"])
    with pytest.raises(NotEnoughDataError, match="found: .*view"):
        build(db)


def test_bad_arguments(db):
    make_tables(db)
    with pytest.raises(BadInputError, match="overwrite"):
        build(db, out_table="events")
    with pytest.raises(BadInputError, match="not a date"):
        build(db, cutoff="next tuesday")
    with pytest.raises(BadInputError, match="label_days"):
        build(db, label_days=0)
    with pytest.raises(NotEnoughDataError, match="No events before"):
        build(db, cutoff="2023-01-01")
    with pytest.raises(NotFoundError):
        build(db, events_table="nope")


def test_hostile_names_are_data(db):
    make_tables(db, EVENTS + [("u1", "i1", 'x"; DROP TABLE events; --', "2024-01-02", None, "s1")])
    info, frame = build(db, out_table='odd "name"')
    assert store.table_exists("events", db=db)
    assert frame.loc["u1", "n_x_drop_table_events"] == 1
    assert info["table"] == 'odd "name"'


def test_works_without_users_and_items(db):
    make_tables(db)
    store.execute("DROP TABLE users", db=db)
    store.execute("DROP TABLE items", db=db)
    _, frame = build(db)
    assert "device" not in frame.columns and "distinct_categories" not in frame.columns
    assert frame.loc["u1", "n_purchase"] == 1


def test_features_this_data_has_nothing_for_are_left_out_and_named(db):
    """An order file (purchases only, no sessions, no cart adds, no views): the columns it cannot
    fill are not written as empty or constant features, and the result names them."""
    orders = [
        ("u1", "i1", "purchase", "2024-01-01 10:00:00", 20.0, None),
        ("u1", "i2", "purchase", "2024-01-03 10:00:00", 15.0, None),
        ("u1", "i2", "purchase", "2024-01-12 10:00:00", 15.0, None),
        ("u2", "i3", "purchase", "2024-01-05 00:00:00", 5.0, None),
    ]
    make_tables(db, events=orders)
    info, frame = build(db)
    assert {"sessions", "dwell_mean", "cart_abandonment"} <= set(info["dropped"])
    assert not set(info["dropped"]) & set(frame.columns)
    assert not set(info["dropped"]) & set(info["features"])
    assert {"recency_days", "events", "monetary"} <= set(frame.columns)
