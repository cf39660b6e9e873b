"""Item and user attributes mapped from an events file; the load report's reject summary; the
day/month choice for dates that read both ways."""

from __future__ import annotations

import pytest

from personalization import store
from personalization.data.ingest import (
    AmbiguousDatesError,
    date_order_choice,
    ingest_file,
    suggest_mapping,
)
from personalization.errors import BadInputError

ORDERS = (
    "CustomerID,StockCode,Description,Category,InvoiceDate,Quantity,UnitPrice,Country\n"
    "c1,A,old name,toys,2024-01-01 10:00,1,2.0,France\n"
    "c1,A,new name ,toys,2024-01-03 10:00,1,3.0,Spain\n"
    "c2,A,,,2024-01-05 10:00,1,100.0,Germany\n"
    "c2,B,bag,,2024-01-02 10:00,-1,5.0,\n"
    "c3,C,,,2024-01-02 10:00,1,,\n"
)
MAP = {
    "user_id": "CustomerID",
    "item_id": "StockCode",
    "title": "Description",
    "category": "Category",
    "price": "UnitPrice",
    "country": "Country",
}


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def load(db, path, mapping=MAP, **kw):
    return ingest_file(path, mapping=mapping, constants={"event_type": "purchase"}, db=db, **kw)


def rows(db, sql):
    return store.query_rows(sql, db=db)


def test_latest_non_empty_value_per_id_and_median_price(db, tmp_path):
    report = load(db, write(tmp_path, "orders.csv", ORDERS))
    assert (report.items_updated, report.users_updated) == (2, 2)
    # A: latest non-empty title (trimmed), category from the rows that have one, median of
    # 2, 3, 100; C has no attribute at all, so it gets no row.
    assert rows(db, "SELECT item_id, title, category, price FROM items ORDER BY 1") == [
        ("A", "new name", "toys", 3.0),
        ("B", "bag", None, 5.0),
    ]
    assert rows(db, "SELECT user_id, country FROM users ORDER BY 1") == [
        ("c1", "Spain"),
        ("c2", "Germany"),
    ]
    assert report.to_dict()["mapping"]["title"] == "Description"


def test_events_keep_the_columns_they_kept_before(db, tmp_path):
    path = write(tmp_path, "orders.csv", ORDERS)
    load(db, path, table="plain", mapping={"user_id": "CustomerID", "item_id": "StockCode"})
    before = store.table_columns("plain", db=db)
    load(db, path)
    assert store.table_columns("events", db=db) == before
    assert store.count_rows("events", db=db) == 5


def test_existing_rows_are_updated_and_new_ids_added(db, tmp_path):
    items = write(tmp_path, "items.csv", "item_id,brand,title\nA,acme,Old A\nZ,zed,Zed\n")
    ingest_file(items, kind="items", db=db)
    report = load(db, write(tmp_path, "orders.csv", ORDERS), mapping={**MAP, "item.colour": ""})
    got = store.read_table("items", db=db).sort_values("item_id")
    assert list(got.columns) == ["item_id", "brand", "title", "category", "price"]
    assert got.values.tolist()[0] == ["A", "acme", "new name", "toys", 3.0]
    assert got.set_index("item_id").loc["Z", "title"] == "Zed"  # not in the file: kept
    assert got.set_index("item_id").loc["B", "title"] == "bag"  # new id: added
    assert report.items_updated == 2


def test_any_attribute_with_item_and_user_prefixes(db, tmp_path):
    path = write(tmp_path, "e.csv", "user_id,item_id,colour,tier\nu1,p1,red,gold\nu1,p2,,gold\n")
    report = load(db, path, mapping={"item.colour": "colour", "user.loyalty": "tier"})
    assert rows(db, "SELECT item_id, colour FROM items") == [("p1", "red")]
    assert rows(db, "SELECT user_id, loyalty FROM users") == [("u1", "gold")]
    assert report.to_dict()["items_updated"] == 1


def test_no_attributes_mapped_no_tables_and_no_keys(db, tmp_path):
    report = load(db, write(tmp_path, "orders.csv", ORDERS), mapping=None)
    assert not store.table_exists("items", db=db) and not store.table_exists("users", db=db)
    assert "items_updated" not in report.to_dict() and "users_updated" not in report.to_dict()
    assert any("--map title=Description" in note for note in report.notes)


