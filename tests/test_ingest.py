"""Ingest on tiny hand-made files with known answers, and on the real files in ../shared/data."""

from __future__ import annotations

import gzip

import pytest

from personalization import store
from personalization.data.ingest import ingest_file, inspect_file, suggest_mapping
from personalization.errors import BadInputError
from tests.conftest import shared_file

RETAIL_MAP = {
    "user_id": "CustomerID",
    "item_id": "StockCode",
    "timestamp": "InvoiceDate",
    "value": "Quantity",
}


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize(
    ("column", "role"),
    [
        ("CustomerID", "user_id"),
        ("visitorid", "user_id"),
        ("userId", "user_id"),
        ("User", "user_id"),
        ("StockCode", "item_id"),
        ("product_id", "item_id"),
        ("SKU", "item_id"),
        ("movieId", "item_id"),
        ("itemid", "item_id"),
        ("InvoiceDate", "timestamp"),
        ("event_time", "timestamp"),
        ("ts", "timestamp"),
        ("event", "event_type"),
        ("Action", "event_type"),
        ("rating", "value"),
        ("Quantity", "value"),
        ("session", "session_id"),
        ("Session ID", "session_id"),
    ],
)
def test_suggest_mapping_knows_common_names(column, role):
    assert suggest_mapping([column, "other"], "events") == {role: column}


def test_suggest_mapping_prefers_a_column_named_after_the_role():
    got = suggest_mapping(["CustomerID", "user_id", "sku"], "events")
    assert got == {"user_id": "user_id", "item_id": "sku"}
    assert suggest_mapping(["CustomerID", "x"], "customers") == {}
    assert suggest_mapping(["sku", "title"], "items") == {"item_id": "sku"}


def test_inspect_file_sniffs_delimiter_and_previews(tmp_path):
    path = write(tmp_path, "e.csv", "user;sku;event\n1;A;view\n2;B;click\n")
    info = inspect_file(path)
    assert info.delimiter == ";"
    assert info.columns == ["user", "sku", "event"]
    assert info.preview.shape == (2, 3)
    assert info.suggested == {"user_id": "user", "item_id": "sku", "event_type": "event"}


def test_ingest_maps_cleans_and_reports(db, tmp_path):
    text = (
        "CustomerID,StockCode,InvoiceDate,Quantity,Note\n"
        "17850.0,A1,2010-12-01 08:26:00,6,yes\n"
        "17850.0,A1,2010-12-01 08:26:00,6,yes\n"
        ",B2,2010-12-01 08:27:00,3,no\n"
        "13047.0,B2,not a date,2,TRUE\n"
        "13047.0,C3,2010-12-02 09:00:00,-1,FALSE\n"
        "1,2\n"
        "13048,C3,2010-12-03 10:00:00,4,yes\n"
    )
    path = write(tmp_path, "retail.csv", text)
    report = ingest_file(path, mapping=RETAIL_MAP, constants={"event_type": "purchase"}, db=db)
    assert (
        report.rows_read,
        report.rows_loaded,
        report.rows_rejected,
        report.duplicates_dropped,
    ) == (7, 3, 3, 1)
    assert [r["line"] for r in report.rejects] == [4, 5, 7]
    assert "missing user_id" in report.rejects[0]["reason"]
    assert "not a date" in report.rejects[1]["reason"]
    assert "malformed" in report.rejects[2]["reason"]
    assert report.flagged == {"negative_value": 1}
    frame = store.read_table("events", db=db)
    assert list(frame["user_id"]) == ["17850", "13047", "13048"]
    assert list(frame["event_type"].unique()) == ["purchase"]
    assert list(frame["Note"]) == ["yes", "FALSE", "yes"]
    types = dict(store.table_columns("events", db=db))
    assert types["timestamp"] == "TIMESTAMP" and types["value"] == "DOUBLE"
    assert store.datasets(db=db).iloc[0]["rows"] == 3


