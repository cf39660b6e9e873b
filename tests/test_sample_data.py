"""The bundled sample shop: deterministic, the expected shape, and the structure planted in it."""

from __future__ import annotations

import hashlib
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import svds

from tests.conftest import SAMPLE, shared_file

sys.path.insert(0, str(SAMPLE))
import generate  # noqa: E402
import subset_online_retail  # noqa: E402

COLUMNS = {
    "events": ["user_id", "item_id", "event_type", "timestamp", "value", "session_id"],
    "users": ["user_id", "device", "location", "segment", "age_band", "signup_date"],
    "items": [
        "item_id",
        "title",
        "category",
        "brand",
        "price",
        "description",
        "in_stock",
        "added_date",
    ],
    "customers": [
        "customer_id",
        "device",
        "location",
        "segment",
        "age_band",
        "sessions_30d",
        "page_views_30d",
        "avg_dwell_seconds",
        "cart_adds_30d",
        "cart_abandon_rate",
        "days_since_last_visit",
        "purchases_90d",
        "revenue_90d",
        "email_opens",
        "discount_used",
        "converted",
    ],
}
EVENT_TYPES = {"view", "click", "add_to_cart", "remove_from_cart", "purchase", "rating"}


@pytest.fixture(scope="module")
def shop() -> dict[str, pd.DataFrame]:
    return {name: pd.read_csv(SAMPLE / f"{name}.csv") for name in COLUMNS}


def _digest(tables: dict[str, pd.DataFrame]) -> str:
    digest = hashlib.sha256()
    for name in sorted(tables):
        digest.update(tables[name].to_csv(index=False, lineterminator="\n").encode())
    return digest.hexdigest()


def test_generator_is_deterministic_and_seeded():
    small = {"n_users": 150, "n_items": 60, "n_new_items": 3, "n_silent_users": 2}
    first, second = generate.generate(**small), generate.generate(**small)
    assert _digest(first) == _digest(second)
    assert _digest(generate.generate(seed=1, **small)) != _digest(first)


def test_committed_files_are_what_the_generator_writes(tmp_path):
    paths = generate.write(generate.generate(), tmp_path)
    for name, path in paths.items():
        assert path.read_bytes() == (SAMPLE / f"{name}.csv").read_bytes(), (
            f"sample_data/{name}.csv is stale; run python sample_data/generate.py"
        )


def test_files_have_the_role_columns_and_sizes(shop):
    for name, columns in COLUMNS.items():
        assert list(shop[name].columns) == columns
    assert len(shop["users"]) == len(shop["customers"]) == 3000
    assert len(shop["items"]) == 300
    assert 150_000 <= len(shop["events"]) <= 250_000
    assert shop["items"]["category"].nunique() == 8
    assert shop["items"]["title"].is_unique
    total = sum((SAMPLE / f"{name}.csv").stat().st_size for name in COLUMNS)
    assert total < 12_000_000


def test_events_are_well_formed(shop):
    events = shop["events"]
    assert set(events["event_type"]) == EVENT_TYPES
    assert not events.duplicated().any()
    stamps = pd.to_datetime(events["timestamp"], format="%Y-%m-%dT%H:%M:%S")
    assert stamps.max() <= generate.END
    assert (generate.END - stamps.min()).days == generate.DAYS - 1
    ratings = events.loc[events["event_type"] == "rating", "value"]
    assert set(ratings.astype(int)) == {1, 2, 3, 4, 5}
    assert (events.loc[events["event_type"] == "purchase", "value"] > 0).all()
    assert (events.loc[events["event_type"] == "view", "value"] > 0).all()
    assert events.loc[events["event_type"] == "click", "value"].isna().all()
    assert set(events["user_id"]) <= set(shop["users"]["user_id"])
    assert set(events["item_id"]) <= set(shop["items"]["item_id"])


def test_segments_prefer_their_own_categories(shop):
    events = (
        shop["events"]
        .merge(shop["users"][["user_id", "segment"]])
        .merge(shop["items"][["item_id", "category"]])
    )
    overall = events["category"].value_counts().index[0]
    by_segment = events.groupby("segment")["category"].agg(lambda s: s.value_counts().index[0])
    assert (by_segment != overall).any()
    for segment, top in by_segment.items():
        assert top in generate.SEGMENT_CATEGORIES[segment]


