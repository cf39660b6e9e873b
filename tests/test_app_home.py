"""AppTest of the entry point and the home page: first start, key figures, empty and error states."""

from __future__ import annotations

import pytest

from personalization.data import profile
from personalization.errors import MemoryLimitError
from tests.conftest import app_page, load_csv, metric

EVENTS = (
    "user_id,item_id,event_type,timestamp\n"
    "u1,p1,view,2024-03-01 10:00:00\n"
    "u1,p2,purchase,2024-03-02 11:00:00\n"
    "u2,p1,view,2024-03-02 12:00:00\n"
    "u3,p3,click,2024-03-05 09:00:00\n"
)


@pytest.fixture
def small_db(db, tmp_path):
    load_csv(db, tmp_path, "events", EVENTS)
    return db


def test_empty_database_points_to_the_data_page(db, no_sample):
    at = app_page()
    assert not at.exception
    assert any("No data is loaded yet" in i.value for i in at.info)
    assert not at.metric


def test_first_start_loads_the_sample_shop_and_says_so(db):
    at = app_page()
    assert not at.exception
    assert any("sample shop" in s.value for s in at.success)
    assert int(metric(at, "Events").replace(",", "")) > 1000
    at.button(key="hide_banner").click().run()
    assert not any("sample shop" in s.value for s in at.success)


def test_key_figures_of_a_small_shop(small_db):
    at = app_page()
    assert not at.exception
    assert metric(at, "Events") == "4"
    assert metric(at, "Customers") == "3"
    assert metric(at, "Products") == "3"
    assert metric(at, "Period covered") == "5 days"
    assert any(c.value == "2024-03-01 → 2024-03-05" for c in at.caption)
    assert metric(at, "Models trained") == "0"
    assert not at.success


def test_a_library_error_is_one_message(small_db, monkeypatch):
    def short(db=None):
        raise MemoryLimitError("Out of memory: set PERSONALIZATION_MEMORY_LIMIT higher.")

    monkeypatch.setattr(profile, "overview", short)
    at = app_page()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "Out of memory: set PERSONALIZATION_MEMORY_LIMIT higher."
    ]


def test_key_figures_follow_a_new_load_and_skip_the_scans_until_then(
    small_db, tmp_path, monkeypatch
):
    import streamlit as st

    from personalization.store import profiling

    profile.clear_cache()
    assert metric(app_page(), "Events") == "4"
    scans = []
    real = profiling.event_stats
    monkeypatch.setattr(
        profiling, "event_stats", lambda table, db=None: scans.append(table) or real(table, db)
    )
    st.cache_data.clear()  # a new session, or the page's own cache expired: the library's stays
    assert metric(app_page(), "Customers") == "3" and scans == []
    more = tmp_path / "more"
    more.mkdir()
    load_csv(
        small_db,
        more,
        "events",
        "user_id,item_id,event_type,timestamp\nu9,p9,view,2024-03-09 08:00:00\n",
    )
    st.cache_data.clear()
    at = app_page()
    assert (metric(at, "Events"), metric(at, "Customers"), metric(at, "Products")) == (
        "5",
        "4",
        "4",
    )
    assert metric(at, "Period covered") == "9 days" and scans == ["events"]


def test_a_spark_dataset_is_listed_beside_the_tables(small_db, tmp_path, capsys):
    """A Parquet dataset written by ``ingest --engine spark`` is recorded in the catalog; Home
    and ``tables`` list it with its rows (the pages themselves read tables only)."""
    import json

    from personalization.cli import main
    from personalization.store import parquet_tables

    folder = parquet_tables.dataset_folder("big", small_db)
    parquet_tables.record_parquet_dataset("big", "events", str(folder), 1234, [], {}, small_db)
    at = app_page()
    assert not at.exception
    (loaded,) = [d.value for d in at.dataframe if "name" in d.value.columns]
    row = loaded[loaded["name"] == "big"].iloc[0]
    assert row["kind"] == "events (Parquet, Spark)" and row["rows"] == 1234
    assert "events" in set(loaded["name"])
    assert main(["--db", str(small_db), "tables"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [t["name"] for t in listed["tables"]] == ["events"]
    assert listed["datasets"] == [
        {"name": "big", "kind": "events", "rows": 1234, "path": str(folder)}
    ]