def test_timestamps_with_zone_suffix_and_unix_seconds(db, tmp_path):
    zoned = write(
        tmp_path,
        "z.csv",
        "user_id,item_id,event_type,timestamp\n"
        "1,A,view,2019-10-01 00:00:00 UTC\n2,B,view,2019-10-01T02:00:00+02:00\n",
    )
    ingest_file(zoned, db=db)
    unix = write(
        tmp_path,
        "r.csv",
        "userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n1,29,3,1260759179\n",
    )
    ingest_file(unix, constants={"event_type": "rating"}, db=db)
    millis = write(tmp_path, "m.csv", "user_id,item_id,event_type,ts\n1,A,view,1260759144000\n")
    ingest_file(millis, db=db)
    got = store.query_df("SELECT CAST(timestamp AS VARCHAR) AS t, value FROM events", db=db)
    assert list(got["t"]) == [
        "2019-10-01 00:00:00",
        "2019-10-01 00:00:00",
        "2009-12-14 02:52:24",
        "2009-12-14 02:52:59",
        "2009-12-14 02:52:24",
    ]
    assert got["value"].iloc[2] == 2.5


def test_a_ratings_file_without_event_types_loads_as_rating_events(db, tmp_path):
    path = write(tmp_path, "ratings.csv", "userId,movieId,rating\n1,31,2.5\n2,29,4\n")
    report = ingest_file(path, db=db)
    assert report.mapping["event_type"] == "=rating"
    assert any("every row is a rating event" in note for note in report.notes)
    got = store.query_df("SELECT DISTINCT event_type FROM events", db=db)
    assert list(got["event_type"]) == ["rating"]


def test_timestamp_format_flag(db, tmp_path):
    path = write(
        tmp_path, "d.csv", "user_id,item_id,event_type,timestamp\n1,A,view,03/02/2020 10:00\n"
    )
    ingest_file(path, timestamp_format="%d/%m/%Y %H:%M", db=db)
    got = store.query_rows("SELECT CAST(timestamp AS VARCHAR) FROM events", db=db)
    assert got == [("2020-02-03 10:00:00",)]


def test_customers_keep_booleans_as_written_numbers_numeric_and_ids_as_text(db, tmp_path):
    path = write(
        tmp_path,
        "c.csv",
        "id;visits;spend;converted;vip\n1;3;2.5;yes;TRUE\n2;0;0;no;FALSE\n2;0;0;no;FALSE\n",
    )
    report = ingest_file(path, kind="customers", db=db)
    assert (report.rows_loaded, report.duplicates_dropped) == (2, 1)
    types = dict(store.table_columns("customers", db=db))
    assert types == {
        "id": "VARCHAR",
        "visits": "BIGINT",
        "spend": "DOUBLE",
        "converted": "VARCHAR",
        "vip": "VARCHAR",
    }
    got = store.query_rows("SELECT vip FROM customers ORDER BY id", db=db)
    assert got == [("TRUE",), ("FALSE",)]


def test_gzip_and_parquet(db, tmp_path):
    gz = tmp_path / "e.csv.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write("user_id,item_id,event_type\n1,A,view\n2,B,click\n")
    assert ingest_file(gz, db=db).rows_loaded == 2
    pq = tmp_path / "e.parquet"
    store.execute(f"COPY (SELECT * FROM events) TO '{pq}' (FORMAT parquet)", db=db)
    report = ingest_file(pq, mode="replace", table="copy", db=db)
    assert (report.rows_read, report.rows_loaded) == (2, 2)
    assert store.count_rows("copy", db=db) == 2


def test_append_and_replace_with_different_extra_columns(db, tmp_path):
    a = write(tmp_path, "a.csv", "user_id,item_id,event_type,device\n1,A,view,mobile\n")
    b = write(tmp_path, "b.csv", "user_id,item_id,event_type,size\n2,B,view,9.5\n")
    ingest_file(a, db=db)
    ingest_file(b, db=db)
    frame = store.read_table("events", db=db)
    assert list(frame["device"].fillna("-")) == ["mobile", "-"]
    assert list(frame["size"].fillna(0)) == [0, 9.5]
    ingest_file(b, mode="replace", db=db)
    assert store.count_rows("events", db=db) == 1
    assert "device" not in dict(store.table_columns("events", db=db))


