"""AppTest of the Data page: upload with suggested mapping, the report, bad files, the profile."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from personalization import store
from tests.conftest import app_page, load_csv, metric

PAGE = "pages/data.py"
ORDERS = (
    "CustomerID,StockCode,InvoiceDate,Quantity\n"
    "17850.0,85123A,2010-12-01 08:26:00,6\n"
    "17850.0,71053,2010-12-01 08:26:00,6\n"
    ",84406B,2010-12-01 08:28:00,8\n"
    "13047.0,84029G,2010-12-01 08:34:00,-2\n"
    "13047.0,84029G,2010-12-01 08:34:00,-2\n"
)
EVENTS = (
    "user_id,item_id,event_type,timestamp\n"
    "u1,p1,view,2024-03-01 10:00:00\n"
    "u1,p2,purchase,2024-03-02 11:00:00\n"
    "u2,p1,view,2024-03-02 12:00:00\n"
)


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


@pytest.fixture
def stored(db, tmp_path):
    load_csv(db, tmp_path, "events", EVENTS)
    return db


def test_empty_database_invites_an_upload(db, no_sample):
    at = app_page(PAGE)
    assert not at.exception
    assert any("Nothing is stored yet" in i.value for i in at.info)


def test_upload_shows_suggestions_then_loads_with_a_report(db, no_sample):
    at = app_page(PAGE)
    at.file_uploader[0].set_value(("orders.csv", ORDERS.encode(), "text/csv")).run()
    assert not at.exception
    chosen = {s.label: s.value for s in at.selectbox}
    assert chosen["user_id"] == "CustomerID"
    assert chosen["item_id"] == "StockCode"
    assert chosen["timestamp"] == "InvoiceDate"
    assert [t.value for t in at.text_input if t.label == "Event type for every row"] == ["purchase"]
    button(at, "Load").click().run()
    assert not at.exception
    assert metric(at, "Rows read") == "5"
    assert metric(at, "Rows rejected") == "1"
    assert metric(at, "Duplicates dropped") == "1"
    assert metric(at, "Rows loaded") == "3"
    rejects = next(d.value for d in at.dataframe if "reason" in d.value.columns)
    assert int(rejects["line"].iloc[0]) == 4
    assert store.count_rows("events", db=db) == 3
    assert set(store.read_table("events", db=db)["event_type"]) == {"purchase"}


def test_a_bad_file_is_one_message_and_keeps_stored_data(stored):
    at = app_page(PAGE)
    at.file_uploader[0].set_value(
        ("photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "text/csv")
    )
    at.run()
    assert not at.exception
    assert len(at.error) == 1
    assert "photo.csv" in at.error[0].value
    assert not any(b.label == "Load" for b in at.button)
    assert metric(at, "Rows") == "3"
    assert store.count_rows("events", db=stored) == 3


def test_stored_table_shows_preview_and_profile(stored):
    at = app_page(PAGE)
    assert not at.exception
    assert metric(at, "Rows") == "3"
    assert metric(at, "Customers") == "2"
    assert metric(at, "Products") == "2"
    preview = at.dataframe[0].value
    assert len(preview) == 3
    assert [t.label for t in at.tabs] == ["Preview", "Profile"]