def test_popularity_is_long_tailed(shop):
    counts = shop["events"]["item_id"].value_counts()
    top_tenth = counts.iloc[: len(shop["items"]) // 10].sum()
    assert top_tenth / counts.sum() > 0.4


def test_funnel_narrows_and_mobile_converts_less(shop):
    kinds = shop["events"]["event_type"].value_counts()
    assert kinds["view"] > kinds["click"] > kinds["add_to_cart"] > kinds["purchase"]
    assert kinds["remove_from_cart"] > 0
    customers = shop["customers"]
    rate = customers.groupby("device")["converted"].agg(lambda s: (s == "yes").mean())
    assert rate["mobile"] < rate["desktop"] - 0.05
    assert 0.10 <= (customers["converted"] == "yes").mean() <= 0.15


def test_conversion_depends_on_recency(shop):
    customers = shop["customers"].dropna(subset=["days_since_last_visit"])
    yes = customers["converted"] == "yes"
    assert (
        customers.loc[yes, "days_since_last_visit"].median()
        < customers.loc[~yes, "days_since_last_visit"].median()
    )


def test_cold_start_items_and_users(shop):
    new_items = set(shop["items"]["item_id"]) - set(shop["events"]["item_id"])
    recent = pd.to_datetime(shop["items"]["added_date"]) > generate.END - pd.Timedelta(days=7)
    assert new_items == set(shop["items"].loc[recent, "item_id"])
    assert len(new_items) == 12
    silent = set(shop["users"]["user_id"]) - set(shop["events"]["user_id"])
    assert len(silent) == 15


def test_customer_features_have_a_few_blanks(shop):
    customers = shop["customers"]
    for column in ("avg_dwell_seconds", "age_band"):
        assert 0.005 < customers[column].isna().mean() < 0.05
    assert customers["customer_id"].tolist() == shop["users"]["user_id"].tolist()
    assert set(customers["discount_used"]) == {"yes", "no"}


def _ndcg_at_10(scores: np.ndarray, seen: sp.csr_matrix, truth: dict[int, set[int]]) -> float:
    scores = scores.copy()
    scores[seen.nonzero()] = -np.inf
    top = np.argsort(-scores, axis=1)[:, :10]
    discount = 1 / np.log2(np.arange(2, 12))
    values = []
    for user, held in truth.items():
        gains = np.isin(top[user], list(held)) * discount
        values.append(gains.sum() / discount[: min(len(held), 10)].sum())
    return float(np.mean(values))


def test_low_rank_taste_beats_popularity(shop):
    pairs = shop["events"][["user_id", "item_id"]].drop_duplicates()
    users = pairs["user_id"].astype("category").cat.codes.to_numpy()
    items = pairs["item_id"].astype("category").cat.codes.to_numpy()
    held = np.random.default_rng(0).random(len(pairs)) < 0.2
    shape = (users.max() + 1, items.max() + 1)
    train = sp.csr_matrix((np.ones((~held).sum()), (users[~held], items[~held])), shape=shape)
    truth: dict[int, set[int]] = {}
    for u, i in zip(users[held], items[held], strict=False):
        truth.setdefault(int(u), set()).add(int(i))
    popularity = np.tile(np.asarray(train.sum(axis=0)).ravel(), (shape[0], 1))
    left, sigma, right = svds(train, k=12, random_state=0)
    pop_ndcg = _ndcg_at_10(popularity, train, truth)
    svd_ndcg = _ndcg_at_10((left * sigma) @ right, train, truth)
    assert svd_ndcg > 1.5 * pop_ndcg


def test_online_retail_subset_is_reproducible(tmp_path):
    source = shared_file("online-retail/online_retail.csv.gz")
    target = tmp_path / "subset.csv"
    rows = subset_online_retail.make_subset(source, target)
    committed = SAMPLE / "online_retail_sample.csv"
    assert target.read_bytes() == committed.read_bytes()
    frame = pd.read_csv(committed, dtype=str)
    assert rows == len(frame)
    assert list(frame.columns) == [
        "InvoiceNo",
        "StockCode",
        "Description",
        "Quantity",
        "InvoiceDate",
        "UnitPrice",
        "CustomerID",
        "Country",
    ]
    assert frame["CustomerID"].nunique() == 300


def _csv_rows(name: str) -> int:
    with (SAMPLE / f"{name}.csv").open() as handle:
        return sum(1 for _ in handle) - 1


def test_ensure_sample_data_loads_once_and_trains_the_example_models(db):
    from personalization import registry, store, workspace

    fractions: list[float] = []
    assert workspace.ensure_sample_data(db=db, progress=lambda f, m: fractions.append(f)) is True
    assert set(store.table_names(db)) >= {"events", "users", "items", "customers"}
    assert store.count_rows("events", db) == _csv_rows("events")
    assert store.count_rows("customers", db) == 3000
    assert fractions[-1] == 1.0 and fractions == sorted(fractions)
    promoted = {
        m["kind"]: m["algo"] for m in registry.list_models(db=db) if m["status"] == "promoted"
    }
    assert promoted == {"recommender": "svd", "classifier": "gradient_boosting"}
    assert workspace.ensure_sample_data(db=db) is False
    assert store.count_rows("events", db) == _csv_rows("events")
    assert len(registry.list_models(db=db)) == 2


def test_load_sample_data_reports_every_table(db):
    from personalization.data import sample

    reports = sample.load_sample_data(db=db)
    assert [r.table for r in reports] == ["events", "users", "items", "customers"]
    assert [r.rows_loaded for r in reports] == [_csv_rows("events"), 3000, 300, 3000]
    assert all(r.rows_rejected == 0 and r.duplicates_dropped == 0 for r in reports)