def test_latin1_file_loads_with_a_note(db, tmp_path):
    path = write(
        tmp_path,
        "l.csv",
        "user_id,item_id,event_type,title\n1,A,view,Crème brûlée\n",
        encoding="latin-1",
    )
    report = ingest_file(path, db=db)
    assert report.rows_loaded == 1
    assert any("Latin-1" in n for n in report.notes)
    assert store.query_rows("SELECT title FROM events", db=db) == [("Crème brûlée",)]


def test_sql_in_column_names_is_just_data(db, tmp_path):
    evil = 'x"; DROP TABLE events; --'
    header = 'user_id,item_id,event_type,"' + evil.replace('"', '""') + '"\n'
    path = write(tmp_path, "q.csv", header + "1,A,view,hello\n")
    ingest_file(path, db=db)
    ingest_file(path, db=db)
    assert store.count_rows("events", db=db) == 2
    assert evil in dict(store.table_columns("events", db=db))


def test_real_online_retail(db):
    path = shared_file("online-retail/online_retail.csv.gz")
    attributes = {"title": "Description", "price": "UnitPrice", "country": "Country"}
    report = ingest_file(
        path, mapping={**RETAIL_MAP, **attributes}, constants={"event_type": "purchase"}, db=db
    )
    # Counted once with pandas: 541,909 lines; 5,268 exact duplicates; of the rest 135,037 have
    # no CustomerID; 8,872 kept rows have a negative Quantity.
    assert (
        report.rows_read,
        report.rows_loaded,
        report.rows_rejected,
        report.duplicates_dropped,
    ) == (541_909, 401_604, 135_037, 5_268)
    assert report.flagged == {"negative_value": 8_872}
    assert report.rejects[0] == {"line": 624, "reason": "missing user_id (column 'CustomerID')"}
    assert store.query_rows(
        "SELECT count(DISTINCT user_id), count(DISTINCT item_id) FROM events", db=db
    ) == [(4_372, 3_684)]
    assert store.query_rows("SELECT user_id FROM events LIMIT 1", db=db) == [("17850",)]
    assert (report.items_updated, report.users_updated) == (3_684, 4_372)
    assert store.query_rows("SELECT title FROM items WHERE item_id = '22632'", db=db) == [
        ("HAND WARMER RED RETROSPOT",)
    ]
    assert [(s["reason"], s["rows"]) for s in report.reject_summary] == [
        ("missing customer id (column 'CustomerID')", 135_037),
        ("negative values in 'Quantity' (rows kept)", 8_872),
    ]


def test_real_online_shoppers(db):
    path = shared_file("online-shoppers/online_shoppers_intention.csv")
    report = ingest_file(path, kind="customers", db=db)
    assert (
        report.rows_read,
        report.rows_loaded,
        report.rows_rejected,
        report.duplicates_dropped,
    ) == (12_330, 12_205, 0, 125)
    got = store.query_rows("SELECT Revenue, count(*) FROM customers GROUP BY 1 ORDER BY 1", db=db)
    assert got == [("FALSE", 10_297), ("TRUE", 1_908)]


def test_mapping_to_a_missing_column_is_bad_input(db, tmp_path):
    path = write(tmp_path, "e.csv", "user_id,item_id,event_type\n1,A,view\n")
    with pytest.raises(BadInputError, match="no column 'nope'.*found: user_id, item_id"):
        ingest_file(path, mapping={"value": "nope"}, db=db)


def test_append_widens_a_column_whose_type_differs(db, tmp_path):
    a = write(tmp_path, "a.csv", "user_id,item_id,event_type,size\n1,A,view,3\n")
    b = write(tmp_path, "b.csv", "user_id,item_id,event_type,size\n2,B,view,large\n")
    ingest_file(a, db=db)
    ingest_file(b, db=db)
    assert dict(store.table_columns("events", db=db))["size"] == "VARCHAR"
    got = store.query_rows("SELECT size FROM events ORDER BY user_id", db=db)
    assert got == [("3",), ("large",)]


