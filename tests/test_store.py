"""The store: quoting, short-lived connections, busy handling, catalog."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from personalization import store
from personalization.errors import DatabaseBusyError, NotFoundError


def test_quote_ident_makes_hostile_names_data(db):
    name = 'x"; DROP TABLE events; --'
    store.execute(f"CREATE TABLE {store.quote_ident(name)} (a INTEGER)")
    assert name in store.table_names()
    assert store.count_rows(name) == 0


def test_missing_table_names_the_fix(db):
    with pytest.raises(NotFoundError, match="ingest FILE"):
        store.read_table("events")


def test_reader_waits_for_a_writer_in_the_same_process(db):
    store.execute("CREATE TABLE t (a INTEGER)")

    def hold_write_lock():
        with store.connect() as con:
            con.execute("INSERT INTO t VALUES (1)")
            time.sleep(0.5)

    writer = threading.Thread(target=hold_write_lock)
    writer.start()
    time.sleep(0.1)
    assert store.count_rows("t") in (0, 1)
    writer.join()
    assert store.count_rows("t") == 1


def test_busy_database_gives_a_clear_message(db):
    store.execute("CREATE TABLE t (a INTEGER)")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
            "print('ready', flush=True); time.sleep(20)",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(DatabaseBusyError, match="busy"):
            with store.connect(timeout=0.5):
                pass
    finally:
        holder.kill()
        holder.wait()
    assert store.count_rows("t") == 0


def test_feedback_is_stored(db):
    store.add_feedback("u1", "i9", "rec-1", 1)
    store.add_feedback("u1", "i8", "rec-1", -1)
    frame = store.feedback("rec-1")
    assert sorted(frame["thumbs"]) == [-1, 1]
    assert set(frame["item_id"]) == {"i8", "i9"}


HISTORY = (
    "user_id,item_id,event_type,timestamp\n"
    "u2,p1,view,2024-03-01 10:00:00\n"
    "u1,p2,view,2024-03-02 10:00:00\n"
    "u2,p3,purchase,2024-03-04 10:00:00\n"
    "u3,p1,view,2024-03-03 10:00:00\n"
    "u2,p2,click,2024-03-03 10:00:00\n"
)


def test_a_large_events_load_is_stored_ordered_by_customer(db, tmp_path, monkeypatch):
    from personalization.store import loading
    from tests.conftest import load_csv

    load_csv(db, tmp_path, "events", HISTORY)
    assert list(store.read_table("events", db=db)["user_id"]) == ["u2", "u1", "u2", "u3", "u2"]
    monkeypatch.setattr(loading, "PARALLEL_WRITE_ROWS", 1)  # as a load of millions of rows
    load_csv(db, tmp_path, "events", HISTORY.replace("2024-03", "2024-04"))
    tail = list(store.read_table("events", db=db)["user_id"])[5:]
    assert tail == ["u1", "u2", "u2", "u2", "u3"]


def test_a_customers_history_and_its_items_on_one_connection(db, tmp_path):
    from personalization.store import events
    from tests.conftest import load_csv

    load_csv(db, tmp_path, "events", HISTORY)
    past, items = events.read_user_history("u2", limit=2, db=db)
    assert list(past["item_id"]) == ["p3", "p2"]  # newest first
    assert items.empty  # no items table yet
    load_csv(db, tmp_path, "items", "item_id,title\np2,Boot\np3,Mug\np9,Other\n")
    past, items = events.read_user_history("u2", limit=2, db=db)
    assert dict(items["title"]) == {"p2": "Boot", "p3": "Mug"}
    assert events.read_user_history("nobody", db=db)[0].empty
    assert list(events.read_user_events("u1", db=db)["item_id"]) == ["p2"]
    with pytest.raises(NotFoundError, match="no table 'clicks'"):
        events.read_user_history("u1", table="clicks", db=db)


def test_frames_come_through_arrow_only_where_pandas_gets_the_same_types():
    import duckdb

    from personalization.store.core import fetch_frame

    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t AS SELECT * FROM (VALUES ('a', 1, 1.5, TIMESTAMP '2024-01-01 10:00:00'), "
        "(NULL, NULL, NULL, NULL), ('c', 3, 2.0, TIMESTAMP '2024-02-01')) v(s, i, d, ts)"
    )
    text = "SELECT s, d, ts FROM t WHERE d IS NULL OR d > ?"
    assert fetch_frame(con, text, [0]).equals(con.execute(text, [0]).df())
    with_ints = "SELECT * FROM t"  # an integer column with a null: .df()'s nullable integers
    assert fetch_frame(con, with_ints).equals(con.execute(with_ints).df())
    empty = fetch_frame(con, "SELECT s, d FROM t WHERE false")
    assert len(empty) == 0 and empty["s"].dtype == object


def test_calls_inside_held_share_one_opening_of_the_file(db, monkeypatch):
    """In ``held``, ``connect`` is a cursor on the open database: what one call writes the next
    reads, nothing opens the file again, and after the block calls open it as before."""
    import duckdb

    opened = []
    real = duckdb.connect
    monkeypatch.setattr(duckdb, "connect", lambda *a, **k: opened.append(a) or real(*a, **k))
    with store.held(db):
        with store.held(db):  # nested: the outer block's connection
            store.execute("CREATE TABLE clicks AS SELECT 1 AS n", db=db)
        assert store.query_rows("SELECT n FROM clicks", db=db) == [(1,)]
        assert store.table_names(db=db) == ["clicks"]
        assert len(opened) == 1
        other = threading.Thread(  # another thread opens the file itself
            target=lambda: store.execute("INSERT INTO clicks VALUES (2)", db=db)
        )
        other.start()
        other.join()
        assert len(opened) == 2
    assert store.query_rows("SELECT sum(n) FROM clicks", db=db) == [(3,)]
    assert len(opened) == 3
    with store.held(db, read_only=True):  # a block that only reads lets other processes read
        assert store.table_names(db=db) == ["clicks"]
        with pytest.raises(Exception, match="read-only"):
            store.execute("INSERT INTO clicks VALUES (3)", db=db)
