"""AppTest of the Data page: upload with suggested mapping, the report, bad files, the profile."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

import ui
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


RETAIL = (
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    "536365,85123A,WHITE HANGING HEART,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n"
    "536366,71053,WHITE METAL LANTERN,6,2010-12-01 08:28:00,3.39,17850.0,United Kingdom\n"
    "536367,71053,,2,2010-12-02 08:28:00,3.39,,France\n"
)


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


@pytest.fixture(autouse=True)
def workspace(monkeypatch) -> list:
    """``ui.is_sample`` answering False, and the calls to ``ui.open_workspace``."""
    opened: list = []
    monkeypatch.setattr(ui, "is_sample", lambda: False, raising=False)
    monkeypatch.setattr(ui, "open_workspace", opened.append, raising=False)
    return opened


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
    summary = next(d.value for d in at.dataframe if "fix" in d.value.columns)
    assert summary["rows"].tolist() == [1, 1]  # one missing customer, one negative quantity
    rejects = next(d.value for d in at.dataframe if "line" in d.value.columns)
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


def test_product_names_are_offered_and_loaded(db, no_sample):
    at = app_page(PAGE)
    at.file_uploader[0].set_value(("retail.csv", RETAIL.encode(), "text/csv")).run()
    assert not at.exception
    chosen = {s.label: s.value for s in at.selectbox}
    assert (chosen["Product names"], chosen["Prices"]) == ("Description", "UnitPrice")
    assert chosen["Customer countries"] == "Country"
    assert any("Product names: **Description**" in i.value for i in at.info)
    button(at, "Load").click().run()
    assert not at.exception
    assert store.query_rows("SELECT item_id, title, price FROM items ORDER BY 1", db=db) == [
        ("71053", "WHITE METAL LANTERN", 3.39),
        ("85123A", "WHITE HANGING HEART", 2.55),
    ]
    assert any("2 products got names or attributes" in i.value for i in at.info)
    assert any("1 customers got attributes (country)" in i.value for i in at.info)


def test_dates_that_read_both_ways_ask_for_the_order(db, no_sample):
    text = "user_id,item_id,event_type,when\nu1,p1,view,03/04/2024\nu2,p2,view,05/06/2024\n"
    at = app_page(PAGE)
    at.file_uploader[0].set_value(("d.csv", text.encode(), "text/csv")).run()
    at.selectbox(key=next(s.key for s in at.selectbox if s.label == "timestamp")).select("when")
    button(at, "Load").click().run()
    assert not at.exception and not at.error
    assert not store.table_exists("events", db=db)
    examples = next(d.value for d in at.dataframe if "In the file" in d.value.columns)
    assert examples["Read day first"].tolist() == ["03 April 2024", "05 June 2024"]
    at.radio(key="date_order").set_value("day first (31/01/2024)")
    button(at, "Load").click().run()
    assert not at.exception
    got = store.query_rows("SELECT month(timestamp) FROM events ORDER BY user_id", db=db)
    assert got == [(4,), (6,)]


def test_a_file_loaded_over_the_sample_goes_into_my_data(db, no_sample, monkeypatch, workspace):
    monkeypatch.setattr(ui, "is_sample", lambda: True, raising=False)
    at = app_page(PAGE)
    at.file_uploader[0].set_value(("e.csv", EVENTS.encode(), "text/csv")).run()
    button(at, "Load").click().run()
    assert not at.exception
    assert workspace == ["mine"]
    assert any("sample shop stays as it was" in i.value for i in at.info)