def test_progress_is_reported_up_to_done(db, tmp_path):
    path = write(tmp_path, "e.csv", "user_id,item_id,event_type\n1,A,view\n")
    seen = []
    ingest_file(path, db=db, progress=lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert all(isinstance(m, str) and m for _, m in seen)


def test_users_and_items_need_their_id(db, tmp_path):
    users = write(tmp_path, "u.csv", "visitorid,device,timestamp\n1,mobile,2024-01-01\n")
    ingest_file(users, kind="users", db=db)
    assert [c for c, _ in store.table_columns("users", db=db)] == ["user_id", "device", "timestamp"]
    items = write(tmp_path, "i.csv", "title,price\nMug,3\n")
    with pytest.raises(BadInputError, match=r"i\.csv has no column for item_id.*found: title, pr"):
        ingest_file(items, kind="items", db=db)


def test_surprises_past_the_sniffed_sample(db, tmp_path):
    """An extra column numeric for 30,000 rows then text, and Latin-1 bytes near the end."""
    rows = ["user_id,item_id,event_type,qty,code"]
    rows += [f"{i},A{i % 50},view,{i % 7},{i}" for i in range(30_000)]
    rows += ["30000,B,view,abc,X-1"]
    path = tmp_path / "late.csv"
    tail = "30001,C,view,3,Crème\n".encode("latin-1")
    path.write_bytes(("\n".join(rows) + "\n").encode() + tail)
    report = ingest_file(path, db=db)
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (30_002, 30_001, 1)
    assert report.rejects[0]["line"] == 30_002
    assert report.rejects[0]["reason"].startswith("column 'qty': ")
    assert '"abc"' in report.rejects[0]["reason"]
    assert any("Latin-1" in n for n in report.notes)
    assert dict(store.table_columns("events", db=db))["code"] == "VARCHAR"
    got = store.query_rows("SELECT code FROM events WHERE user_id = '30001'", db=db)
    assert got == [("Crème",)]


def test_a_constant_wins_over_a_column_named_after_the_role(db, tmp_path):
    path = write(tmp_path, "e.csv", "user_id,item_id,event_type,value,qty\n1,A,view,x,2\n")
    report = ingest_file(
        path, mapping={"value": "qty"}, constants={"event_type": "purchase"}, db=db
    )
    assert report.mapping == {
        "user_id": "user_id",
        "item_id": "item_id",
        "value": "qty",
        "event_type": "=purchase",
    }
    row = store.query_df("SELECT * FROM events", db=db).iloc[0]
    assert (row["event_type"], row["event_type_original"]) == ("purchase", "view")
    assert (row["value"], row["value_original"]) == (2.0, "x")


def test_common_non_iso_dates_are_read_without_a_flag(db, tmp_path):
    path = write(
        tmp_path,
        "us.csv",
        "CustomerID,StockCode,InvoiceDate\n17850,A,12/1/2010 8:26\n17851,B,12/13/2010 18:05\n",
    )
    ingest_file(path, constants={"event_type": "purchase"}, db=db)
    got = store.query_rows("SELECT CAST(timestamp AS VARCHAR) FROM events", db=db)
    assert got == [("2010-12-01 08:26:00",), ("2010-12-13 18:05:00",)]


def test_an_empty_mapping_leaves_a_suggested_role_unmapped(db, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,event_type,Quantity\nu1,i1,view,3\nu2,i2,view,oops\n")
    report = ingest_file(path, kind="events", mapping={"value": ""}, db=db)
    assert report.rows_loaded == 2 and report.rows_rejected == 0
    frame = store.read_table("events", db=db).sort_values("user_id")
    assert frame["value"].isna().all()
    assert list(frame["Quantity"]) == ["3", "oops"]


def test_codes_with_leading_zeros_stay_text(db, tmp_path):
    path = tmp_path / "users.csv"
    path.write_text("user_id,zip,age\nu1,01234,30\nu2,98765,41\n")
    ingest_file(path, kind="users", db=db)
    frame = store.read_table("users", db=db).sort_values("user_id")
    assert list(frame["zip"]) == ["01234", "98765"]
    assert frame["age"].dtype.kind in "iu"