def test_a_failure_leaves_events_items_and_users_as_they_were(db, tmp_path):
    ingest_file(write(tmp_path, "u.csv", "name,country\nc1,Peru\n"), kind="customers", db=db)
    store.execute("ALTER TABLE customers RENAME TO users", db=db)  # a users table without user_id
    ingest_file(write(tmp_path, "items.csv", "item_id,title\nA,Old A\n"), kind="items", db=db)
    with pytest.raises(BadInputError, match="no column 'user_id'"):
        load(db, write(tmp_path, "orders.csv", ORDERS))
    assert not store.table_exists("events", db=db)
    assert rows(db, "SELECT * FROM items") == [("A", "Old A")]
    assert rows(db, "SELECT * FROM users") == [("c1", "Peru")]


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"user_id": "CustomerID", "item_id": "StockCode", "title": "Nope"}, "no column 'Nope'"),
        ({"user_id": "CustomerID", "item_id": "StockCode", "item.": "Country"}, "attribute name"),
        ({"user_id": "CustomerID", "item_id": "StockCode", "item.item_id": "X"}, "other than"),
    ],
)
def test_bad_attribute_mappings_are_bad_input(db, tmp_path, mapping, message):
    with pytest.raises(BadInputError, match=message):
        load(db, write(tmp_path, "orders.csv", ORDERS), mapping=mapping)
    assert not store.table_exists("events", db=db)


def test_attributes_belong_to_events_files(db, tmp_path):
    path = write(tmp_path, "items.csv", "item_id,Description\nA,x\n")
    with pytest.raises(BadInputError, match="attribute taken from an events file"):
        ingest_file(path, kind="items", mapping={"title": "Description"}, db=db)
    with pytest.raises(BadInputError, match="also where its items attributes"):
        load(db, write(tmp_path, "orders.csv", ORDERS), table="items")


def test_suggest_mapping_proposes_attributes_for_events():
    got = suggest_mapping(
        ["InvoiceNo", "StockCode", "Description", "Quantity", "UnitPrice", "CustomerID", "Country"],
        "events",
    )
    assert got["title"] == "Description" and got["price"] == "UnitPrice"
    assert got["country"] == "Country" and got["value"] == "Quantity"
    both = suggest_mapping(["item_id", "ProductName", "Description", "City", "brand"], "events")
    assert (both["title"], both["description"]) == ("ProductName", "Description")
    assert (both["location"], both["brand"]) == ("City", "brand")
    assert suggest_mapping(["item_id", "title"], "items") == {"item_id": "item_id"}


def test_reject_summary_counts_every_rejected_row_by_reason(db, tmp_path):
    lines = ["CustomerID,StockCode,InvoiceDate,Quantity"]
    lines += [f",A{i},2024-01-01 10:00,1" for i in range(30)]  # no customer: 30 rows
    lines += [f"c{i},,2024-01-01 10:00,1" for i in range(3)]  # no product: 3 rows
    lines += ["c1,B,not a date,1", "c1,B,2024-01-01 10:00,-2", "c1,C,2024-01-01 10:00,1,9"]
    report = load(db, write(tmp_path, "o.csv", "\n".join(lines) + "\n"), mapping=None)
    assert report.rows_rejected == 35 and len(report.rejects) == 20
    summary = {s["reason"]: s for s in report.reject_summary}
    assert summary["missing customer id (column 'CustomerID')"]["rows"] == 30
    assert "guest checkouts" in summary["missing customer id (column 'CustomerID')"]["fix"]
    assert summary["missing product id (column 'StockCode')"]["rows"] == 3
    assert summary["date/time not readable (column 'InvoiceDate')"]["rows"] == 1
    assert summary["line does not match the header (wrong number of fields)"]["rows"] == 1
    assert summary["negative values in 'Quantity' (rows kept)"]["rows"] == 1
    assert "returns" in summary["negative values in 'Quantity' (rows kept)"]["fix"]
    assert sum(s["rows"] for s in report.reject_summary if "kept" not in s["reason"]) == 35
    assert report.rejects[0] == {"line": 2, "reason": "missing user_id (column 'CustomerID')"}


DATES = "user_id,item_id,when\nu1,p1,03/04/2024 10:00\nu2,p2,05/06/2024 11:00\n"


def test_dates_that_read_both_ways_offer_the_choice(db, tmp_path):
    path = write(tmp_path, "d.csv", DATES)
    with pytest.raises(AmbiguousDatesError) as caught:
        load(db, path, mapping={"timestamp": "when"})
    error = caught.value
    assert isinstance(error, BadInputError) and "--timestamp-format" in str(error)
    assert error.column == "when" and len(error.examples) == 2
    first = error.examples[0]
    assert first["value"] == "03/04/2024 10:00"
    assert (first["day_first"].month, first["month_first"].month) == (4, 3)
    choice = date_order_choice(error)
    choices = choice["choices"]
    assert list(choices) == ["day first (31/01/2024)", "month first (01/31/2024)"]
    assert choice["examples"][0] == {
        "In the file": "03/04/2024 10:00",
        "Read day first": "03 April 2024",
        "Read month first": "04 March 2024",
    }
    load(
        db, path, mapping={"timestamp": "when"}, timestamp_format=choices["day first (31/01/2024)"]
    )
    assert rows(db, "SELECT month(timestamp) FROM events ORDER BY user_id") == [(4,), (6,)]
